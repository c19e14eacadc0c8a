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
import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass, field

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


@dataclass
class PythonFacts:
    imports: list[tuple[str, int, int]] = field(default_factory=list)
    shell: list[Derived] = field(default_factory=list)  # strings run by a shell
    argv: list[tuple[list[Derived], int, int]] = field(default_factory=list)  # subprocess lists
    executed: list[Derived] = field(default_factory=list)  # code handed to exec/eval
    strings: list[Derived] = field(default_factory=list)  # computed strings worth matching
    env: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    parsed: bool = True


class _Positions:
    """ast gives (line, UTF-8 byte column); we need character offsets into the cell."""

    def __init__(self, code: str):
        self.code = code
        self.starts = [0]
        for m in re.finditer("\n", code):
            self.starts.append(m.end())

    def offset(self, line: int, col: int) -> int:
        start = self.starts[line - 1] if line - 1 < len(self.starts) else len(self.code)
        end = self.starts[line] if line < len(self.starts) else len(self.code)
        text = self.code[start:end]
        if text.isascii():
            return start + col
        return start + len(text.encode("utf-8")[:col].decode("utf-8", errors="ignore"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end_line = getattr(node, "end_lineno", None) or node.lineno  # type: ignore[attr-defined]
        end_col = getattr(node, "end_col_offset", None)
        end = self.offset(end_line, end_col) if end_col is not None else start
        return start, end


_SHELL_FUNCS = {
    "system", "popen", "getoutput", "getstatusoutput", "system_raw", "check_output", "check_call",
    "call", "run", "Popen", "spawn", "run_command",
}
_EXEC_FUNCS = {"exec", "eval", "compile", "execfile"}
_B64 = {"b64decode": base64.b64decode, "standard_b64decode": base64.b64decode,
        "urlsafe_b64decode": base64.urlsafe_b64decode, "decodebytes": base64.decodebytes,
        "decodestring": base64.decodebytes, "b32decode": base64.b32decode, "b16decode": base64.b16decode,
        "b85decode": base64.b85decode, "a85decode": base64.a85decode}


def _call_name(func: ast.expr) -> tuple[str, str]:
    """(dotted receiver, attribute) of a call target: os.system -> ("os", "system")."""
    if isinstance(func, ast.Name):
        return "", func.id
    if isinstance(func, ast.Attribute):
        base = func.value
        parts = []
        while isinstance(base, ast.Attribute):
            parts.append(base.attr)
            base = base.value
        if isinstance(base, ast.Name):
            parts.append(base.id)
        elif isinstance(base, ast.Call):
            parts.append(_call_name(base.func)[1] + "()")
        return ".".join(reversed(parts)), func.attr
    return "", ""


class _Analyzer(ast.NodeVisitor):
    def __init__(self, code: str, pos: _Positions, facts: PythonFacts):
        self.code = code
        self.pos = pos
        self.facts = facts

    # --- folding -------------------------------------------------------------------------

    def fold(self, node: ast.AST, depth: int = 0) -> tuple[str, frozenset[str]] | None:
        """The string value of an expression built from literals, or None."""
        if depth > 40:
            return None
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                return node.value, frozenset()
            if isinstance(node.value, bytes):
                return node.value.decode("latin-1"), frozenset()
            return None
        if isinstance(node, ast.Name):
            start, _ = self.pos.span(node)
            value = self.lookup(node.id, start)
            return (value, frozenset({"variable"})) if value is not None else None
        if isinstance(node, ast.JoinedStr):
            out, via = [], {"f-string"}
            for part in node.values:
                if isinstance(part, ast.FormattedValue):
                    folded = self.fold(part.value, depth + 1)
                    if folded is None:
                        out.append("{…}")
                        continue
                    out.append(folded[0])
                    via |= folded[1]
                else:
                    folded = self.fold(part, depth + 1)
                    if folded:
                        out.append(folded[0])
            return "".join(out), frozenset(via)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.fold(node.left, depth + 1), self.fold(node.right, depth + 1)
            if left is None or right is None:
                return None
            return left[0] + right[0], left[1] | right[1] | {"concat"}
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            s = node.slice
            step = s.step
            if s.lower is None and s.upper is None and isinstance(step, ast.UnaryOp) and isinstance(step.op, ast.USub) \
                    and isinstance(step.operand, ast.Constant) and step.operand.value == 1:
                inner = self.fold(node.value, depth + 1)
                if inner:
                    return inner[0][::-1], inner[1] | {"reversed"}
            return None
        if isinstance(node, ast.Call):
            return self.fold_call(node, depth)
        return None

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
            return sep[0].join(v for v, _ in items), sep[1].union(*(v for _, v in items)) | {"join"}
        if name in _B64 and args:
            return self.decode(args[0], depth, lambda s: _B64[name](s.encode("latin-1")), "base64")
        if name in ("fromhex", "unhexlify", "a2b_hex") and args:
            return self.decode(args[0], depth, lambda s: binascii.unhexlify(re.sub(r"\s", "", s)), "hex")
        if name in ("decode", "encode") and isinstance(node.func, ast.Attribute):
            inner = self.fold(node.func.value, depth + 1)
            codec = self.fold(args[0], depth + 1)[0].lower() if args and self.fold(args[0], depth + 1) else "utf-8"
            if receiver.endswith("codecs") and args:  # codecs.decode(x, "rot13")
                inner = self.fold(args[0], depth + 1)
                codec = self.fold(args[1], depth + 1)[0].lower() if len(args) > 1 and self.fold(args[1], depth + 1) else "utf-8"
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
        if name in ("bytes", "bytearray") and not receiver and len(args) == 1:
            items = args[0]
            if isinstance(items, (ast.List, ast.Tuple)):
                ints = [_int(e) for e in items.elts]
                if all(i is not None and 0 <= i < 256 for i in ints):
                    return bytes(ints).decode("latin-1"), frozenset({"bytes"})  # type: ignore[arg-type]
            return None
        if name in ("str", "strip", "lower", "upper", "lstrip", "rstrip") and isinstance(node.func, ast.Attribute | ast.Name):
            target = args[0] if name == "str" and args else node.func.value if isinstance(node.func, ast.Attribute) else None
            inner = self.fold(target, depth + 1) if target is not None else None
            if inner is None:
                return None
            return getattr(inner[0], name)() if name != "str" else inner[0], inner[1]
        if name == "replace" and isinstance(node.func, ast.Attribute) and len(args) == 2:
            inner, a, b = (self.fold(x, depth + 1) for x in (node.func.value, args[0], args[1]))
            if inner and a and b:
                return inner[0].replace(a[0], b[0]), inner[1] | {"replace"}
        return None

    def fold_items(self, node: ast.AST, depth: int) -> list[tuple[str, frozenset[str]]] | None:
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.fold(e, depth + 1) for e in node.elts]
            return None if any(i is None for i in items) else items  # type: ignore[return-value]
        if isinstance(node, (ast.GeneratorExp, ast.ListComp)) and len(node.generators) == 1:
            gen = node.generators[0]
            if isinstance(gen.target, ast.Name) and isinstance(gen.iter, (ast.List, ast.Tuple)) and not gen.ifs:
                elt = node.elt
                values = [_int(e) for e in gen.iter.elts]
                if isinstance(elt, ast.Call) and _call_name(elt.func) == ("", "chr") and all(v is not None for v in values):
                    return [(chr(v), frozenset({"chr"})) for v in values if v is not None and 0 <= v < 0x110000]
                folded = [self.fold(e, depth + 1) for e in gen.iter.elts]
                if isinstance(elt, ast.Name) and elt.id == gen.target.id and all(folded):
                    return folded  # type: ignore[return-value]
            return None
        folded = self.fold(node, depth + 1)
        return [(c, folded[1]) for c in folded[0]] if folded else None

    def decode(self, arg: ast.AST, depth: int, fn: Callable[[str], bytes], how: str) -> tuple[str, frozenset[str]] | None:
        inner = self.fold(arg, depth + 1)
        return self.decode_text(inner, fn, how) if inner else None

    @staticmethod
    def decode_text(inner: tuple[str, frozenset[str]], fn: Callable[[str], bytes], how: str) -> tuple[str, frozenset[str]] | None:
        try:
            return fn(inner[0]).decode("utf-8", errors="replace"), inner[1] | {how}
        except (binascii.Error, ValueError):
            return None

    def lookup(self, name: str, before: int) -> str | None:
        best = None
        for offset, value in self.facts.env.get(name, ()):
            if offset < before:
                best = value
        return best

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
        start, end = self.pos.span(node)
        for alias in node.names:
            self.facts.imports.append((alias.name, start, end))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            start, end = self.pos.span(node)
            self.facts.imports.append((node.module, start, end))

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        folded = self.fold(node.value)
        if folded is None:
            return
        start, _ = self.pos.span(node)
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.facts.env.setdefault(target.id, []).append((start, folded[0]))
        if folded[1] - {"variable"}:
            self.facts.strings.append(self.derived(node.value, folded))

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        receiver, name = _call_name(node.func)
        first = node.args[0] if node.args else None
        if name in _EXEC_FUNCS and not receiver and first is not None:
            folded = self.fold(first)
            if folded:
                self.facts.executed.append(self.derived(first, folded, ("exec",)))
            return
        if name in ("__import__", "import_module") and first is not None:
            folded = self.fold(first)
            if folded:
                start, end = self.pos.span(first)
                self.facts.imports.append((folded[0], start, end))
            return
        if name in ("run_line_magic", "run_cell_magic", "magic") and node.args:
            self.magic_call(node)
            return
        if name in _SHELL_FUNCS or name.startswith(("exec", "spawn")) and receiver in ("os", "pty"):
            if first is None:
                for kw in node.keywords:
                    if kw.arg in ("args", "cmd", "command"):
                        first = kw.value
            if first is None:
                return
            if isinstance(first, (ast.List, ast.Tuple)):
                items = [self.fold(e) for e in first.elts]
                words = [self.derived(e, f) for e, f in zip(first.elts, items) if f is not None]
                if words:
                    start, end = self.pos.span(first)
                    self.facts.argv.append((words, start, end))
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


def _int(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    return None


_SIMPLE_ASSIGN = re.compile(r"""^[ \t]*([A-Za-z_]\w*)[ \t]*=[ \t]*[rRuU]?(["'])([^"'\\\n]*)\2[ \t]*$""", re.M)
_IMPORT_LINE = re.compile(r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import|import[ \t]+([\w., \t]+))", re.M)


def analyze(code: str) -> PythonFacts:
    """Parse and fold; falls back to line patterns when the cell is not valid Python."""
    facts = PythonFacts()
    pos = _Positions(code)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        facts.parsed = False
        _fallback(code, facts)
        return facts
    try:
        _Analyzer(code, pos, facts).visit(tree)
    except RecursionError:
        facts.parsed = False
    return facts


def _fallback(code: str, facts: PythonFacts) -> None:
    clean = strip_comments(code)
    for m in _SIMPLE_ASSIGN.finditer(clean):
        facts.env.setdefault(m.group(1), []).append((m.start(), m.group(3)))
    for m in _IMPORT_LINE.finditer(clean):
        if m.group(1):
            facts.imports.append((m.group(1), m.start(), m.end()))
        else:
            for name in m.group(2).split(","):
                name = name.strip().split()[0] if name.strip() else ""
                if name:
                    facts.imports.append((name, m.start(), m.end()))


def line_of(code: str, offset: int) -> int:
    return bisect.bisect_right([m.end() for m in re.finditer("\n", code)], offset) + 1
