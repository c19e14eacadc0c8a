"""Read the Python part of a cell: comments out, imports, and strings that reach a sink.

Two levels. `strip_comments` is a single regex pass (C speed) that blanks comments while
leaving strings intact, so matching never fires on a comment. `analyze` parses the code with
`ast` (only when the engine's prefilter says it is worth it) to find imports and to fold the
simple obfuscations people use to hide a tool's name: concatenation, f-strings, `''.join`,
`chr()` sequences, reversal, base64/hex/rot13 decoding; and to collect the strings handed to
a shell (`os.system`, `subprocess`, `get_ipython().system`) or to `exec`/`eval`.
"""

from __future__ import annotations

import ast
import base64
import binascii
import bisect
import bz2
import codecs
import itertools
import lzma
import operator
import re
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import decoded

# Comments and strings in one alternation, so a '#' inside a string is not a comment.
# Each branch consumes characters without overlap, so the scan stays linear.
_COMMENT_OR_STRING = re.compile(
    r"""(\#[^\n]*)
      | (?:\"\"\"(?:[^"\\]|\\.|"(?!""))*(?:\"\"\"|\Z))
      | (?:'''(?:[^'\\]|\\.|'(?!''))*(?:'''|\Z))
      | (?:"(?:[^"\\\n]|\\.)*(?:"|$))
      | (?:'(?:[^'\\\n]|\\.)*(?:'|$))""",
    re.X | re.M | re.S,
)


def strip_comments(code: str) -> str:
    """`code` with every comment replaced by spaces (same length, same offsets)."""
    if "#" not in code:
        return code
    parts: list[str] = []
    last = 0
    for m in _COMMENT_OR_STRING.finditer(code):
        if m.group(1) is not None:
            parts.append(code[last : m.start()])
            parts.append(" " * (m.end() - m.start()))
            last = m.end()
    if not parts:
        return code
    parts.append(code[last:])
    return "".join(parts)


@dataclass(frozen=True)
class Derived:
    """A string the code computes, and the source span it came from."""

    value: str
    start: int
    end: int
    via: tuple[str, ...]
    exact: bool = False  # value == code[start:end]


# The longest string the folding builds. Names, URLs and command lines are far shorter; past
# this the cell is reported unreadable rather than built (a replace chain can ask for gigabytes).
MAX_FOLDED_CHARS = 256 * 1024


@dataclass
class PythonFacts:
    imports: list[tuple[str, int, int]] = field(default_factory=list)  # import statements, as written
    computed_imports: list[Derived] = field(default_factory=list)  # __import__(...), import_module(...)
    hub_repos: list[Derived] = field(default_factory=list)  # owner/name handed to a Hugging Face loader
    shell: list[Derived] = field(default_factory=list)  # strings run by a shell
    argv: list[tuple[list[Derived], int, int]] = field(default_factory=list)  # subprocess lists
    executed: list[Derived] = field(default_factory=list)  # code handed to exec/eval
    strings: list[Derived] = field(default_factory=list)  # computed strings worth matching
    env: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    environ: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # os.environ["X"] = ...
    lists: dict[str, list[tuple[int, list[Derived], int, int]]] = field(default_factory=dict)  # argv lists
    behaviours: list[tuple[str, int, int]] = field(default_factory=list)  # (behaviour, start, end): see decoded.py
    parsed: bool = True
    # why part of the cell could not be read (a string built past the folding budget, a parse
    # the interpreter itself gives up on); the engine reports it instead of guessing
    unreadable: str | None = None


class _Positions:
    """ast gives (line, UTF-8 byte column); we need character offsets into the cell."""

    def __init__(self, code: str):
        self.code = code
        self.ascii = code.isascii()
        self.starts = list(itertools.accumulate(map(len, code.split("\n")), lambda a, n: a + n + 1, initial=0))
        self.byte_maps: dict[int, list[int] | None] = {}  # line -> char offset of each byte (non-ASCII lines)

    def offset(self, line: int, col: int) -> int:
        start = self.starts[line - 1] if line - 1 < len(self.starts) else len(self.code)
        if self.ascii:
            return start + col
        chars = self.byte_maps.get(line, ())
        if chars == ():
            end = self.starts[line] if line < len(self.starts) else len(self.code)
            text = self.code[start:end]
            chars = None
            if not text.isascii():  # computed once per line, so long lines stay linear
                chars = []
                for i, ch in enumerate(text):
                    chars.extend([i] * len(ch.encode("utf-8")))
                chars.append(len(text))
            self.byte_maps[line] = chars
        if chars is None:
            return start + col
        return start + chars[min(col, len(chars) - 1)]  # type: ignore[index]

    def span(self, node: ast.AST) -> tuple[int, int]:
        line, col = node.lineno, node.col_offset  # type: ignore[attr-defined]
        end_line = getattr(node, "end_lineno", None) or line
        end_col = getattr(node, "end_col_offset", None)
        if self.ascii and line <= len(self.starts) and end_line <= len(self.starts):  # the common case
            start = self.starts[line - 1] + col
            return start, (self.starts[end_line - 1] + end_col) if end_col is not None else start
        start = self.offset(line, col)
        end = self.offset(end_line, end_col) if end_col is not None else start
        return start, end


_SHELL_FUNCS = {
    "system",
    "popen",
    "getoutput",
    "getstatusoutput",
    "system_raw",
    "check_output",
    "check_call",
    "call",
    "run",
    "Popen",
    "spawn",
    "run_command",
    "create_subprocess_exec",
    "create_subprocess_shell",
}
_EXEC_FUNCS = {"exec", "eval", "compile", "execfile"}
_SINKS = _SHELL_FUNCS | _EXEC_FUNCS | {"__import__", "import_module", "run_line_magic", "run_cell_magic"}
_CHAR_CODES = frozenset({"chr"})
_ARITHMETIC: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Mod: operator.mod,
    ast.FloorDiv: operator.floordiv,
    ast.BitXor: operator.xor,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
}
_B64 = {
    "b64decode": base64.b64decode,
    "standard_b64decode": base64.b64decode,
    "urlsafe_b64decode": base64.urlsafe_b64decode,
    "decodebytes": base64.decodebytes,
    "decodestring": base64.decodebytes,
    "b32decode": base64.b32decode,
    "b16decode": base64.b16decode,
    "b85decode": base64.b85decode,
    "a85decode": base64.a85decode,
    "a2b_base64": binascii.a2b_base64,
}


