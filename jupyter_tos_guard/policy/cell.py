"""Split a notebook cell into what IPython would run: Python, shell, or other text.

IPython turns `!cmd`, `%pip ...`, `%%bash` and friends into calls before Python sees them.
We do the same split, keeping offsets into the original cell, and produce a Python view of
the cell of exactly the same length in which every non-Python line is replaced by a
placeholder statement (so Python's line and column numbers still point into the cell).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SegmentKind = Literal["shell", "text", "python"]


@dataclass(frozen=True)
class Segment:
    kind: SegmentKind
    start: int  # offsets into the cell; cell[start:end] is the segment's text
    end: int
    via: tuple[str, ...] = ()


@dataclass(frozen=True)
class SplitCell:
    python: str  # same length as the cell; non-Python lines blanked to placeholders
    segments: tuple[Segment, ...]  # shell and text segments (Python is the `python` view)
    has_python: bool


_SHELL_CELL_MAGICS = {"bash", "sh", "system", "!", "zsh"}
_PYTHON_BODY_CELL_MAGICS = {"capture", "time", "timeit", "prun", "debug", "pypy", "python", "python3", "writefile-py"}
_SKIPPED_CELL_MAGICS = {"markdown", "latex", "md"}
_NOT_CODE = {"markdown", "md", "raw"}
SHELL_LANGUAGES = frozenset({"bash", "sh", "zsh", "shell"})
_LINE_SHELL_MAGICS = {"system", "sx"}
# line magics whose argument is itself a line IPython runs (`%time !./tool`, `%prun f()`)
_LINE_CODE_MAGICS = {"time", "timeit", "prun", "debug", "capture", "macro"}
# options of those magics that take a separate value (`%timeit -n 10`, `%prun -s cumulative`)
_OPTION_VALUES = {"n", "r", "p", "s", "l", "T", "D"}
_LINE_INSTALL_MAGICS = {"pip", "conda", "mamba", "micromamba", "uv"}
_MAGIC_PREFIX = re.compile(r"^[ \t]*(?:(?:[A-Za-z_][\w., \t]*=[ \t]*)?[!%]|[;,/][A-Za-z_])", re.M)
_ASSIGN_SHELL = re.compile(r"^([ \t]*[A-Za-z_][\w., \t]*=[ \t]*)(!!?|%sx\b|%system\b)")


def _placeholder(line: str, indent: int) -> str:
    """A statement of the same length as `line` that keeps Python's block structure valid."""
    room = len(line.rstrip("\r\n")) - indent
    stmt = "pass" if room >= 4 else "..." if room >= 3 else "0"
    ending = line[len(line.rstrip("\r\n")) :]
    body = line[:indent] + stmt
    return body + " " * (len(line) - len(ending) - len(body)) + ending


def split_cell(code: str, language: str = "python", start: int = 0) -> SplitCell:
    """`start`: where the cell itself begins, after code that ran before it (a kernel's
    remembered prelude, read as the Python it was); a cell magic there still heads the cell."""
    if language in _NOT_CODE:
        return SplitCell(" " * len(code), (), False)  # markdown and raw text never trigger a rule
    if language not in ("python", "ipython", "python3"):
        kind: SegmentKind = "shell" if language in SHELL_LANGUAGES else "text"
        return SplitCell(" " * len(code), (Segment(kind, 0, len(code), (language,)),), False)
    if not _MAGIC_PREFIX.search(code):
        return SplitCell(code, (), True)  # the common case: plain Python, nothing to split
    if start and _CELL_MAGIC.match(code, start):
        before, cell = _split_ipython(code, 0, start), _split_ipython(code, start, len(code))
        python = before.python[:start] + cell.python[start:]
        return SplitCell(python, before.segments + cell.segments, before.has_python or cell.has_python)
    return _split_ipython(code, 0, len(code))


