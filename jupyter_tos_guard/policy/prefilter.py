"""The prefilter: whether a cell needs reading at all, and where.

One RE2 set pass over the cell (a DFA: its cost grows with the cell, not with the number of
rules) holds every name the matcher kinds give (`Kind.needles`), the handful of signs of
hiding (`b64decode`, `exec(`, `chr(` ...), of a sink (`!`, `subprocess`, `os.system` ...) and
of assembly, and the patterns kinds give where no name can (`Kind.patterns`: operator
regexes). A cell with none of those is allowed right there. For the rest, the places of those
hits pick the statements worth reading (see `windows`). The prefilter knows names, patterns
and rules by number only, never matcher kinds.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import re2

from . import spans
from .evidence import join_continuations
from .indexes import bounded
from .patterns import compile_re2

# (lowercase name, needs a left word boundary, needs a right one) per use of the name
NeedleBounds = frozenset[tuple[bool, bool]]

# What can make a cell match although no tool name appears in it. Three kinds, read in one
# RE2 set pass: ways to HIDE a name (decoding, char codes, reversal, concatenation of literals,
# escapes, exec/eval/dynamic imports), SINKS that run a string (a shell, subprocess, os.system),
# and ways to ASSEMBLE a string from parts (f-strings, .format, %-formatting, $var / {var}).
# A sink alone cannot run a name the cell never spells out, and assembly alone runs nothing;
# only the combination, or any hiding, needs the full analysis.
_HIDING_PATTERNS = (
    r"(?i:b64decode|b32decode|b16decode|b85decode|a85decode|decodebytes|fromhex|unhexlify|a2b_hex|a2b_base64"
    r"|rot_?13|__import__|import_module|\bmarshal\b|(?:zlib|gzip|bz2|lzma)\.decompress)",
    r"\.translate\s*\(|\bmaketrans\b|\bvars\s*\(|__dict__\s*\[|\.__add__\s*\(",  # tables, sinks by name
    r"\.to_bytes\s*\(",  # a command written as one big number
    # an unpickler runs what the pickle names; codecs.decode(x, "hex") and the like
    r"\b(?:pickle|cPickle|dill|cloudpickle|jsonpickle)\s*\.\s*loads\b|\bcodecs\s*\.\s*decode\b",
    # ... or as byte values: bytes([46, 47, ...]), bytes(b ^ 1 for b in ...)
    r"\bbyte(?:s|array)\s*\(\s*(?:[\[(]\s*(?:\d|0x)|[^()\n]*\bfor\b)",
    # a shell program word that is a glob or has braces: ./xmr*, ./[x]mrig, ./xm{r,}ig
    r"(?m:^[ \t]*!!?[ \t]*(?:[\w.~/-]*/)?[\w.-]*(?:\*|\[[^\]\s]+\]|\{[^}\s]*,[^}\s]*\})[\w.*-]*(?:\s|$))",
    r"(?m:^[ \t]*(?:-exec|-execdir)\b|\bfind\b[^\n]*-exec(?:dir)?\s+\{\})",
    r"\$\{[A-Za-z_]\w*(?:%|#|:-?\d|/)",  # ${t%X}, ${t:1}, ${t/a/b}: a name rebuilt by the shell
    # shell decoders and codec names; bare "base64"/"xxd" also occur by chance inside base64 data
    r"(?i:\bbase(?:64|32)\s+(?:-\w*[dD]|--decode)|[\"']base_?64[\"']|\bxxd\b|\bopenssl\s+(?:enc|base64))",
    r"\[::-1\]",
    r"(?:^|[^\w.])(?:chr|exec|eval|compile|getattr)\s*\(",
    r"(?:\"\"|'')\s*\.join\s*\(",  # ''.join(...): a separator would show in the name
    # pip normalizes runs and mixes of - _ . (PEP 503): "Deep_Live--Cam" installs deep-live-cam
    r"(?i:(?:pip|conda|mamba|uv|npm)\b[^\n]*\w(?:[-_.]{2,}|_\w*-|-\w*_|\.\w*[-_]|[-_]\w*\.)\w)",
    # two literals side by side, each with some text in it ("xm" "rig"; not " ".join or sep=" ")
    r"""[^"'\s(\[{,=:]["'](?:[ \t]+|[ \t]*\\?\r?\n\s*)[rRbBuUfF]{0,2}["'][^"'\s)\]},]""",
    r"""["']\s*\+\s*[rRbBuUfF]{0,2}["']""",  # a literal added to a literal ("xm" + "rig")
    r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{|[0-7]{1,3})",  # "\x78mrig"
    # quotes or a backslash inside a shell word hide a name: ./xm''rig, "./xm"rig, x\mrig
    r"""(?m:^[ \t]*(?:[\w., \t]+=[ \t]*)?!.*(?:\w["'][^"'\s]*["']|["'][^"'\s]*["']\w|\w\\\w))""",
    r"""(?s:^\s*%%(?:bash|sh|script|system|!)\b.*(?:\w["'][^"'\s]*["']|["'][^"'\s]*["']\w|\w\\\w))""",
    # piping text into a decoder, or into a shell or python that reads its program from the pipe
    # (not `| python -m json.tool`, `| sh script.sh`, `| tr -d '\r'`)
    r"\|[ \t]*(?:rev\b|tr\b[^|;&\n]*[nN]-[zZ])",
    r"(?m:\|[ \t]*(?:sh|bash|zsh|dash|ksh|python[\d.]*)(?:[ \t]+-[a-zA-Z]*)*[ \t]*(?:$|[;&|)#]))",
    r"\|[ \t]*(?:sh|bash|zsh|dash|ksh)[ \t]+-s\b",
)
_SINK_PATTERNS = (
    r"(?i:system|popen|subprocess|getoutput|run_line_magic|run_cell_magic|spawn|execv|execl|\bpty\b|\bsh\.)",
    r"(?m:^[ \t]*(?:[\w., \t]+=[ \t]*)?!)",  # IPython shell escapes
    r"(?m:^[ \t]*%(?:system|sx|sh|pip|conda|mamba|micromamba|uv)\b)",
    r"(?m:^[ \t]*%%(?:bash|sh|script|system|!)\b)",  # a whole-cell shell runs every line
)
_ASSEMBLY_PATTERNS = (
    r"\b[fF][rR]?[\"'][^\"'\n]*\{",  # f-strings
    r"\.format\s*\(",
    r"""["']\s*%\s*[\w(]""",  # "%s" % x
    r"\+",  # concatenation with a variable
    r"\$\{?[A-Za-z_]|\{[A-Za-z_][\w.]*\}",  # $var / {var} in shell lines
    r"(?i:\.split\s*\(|shlex)",
    # implicit concatenation, also across lines (not `' '` before `<`, `)`, `.join` ...)
    r"""["'][ \t]*\\?\r?\n?\s*[rRbBuUfF]{0,2}["'][^"'\s)\],;.<>|&]""",
)


