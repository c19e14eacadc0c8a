"""Focus the analysis of a large cell on the statements that can matter.

Parsing a whole large cell costs far more than finding its few interesting places: a 1 MB
cell takes about a second through `ast`. The prefilter already knows where the tool names,
hiding tricks and shell sinks are, so we keep only the top-level statements around those
places (plus the simple assignments they may read variables from) and blank everything else
with spaces. The result has the cell's exact length, so every offset still points into the
cell; blanked regions keep their final newline so Python sees them as empty lines.
"""

from __future__ import annotations

import bisect
import re

# Cells at least this long are analyzed in windows; smaller ones are parsed whole.
WINDOW_MIN_CHARS = 4096
_MAX_BLOCK_LINES = 200  # a top-level statement longer than this is cut to a window of lines
_CONTEXT_LINES = 20
_CONTINUATION_START = re.compile(r"[\s)\]}#]|(?:else|elif|except|finally)\b")
# NAME = ..., NAME: T = ..., NAME += ... (group 1: indentation, group 2: the name)
_ASSIGNMENT = re.compile(r"(?m)^([ \t]*)([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?\+?=[^=\n]")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def _statement_start(line: str) -> bool:
    return bool(line.strip()) and not _CONTINUATION_START.match(line)


def focus(text: str, offsets: list[int]) -> tuple[str, list[tuple[int, int]]]:
    """`text` with everything but the statements around `offsets` blanked (same length), and
    the kept (start, end) ranges."""
    if not offsets:
        return " " * len(text), []
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    lines_total = len(starts)

    def line_text(i: int) -> str:
        end = starts[i + 1] if i + 1 < lines_total else len(text)
        return text[starts[i] : end]

    keep: list[tuple[int, int]] = []  # inclusive line ranges
    for offset in sorted(set(offsets)):
        i = max(0, bisect.bisect_right(starts, offset) - 1)
        if keep and keep[-1][0] <= i <= keep[-1][1]:
            continue
        first = i
        while first > 0 and not _statement_start(line_text(first)) and i - first < _MAX_BLOCK_LINES:
            first -= 1
        while first > 0 and line_text(first - 1).startswith("@"):
            first -= 1  # a decorated statement keeps its decorators
        last = i
        while last + 1 < lines_total and (
            not _statement_start(line_text(last + 1)) or line_text(last).startswith("@")
        ) and last - i < _MAX_BLOCK_LINES:
            last += 1  # ... and a decorator keeps the statement it decorates
        if last - first > _MAX_BLOCK_LINES:
            first, last = max(0, i - _CONTEXT_LINES), min(lines_total - 1, i + _CONTEXT_LINES)
        keep.append((first, last))
    # the simple assignments the kept statements may read variables from
    names: set[str] = set()
    for first, last in keep:
        end = starts[last + 1] if last + 1 < lines_total else len(text)
        names.update(_IDENTIFIER.findall(text, starts[first], end))
    dedented: dict[int, str] = {}  # line index -> the line moved to column 0 (same length)
    for m in _ASSIGNMENT.finditer(text):
        if m.group(2) in names:
            i = bisect.bisect_right(starts, m.start()) - 1
            if m.group(1):  # inside a def/with/for: keep just this line, at column 0
                line = line_text(i)
                body = line.rstrip("\r\n")
                if body.rstrip().endswith(("\\", "(", "[", "{", ",")):
                    continue  # a multi-line statement: cannot be lifted alone
                dedented[i] = body.lstrip() + " " * len(m.group(1)) + line[len(body):]
                continue
            last = i
            while last + 1 < lines_total and not _statement_start(line_text(last + 1)) and last - i < 20:
                last += 1
            keep.append((i, last))
    keep.sort()
    merged: list[tuple[int, int]] = []
    for first, last in keep:
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    lifted = [i for i in sorted(dedented) if not any(first <= i <= last for first, last in merged)]
    merged = sorted(merged + [(i, i) for i in lifted])
    ranges = [(starts[first], starts[last + 1] if last + 1 < lines_total else len(text)) for first, last in merged]
    out = blank_outside(text, ranges)
    for i in lifted:  # outside any kept statement: lifted to column 0 so it parses on its own
        line = dedented[i]
        out = out[: starts[i]] + line + out[starts[i] + len(line) :]
    return out, ranges


def blank_outside(text: str, ranges: list[tuple[int, int]]) -> str:
    """Spaces everywhere but in `ranges` (sorted, whole lines); each gap keeps its last newline."""
    pieces: list[str] = []
    position = 0
    for begin, end in ranges:
        if begin > position:
            pieces.append(" " * (begin - position - 1) + "\n")
        pieces.append(text[begin:end])
        position = end
    if position < len(text):
        pieces.append(" " * (len(text) - position))
    return "".join(pieces)
