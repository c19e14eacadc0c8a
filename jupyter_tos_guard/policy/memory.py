"""What earlier cells left behind for later ones: names assigned to strings and variables set
with `%env`, so that a command split over cells (`a = "./xm"` in one, `b = "rig"` in the next,
`!{a}{b} -o pool` in a third) is read whole; and the lines holding signs of rules that need
several (`signs.py`), so that such a rule holds in the cell that completes it.

A `Memory` belongs to one kernel (one namespace). It keeps the source of each remembered
assignment, bounded in count and size, and hands the engine a *prelude*: the statements a cell
needs (the names it uses, and the names those statements use in turn). The engine reads the
prelude with the cell but only counts what matches in the cell (`Engine.evaluate(prelude=)`).
Pure data: no I/O, nothing of Jupyter.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections import OrderedDict
from collections.abc import Iterator

MAX_NAMES = 256  # per kernel; the oldest assignment is forgotten first
MAX_STATEMENT_CHARS = 2000  # a longer value is data, not a command line
MAX_PRELUDE_CHARS = 64 * 1024

_NAME = re.compile(r"[A-Za-z_]\w*")
# a module-level assignment starts at column 0: `name = ...`, `a, b = ...`, `cmd += ...`,
# `x: str = ...`, `os.environ["X"] = ...`; each candidate is then parsed on its own (a cell is
# not parsed whole a second time: the engine already read it)
_ASSIGN_LINE = re.compile(
    r"^(?:(?P<names>[A-Za-z_]\w*(?:[ \t]*,[ \t]*[A-Za-z_]\w*)*)(?:[ \t]*:[^=\n]+)?"
    r"|(?:os\.)?environ\[(?P<q>['\"])(?P<env>\w+)(?P=q)\])[ \t]*\+?=(?!=)",
    re.M,
)
# the value's first line, before anything is parsed: a string in it, a bracket or a backslash
# that goes on to the next lines, or only names and operators (`b = a + c`)
_MAY_BE_TEXT = re.compile(r"""[^\n]*['"]|[ \t]*[(\[][ \t]*(?:#[^\n]*)?$|[^\n]*\\$|[\w \t+%*.]+(?:#[^\n]*)?$""", re.M)
# a value that is one number (never kept: only text, names and what folds into text are)
_NUMBER = re.compile(r"[ \t]*[+-]?\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?[ \t]*(?:#[^\n]*)?$", re.M)
_CALL = re.compile(r"([A-Za-z_]\w*)[ \t]*\(")
_ENV_LINE = re.compile(r"^[ \t]*%env[ \t]+([A-Za-z_]\w*)[ \t]*[= \t][^\n]*$", re.M)
MAX_CONTINUATION_LINES = 20


MAX_SIGN_LINES = 32  # lines holding a sign of a rule that needs several (see signs.py)
MAX_LINES_PER_SIGN = 2


class Memory:
    def __init__(self, max_names: int = MAX_NAMES) -> None:
        self.max_names = max_names
        # name -> (statement source, names it uses); `%env X` is kept under "$X"
        self._known: OrderedDict[str, tuple[str, frozenset[str]]] = OrderedDict()
        # (rule id, pattern) -> the latest lines that sign matched on, oldest sign first
        self._signs: OrderedDict[tuple[str, str], list[str]] = OrderedDict()

    def remember_signs(self, found: dict[tuple[str, str], list[str]]) -> None:
        """Keep the lines of a cell that ran where signs of rules needing several matched
        (`Signs.lines`): the latest MAX_LINES_PER_SIGN of each sign, MAX_SIGN_LINES in all."""
        for sign, lines in found.items():
            kept = [line for line in self._signs.pop(sign, []) if line not in lines] + lines
            self._signs[sign] = kept[-MAX_LINES_PER_SIGN:]
        total = sum(map(len, self._signs.values()))
        while total > MAX_SIGN_LINES:
            total -= len(self._signs.popitem(last=False)[1])

    @property
    def has_signs(self) -> bool:
        return bool(self._signs)

    def sign_prelude(self, rules: set[str]) -> str:
        """The remembered lines holding signs of `rules`, oldest sign first ("" when none)."""
        lines = dict.fromkeys(line for (rule, _), kept in self._signs.items() if rule in rules for line in kept)
        return "\n".join(lines) + "\n" if lines else ""

    def __len__(self) -> int:
        return len(self._known)

    def remember(self, code: str) -> None:
        """Keep the module-level string assignments and `%env` lines of a cell that ran."""
        if "%env" in code:
            for m in _ENV_LINE.finditer(code):
                self._keep("$" + m.group(1), m.group(0).strip(), frozenset())
        for m in _assignment_lines(code):
            if _NUMBER.match(code, m.end()) or not _MAY_BE_TEXT.match(code, m.end()):
                continue  # `n = 3`, `lr = 1e-3`, `model = Net(`: nothing to parse
            line_end = code.find("\n", m.end())
            line_end = len(code) if line_end < 0 else line_end
            if line_end - m.start() > MAX_STATEMENT_CHARS:
                # too long to be kept (`_statement`); and the call scan below backtracks over
                # every word of a pasted megabyte of base64, on the server's event loop
                continue
            if any(c.group(1) not in _FOLDABLE for c in _CALL.finditer(code, m.end(), line_end)):
                continue  # `df = pd.read_csv("x.csv")`: data, not text
            source = _statement(code, m.start())
            if source is None:
                continue
            names = ("$" + m.group("env"),) if m.group("env") else tuple(_NAME.findall(m.group("names")))
            used = frozenset(_NAME.findall(source[m.end() - m.start() :])) - set(names)
            for name in names:
                before = self._known.get(name)
                if m.group(0).endswith("+=") and before is not None:  # c += " --flag" builds on c
                    if len(before[0]) + len(source) > 4 * MAX_STATEMENT_CHARS:
                        continue
                    self._keep(name, before[0] + "\n" + source, before[1] | used)
                else:
                    self._keep(name, source, used)

    def _keep(self, name: str, source: str, used: frozenset[str]) -> None:
        self._known.pop(name, None)
        self._known[name] = (source, used)
        while len(self._known) > self.max_names:
            self._known.popitem(last=False)

    def prelude(self, code: str) -> str:
        """The remembered statements `code` depends on, oldest first ("" when none)."""
        if not self._known:
            return ""
        # a substring test first (C speed over a few hundred names), then whole words only
        wanted = {n for n in self._known if n.lstrip("$") in code and _uses(code, n.lstrip("$"))}
        frontier = list(wanted)
        while frontier:  # what those statements use in turn: b = a + "rig"
            entry = self._known.get(frontier.pop())
            for name in entry[1] if entry else ():
                if name in self._known and name not in wanted:
                    wanted.add(name)
                    frontier.append(name)
        if not wanted:
            return ""
        out: list[str] = []
        size = 0
        seen: set[str] = set()
        for name, (source, _) in self._known.items():
            if name in wanted and source not in seen:
                seen.add(source)
                size += len(source) + 1
                if size > MAX_PRELUDE_CHARS:
                    break
                out.append(source)
        return "\n".join(out) + "\n"


def _assignment_lines(code: str) -> Iterator[re.Match[str]]:
    """`_ASSIGN_LINE.finditer(code)`, tried only on the lines that hold an `=`: a `(?m)^`
    pattern is tried at every position of the cell, 15 ms over a megabyte of pasted data."""
    tried = -1
    at = code.find("=")
    while at >= 0:
        start = code.rfind("\n", 0, at) + 1
        if start > tried:
            tried = start
            m = _ASSIGN_LINE.match(code, start)
            if m is not None:
                yield m
        end = code.find("\n", at)
        if end < 0:
            return
        at = code.find("=", end)


def _uses(code: str, name: str) -> bool:
    return re.search(rf"(?<![\w$]){re.escape(name)}(?!\w)|\${re.escape(name)}(?!\w)", code) is not None


def _statement(code: str, start: int) -> str | None:
    """The assignment statement that begins at `start` (it may go on over a few lines), when
    its value is one the engine can fold into text: it holds a string or is made of names."""
    end = start
    for _ in range(MAX_CONTINUATION_LINES):
        nl = code.find("\n", end)
        end = len(code) if nl < 0 else nl
        source = code[start:end]
        if len(source) > MAX_STATEMENT_CHARS:
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            if nl < 0:
                return None
            end += 1
            continue
        stmt = tree.body[0] if len(tree.body) == 1 else None
        value = getattr(stmt, "value", None)
        if not isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) or value is None:
            return None
        return source if _stringy(value) else None
    return None


# calls the engine folds into text (python.py): a value built with anything else is data
# (`pd.read_csv("x.csv")`), and remembering it would only make later cells longer to read
_FOLDABLE = frozenset(
    "join replace format decode encode b64decode urlsafe_b64decode b32decode b16decode a85decode b85decode "
    "fromhex unhexlify decompress chr str bytes bytearray reversed upper lower strip lstrip rstrip "
    "translate maketrans getenv get".split()
)


def _stringy(value: ast.expr) -> bool:
    """A value the engine can fold into text: strings, names and the calls it folds; a
    subscript only of text (`"girmx"[::-1]`), not of a name (`df["revenue"]` is a column)."""
    strings = False
    for node in ast.walk(value):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name not in _FOLDABLE:
                return False
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            return False
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            strings = True
        elif isinstance(node, (ast.Lambda, ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp, ast.Await)):
            return False
    return strings or isinstance(value, (ast.Name, ast.BinOp))