_TRIGGER_KINDS = [
    kind for kind, group in enumerate((_HIDING_PATTERNS, _SINK_PATTERNS, _ASSEMBLY_PATTERNS)) for _ in group
]
_HIDING, _SINK, _ASSEMBLY = 0, 1, 2
WHOLE = -1  # in `places`: do not focus, read the whole cell
_TRIGGER_PATTERNS = _HIDING_PATTERNS + _SINK_PATTERNS + _ASSEMBLY_PATTERNS
_TRIGGER_COUNT = len(_TRIGGER_PATTERNS)
# Where hiding is, to focus on it. The whole-cell shell pattern (quotes inside a word anywhere in
# a %%bash cell) would match from the cell's start over everything else: shell cells find such
# words by a search with the quotes removed instead (see `_dequoted_places`).
_FOCUS_HIDING = re2.compile("|".join(f"(?:{p})" for p in _HIDING_PATTERNS if not p.startswith("(?s:")))
# where a sink is called: narrower than the sink words above (which may also stand in an
# import), so that a cell full of `import subprocess` costs nothing here
_FOCUS_SINKS = re2.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            r"(?i:\bsubprocess\s*\.\s*\w+|\b(?:system|system_raw|popen|getoutput|getstatusoutput|run_line_magic"
            r"|run_cell_magic|spawn\w*|exec[lv]\w*|create_subprocess_\w+)\s*\(|\bpty\s*\.|\bsh\s*\.)",
            *_SINK_PATTERNS[1:],
        )
    )
)
# What follows a sink's name when it runs nothing but fixed text: `.run(["nvidia-smi", "-L"], ...)`,
# `("unzip -q data.zip")`, `([sys.executable, "-m", "pip", "install", "polars"])`. A tool named
# there is a prefilter hit of its own; such a call needs no reading unless something else points
# at it.
_LITERAL = r"""(?:[rRbBuU]?(?:"[^"\\\n{}$`]*"|'[^'\\\n{}$`]*')|sys\.executable)"""  # the kernel's python
_LITERAL_CALL = re.compile(
    rf"""[\w.]*\(\s*(?:{_LITERAL}|[\[(]\s*{_LITERAL}(?:\s*,\s*{_LITERAL})*\s*(?:,\s*)?[\])])\s*[,)]"""
)
_IMPORT_LINE = re.compile(r"[ \t]*(?:from|import)\b")
_FIND_HIDING = spans.finder(_FOCUS_HIDING)
_FIND_SINKS = spans.finder(_FOCUS_SINKS)
_QUOTE_IN_WORD = re.compile(r"""\w["'\\]|["']\w""")
_SHELL_JOIN = re2.compile(r"""[\w}]\$\{?[A-Za-z_]|\w["']\$\{?[A-Za-z_]|\}\w""")
_FIND_JOIN = spans.finder(_SHELL_JOIN)
_DEQUOTE = str.maketrans("", "", "'\"\\")


