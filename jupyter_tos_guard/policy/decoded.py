"""Code or a command run after being decoded from data written in the code itself.

`exec(base64.b64decode("..."))`, `os.system("".join(chr(c ^ 7) for c in codes))`,
`pickle.loads(zlib.decompress(blob))`: what runs cannot be read where it is written. The folding
of the Python reader (`python.py`) undoes what it can and the rules judge the result; this says
that it happened at all, whether or not the folding got through (a marshalled code object, a
key computed at run time), so that a policy can flag hidden code as such
(`behaviour: runs-decoded`).

Read from the syntax tree the Python reader has already parsed: a call that runs its argument
(exec, eval, a shell, an unpickler) whose argument holds, directly or through the values of the
names it reads (assignments anywhere in the code, as the behaviour readers take them), a decoder
over data written out in the code (a long string or bytes literal, a list of numbers). Decoding
what came from a file or the network is not this (`hidden-code.exec-download` is about that).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Iterator

from .behaviour import _name, _root  # the callee's last name and the name its chain starts from

# what runs its argument as code or as a command line
_RUNS_BARE = frozenset(
    {"exec", "eval", "execfile", "compile", "system", "popen", "Popen", "check_output", "check_call", "getoutput"}
)
_RUNS_OS = frozenset(
    {"system", "popen", "execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe", "spawnv"}
    | {"spawnve", "spawnvp", "spawnvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "posix_spawn", "posix_spawnp"}
)
_RUNS_IPYTHON = frozenset({"system", "getoutput", "run_cell", "run_line_magic", "run_cell_magic", "ex", "ev"})
_UNPICKLERS = frozenset({"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "jsonpickle"})
# what turns data into text or code
_DECODERS = frozenset(
    {"b64decode", "b32decode", "b16decode", "b85decode", "a85decode", "standard_b64decode", "urlsafe_b64decode"}
    | {"decodebytes", "decodestring", "a2b_base64", "a2b_hex", "a2b_uu", "unhexlify", "fromhex", "decompress"}
    | {"loads", "bytes", "bytearray", "translate", "to_bytes"}
)
_CODE_LOADERS = _UNPICKLERS | {"marshal"}
_CODECS = frozenset({"rot13", "rot_13", "base64", "base_64", "hex", "zlib", "zip", "bz2", "uu"})
# what comes out of these is not their argument decoded: pickle.dumps(x), b64encode(x)
_ENCODERS = frozenset({"dumps", "dump", "b64encode", "b32encode", "b16encode", "b85encode", "hexlify", "encodebytes"})
_TEXT_METHODS = frozenset({"encode", "strip", "replace", "lower", "upper"})
_DATA_CHARS = 16  # a string literal this long can hold a command
_DATA_ITEMS = 8  # ... and a list of this many numbers
_MAX_FOLLOW = 4  # names followed to their values, one inside the other
_MAX_VALUES = 3  # ... the last assignments before the use
_MAX_FOUND = 20
# a module and a function that runs commands, as a pickle names them (protocol 0 puts a newline
# between the two, later protocols a length byte)
_PICKLED_RUNNER = re.compile(
    r"(?:posix|\bos|\bnt|subprocess|builtins|__builtin__|pty|commands)[\s\S]{1,3}"
    r"(?:system|popen|Popen|exec|eval|call|run|check_output|getoutput|spawn)"
)

# name -> ((line, column) of the assignment, the value assigned), in the order written
Values = Callable[[str], list[tuple[tuple[int, int], ast.expr]]]


def runs(call: ast.Call) -> bool:
    """A call that runs its argument as code or as a command line."""
    func, name = call.func, _name(call.func)
    if isinstance(func, ast.Name):
        return name in _RUNS_BARE
    root = _root(func)
    if root in ("os", "posix"):
        return name in _RUNS_OS
    if root == "subprocess" or (root == "pty" and name == "spawn"):
        return True
    if root == "get_ipython":
        return name in _RUNS_IPYTHON
    if root in ("builtins", "__builtins__"):
        return name in ("exec", "eval", "compile")
    return root == "types" and name == "FunctionType"  # a function made of unmarshalled code


def unpickles(call: ast.Call) -> bool:
    return _name(call.func) == "loads" and _root(call.func) in _UNPICKLERS


class Reader:
    """Finds the decoded runs among a tree's calls; `values(name)` gives what the code assigns
    to a name, and where."""

    def __init__(self, values: Values):
        self._values_of = values

    def sightings(self, calls: Iterable[ast.Call]) -> Iterator[ast.Call]:
        found = 0
        for call in calls:
            if found >= _MAX_FOUND:
                return
            unpickle = unpickles(call)
            if not (unpickle or runs(call)):
                continue
            args = [*call.args, *(kw.value for kw in call.keywords if kw.arg in (None, "args", "source", "cmd"))]
            # unpickling runs whatever the pickle names: one decoded from data, or written out
            # naming a function that runs commands (not a test's pickled list)
            if any(self.decoded(a, 0) or (unpickle and self.names_runner(a, 0)) for a in args):
                found += 1
                yield call

    def values(self, name: ast.Name) -> list[ast.expr]:
        """The last values assigned to the name before it is read (a name read inside a
        function defined earlier than its assignments: the last ones of all)."""
        where = (name.lineno, name.col_offset)
        assigned = self._values_of(name.id)
        before = [v for at, v in assigned if at < where] or [v for _, v in assigned]
        return before[-_MAX_VALUES:]

    def decoded(self, node: ast.AST, depth: int) -> bool:
        """Whether the expression holds a decoding of data written in the code (directly or
        through the values of the names it reads)."""
        if depth > _MAX_FOLLOW:
            return False
        stack = [node]
        while stack:
            sub = stack.pop()
            if isinstance(sub, ast.Call):
                if self.decodes(sub, depth):
                    return True
                if _name(sub.func) in _ENCODERS:
                    continue
            elif isinstance(sub, (ast.GeneratorExp, ast.ListComp)) and self.char_codes(sub, depth):
                return True
            elif isinstance(sub, ast.Name) and any(self.decoded(v, depth + 1) for v in self.values(sub)):
                return True
            stack.extend(ast.iter_child_nodes(sub))
        return False

    def decodes(self, call: ast.Call, depth: int) -> bool:
        name = _name(call.func)
        data: list[ast.expr] = list(call.args)
        if name == "decode" and isinstance(call.func, ast.Attribute):
            from_codecs = _root(call.func) == "codecs"  # codecs.decode(x, "rot13") / x.decode("hex")
            given = call.args[1:2] if from_codecs else call.args[:1]
            codec = given[0] if given else None
            if not (isinstance(codec, ast.Constant) and str(codec.value).lower().replace("-", "_") in _CODECS):
                return False
            data = call.args[:1] if from_codecs else [call.func.value]
        elif name == "map" and len(call.args) == 2 and _name(call.args[0]) == "chr":
            data = call.args[1:]
        elif name not in _DECODERS:
            return False
        elif name == "loads" and _root(call.func) not in _CODE_LOADERS:
            return False  # json.loads, yaml: data, not code
        elif name in ("translate", "to_bytes") and isinstance(call.func, ast.Attribute):
            data = [call.func.value]
        return any(self.data(d, depth) or self.decoded(d, depth + 1) for d in data)

    def char_codes(self, comp: ast.GeneratorExp | ast.ListComp, depth: int) -> bool:
        """chr(c ^ 7) for c in [...]: characters computed from codes written in the code."""
        if not any(isinstance(n, ast.Call) and _name(n.func) == "chr" for n in ast.walk(comp.elt)):
            return False
        return any(self.data(g.iter, depth) for g in comp.generators)

    def data(self, node: ast.AST, depth: int) -> bool:
        """Data written in the code: a long string or bytes literal, a list of numbers."""
        if depth > _MAX_FOLLOW:
            return False
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            return len(node.value) >= _DATA_CHARS
        if isinstance(node, (ast.List, ast.Tuple)):
            return len(node.elts) >= _DATA_ITEMS and all(
                isinstance(e, ast.Constant) and isinstance(e.value, int) for e in node.elts
            )
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # "chunk" + "chunk"
            return self.data(node.left, depth + 1) or self.data(node.right, depth + 1)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _TEXT_METHODS:
            return self.data(node.func.value, depth + 1)  # "...".encode()
        if isinstance(node, ast.Name):
            return any(self.data(v, depth + 1) for v in self.values(node))
        return False

    def names_runner(self, node: ast.AST, depth: int) -> bool:
        """A pickle written out as a literal that names a function that runs commands."""
        if depth > _MAX_FOLLOW:
            return False
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            return _PICKLED_RUNNER.search(text) is not None
        if isinstance(node, ast.Name):
            return any(self.names_runner(v, depth + 1) for v in self.values(node))
        return False