def _call_name(func: ast.expr) -> tuple[str, str]:
    """(dotted receiver, attribute) of a call target: os.system -> ("os", "system")."""
    if isinstance(func, ast.Name):
        return "", func.id
    if isinstance(func, ast.Attribute):
        return _dotted(func.value), func.attr
    return "", ""


def _dotted(node: ast.expr) -> str:
    """os.path -> "os.path"; get_ipython() -> "get_ipython()"."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call):
        parts.append(_call_name(node.func)[1] + "()")
    return ".".join(reversed(parts))


_POSITION = operator.attrgetter("lineno", "col_offset")


# Nodes that hold nothing the analyzer reads below them: leaves, and contexts and operators.
_LEAF_TYPES = frozenset(
    {
        ast.Constant,
        ast.Name,
        ast.alias,
        ast.Load,
        ast.Store,
        ast.Del,
        ast.Pass,
        ast.Break,
        ast.Continue,
        *ast.operator.__subclasses__(),
        *ast.cmpop.__subclasses__(),
        *ast.unaryop.__subclasses__(),
        *ast.boolop.__subclasses__(),
    }
)


def _nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree` but the leaves, in no particular order: `ast.walk` without its
    generator and with the contexts and operators (half of all nodes) left out."""
    out: list[ast.AST] = []
    stack = [tree]
    leaf = _LEAF_TYPES
    while stack:
        node = stack.pop()
        out.append(node)
        for name in node._fields:
            value = getattr(node, name, None)
            if type(value) is list:
                stack.extend(v for v in value if isinstance(v, ast.AST) and type(v) not in leaf)
            elif isinstance(value, ast.AST) and type(value) not in leaf:
                stack.append(value)
    return out