def _starts(pattern: Any, find: spans.Finder, data: str | bytes) -> list[int]:
    """Where `pattern` matches in `data` (bytes: through the span finder; str: the public API)."""
    return [start for start, _ in _spans(pattern, find, data)]


def _spans(pattern: Any, find: spans.Finder, data: str | bytes) -> Iterable[tuple[int, int]]:
    if isinstance(data, bytes):
        return spans.spans(find, data)
    return (m.span() for m in pattern.finditer(data))


MAX_SPANNED_LINES = 64


def _spanned(code: str, found: Iterable[tuple[int, int]], limit: int = 100) -> list[int]:
    """The places of a pattern's first `limit` matches: each one's start and the start of every
    further line it runs over. A window keeps the lines of its places, and a match over lines
    (a loop header, the request inside it, the `done` after it) holds only when all are read;
    one over more than MAX_SPANNED_LINES lines sends the cell to be read whole."""
    out: list[int] = []
    for start, end in itertools.islice(found, limit):
        out.append(start)
        if code.count("\n", start, end - 1) > MAX_SPANNED_LINES:
            return [*out, WHOLE]
        line = code.find("\n", start, end - 1)
        while line >= 0:
            out.append(line + 1)
            line = code.find("\n", line + 1, end - 1)
    return out


# Pasted data: base64 (both alphabets) and hex. A name or a sign found inside a run of at least
# DATA_RUN of these is there by chance ("/mz/", "+frp+", "-uv-", "popen" turn up about once per
# megabyte of base64, and each sent a one-line megabyte to be read whole): no command, package,
# repository or call is written inside one (a space, a quote, a dot, a bracket or a `!` ends
# the run). A run right after a `.` or `:` is a URL's path, not data.
_DATA_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_")
DATA_RUN = 200
_URL_PATH_CHARS = 4096