def _split_ipython(code: str, begin: int, finish: int) -> SplitCell:
    lines = code[begin:finish].splitlines(keepends=True)
    # cell magic: the first non-blank line starts with %%
    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1
    if first < len(lines) and lines[first].lstrip().startswith("%%"):
        return _split_cell_magic(code, begin, finish, lines, first)
    # Only lines that look like IPython syntax need attention; the Python between them is
    # read in chunks (C-speed scans) just far enough to know whether the candidate line starts
    # a new statement. Cost follows the number of strings and magics, not of lines.
    python: list[str] = []
    segments: list[Segment] = []
    state = _PythonState()
    has_python = False
    position = begin
    for candidate in _CANDIDATE.finditer(code, begin, finish):
        line_start = candidate.start()
        if line_start < position:
            continue  # inside a continued shell line already consumed
        chunk = code[position:line_start]
        if chunk.strip():
            has_python = True
        state.scan(chunk)
        python.append(chunk)
        position = line_start
        if state.inside():
            continue  # `!` or `%` continuing a Python statement (`a\n!= b`): not a magic
        line_end = code.find("\n", line_start, finish)
        line_end = finish if line_end < 0 else line_end + 1
        line = code[line_start:line_end]
        stripped = line.lstrip(" \t")
        indent = len(line) - len(stripped)
        if stripped[:1] in ("!", "%"):
            seg = _line_magic(stripped, line_start + indent)
            python.append(_placeholder(line, indent))
        elif stripped[:1] in (";", ",", "/"):
            call = _AUTOCALL.match(stripped.rstrip("\r\n"))
            if call is None:
                python.append(line)  # not IPython syntax after all: Python (a syntax error)
                position = line_end
                continue
            seg = Segment("python", line_start + indent, line_start + len(line.rstrip("\r\n")), ("autocall",))
            python.append(_placeholder(line, indent))
        else:
            assigned = _ASSIGN_SHELL.match(line)
            if not assigned:
                continue
            body = line.rstrip("\r\n")
            seg = Segment("shell", line_start + assigned.end(), line_start + len(body), ("shell",))
            head = assigned.group(1) + "0"
            python.append(head + " " * (len(body) - len(head)) + line[len(body) :])
        position = line_end
        if seg is None:
            continue
        # a shell line ending in a backslash goes on over the next lines
        while seg.kind == "shell" and code[seg.start : seg.end].endswith("\\") and position < finish:
            nxt = code.find("\n", position, finish)
            nxt = finish if nxt < 0 else nxt + 1
            following = code[position:nxt]
            body = following.rstrip("\r\n")
            python.append(" " * len(body) + following[len(body) :])
            seg = Segment(seg.kind, seg.start, position + len(body), seg.via)
            position = nxt
        segments.append(seg)
    tail = code[position:finish]
    if tail.strip():
        has_python = True
    python.append(tail)
    text = " " * begin + "".join(python) + " " * (len(code) - finish)
    return SplitCell(text, tuple(segments), has_python)


_CANDIDATE = re.compile(r"(?m)^[ \t]*(?:[!%;/,]|[A-Za-z_][\w., \t]*=[ \t]*(?:!|%sx\b|%system\b))")
# IPython's autocall escapes: `;f a b` -> f("a b"), `,f a b` -> f("a", "b"), `/f a` -> f(a)
_AUTOCALL = re.compile(r"([;,/])([A-Za-z_][\w.]*)[ \t]+(\S.*?)[ \t]*$")
# one capturing group: split() returns code, string-or-comment, code, ...; an unterminated
# triple-quoted string runs to the end of the chunk
_STRING_OR_COMMENT_SPLIT = re.compile(
    r"""(\#[^\n]*|[rRbBuUfF]{0,2}(?:\"\"\"(?:[^"\\]|\\.|"(?!""))*(?:\"\"\"|\Z)|'\'\'(?:[^'\\]|\\.|'(?!''))*(?:'\'\'|\Z)"""
    r"""|"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?))""",
    re.S,
)
_OPEN = ("(", "[", "{")
_CLOSE = (")", "]", "}")


_STRING_END = {
    '"': re.compile(r'(?:[^"\\\n]|\\.)*"'),
    "'": re.compile(r"(?:[^'\\\n]|\\.)*'"),
    '"""': re.compile(r'(?:[^"\\]|\\.|"(?!""))*"""', re.S),
    "'''": re.compile(r"(?:[^'\\]|\\.|'(?!''))*'''", re.S),
}


class _PythonState:
    """Enough of Python's tokenizer to know whether the next line starts a new statement:
    open brackets, an unfinished (triple-quoted) string, or a backslash continuation mean it
    does not, and then `!` or `%` at its start is an operator (`a\\n!= b`), not IPython syntax."""

    def __init__(self) -> None:
        self.depth = 0
        self.quote: str | None = None
        self.backslash = False

    def inside(self) -> bool:
        return self.depth > 0 or self.quote is not None or self.backslash

    def scan(self, text: str) -> None:
        """Advance over a chunk of whole lines. One C-level split separates strings and comments
        from code; brackets are counted in the code; only the last string matters for state."""
        if self.quote is not None:  # finish the string left open by the previous chunk
            end = _STRING_END[self.quote].match(text) if len(self.quote) == 3 else None
            if len(self.quote) == 3 and end is None:
                return  # still inside it
            text = text[end.end() :] if end is not None else text[text.find("\n") + 1 :]
            self.quote = None
        parts = _STRING_OR_COMMENT_SPLIT.split(text)
        code = "".join(parts[0::2])
        opened = sum(code.count(c) for c in _OPEN)
        closed = sum(code.count(c) for c in _CLOSE)
        self.depth = max(0, self.depth + opened - closed)
        last = parts[-2].lstrip("rRbBuUfF") if len(parts) > 1 else ""
        if parts[-1] == "" and last[:3] in ('"""', "'''") and (len(last) < 6 or not last.endswith(last[:3])):
            self.quote = last[:3]  # a triple-quoted string runs past this chunk
            self.backslash = False
            return
        self.backslash = code.rstrip("\r\n").endswith("\\")