class _Analyzer:
    """Reads one parsed cell. Nodes are gathered in one pass (a visitor's dispatch costs
    three times as much) and handled in source order: assignments first, then calls, so that a
    name is looked up among the assignments made before the place it is used."""

    def run(self, tree: ast.AST) -> None:
        assignments: list[ast.stmt] = []
        calls: list[ast.Call] = []
        for node in _nodes(tree):
            kind = type(node)
            if kind is ast.Call:
                calls.append(node)  # type: ignore[arg-type]
            elif kind is ast.Assign or kind is ast.AnnAssign or kind is ast.AugAssign:
                assignments.append(node)  # type: ignore[arg-type]
            elif kind is ast.Import:
                self.visit_Import(node)  # type: ignore[arg-type]
            elif kind is ast.ImportFrom:
                self.visit_ImportFrom(node)  # type: ignore[arg-type]
        assignments.sort(key=_POSITION)
        for stmt in assignments:
            if isinstance(stmt, ast.Assign):
                self.visit_Assign(stmt)
            elif isinstance(stmt, ast.AnnAssign):
                self.visit_AnnAssign(stmt)
            else:
                self.visit_AugAssign(stmt)  # type: ignore[arg-type]
        calls.sort(key=_POSITION)
        for call in calls:
            self.visit_Call(call)
        runners = [c for c in calls if decoded.runs(c) or decoded.unpickles(c)]
        if runners:
            values: dict[str, list[tuple[tuple[int, int], ast.expr]]] = {}
            for stmt in assignments:
                for name, value in _assigned_values(stmt):
                    values.setdefault(name, []).append(((stmt.lineno, stmt.col_offset), value))
            for call in decoded.Reader(lambda name: values.get(name, [])).sightings(runners):
                self.facts.behaviours.append(("runs-decoded", *self.pos.span(call)))

    def __init__(self, code: str, pos: _Positions, facts: PythonFacts):
        self.code = code
        self.pos = pos
        self.facts = facts
        # a value no longer than the cell costs no more to build than reading the cell did; only
        # growth past both (repetition, replace, format chains) is refused
        self.budget = max(MAX_FOLDED_CHARS, len(code))
        self.aliases: dict[str, tuple[str, str]] = {}  # s -> ("os", "system") after `from os import system as s`

    # --- folding -------------------------------------------------------------------------

    def fold(self, node: ast.AST, depth: int = 0) -> tuple[str, frozenset[str]] | None:
        """The string value of an expression built from literals, or None. Values longer than
        `self.budget` (the cell's own length, at least `MAX_FOLDED_CHARS`) are not built (a cell can describe a string of many gigabytes in a
        line): the cell is marked unreadable instead."""
        folded = self._fold(node, depth)
        if folded is not None and len(folded[0]) > self.budget:
            self.too_large(node)
            return None
        return folded

    def too_large(self, node: ast.AST) -> None:
        if self.facts.unreadable is None:
            line = getattr(node, "lineno", None)
            where = f" (line {line})" if line else ""
            self.facts.unreadable = f"a string expression grows past what the check can read{where}"

    def _fold(self, node: ast.AST, depth: int = 0) -> tuple[str, frozenset[str]] | None:
        if depth > 40:
            return None
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                return node.value, self.literal_via(node)
            if isinstance(node.value, bytes):
                return node.value.decode("latin-1"), frozenset()
            if isinstance(node.value, int) and not isinstance(node.value, bool):
                # a port or a count in an f-string or an argv (`f"-R0:localhost:{PORT}"`)
                return str(node.value), frozenset()
            return None
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "executable"
            and isinstance(node.value, ast.Name)
            and node.value.id == "sys"
        ):
            return "python", frozenset({"variable"})  # sys.executable: the kernel's interpreter
        if isinstance(node, ast.Name):
            start, _ = self.pos.span(node)
            value = self.lookup(node.id, start)
            return (value, frozenset({"variable"})) if value is not None else None
        if isinstance(node, ast.JoinedStr):
            out, via, size = [], {"f-string"}, 0
            for part in node.values:
                if isinstance(part, ast.FormattedValue):
                    folded = self.fold(part.value, depth + 1)
                    piece = "{…}" if folded is None else folded[0]
                    if folded is not None:
                        via |= folded[1]
                else:
                    folded = self.fold(part, depth + 1)
                    piece = folded[0] if folded else ""
                out.append(piece)
                size += len(piece)
                if size > self.budget:
                    self.too_large(node)
                    return None
            return "".join(out), frozenset(via)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.fold(node.left, depth + 1), self.fold(node.right, depth + 1)
            if left is None or right is None:
                return None
            return left[0] + right[0], left[1] | right[1] | {"concat"}
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):  # "./%s -o %s" % (tool, pool)
            template = self.fold(node.left, depth + 1)
            if template is None:
                return None
            items = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
            values = [self.fold(e, depth + 1) for e in items]
            longest = max((len(v[0]) for v in values if v), default=0)
            if len(template[0]) + template[0].count("%") * longest > self.budget:
                self.too_large(node)
                return None
            return _percent_format(template[0], values), template[1].union(*(v[1] for v in values if v)) | {"format"}
        if isinstance(node, ast.Subscript):
            return self.fold_subscript(node, depth)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):  # "./xmrig" * 1
            for text, times in ((node.left, node.right), (node.right, node.left)):
                count = _int(times)
                if count is None:
                    continue
                folded = self.fold(text, depth + 1)
                if folded is None:
                    return None
                if len(folded[0]) * max(count, 0) > self.budget:
                    self.too_large(node)
                    return None
                return folded[0] * count, folded[1] | {"repeat"}
            return None
        if isinstance(node, ast.IfExp):  # "./xmrig" if True else "": either branch may run
            for branch in (node.body, node.orelse):
                folded = self.fold(branch, depth + 1)
                if folded is not None and folded[0]:
                    return folded[0], folded[1] | {"conditional"}
            return None
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Lambda) and not node.args and not node.func.args.args:
                inner = self.fold(node.func.body, depth + 1)  # (lambda: c)()
                return (inner[0], inner[1] | {"lambda"}) if inner else None
            return self.fold_call(node, depth)
        return None

    def fold_subscript(self, node: ast.Subscript, depth: int) -> tuple[str, frozenset[str]] | None:
        """`c[0:]`, `c[::-1]`, `c[3]`, and an item of a literal list, tuple or dict:
        `[c][0]`, `(c,)[-1]`, `{"a": c}["a"]`."""
        index = node.slice
        value = node.value
        if isinstance(value, (ast.List, ast.Tuple)):
            i = _int(index)
            if i is None or not -len(value.elts) <= i < len(value.elts):
                return None
            inner = self.fold(value.elts[i], depth + 1)
            return (inner[0], inner[1] | {"index"}) if inner else None
        if isinstance(value, ast.Dict):
            key = self.fold(index, depth + 1)
            if key is None:
                return None
            for k, v in zip(value.keys, value.values, strict=True):
                if k is not None and (folded_key := self.fold(k, depth + 1)) and folded_key[0] == key[0]:
                    inner = self.fold(v, depth + 1)
                    return (inner[0], inner[1] | {"index"}) if inner else None
            return None
        inner = self.fold(value, depth + 1)
        if inner is None:
            return None
        if isinstance(index, ast.Slice):
            bounds = [None if b is None else _int(b) for b in (index.lower, index.upper, index.step)]
            if any(
                b is None and given is not None
                for b, given in zip(bounds, (index.lower, index.upper, index.step), strict=True)
            ):
                return None
            if bounds[2] == 0:
                return None
            sliced = inner[0][bounds[0] : bounds[1] : bounds[2]]
            return sliced, inner[1] | ({"reversed"} if (bounds[2] or 1) < 0 else {"slice"})
        i = _int(index)
        if i is None or not -len(inner[0]) <= i < len(inner[0]):
            return None
        return inner[0][i], inner[1] | {"index"}

    def literal_via(self, node: ast.Constant) -> frozenset[str]:
        """How a string constant was written: `"xm" "rig"` (implicit concatenation) or
        `"\x78mrig"` (escapes) hide a name from a plain reading of the source."""
        start, end = self.pos.span(node)
        raw = self.code[start:end]
        value = node.value if isinstance(node.value, str) else ""
        if value and raw.count(value) == 1 and _STRING_TOKEN.fullmatch(raw):
            return frozenset()
        token = _STRING_TOKEN.match(raw)
        if token is None or token.end() < len(raw):
            return frozenset({"concat"})
        if _CHAR_ESCAPE.search(raw) and not raw.lstrip("bBuU").lower().startswith("r"):
            return frozenset({"escapes"})  # "\x78mrig": letters written as codes
        return frozenset()

    def fold_call(self, node: ast.Call, depth: int) -> tuple[str, frozenset[str]] | None:
        receiver, name = _call_name(node.func)
        args = node.args
        if name == "chr" and not receiver and len(args) == 1:
            n = _int(args[0])
            return (chr(n), frozenset({"chr"})) if n is not None and 0 <= n < 0x110000 else None
        if name == "join" and isinstance(node.func, ast.Attribute) and len(args) == 1:
            sep = self.fold(node.func.value, depth + 1)
            items = self.fold_items(args[0], depth + 1)
            if sep is None or items is None:
                return None
            if sum(len(v) for v, _ in items) + len(sep[0]) * len(items) > self.budget:
                self.too_large(node)
                return None
            return sep[0].join(v for v, _ in items), sep[1].union(*(v for _, v in items)) | {"join"}
        if name in _B64 and args:
            return self.decode(args[0], depth, lambda s: _B64[name](s.encode("latin-1")), "base64")
        if name in ("fromhex", "unhexlify", "a2b_hex") and args:
            return self.decode(args[0], depth, lambda s: binascii.unhexlify(re.sub(r"\s", "", s)), "hex")
        if name in ("decode", "encode") and isinstance(node.func, ast.Attribute):
            inner = self.fold(node.func.value, depth + 1)
            given = self.fold(args[0], depth + 1) if args else None
            codec = given[0].lower() if given else "utf-8"
            if receiver.endswith("codecs") and args:  # codecs.decode(x, "rot13")
                inner = self.fold(args[0], depth + 1)
                given = self.fold(args[1], depth + 1) if len(args) > 1 else None
                codec = given[0].lower() if given else "utf-8"
            if inner is None:
                return None
            codec = codec.replace("-", "_")
            if codec in ("rot13", "rot_13"):
                return codecs.decode(inner[0], "rot13"), inner[1] | {"rot13"}
            if codec == "hex":
                try:
                    return binascii.unhexlify(inner[0]).decode("latin-1"), inner[1] | {"hex"}
                except (binascii.Error, ValueError):
                    return None
            if codec in ("base64", "base_64"):
                return self.decode_text(inner, lambda s: base64.b64decode(s.encode("latin-1")), "base64")
            return inner
        if name == "int" and not receiver and len(args) == 1 and not node.keywords:
            number = self.fold(args[0], depth + 1)  # int(1234) or int("1234"): the digits
            return number if number is not None and number[0].isdigit() and number[0].isascii() else None
        if name == "to_bytes" and isinstance(node.func, ast.Attribute):
            return self.int_bytes(node, depth)
        if name in ("bytes", "bytearray") and not receiver and len(args) == 1:
            sequence = args[0]
            if isinstance(sequence, (ast.List, ast.Tuple)):
                ints = [_int(e) for e in sequence.elts]
                if all(i is not None and 0 <= i < 256 for i in ints):
                    return bytes(ints).decode("latin-1"), frozenset({"bytes"})  # type: ignore[arg-type]
            if isinstance(sequence, (ast.GeneratorExp, ast.ListComp)) and len(sequence.generators) == 1:
                gen = sequence.generators[0]  # bytes(c ^ 7 for c in [...])
                walked = self.sequence(gen.iter, depth) if isinstance(gen.target, ast.Name) and not gen.ifs else None
                if walked is None:
                    return None
                assert isinstance(gen.target, ast.Name)
                codes = [self.arithmetic(sequence.elt, gen.target.id, item, depth) for item in walked]
                if all(c is not None and 0 <= c < 256 for c in codes):
                    return bytes(codes).decode("latin-1"), _CHAR_CODES  # type: ignore[arg-type]
            return None
        if name in ("str", "strip", "lower", "upper", "lstrip", "rstrip") and isinstance(
            node.func, ast.Attribute | ast.Name
        ):
            target = (
                args[0] if name == "str" and args else node.func.value if isinstance(node.func, ast.Attribute) else None
            )
            inner = self.fold(target, depth + 1) if target is not None else None
            if inner is None:
                return None
            return getattr(inner[0], name)() if name != "str" else inner[0], inner[1]
        if name == "replace" and isinstance(node.func, ast.Attribute) and len(args) == 2:
            inner, a, b = (self.fold(x, depth + 1) for x in (node.func.value, args[0], args[1]))
            if inner and a and b:
                grows = inner[0].count(a[0]) * max(0, len(b[0]) - len(a[0])) if b[0] else 0
                if len(inner[0]) + grows > self.budget:
                    self.too_large(node)
                    return None
                return inner[0].replace(a[0], b[0]), inner[1] | {"replace"}
        if name == "__add__" and isinstance(node.func, ast.Attribute) and len(args) == 1:
            left, right = self.fold(node.func.value, depth + 1), self.fold(args[0], depth + 1)
            return (left[0] + right[0], left[1] | right[1] | {"concat"}) if left and right else None
        if name == "translate" and isinstance(node.func, ast.Attribute) and len(args) == 1:
            inner, table = self.fold(node.func.value, depth + 1), self.translation(args[0], depth)
            return (inner[0].translate(table), inner[1] | {"translate"}) if inner and table is not None else None
        if name == "decompress" and receiver.split(".")[-1] in _DECOMPRESS and args:
            module = _DECOMPRESS[receiver.split(".")[-1]]
            return self.decode(args[0], depth, lambda s: module(_raw_bytes(s)), "compressed")
        if name == "format" and isinstance(node.func, ast.Attribute) and receiver != "string":
            template = self.fold(node.func.value, depth + 1)
            if template is None:
                return None
            positional = [self.fold(a, depth + 1) for a in args]
            named = {k.arg: self.fold(k.value, depth + 1) for k in node.keywords if k.arg}
            vias = template[1].union(*(v[1] for v in [*positional, *named.values()] if v))
            longest = max((len(v[0]) for v in [*positional, *named.values()] if v), default=0)
            if len(template[0]) + template[0].count("{") * longest > self.budget:
                self.too_large(node)
                return None
            return _brace_format(template[0], positional, named), vias | {"format"}
        return None

    def int_bytes(self, node: ast.Call, depth: int) -> tuple[str, frozenset[str]] | None:
        """`N.to_bytes(length, "big")`: a number's bytes, a way to write a command as digits."""
        assert isinstance(node.func, ast.Attribute)
        number = self.fold(node.func.value, depth + 1)
        options = {k.arg: k.value for k in node.keywords if k.arg}
        length_node = node.args[0] if node.args else options.get("length")
        order_node = node.args[1] if len(node.args) > 1 else options.get("byteorder")
        length = self.fold(length_node, depth + 1) if length_node is not None else ("1", frozenset())
        order = self.fold(order_node, depth + 1) if order_node is not None else ("big", frozenset())
        if number is None or length is None or order is None or order[0] not in ("big", "little"):
            return None
        if not (number[0].isascii() and number[0].isdigit() and length[0].isascii() and length[0].isdigit()):
            return None
        size = int(length[0])
        if size > self.budget:
            self.too_large(node)
            return None
        try:
            data = int(number[0]).to_bytes(size, order[0])  # type: ignore[arg-type]
        except (OverflowError, ValueError):
            return None
        return data.decode("latin-1"), number[1] | {"to_bytes"}

    def translation(self, node: ast.AST, depth: int) -> dict[int, int | None] | None:
        """The table of `str.maketrans("abc", "xyz"[, "del"])`, when its strings fold."""
        if not isinstance(node, ast.Call) or _call_name(node.func)[1] != "maketrans" or not 2 <= len(node.args) <= 3:
            return None
        parts = [self.fold(a, depth + 1) for a in node.args]
        if any(p is None for p in parts) or len(parts[0][0]) != len(parts[1][0]):  # type: ignore[index]
            return None
        table: dict[int, int | None] = {ord(a): ord(b) for a, b in zip(parts[0][0], parts[1][0], strict=True)}  # type: ignore[index]
        if len(parts) == 3:
            table.update({ord(c): None for c in parts[2][0]})  # type: ignore[index]
        return table

    def fold_items(self, node: ast.AST, depth: int) -> list[tuple[str, frozenset[str]]] | None:
        if isinstance(node, ast.Call) and not node.keywords:
            receiver, name = _call_name(node.func)
            if name == "map" and not receiver and len(node.args) == 2:  # map(chr, [120, 109, ...])
                fn, seq = node.args
                if isinstance(fn, ast.Lambda) and len(fn.args.args) == 1 and not fn.args.vararg:
                    # map(lambda c: chr(c ^ 7), [...]): the codes worked out, one by one
                    return self.char_codes(fn.body, fn.args.args[0].arg, seq, depth)
                if isinstance(fn, ast.Name) and fn.id == "chr" and isinstance(seq, (ast.List, ast.Tuple)):
                    codes = [_int(e) for e in seq.elts]
                    chars = [chr(v) for v in codes if v is not None and 0 <= v < 0x110000]
                    return [(c, frozenset({"chr"})) for c in chars] if len(chars) == len(codes) else None
                if isinstance(fn, ast.Name) and fn.id == "str":
                    return self.fold_items(seq, depth + 1)
                return None
            if name in ("reversed", "list", "tuple") and not receiver and len(node.args) == 1:  # reversed("gir...")
                inner = self.fold_items(node.args[0], depth + 1)
                if inner is None:
                    return None
                return list(reversed(inner)) if name == "reversed" else inner
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.fold(e, depth + 1) for e in node.elts]
            return None if any(i is None for i in items) else items  # type: ignore[return-value]
        if isinstance(node, (ast.GeneratorExp, ast.ListComp)) and len(node.generators) == 1:
            gen = node.generators[0]
            if isinstance(gen.target, ast.Name) and not gen.ifs and isinstance(node.elt, ast.Call):
                # chr(c), chr(c ^ 7), chr(ord(ch) - 3) for each c of a literal sequence
                return self.char_codes(node.elt, gen.target.id, gen.iter, depth)
            if isinstance(gen.target, ast.Name) and isinstance(gen.iter, (ast.List, ast.Tuple)) and not gen.ifs:
                elt = node.elt
                folded = [self.fold(e, depth + 1) for e in gen.iter.elts]
                if isinstance(elt, ast.Name) and elt.id == gen.target.id and all(folded):
                    return folded  # type: ignore[return-value]
            return None
        whole = self.fold(node, depth + 1)
        return [(c, whole[1]) for c in whole[0]] if whole else None

    def char_codes(self, call: ast.AST, var: str, seq: ast.AST, depth: int) -> list[tuple[str, frozenset[str]]] | None:
        """`chr(<arithmetic on var>)` for each item of a literal sequence (ints, or the
        characters of a string for `ord(var)`): XOR and shifted codes, worked out."""
        if not (isinstance(call, ast.Call) and _call_name(call.func) == ("", "chr") and len(call.args) == 1):
            return None
        items = self.sequence(seq, depth)
        if items is None:
            return None
        out = []
        for item in items:
            code = self.arithmetic(call.args[0], var, item, depth)
            if code is None or not 0 <= code < 0x110000:
                return None
            out.append((chr(code), _CHAR_CODES))
        return out

    def sequence(self, node: ast.AST, depth: int) -> list[int | str] | None:
        """The items of a literal sequence a comprehension walks: ints of a list, tuple or bytes
        literal; characters of a string."""
        if isinstance(node, (ast.List, ast.Tuple)):
            ints = [_int(e) for e in node.elts]
            return None if any(i is None for i in ints) else ints  # type: ignore[return-value]
        if isinstance(node, ast.Constant) and isinstance(node.value, bytes):
            return list(node.value)
        folded = self.fold(node, depth + 1)
        return list(folded[0]) if folded is not None else None

    def arithmetic(self, node: ast.AST, var: str, item: int | str, depth: int) -> int | None:
        """An integer expression of the comprehension's variable and constants."""
        if depth > 40:
            return None
        if isinstance(node, ast.Name):
            if node.id == var:
                return item if isinstance(item, int) else None
            value = self.lookup(node.id, self.pos.span(node)[0])  # key = 7 earlier in the cell
            return int(value) if value is not None and value.isascii() and value.isdigit() else None
        if isinstance(node, ast.Call) and _call_name(node.func) == ("", "ord") and len(node.args) == 1:
            arg = node.args[0]
            if isinstance(arg, ast.Name) and arg.id == var and isinstance(item, str):
                return ord(item)
            return None
        if isinstance(node, ast.BinOp):
            op = _ARITHMETIC.get(type(node.op))
            left = self.arithmetic(node.left, var, item, depth + 1)
            right = self.arithmetic(node.right, var, item, depth + 1)
            if op is None or left is None or right is None:
                return None
            if isinstance(node.op, (ast.LShift, ast.RShift)) and not 0 <= right <= 64:
                return None
            if isinstance(node.op, (ast.Mod, ast.FloorDiv)) and right == 0:
                return None
            result = op(left, right)
            return result if abs(result) < 1 << 40 else None
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Invert)):
            inner = self.arithmetic(node.operand, var, item, depth + 1)
            if inner is None:
                return None
            return -inner if isinstance(node.op, ast.USub) else ~inner if isinstance(node.op, ast.Invert) else inner
        return _int(node)

    def decode(
        self, arg: ast.AST, depth: int, fn: Callable[[str], bytes], how: str
    ) -> tuple[str, frozenset[str]] | None:
        inner = self.fold(arg, depth + 1)
        return self.decode_text(inner, fn, how) if inner else None

    @staticmethod
    def decode_text(
        inner: tuple[str, frozenset[str]], fn: Callable[[str], bytes], how: str
    ) -> tuple[str, frozenset[str]] | None:
        try:
            raw = fn(inner[0])
        except (binascii.Error, ValueError, OSError, EOFError, LookupError):
            return None
        try:
            return raw.decode("utf-8"), inner[1] | {how}
        except UnicodeDecodeError:  # binary (a compressed payload): kept byte for byte
            return raw.decode("latin-1"), inner[1] | {how}

    def lookup(self, name: str, before: int) -> str | None:
        entry = latest_before(self.facts.env.get(name, ()), before)
        return entry[1] if entry is not None else None

    # --- recording ----------------------------------------------------------------------

    def derived(self, node: ast.AST, folded: tuple[str, frozenset[str]], extra: tuple[str, ...] = ()) -> Derived:
        start, end = self.pos.span(node)
        value, via = folded
        exact = False
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and not via:
            # a plain literal: find the value inside its quotes when written without escapes
            raw = self.code[start:end]
            inner = raw.find(value) if value else -1
            if inner >= 0 and raw.count(value) == 1:
                return Derived(value, start + inner, start + inner + len(value), extra, True)
        return Derived(value, start, end, tuple(sorted(via)) + extra, exact)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            start, end = self.pos.span(alias)  # `name as other`: point at the name
            written = self.code[start:end]
            if written.startswith(alias.name):
                end = start + len(alias.name)
            self.facts.imports.append((alias.name, start, end))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name in _SINKS:
                self.aliases[alias.asname or alias.name] = (node.module or "", alias.name)
        if node.module and not node.level:
            start, end = self.pos.span(node)
            m = _FROM_MODULE.match(self.code, start, end)
            if m and _DOTS_AND_SPACE.sub("", m.group(1)) == node.module:
                start, end = m.span(1)
            self.facts.imports.append((node.module, start, end))

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:  # os.environ["TOOL"] = "...": what `!$TOOL` runs
            if isinstance(t, ast.Subscript) and _dotted(t.value).endswith("environ"):
                self.environ(t.slice, node.value, node)
        if isinstance(node.value, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)):  # run = subprocess.run
            target = self.callee(node.value)
            if target[1] in _SINKS:
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        self.aliases[t.id] = target
        self.assign([t for t in node.targets if isinstance(t, ast.Name)], node.value, node)
        for t in node.targets:  # a, b = "./xm", "rig"
            rhs = node.value
            if (
                isinstance(t, (ast.Tuple, ast.List))
                and isinstance(rhs, (ast.Tuple, ast.List))
                and len(t.elts) == len(rhs.elts)
            ):
                for element, item in zip(t.elts, rhs.elts, strict=True):
                    if isinstance(element, ast.Name):
                        self.assign([element], item, node)

    def environ(self, key: ast.expr, value: ast.expr, node: ast.AST) -> None:
        name, folded = self.fold(key), self.fold(value)
        if name is not None and folded is not None:
            start, _ = self.pos.span(node)
            self.facts.environ.setdefault(name[0], []).append((start, folded[0]))

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None and isinstance(node.target, ast.Name):
            self.assign([node.target], node.value, node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:  # cmd += " --flag"
        if isinstance(node.target, ast.Name) and isinstance(node.op, ast.Add):
            combined = ast.BinOp(ast.Name(node.target.id, ast.Load()), ast.Add(), node.value)
            ast.copy_location(combined, node)
            ast.copy_location(combined.left, node.target)
            self.assign([node.target], combined, node)

    def assign(self, targets: list[ast.Name], value: ast.expr, node: ast.stmt) -> None:
        start, _ = self.pos.span(node)
        if isinstance(value, (ast.List, ast.Tuple)) and value.elts:
            words = self.words(value)
            if words:
                list_start, list_end = self.pos.span(value)
                for target in targets:
                    self.facts.lists.setdefault(target.id, []).append((start, words, list_start, list_end))
            return
        folded = self.fold(value)
        if folded is None:
            return
        for target in targets:
            self.facts.env.setdefault(target.id, []).append((start, folded[0]))
        if folded[1] - {"variable"}:
            self.facts.strings.append(self.derived(value, folded))

    def words(self, node: ast.List | ast.Tuple) -> list[Derived] | None:
        """The items of a list of strings (an argv), each with its source; None when the program
        (the first item) is unknown: then nothing can be said about what runs."""
        items = [self.fold(e) for e in node.elts]
        if items[0] is None:
            return None
        # an unknown argument keeps its place, so `-m pip install x` still reads as such
        return [
            self.derived(e, f if f is not None else ("{…}", frozenset({"unknown"})))
            for e, f in zip(node.elts, items, strict=True)
        ]

    def shell_source(self, node: ast.expr) -> Derived | None:
        """`"a b c".split()` and `shlex.split("a b c")` given to subprocess: the command line."""
        if not isinstance(node, ast.Call):
            return None
        receiver, name = _call_name(node.func)
        if name != "split":
            return None
        if receiver.endswith("shlex") and node.args:
            target = node.args[0]
        elif isinstance(node.func, ast.Attribute) and not node.args and not receiver.endswith(("shlex", "os.path")):
            target = node.func.value
        else:
            return None
        folded = self.fold(target)
        return self.derived(target, folded) if folded else None

    def callee(self, func: ast.expr) -> tuple[str, str]:
        """(receiver, name) of what a call runs, through aliases, `getattr(os, "system")`,
        `vars(os)["system"]` and `os.__dict__["system"]`."""
        if isinstance(func, ast.Name) and func.id in self.aliases:
            return self.aliases[func.id]
        if isinstance(func, ast.Call) and _call_name(func.func) == ("", "getattr") and len(func.args) >= 2:
            attr = self.fold(func.args[1])
            if attr is not None:
                return _dotted(func.args[0]), attr[0]
        if isinstance(func, ast.Subscript):
            holder, key = func.value, self.fold(func.slice)
            if key is not None and isinstance(holder, ast.Call) and _call_name(holder.func) == ("", "vars"):
                return (_dotted(holder.args[0]) if holder.args else ""), key[0]
            if key is not None and isinstance(holder, ast.Attribute) and holder.attr == "__dict__":
                return _dotted(holder.value), key[0]
        return _call_name(func)

    def visit_Call(self, node: ast.Call) -> None:
        receiver, name = self.callee(node.func)
        if len(node.args) == 2 and (name == "putenv" or (name == "setdefault" and receiver.endswith("environ"))):
            self.environ(node.args[0], node.args[1], node)
        first = node.args[0] if node.args else None
        if name in _EXEC_FUNCS and receiver in ("", "builtins", "__builtins__") and first is not None:
            folded = self.fold(first)
            if folded:
                self.facts.executed.append(self.derived(first, folded, ("exec",)))
            return
        if name in ("__import__", "import_module") and first is not None:
            folded = self.fold(first)
            if folded:
                self.facts.computed_imports.append(self.derived(first, folded))
            return
        self.hub_repo(node, name)
        if name in ("run_line_magic", "run_cell_magic", "magic") and node.args:
            self.magic_call(node)
            return
        if name in ("run_cell", "run_cell_async", "run_source") and receiver.endswith(("get_ipython()", "shell", "ip")):
            folded = self.fold(first) if first is not None else None  # a whole cell, IPython syntax and all
            if folded:
                self.facts.executed.append(self.derived(first, folded, ("run_cell",)))  # type: ignore[arg-type]
            return
        if receiver == "os" and name.startswith(("spawnl", "spawnv", "execl", "execv", "posix_spawn")):
            # os.spawnlp(mode, file, arg0, *args) / os.execvp(file, [arg0, *args]): the program is
            # `file`, its arguments follow arg0
            args = node.args[1:] if name.startswith("spawn") else node.args
            if len(args) >= 2 and isinstance(args[1], (ast.List, ast.Tuple)):
                elements = [args[0], *args[1].elts[1:]]
            else:
                elements = [args[0], *args[2:]] if args else []
            words = self.words(ast.List(elts=elements)) if elements else None
            if words:
                start, end = self.pos.span(node)
                self.facts.argv.append((words, start, end))
            return
        if name in _SHELL_FUNCS or name.startswith(("exec", "spawn")) and receiver in ("os", "pty"):
            if first is None:
                for kw in node.keywords:
                    if kw.arg in ("args", "cmd", "command"):
                        first = kw.value
            if first is None:
                return
            if isinstance(first, (ast.List, ast.Tuple)):
                words = self.words(first) if first.elts else None
                if words:
                    start, end = self.pos.span(first)
                    self.facts.argv.append((words, start, end))
                return
            if isinstance(first, ast.Name):  # cmd = ["hashcat", ...]; subprocess.run(cmd)
                at, _ = self.pos.span(first)
                assigned = latest_before(self.facts.lists.get(first.id, ()), at)
                if assigned is not None:
                    self.facts.argv.append(assigned[1:])
                    return
            split = self.shell_source(first)
            if split is not None:
                self.facts.shell.append(split)
                return
            folded = self.fold(first)
            if folded:
                self.facts.shell.append(self.derived(first, folded))
            return
        if node.args or node.keywords:
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                folded = self.fold(arg)
                if folded and folded[1] - {"variable"}:
                    self.facts.strings.append(self.derived(arg, folded))

    def hub_repo(self, node: ast.Call, name: str) -> None:
        """`hf_hub_download(repo_id=...)`, `snapshot_download(x)`, `from_pretrained(x)`: the
        repository, even when it comes from a variable or is put together."""
        target = next((k.value for k in node.keywords if k.arg in ("repo_id", "pretrained_model_name_or_path")), None)
        if target is None and name in _HUB_LOADERS and node.args:
            target = node.args[0]
        if target is None:
            return
        folded = self.fold(target)
        if folded and _HUB_REPO_ID.fullmatch(folded[0]):
            self.facts.hub_repos.append(self.derived(target, folded))

    def magic_call(self, node: ast.Call) -> None:
        folded = [self.fold(a) for a in node.args]
        if not folded[0]:
            return
        magic = folded[0][0].lstrip("%")
        rest = [f for f in folded[1:] if f is not None]
        body = " ".join(f[0] for f in rest)
        if magic in ("pip", "conda", "mamba"):
            body = f"{magic} {body}"
        elif magic not in ("system", "sx", "sh", "bash", "script", "!"):
            return
        start, end = self.pos.span(node)
        self.facts.shell.append(Derived(body, start, end, ("magic",)))


_FROM_MODULE = re.compile(r"from[ \t\\\n]+([\w.]+(?:[ \t]*\.[ \t]*[\w.]+)*)")
_DOTS_AND_SPACE = re.compile(r"[ \t]+")

# One Python string literal (prefix, quotes, body), as written.
_STRING_TOKEN = re.compile(
    # runs of ordinary characters are consumed at once (a 1 MB literal in one step, not per char)
    r"""[rRbBuU]{0,2}(?:\"\"\"[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*\"\"\"|'\'\'[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'\'\'"""
    r"""|"[^"\\\n]*(?:\\.[^"\\\n]*)*"|'[^'\\\n]*(?:\\.[^'\\\n]*)*')""",
    re.S,
)


_HUB_LOADERS = {
    "hf_hub_download",
    "snapshot_download",
    "hf_hub_url",
    "cached_download",
    "from_pretrained",
    "load_dataset",
    "list_repo_files",
    "create_repo_ref",
    "HfFileSystem",
}
_HUB_REPO_ID = re.compile(r"[\w.-]+/[\w.-]+")
_CHAR_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{|[0-7]{1,3})")
_UNKNOWN = "{…}"
_BRACE_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?([a-zA-Z%])")
Folded = tuple[str, frozenset[str]] | None


def _raw_bytes(text: str) -> bytes:
    """Bytes a folded value stands for: latin-1 round-trips binary; other text is UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _inflate(wbits: int) -> Callable[[bytes], bytes]:
    def run(data: bytes) -> bytes:
        out = zlib.decompressobj(wbits).decompress(data, MAX_FOLDED_CHARS + 1)
        if len(out) > MAX_FOLDED_CHARS:  # a decompression bomb is not unpacked past the budget
            raise ValueError("too large")
        return out

    return run


def _unpack_with(make: Callable[[], Any]) -> Callable[[bytes], bytes]:
    def run(data: bytes) -> bytes:
        out: bytes = make().decompress(data, max_length=MAX_FOLDED_CHARS + 1)
        if len(out) > MAX_FOLDED_CHARS:
            raise ValueError("too large")
        return out

    return run


# zlib.decompress(...), gzip.decompress(...), ...: undone within the folding budget
_DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "zlib": _inflate(zlib.MAX_WBITS),
    "gzip": _inflate(zlib.MAX_WBITS | 16),
    "bz2": _unpack_with(bz2.BZ2Decompressor),
    "lzma": _unpack_with(lzma.LZMADecompressor),
}


def _brace_format(template: str, positional: list[Folded], named: dict[str, Folded]) -> str:
    """`template.format(...)` with known string arguments. Format specs (widths and the like)
    are ignored on purpose: a name is what matters, and `{:>999999999}` must cost nothing."""
    auto = iter(range(len(positional) + 1))

    def field(m: re.Match[str]) -> str:
        if m.group(0) in ("{{", "}}"):
            return m.group(0)[0]
        key = re.split(r"[!:]", m.group(1), maxsplit=1)[0]
        value: Folded = None
        if key == "":
            i = next(auto, len(positional))
            value = positional[i] if i < len(positional) else None
        elif key.isdigit():
            value = positional[int(key)] if int(key) < len(positional) else None
        elif key.isidentifier():
            value = named.get(key)
        return value[0] if value is not None else _UNKNOWN

    return _BRACE_FIELD.sub(field, template)


def _percent_format(template: str, values: list[Folded]) -> str:
    """`template % values` for `%s`-style fields (others become a placeholder)."""
    remaining = iter(values)

    def field(m: re.Match[str]) -> str:
        if m.group(1) == "%":
            return "%"
        value = next(remaining, None)
        return value[0] if value is not None and m.group(1) in "sra" else _UNKNOWN

    return _PERCENT_FIELD.sub(field, template)


def latest_before(entries: Sequence[tuple[Any, ...]], before: int) -> tuple[Any, ...] | None:
    """The last of `entries` (sorted by their first item, an offset) written before `before`."""
    i = bisect.bisect_left(entries, before, key=lambda e: e[0])
    return entries[i - 1] if i else None


def _assigned_values(stmt: ast.stmt) -> Iterator[tuple[str, ast.expr]]:
    """(name, value) of what an assignment binds: `x = v`, `a, b = v1, v2`, `x: T = v`, `x += v`."""
    if isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            if isinstance(target, ast.Name):
                yield target.id, stmt.value
            elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(stmt.value, (ast.Tuple, ast.List)):
                if len(target.elts) == len(stmt.value.elts):
                    for t, v in zip(target.elts, stmt.value.elts, strict=True):
                        if isinstance(t, ast.Name):
                            yield t.id, v
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) and isinstance(stmt.target, ast.Name) and stmt.value:
        yield stmt.target.id, stmt.value


def _int(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):  # -1
        inner = _int(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    return None


_SIMPLE_ASSIGN = re.compile(r"""^[ \t]*([A-Za-z_]\w*)[ \t]*=[ \t]*[rRuU]?(["'])([^"'\\\n]*)\2[ \t]*$""", re.M)
_IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import|import[ \t]+([\w., \t]+))", re.M)


def analyze(code: str) -> PythonFacts:
    """Parse and fold; falls back to line patterns when the cell is not valid Python."""
    facts = PythonFacts()
    pos = _Positions(code)
    try:
        with warnings.catch_warnings():
            # "invalid escape sequence" and the like: a warning (an error under -W error) that
            # must neither reach the server's log nor stop the analysis
            warnings.simplefilter("ignore")
            tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        facts.parsed = False
        _fallback(code, facts)
        return facts
    try:
        _Analyzer(code, pos, facts).run(tree)
    except (RecursionError, MemoryError):
        facts.parsed = False
        facts.unreadable = facts.unreadable or "the code is nested too deeply to read"
    return facts


def _fallback(code: str, facts: PythonFacts) -> None:
    clean = strip_comments(code)
    for m in _SIMPLE_ASSIGN.finditer(clean):
        facts.env.setdefault(m.group(1), []).append((m.start(), m.group(3)))
    for m in _IMPORT_LINE.finditer(clean):
        if m.group(1):
            facts.imports.append((m.group(1), m.start(1), m.end(1)))
        else:
            for name in re.finditer(r"(?:^|,)[ \t]*([\w.]+)", m.group(2)):
                facts.imports.append((name.group(1), m.start(2) + name.start(1), m.start(2) + name.end(1)))