def _in_data(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] lies inside a run of pasted data (see DATA_RUN)."""
    if not all(c in _DATA_CHARS for c in text[start:end]):
        return False
    low, high = start, end
    floor, ceiling = max(0, end - DATA_RUN), min(len(text), start + DATA_RUN)
    while low > floor and text[low - 1] in _DATA_CHARS:
        low -= 1
    while high < ceiling and text[high] in _DATA_CHARS:
        high += 1
    if high - low < DATA_RUN:
        return False
    # where the run begins, looked for a few KB back (a URL's path is never longer)
    floor = max(0, low - _URL_PATH_CHARS)
    while low > floor and text[low - 1] in _DATA_CHARS:
        low -= 1
    if low == 0 or text[low - 1] in _DATA_CHARS:  # the cell's start, or still data 4 KB back
        return True
    return text[low - 1] not in ".:"


def _live_sinks(code: str, raw: str | bytes) -> Iterable[int]:
    """Where a shell or exec sink may run something assembled: every sink but the calls and
    shell lines that pass fixed text only, and the imports that merely name one."""
    if isinstance(raw, bytes):  # ASCII: byte offsets are character offsets
        found: Iterable[tuple[int, int]] = spans.spans(_FIND_SINKS, raw)
    else:
        found = (m.span() for m in _FOCUS_SINKS.finditer(raw))
    for start, end in found:
        line_start = code.rfind("\n", 0, start) + 1
        line_end = code.find("\n", end)
        line_end = len(code) if line_end < 0 else line_end
        matched = code[start:end]
        if "%%" in matched:
            yield start  # a whole-cell shell: its header
        elif "!" in matched or "%" in matched:  # a shell line (`!cmd`, `x = !cmd`, `%system`)
            if any(c in code[end:line_end] for c in "${`"):
                yield start  # ... that expands something
        elif not (
            _IMPORT_LINE.match(code, line_start, line_end)
            or _LITERAL_CALL.match(code, end - 1 if matched.endswith("(") else end, line_end)
        ):
            yield start


def _scan_set(needles: Any, regexes: list[str]) -> tuple[Any, int, int]:
    """One RE2 set over the signs of hiding, sinks and assembly (slots in `_TRIGGER_KINDS`
    order, case as written), the tool names (one slot, any case) and the operator regexes
    (any case, from the returned base slot on): a single pass over the cell answers whether
    it needs reading at all. Returns (set, slot of the names or -1, first regex slot)."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    # the names of a 10,000-rule policy in one DFA. A set scan cannot fail silently once
    # compiled (RE2 never bails out of a set's DFA: it flushes its state cache and goes on),
    # and a large budget keeps such flushes rare.
    options.max_mem = 256 << 20
    scan = re2.Set.SearchSet(options)
    for pattern in _TRIGGER_PATTERNS:
        scan.Add(f"(?-i:{pattern})")
    needle_slot = scan.Add(needles.pattern) if needles is not None else -1
    base = needle_slot + 1 if needles is not None else _TRIGGER_COUNT
    for pattern in regexes:
        scan.Add(pattern)
    scan.Compile()
    return scan, needle_slot, base


def _needle_regex(needles: dict[str, frozenset[tuple[bool, bool]]]) -> Any:
    """Every tool name of the policy in one RE2 alternation. RE2 runs it as a DFA over the
    cell: ~2 ms per MB whatever the number of names, where an Aho-Corasick walk driven from
    Python (pyahocorasick) measured ~30 ms per MB here. Longer names come first, so a name
    that another extends is not reported in its place; `\\b` marks the edges that must stand
    alone in every use of the name (the exact, Unicode-aware rule is checked afterwards)."""
    if not needles:
        return None
    alternatives = []
    word = _ASCII_WORD_CHARS
    for text in sorted(needles, key=len, reverse=True):
        bounds = needles[text]
        left = text[0] in word and (False, True) not in bounds and (False, False) not in bounds
        right = text[-1] in word and (True, False) not in bounds and (False, False) not in bounds
        # most names need no escaping; re.escape escapes only punctuation, read alike by RE2
        escaped = text if text.isalnum() and text.isascii() else re.escape(text)
        alternatives.append(("\\b" if left else "") + escaped + ("\\b" if right else ""))
    options = re2.Options()
    options.log_errors = False
    options.max_mem = 256 << 20  # room for the DFA of a 10,000-rule policy
    return re2.compile("|".join(alternatives), options)