def _line_magic(stripped: str, start: int) -> Segment | None:
    body = stripped.rstrip("\r\n")
    end = start + len(body)
    if body.startswith("!!"):
        return Segment("shell", start + 2, end, ("shell",))
    if body.startswith("!"):
        return Segment("shell", start + 1, end, ("shell",))
    m = re.match(r"%+([A-Za-z_][\w-]*)[ \t]*", body)
    if not m:
        return None
    name = m.group(1)
    if name in _LINE_INSTALL_MAGICS:
        return Segment("shell", start + 1, end, ("magic",))  # "%pip install x" -> "pip install x"
    if name in _LINE_SHELL_MAGICS:
        return Segment("shell", start + m.end(), end, ("magic",))
    if name in _LINE_CODE_MAGICS and not body.startswith("%%"):
        return Segment("python", start + _after_options(body, m.end()), end, ("magic",))
    if name == "alias":  # %alias name command...: the command runs when the alias does
        words = body[m.end() :].split(None, 1)
        if len(words) == 2:
            return Segment("shell", end - len(words[1].rstrip()), end, ("alias",))
    return Segment("text", start + m.end(), end, ("magic",))


def _after_options(body: str, at: int) -> int:
    """Where the code starts after a magic's options: `-n1 -r 3 f()` -> at `f()`."""
    while True:
        option = re.match(r"-([A-Za-z])(\S*)[ \t]*", body[at:])
        if option is None:
            return at
        at += option.end()
        if option.group(1) in _OPTION_VALUES and not option.group(2):  # `-n 10`: the value follows
            value = re.match(r"[^\s(]+[ \t]*", body[at:])
            if value is not None:
                at += value.end()


def autocall_source(text: str) -> str:
    """The Python IPython runs for an autocall line: `;f a b` -> `f("a b")`, `,f a b` ->
    `f("a", "b")`, `/f a b` -> `f(a b)`; other text is returned as it is."""
    m = _AUTOCALL.match(text.strip())
    if m is None:
        return text
    kind, func, rest = m.groups()
    if kind == ";":
        return f"{func}({rest!r})"
    if kind == ",":
        return f"{func}({', '.join(repr(w) for w in rest.split())})"
    return f"{func}({rest})"


def _cell_magic_name(header: str) -> str:
    """What a cell magic's body is read as: `%%script bash` -> sh, `%%writefile x.py` -> writefile-py."""
    words = header.strip()[2:].split()
    name = words[0] if words else ""
    if name in ("script", "sx") and len(words) > 1:
        name = words[1].rsplit("/", 1)[-1]
        name = "sh" if name in ("bash", "sh", "zsh", "dash") else name
    if name in ("writefile", "file"):
        target = words[-1] if len(words) > 1 else ""
        name = "writefile-py" if target.endswith(".py") else "bash" if target.endswith(".sh") else "text"
    return name


_CELL_MAGIC = re.compile(r"\s*(%%[^\n]*\n?)")


def cell_body(code: str, language: str = "python", start: int = 0) -> tuple[Literal["python", "shell"] | None, int]:
    """How the bulk of a cell reads ("python", "shell", or None for text and markup) and where
    it starts (after a cell magic's header line). `start`: where the cell begins in `code`
    (see `split_cell`)."""
    if language in SHELL_LANGUAGES:
        return "shell", 0
    if language not in ("python", "ipython", "python3"):
        return None, 0
    m = _CELL_MAGIC.match(code, start)
    if m is None:
        return "python", 0
    name = _cell_magic_name(m.group(1))
    if name in _SHELL_CELL_MAGICS or name in ("sh", "zsh"):
        return "shell", m.end()
    if name in _PYTHON_BODY_CELL_MAGICS:
        return "python", m.end()
    return None, m.end()


def _split_cell_magic(code: str, begin: int, finish: int, lines: list[str], first: int) -> SplitCell:
    header_start = begin + sum(len(line) for line in lines[:first])
    header = lines[first]
    body_start = header_start + len(header)
    name = _cell_magic_name(header)
    blank = re.sub(r"[^\r\n]", " ", code[begin:body_start])
    if name in _SHELL_CELL_MAGICS or name in ("sh", "zsh"):
        python = " " * len(code)
        return SplitCell(python, (Segment("shell", body_start, finish, ("cell-magic",)),), False)
    if name in _PYTHON_BODY_CELL_MAGICS:
        inner = _split_ipython(code, body_start, finish)
        python = " " * begin + blank + inner.python[body_start:finish] + " " * (len(code) - finish)
        return SplitCell(python, inner.segments, inner.has_python)
    python = " " * len(code)
    if name in _SKIPPED_CELL_MAGICS:
        return SplitCell(python, (), False)
    return SplitCell(python, (Segment("text", body_start, finish, ("cell-magic",)),), False)