_ASCII_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class Prefilter:
    """The names and patterns of a compiled policy, read in one pass over each cell.

    `needles`: lowercase name -> the boundary rules of its uses. `patterns`: (rule index,
    which of the rule's matchers, RE2 pattern), in the policy's order. `needed`: rule index ->
    how many of its matchers that give patterns must hit for it to hold (rules with
    `require` > 1)."""

    def __init__(
        self,
        needles: dict[str, set[tuple[bool, bool]]],
        patterns: list[tuple[int, int, str]],
        needed: dict[int, int],
        together: dict[tuple[int, int], list[int]] | None = None,
    ) -> None:
        self.needles: dict[str, NeedleBounds] = {text: frozenset(bounds) for text, bounds in needles.items()}
        self.needle_regex = _needle_regex(self.needles)
        self._find_needle = spans.finder(self.needle_regex) if self.needle_regex is not None else None
        self.patterns = [(rule, ordinal, compile_re2(pattern)) for rule, ordinal, pattern in patterns]
        self.pattern_finders = [spans.finder(rx) for _, _, rx in self.patterns]
        self.patterns_needed = needed
        # (rule, matcher) -> indexes into `patterns` that must all hit (Kind.patterns_required)
        self.together = together or {}
        self.pattern_set: Any = None  # the patterns alone, for text the scan did not read
        if patterns:
            options = re2.Options()
            options.case_sensitive = False
            options.log_errors = False
            self.pattern_set = re2.Set.SearchSet(options)
            for _, _, pattern in patterns:
                self.pattern_set.Add(pattern)
            self.pattern_set.Compile()
        self.scan, self.needle_slot, self.pattern_base = _scan_set(self.needle_regex, [p for _, _, p in patterns])

    def worth_analyzing(
        self, code: str, places: list[int] | None = None, *, shell: bool = False, settled: int = 0
    ) -> bool:
        """Whether the cell needs reading beyond this pass.

        One RE2 set pass tells which of the tool names, signs of hiding, sinks, assembly and
        patterns occur at all; a cell with none is done. With `places`, every
        interesting offset is appended to it (for focusing the analysis on them). `shell`: the
        cell is a shell script, where quotes and backslashes inside a word (`xm''rig`,
        `x\\mrig`) hide a name; such names are looked for with those removed. `settled`: the
        text before this offset ran and was read before (a kernel's remembered sign lines):
        its patterns count toward a rule's `require`, but a name, hidden code or a sink there
        is no reason to read the cell.
        """
        # re2 encodes a str to UTF-8 on every call: encode once; ASCII keeps offsets equal
        raw: str | bytes = code.encode() if code.isascii() else code
        matched = self.scan.Match(raw) or ()
        kinds = {_TRIGGER_KINDS[i] for i in matched if i < _TRIGGER_COUNT}
        worth = False
        quoted = shell and self.needle_regex is not None and _QUOTE_IN_WORD.search(code) is not None
        if self.needle_slot in matched or quoted:
            lower = code.lower()
            for start in self.needle_places(lower):
                if start < settled:
                    continue
                worth = True
                if places is None:
                    return True
                places.append(start)
            if quoted:
                found: list[int] = []
                self._dequoted_places(lower, found)
                found = [p for p in found if p >= settled]
                if found:
                    if places is None:
                        return True
                    worth = True
                    places.extend(found)
        if shell and "$" in code:
            # `$P$Q`, `${A}rig`: a name glued together from variables
            joins = [p for p in _starts(_SHELL_JOIN, _FIND_JOIN, raw) if p >= settled]
            if joins and places is None:
                return True
            worth = worth or bool(joins)
            if places is not None:
                places.extend(joins)
        if shell:
            # a shell script is all sinks, and `$HOME` is no assembly: its variables matter when
            # they are glued into a word (`$P$Q`, found above) or hold a name (a needle, above)
            kinds.discard(_SINK)
        # something decoded or assembled for the readers to rebuild
        rebuilt = False
        if _HIDING in kinds or (_SINK in kinds and _ASSEMBLY in kinds):
            signs = _starts(_FOCUS_HIDING, _FIND_HIDING, raw) if _HIDING in kinds else []
            hiding = [p for p in signs if p >= settled and not _in_data(code, p, p + 1)]
            # (a sink fed by hiding is followed from it)
            sinks = list(_live_sinks(code, raw)) if _SINK in kinds and _ASSEMBLY in kinds else []
            kept = hiding + [p for p in sinks if p >= settled and not _in_data(code, p, p + 1)]
            # a hiding sign with no place of its own is one read as a whole cell (_FOCUS_HIDING)
            rebuilt = bool(kept) or (_HIDING in kinds and not signs)
            if rebuilt:
                worth = True
                if places is None:
                    return True
                places.extend(kept)
        if self.pattern_set is not None:
            # operator regexes read commands continued over lines as one line, as the evidence does
            hits = [i - self.pattern_base for i in matched if i >= self.pattern_base]
            joined = join_continuations(code)
            if joined is not code and not hits:
                hits = self.pattern_set.Match(joined) or []
            if hits and self.together:
                # a matcher that needs several signs together: its signs are no reason alone,
                # also beside hidden code (the decoded text is read from the decoder's own
                # place; these places choose only which of the cell's own lines are read, and
                # a loop or a call on each of them sent obfuscated cells to be read whole:
                # p90 0.45 -> 4.6 ms)
                hits = self._together(hits)
            if hits and self.patterns_needed and not rebuilt:
                # with nothing decoded or assembled, the readers see the cell's own text: a rule
                # that needs more of its regexes than hit here cannot hold, so its hits are no
                # reason to read the cell (a `wget ... https://` line alone is no download-and-run)
                hits = self._possible(hits)
            if hits:
                if places is None:
                    return True
                worth = True
                for i in hits:
                    places.extend(_spanned(code, _spans(self.patterns[i][2], self.pattern_finders[i], raw)))
                if joined is not code:
                    places.append(WHOLE)  # positions in the joined text differ: analyze the whole cell
        return worth

    def _together(self, hits: list[int]) -> list[int]:
        """The pattern hits, less those of matchers that need patterns that did not hit."""
        hit = set(hits)
        keep = []
        for i in hits:
            needs = self.together.get(self.patterns[i][:2])
            if needs is None or hit.issuperset(needs):
                keep.append(i)
        return keep

    def _possible(self, hits: list[int]) -> list[int]:
        """The pattern hits (indexes into `self.patterns`) of rules that could still hold."""
        needed = self.patterns_needed
        count: dict[int, int] = defaultdict(int)
        for rule, _ in {self.patterns[i][:2] for i in hits}:  # matchers of the rule that hit
            count[rule] += 1
        return [i for i in hits if count[self.patterns[i][0]] >= needed.get(self.patterns[i][0], 1)]

    def needle_places(self, lower: str) -> Iterable[int]:
        """Where a tool name the rules mention stands as a name of its own in `lower` (the cell,
        lowercased). The regex may propose a place the boundary rules refuse (its `\\b` is
        ASCII, ours is Unicode, and names starting with punctuation carry no `\\b`): then the
        search goes on from the next character, so a refused candidate never hides a real one."""
        find = self._find_needle
        needles = self.needles
        # searched as UTF-8 bytes; byte offsets become character offsets incrementally (only
        # non-ASCII text needs it)
        hay = lower.encode()
        ascii_text = len(hay) == len(lower)
        byte_at = char_at = 0
        position = 0
        while find is not None:
            span = find(hay, position)
            if span is None:
                return
            b_start, b_end = span
            name = hay[b_start:b_end].decode()
            if ascii_text:
                start = b_start
            else:
                char_at += len(hay[byte_at:b_start].decode("utf-8", "replace"))
                byte_at, start = b_start, char_at
            end = start + len(name)
            if any(bounded(lower, start, end, lb, rb) for lb, rb in needles[name]) and not _in_data(lower, start, end):
                yield start
                position = b_end
            else:
                position = b_start + 1
                while position < len(hay) and hay[position] & 0xC0 == 0x80:
                    position += 1  # not inside a character

    def _dequoted_places(self, lower: str, places: list[int]) -> bool:
        """Names written with quotes or backslashes inside them: found in a copy of the text
        with those removed (newlines kept), placed at the start of their line."""
        dequoted = lower.translate(_DEQUOTE)
        lines: list[int] | None = None
        found = False
        for start in self.needle_places(dequoted):
            if lines is None:
                lines = list(itertools.accumulate(map(len, lower.split("\n")), lambda a, n: a + n + 1, initial=0))
            places.append(lines[dequoted.count("\n", 0, start)])
            found = True
        return found
