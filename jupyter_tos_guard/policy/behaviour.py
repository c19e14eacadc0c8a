"""Behaviours read from Python's syntax tree: what a piece of code does, whatever it names.

Two are known. A *flood* is a loop without end (or many workers started at once) whose body,
directly or through functions defined in the same code, sends traffic to a host that is not
this machine. *Password guessing* is a loop over candidates (lines of a file, every
combination of characters, a generator) whose body tries each one as a password or key: on an
archive, a document, a login, or by hashing it and comparing with a target hash.

The analysis is flow-insensitive on purpose: a name's value is the union of everything
assigned to it anywhere in the code (and, for a parameter, of what the code passes to its
function). That is cheap (one walk of the tree plus memoised lookups, never quadratic in the
code) and it is what makes the answer independent of how the code is split into functions.
Code that does not parse has no behaviour; nothing here raises on what a cell holds.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

Behaviour = Literal["flood", "password-guessing"]
BEHAVIOURS: tuple[Behaviour, ...] = ("flood", "password-guessing")

_REMOTE, _LOCAL = "remote", "local"
_MAX_CALL_DEPTH = 3  # functions followed from a loop body, one inside the other
_MAX_SIGHTINGS = 20
_WORDLIST_LITERAL = 10  # strings in a list written out that make it a wordlist


@dataclass(frozen=True)
class Sighting:
    """Where a behaviour shows: the call that sends or tries, as offsets in the analysed text."""

    behaviour: Behaviour
    start: int
    end: int


# --- hosts -----------------------------------------------------------------------------

_URL_HOST = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*://)?(?:[^@/\s]*@)?(\[[^\]]*\]|[^:/?#\s\[\]]+)", re.I)
_SCHEME = re.compile(r"^\s*(?:https?|wss?|ftp|tcp|udp)://", re.I)
_IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
_HOSTNAME = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,24})$", re.I)
# what a dotted word ends with when it is a file or a module, not a domain
_NOT_TLDS = frozenset(
    "txt csv json yaml yml py ipynb md html htm xml png jpg jpeg gif pdf zip gz tar log cfg ini conf lst dic "
    "pem key crt pcap pkl pt bin exe dll so sh bat js css wav mp3 mp4 avi mov npy npz h5 db sqlite doc docx "
    "xls xlsx rar tmp out dat lock toml rst svg ico whl egg jar class get post put head sendto connect send "
    "request append format join split strip encode decode read write open close start run".split()
)


def _host_of(text: str) -> str:
    m = _URL_HOST.match(text)
    return m.group(1).strip("[]").lower() if m else ""


def host_kind(text: str) -> str | None:
    """`local` for this machine (localhost, 127.x, 0.0.0.0, ::1), `remote` for another host
    written as a URL, an IPv4 address or a domain name; None for text that names no host."""
    host = _host_of(text)
    if not host:
        return None
    if host == "localhost" or host.endswith(".localhost") or host in ("0.0.0.0", "::1", "::"):
        return _LOCAL
    ip = _IPV4.match(host)
    if ip:
        if all(0 <= int(part) <= 255 for part in ip.groups()):
            return _LOCAL if ip.group(1) == "127" else _REMOTE
        return None
    if _SCHEME.match(text):
        return _REMOTE
    m = _HOSTNAME.match(host)
    if m and m.group(1).lower() not in _NOT_TLDS and text.strip().lower().startswith(host):
        return _REMOTE
    return None


# --- what calls are ---------------------------------------------------------------------

_HTTP_METHODS = frozenset({"get", "post", "put", "head", "delete", "patch", "options", "request", "fetch"})
_HTTP_MODULES = frozenset({"requests", "httpx", "aiohttp", "urllib3", "grequests", "cloudscraper", "treq", "httplib2"})
_SESSION_MAKERS = frozenset(
    {
        "Session", "session", "Client", "AsyncClient", "ClientSession", "PoolManager", "create_scraper",
        "HTTPSession", "HTTPConnection", "HTTPSConnection", "Http", "HTTPConnectionPool", "HTTPSConnectionPool",
    }
)  # fmt: skip
_HOST_CLIENTS = frozenset(
    {"HTTPConnection", "HTTPSConnection", "HTTPConnectionPool", "HTTPSConnectionPool", "Client", "AsyncClient"}
)
_VERBS = frozenset({"GET", "POST", "PUT", "HEAD", "DELETE", "PATCH", "OPTIONS"})
_SCAPY_SENDS = frozenset({"send", "sendp", "sr", "sr1", "srp", "srp1", "srloop", "srploop", "sendpfast"})
_SPAWNERS = frozenset({"Thread", "Process", "Timer", "start_new_thread", "start_new", "spawn", "spawn_n"})
_SUBMITTERS = frozenset({"submit", "apply_async", "run_in_executor", "spawn", "spawn_n", "start_soon"})
_TASK_MAKERS = frozenset({"create_task", "ensure_future", "run_coroutine_threadsafe"})
_MAPPERS = frozenset({"map", "imap", "imap_unordered", "starmap", "map_async", "starmap_async"})
# calls a loop waits on: a person, the peer's answer, a client, a file, a GUI's events
_PACERS = frozenset(
    {
        "input",
        "raw_input",
        "getpass",
        "recv",
        "recvfrom",
        "recv_into",
        "accept",
        "readline",
        "select",
        "tick",
        "waitKey",
    }
)
_RESPONSES = frozenset({"urlopen", "get", "post", "put", "head", "request", "getresponse", "send"})
_CLOCKS = frozenset({"time", "monotonic", "perf_counter", "now", "utcnow", "time_ns"})
_FILE_READERS = frozenset({"open", "read_text", "readlines", "read_csv", "read_table", "input", "fdopen"})
_COMBINATORS = frozenset({"product", "permutations", "combinations", "combinations_with_replacement"})
# methods that take a password or key to open, unlock or log in to something
_PASSWORD_SINKS = frozenset(
    {
        "extractall", "extract", "open", "read", "testzip", "setpassword", "decrypt", "load_key", "connect",
        "login", "ssh", "Connection", "SevenZipFile", "AESZipFile", "ZipFile", "RarFile", "open_workbook",
        "authenticate", "bind", "simple_bind_s", "unlock", "Pdf", "SSHClient", "auth_password", "Fernet",
        "PdfReader", "PdfFileReader", "pxssh", "SMB", "SMBConnection", "login_user", "FTP", "FTP_TLS", "SMTP",
        "SMTP_SSL", "IMAP4", "IMAP4_SSL", "POP3", "POP3_SSL", "pass_", "checkpw", "verify", "check_password",
        "check_password_hash", "verify_password", "crack", "try_password",
    }
)  # fmt: skip
_PASSWORD_KEYWORDS = frozenset({"pwd", "password", "passwd", "passphrase", "pin", "secret", "key", "pass_"})
_PASSWORD_ARGUMENTS = frozenset({"pwd", "password", "passwd", "passphrase", "pass_"})
# what puts a password in place rather than trying it (an import of accounts from a table)
_CREATES = re.compile(
    r"(?i)create|add|register|new|insert|set_|update|make|hash|generate|save|store|encrypt|sign_?up|user$"
)
_TRY_NAMES = re.compile(r"(?i)login|crack|brute|try_?pass|check_?pass|test_?pass|verify_?pass|try_?key|unlock")
_HASHY = re.compile(r"(?i)hash|digest|stored")
_PROMPT_WRITES = frozenset({"write", "sendline", "send_keys", "fill", "type"})
_PROMPT = re.compile(r"(?i)pass|pwd|\bpin\b")
_ARCHIVE_SINKS = frozenset({"extractall", "extract", "open", "read", "testzip", "setpassword", "decrypt"})
_PASSWORD_FIELD = re.compile(r"pass|pwd|\bpin\b|secret|otp", re.I)
_PASSWORD_TOOLS = frozenset(
    {"unzip", "7z", "7za", "7zr", "gpg", "gpg2", "openssl", "steghide", "qpdf", "unrar", "ssh-keygen", "sshpass",
     "smbclient", "rar", "zip", "pdftotext", "mysql", "stegseek", "cryptsetup", "veracrypt", "xfreerdp"}
)  # fmt: skip
_HASHERS = frozenset(
    {"md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_224", "sha3_256", "sha3_384", "sha3_512",
     "blake2b", "blake2s", "new", "pbkdf2_hmac", "scrypt", "crypt", "hashpw", "hash", "nthash", "lmhash",
     "md4", "ripemd160", "whirlpool", "hexdigest", "digest", "encrypt", "kdf"}
)  # fmt: skip
_HASH_MODULES = frozenset({"hashlib", "crypt", "bcrypt", "passlib", "hmac", "argon2", "Crypto", "nthash"})


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
_SCALAR_FIELDS = frozenset({"ctx", "id", "attr", "name", "arg", "asname", "module", "level", "kind", "conversion",
                            "type_comment", "is_async", "lineno", "col_offset"})  # fmt: skip


def _children(node: ast.AST) -> list[ast.AST]:
    """The child nodes of `node`, without the Load/Store markers every name carries (a third
    of a tree's nodes): the fields that can hold nodes are listed once per node type."""
    fields = _CHILD_FIELDS.get(type(node))
    if fields is None:
        fields = _CHILD_FIELDS[type(node)] = tuple(f for f in node._fields if f not in _SCALAR_FIELDS)
    out: list[ast.AST] = []
    for field in fields:
        value = getattr(node, field, None)
        if isinstance(value, ast.AST):
            out.append(value)
        elif isinstance(value, list):
            out.extend(item for item in value if isinstance(item, ast.AST))
    return out


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under `node` (itself first), as ast.walk, faster (see `_children`)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(_children(current))


def _name(node: ast.AST) -> str:
    """The last name of a callee: `f` for f(), `get` for a.b.get()."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _root(node: ast.AST) -> str:
    """The name a chain of attributes, calls and subscripts starts from: `requests` for
    requests.Session().get."""
    while True:
        if isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return node.id if isinstance(node, ast.Name) else ""


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _keyword(call: ast.Call, *names: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg in names:
            return kw.value
    return None


def _strings(node: ast.AST) -> Iterator[str]:
    for sub in _walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.value


def _names(node: ast.AST) -> Iterator[str]:
    """Names read in `node`: `x` and attribute keys `.x` of `self.x` (an object's fields)."""
    for sub in _walk(node):
        if isinstance(sub, ast.Name):
            yield sub.id
        elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id in ("self", "cls"):
            yield "." + sub.attr


def _target_keys(target: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    """(key, node) of what an assignment target binds: `x`, `.x` for self.x, each of a tuple."""
    if isinstance(target, ast.Name):
        yield target.id, target
    elif isinstance(target, ast.Attribute):
        yield "." + target.attr, target
    elif isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            yield from _target_keys(elt.value if isinstance(elt, ast.Starred) else elt)


def _constant_number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Call) and _name(node.func) in ("int", "float") and len(node.args) == 1:
        node = node.args[0]  # range(int(1e6))
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Pow, ast.Add)):
        a, b = _constant_number(node.left), _constant_number(node.right)
        if a is None or b is None or abs(a) > 1e12 or abs(b) > 64:
            return None if a is None or b is None or not isinstance(node.op, ast.Mult) else a * b
        if isinstance(node.op, ast.Pow):
            return a**b
        return a * b if isinstance(node.op, ast.Mult) else a + b
    return None


class _Code:
    """One parsed text: its definitions, assignments and call sites, filed once."""

    def __init__(self, tree: ast.Module):
        self.tree = tree
        self.defs: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = defaultdict(list)
        self.classes: dict[str, list[ast.ClassDef]] = defaultdict(list)
        self.values: dict[str, list[ast.expr]] = defaultdict(list)  # key -> expressions assigned
        self.elements: dict[str, list[ast.expr]] = defaultdict(list)  # key -> what it iterates over
        self.filled: dict[str, list[ast.expr]] = defaultdict(list)  # key -> what .put/.append/.add gave it
        self.connects: dict[str, list[ast.expr]] = defaultdict(list)  # socket key -> addresses it connects to
        self.all_connects: list[ast.expr] = []
        self.dsts: list[ast.expr] = []  # every dst= / pdst= (scapy packets)
        self.parsed_args: set[str] = set()  # names bound to parser.parse_args()
        self.arg_defaults: dict[str, ast.expr] = {}  # argparse option -> its default
        self.generators: set[str] = set()  # local functions that yield
        self.returns: dict[str, list[ast.expr]] = defaultdict(list)  # local function -> what it returns
        self.imports: set[str] = set()
        self.functions_of: dict[int, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda] = {}  # call -> its function
        self.loops: list[ast.While | ast.For | ast.AsyncFor] = []
        self.calls: list[ast.Call] = []
        self.comprehensions: list[ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp] = []
        self._kind_memo: dict[str, str | None] = {}
        self._cand_memo: dict[str, bool] = {}
        self._file_memo: dict[str, bool] = {}
        self._session_memo: dict[str, bool] = {}
        self._socket_memo: dict[str, bool] = {}
        self.enclosing: dict[int, list[ast.For | ast.AsyncFor]] = {}  # for-loop -> the for-loops around it
        self._names_memo: dict[int, frozenset[str]] = {}
        self._file_here_memo: dict[int, bool] = {}
        self._cand_here_memo: dict[int, bool] = {}
        self._facts_memo: dict[int, tuple[frozenset[str | None], str | None]] = {}
        self._file()

    # -- filing ---------------------------------------------------------------------

    def _file(self) -> None:
        # one descent, knowing the function and the for-loops each node is in
        Around = tuple[ast.For | ast.AsyncFor, ...]
        stack: list[tuple[ast.AST, ast.AST | None, Around]] = [(self.tree, None, ())]
        while stack:
            node, function, around = stack.pop()
            inner_function, inner_around = function, around
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                inner_function, inner_around = node, ()
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                if around:
                    self.enclosing[id(node)] = list(around)
                inner_around = (*around, node)
            elif isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if isinstance(node, (ast.Yield, ast.YieldFrom)):
                    self.generators.add(function.name)
                elif isinstance(node, ast.Return) and node.value is not None:
                    self.returns[function.name].append(node.value)
            stack.extend((child, inner_function, inner_around) for child in _children(node))
            if isinstance(node, ast.Call) and isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                self.functions_of[id(node)] = function
            self._file_node(node)
        for call in self.calls:
            self._pass_arguments(call)

    def _file_node(self, node: ast.AST) -> None:
        if True:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.defs[node.name].append(node)
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name].append(node)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    self._bind(target, node.value)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and node.value is not None:
                self._bind(node.target, node.value)
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                self.loops.append(node)
                for key, _ in _target_keys(node.target):
                    self.elements[key].append(node.iter)
            elif isinstance(node, ast.While):
                self.loops.append(node)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        self._bind(item.optional_vars, item.context_expr)
            elif isinstance(node, ast.comprehension):
                for key, _ in _target_keys(node.target):
                    self.elements[key].append(node.iter)
            elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
                self.comprehensions.append(node)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                if isinstance(node, ast.ImportFrom) and node.module:
                    self.imports.add(node.module.split(".")[0])
                for alias in node.names:
                    self.imports.add(alias.name.split(".")[0])
            elif isinstance(node, ast.Call):
                self.calls.append(node)
                self._file_call(node)

    def _bind(self, target: ast.AST, value: ast.expr) -> None:
        if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)):
            if len(target.elts) == len(value.elts):
                for t, v in zip(target.elts, value.elts, strict=True):
                    self._bind(t, v)
                return
        for key, _ in _target_keys(target):
            self.values[key].append(value)
        if _name(getattr(value, "func", None) or value) in ("parse_args", "parse_known_args"):
            for key, _ in _target_keys(target):
                self.parsed_args.add(key)
        if isinstance(value, ast.Subscript) and _name(getattr(value.value, "func", value.value)) == "parse_known_args":
            for key, _ in _target_keys(target):
                self.parsed_args.add(key)

    def _file_call(self, call: ast.Call) -> None:
        func = call.func
        name = _name(func)
        if isinstance(func, ast.Attribute):
            receiver = next((k for k, _ in _target_keys(func.value)), "")
            if name in ("connect", "connect_ex") and call.args:
                self.connects[receiver].append(call.args[0])
                self.all_connects.append(call.args[0])
            elif name in ("put", "put_nowait", "append", "add", "extend", "appendleft", "insert") and call.args:
                self.filled[receiver].append(call.args[-1])
            elif name == "add_argument":
                default = _keyword(call, "default")
                dest = _keyword(call, "dest")
                options = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                keys = [dest.value] if isinstance(dest, ast.Constant) and isinstance(dest.value, str) else []
                keys += [o.lstrip("-").replace("-", "_") for o in options]
                for key in keys:
                    if default is not None:
                        self.arg_defaults[key] = default
        if name in ("create_connection", "open_connection") and call.args:
            self.all_connects.append(call.args[0])
        for kw in call.keywords:
            if kw.arg in ("dst", "pdst"):
                self.dsts.append(kw.value)

    def _pass_arguments(self, call: ast.Call) -> None:
        """What a call hands to a function defined here: its arguments become the values of
        the function's parameters (also through Thread(target=f, args=...), submit(f, ...),
        pool.map(f, items) and the class's __init__ for C(...))."""
        name = _name(call.func)
        targets: list[tuple[list[ast.FunctionDef | ast.AsyncFunctionDef], list[ast.expr], bool]] = []
        if name in self.defs:
            targets.append((self.defs[name], list(call.args), isinstance(call.func, ast.Attribute)))
        if name in self.classes:
            inits = [d for c in self.classes[name] for d in c.body if isinstance(d, ast.FunctionDef)]
            targets.append(([d for d in inits if d.name == "__init__"], list(call.args), True))
        if name in _SPAWNERS or name in _SUBMITTERS or name in _MAPPERS:
            worker = _keyword(call, "target", "func", "fn")
            rest = call.args
            if worker is None and call.args:
                worker, rest = call.args[0], call.args[1:]
                if name == "run_in_executor" and len(call.args) > 1:
                    worker, rest = call.args[1], call.args[2:]
            given = _keyword(call, "args")
            if given is not None and isinstance(given, (ast.Tuple, ast.List)):
                rest = given.elts
            if name in _MAPPERS and rest:
                rest = [ast.Subscript(value=rest[0], slice=ast.Constant(0), ctx=ast.Load())]
            if worker is not None and _name(worker) in self.defs:
                targets.append((self.defs[_name(worker)], list(rest), isinstance(worker, ast.Attribute)))
        for defs, args, bound in targets:
            for d in defs:
                positional = d.args.posonlyargs + d.args.args
                if bound and positional and positional[0].arg in ("self", "cls"):
                    positional = positional[1:]
                for param, arg in zip(positional, args, strict=False):
                    if not isinstance(arg, ast.Starred):
                        self.values[param.arg].append(arg)
                for kw in call.keywords:
                    if kw.arg is not None and any(p.arg == kw.arg for p in positional + d.args.kwonlyargs):
                        self.values[kw.arg].append(kw.value)

    def names(self, node: ast.AST) -> frozenset[str]:
        """`_names` of a node, built bottom-up once per node (a body's names from its
        statements'), so asking again and again about nested code stays linear."""
        memo = self._names_memo
        found = memo.get(id(node))
        if found is not None:
            return found
        own: set[str] = set()
        if isinstance(node, ast.Name):
            own.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            own.add("." + node.attr)
        for child in _children(node):
            own |= self.names(child)
        found = memo[id(node)] = frozenset(own)
        return found

    def _facts(self, node: ast.AST) -> tuple[frozenset[str | None], str | None]:
        """(host kinds of the strings in `node`, the kind of a user value in it), once per node."""
        memo = self._facts_memo
        found = memo.get(id(node))
        if found is not None:
            return found
        kinds: set[str | None] = set()
        user = self._user_value(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            kinds.add(host_kind(node.value))
        for child in _children(node):
            child_kinds, child_user = self._facts(child)
            kinds |= child_kinds
            if child_user == _LOCAL or user is None:
                user = child_user if user != _LOCAL else user
        found = memo[id(node)] = (frozenset(kinds), user)
        return found

    # -- values ---------------------------------------------------------------------

    def _sources(self, key: str) -> list[ast.expr]:
        return self.values.get(key, []) + [
            ast.Subscript(value=e, slice=ast.Constant(0), ctx=ast.Load()) for e in self.elements.get(key, [])
        ]

    def target_kind(self, expr: ast.AST) -> str | None:
        """`local` when the expression names this machine, `remote` when it names another host
        or a value the user gives (sys.argv, input(), argparse), else None. Local wins: a URL
        built from 'http://127.0.0.1' and a port from argv is a local one."""
        if isinstance(expr, (ast.Tuple, ast.List)) and expr.elts and len(expr.elts) <= 3:
            first = expr.elts[0]
            if not isinstance(first, ast.Starred) and not (
                isinstance(first, ast.Constant) and isinstance(first.value, (int, float))
            ):
                expr = first  # (host, port): the host
        kinds, user = self._facts(expr)
        if _LOCAL in kinds or user == _LOCAL:
            return _LOCAL
        found = _REMOTE if _REMOTE in kinds else user
        for key in self.names(expr):
            kind = self._key_kind(key)
            if kind == _LOCAL:
                return _LOCAL
            found = found or kind
        return found

    def handed_in(self, call: ast.Call, where: list[ast.expr]) -> bool:
        """Whether the call's target is a parameter of the function around it that nothing in
        the code gives a value (a function defined in one cell and called in the next)."""
        function = self.functions_of.get(id(call))
        if function is None:
            return False
        params = {a.arg for a in (*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs)}
        return any(key in params and not self._sources(key) for w in where for key in self.names(w))

    def _user_value(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Attribute) and node.attr == "argv" and _dotted(node.value) == "sys":
            return _REMOTE
        if isinstance(node, ast.Call) and _name(node.func) in ("input", "raw_input") and not node.keywords:
            return _REMOTE
        if isinstance(node, ast.Call) and _name(node.func) in ("RandIP", "RandIP6", "RandMAC"):
            return _REMOTE  # random hosts: never this machine
        if (isinstance(node, ast.Call) and _dotted(node.func) in ("os.getenv", "getenv", "os.environ.get")) or (
            isinstance(node, ast.Subscript) and _dotted(node.value) in ("os.environ", "environ")
        ):
            return _REMOTE  # given from outside the code, like argv
        parsed = isinstance(node, ast.Attribute) and (
            (isinstance(node.value, ast.Name) and node.value.id in self.parsed_args)
            or (isinstance(node.value, ast.Call) and _name(node.value.func) in ("parse_args", "parse_known_args"))
        )
        if parsed:
            assert isinstance(node, ast.Attribute)
            default = self.arg_defaults.get(node.attr)
            if default is not None and any(host_kind(s) == _LOCAL for s in _strings(default)):
                return _LOCAL
            return _REMOTE
        return None

    def _key_kind(self, key: str) -> str | None:
        if key in self._kind_memo:
            return self._kind_memo[key]
        self._kind_memo[key] = None  # a cycle (x = x + 1) adds nothing
        found: str | None = None
        if key == "argv" and "sys" in self.imports:
            found = _REMOTE
        for value in self._sources(key):
            kind = self.target_kind(value)
            if kind == _LOCAL:
                found = _LOCAL
                break
            found = found or kind
        self._kind_memo[key] = found
        return found

    def count(self, expr: ast.AST) -> float | None:
        """The number `expr` stands for: a literal, or a name only ever assigned literals."""
        number = _constant_number(expr)
        if number is not None or not isinstance(expr, ast.Name):
            return number
        numbers = [_constant_number(v) for v in self.values.get(expr.id, [])]
        return max(numbers) if numbers and None not in numbers else None  # type: ignore[type-var]

    def user_count(self, expr: ast.AST) -> bool:
        """A count the user gives (int(sys.argv[3]), args.threads, int(input(...)))."""
        if self._facts(expr)[1] == _REMOTE:
            return True
        for key in self.names(expr):
            if self._key_kind(key) == _REMOTE:
                return True
        return False

    def _file_here(self, node: ast.AST) -> bool:
        """Whether `node` itself reads a file or standard input (open(), Path.read_text(),
        f.readlines(), sys.stdin), anywhere inside it; bottom-up, once per node."""
        memo = self._file_here_memo
        found = memo.get(id(node))
        if found is not None:
            return found
        found = False
        if isinstance(node, ast.Call):
            name = _name(node.func)
            if name in _FILE_READERS and not (name == "input" and _root(node.func) != "fileinput"):
                found = (
                    name != "open"
                    or _root(node.func) in ("", "io", "codecs", "open", "builtins", "os")
                    or (isinstance(node.func, ast.Attribute) and _name(node.func.value) in ("Path", "path"))
                )
        elif isinstance(node, ast.Attribute) and node.attr == "stdin":
            found = True
        if isinstance(node, ast.Call) and not found:
            # f.readlines(), f.read().split(): a file's lines whatever f is (a focused reading
            # may not hold the `with open(...) as f` line)
            name = _name(node.func)
            receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
            found = name in ("readlines", "readline") or (
                name in ("split", "splitlines")
                and (
                    (isinstance(receiver, ast.Call) and _name(receiver.func) in ("read", "read_text"))
                    or (isinstance(receiver, ast.Attribute) and receiver.attr == "text")  # a list downloaded
                )
            )
        if not found:
            found = any(self._file_here(child) for child in _children(node))
        memo[id(node)] = found
        return found

    def reads_file(self, node: ast.AST) -> bool:
        return self._is_file(node)

    def _is_file(self, node: ast.AST) -> bool:
        """Whether `node` reads a file, itself or through the names it reads (a file object
        bound by `with open(...) as f`, then f.read().split())."""
        if self._file_here(node):
            return True
        for key in self.names(node):
            if key not in self._file_memo:
                self._file_memo[key] = False  # a cycle adds nothing
                self._file_memo[key] = any(self._is_file(v) for v in self.values.get(key, []))
            if self._file_memo[key]:
                return True
        return False

    def _candidates_here(self, node: ast.AST) -> bool:
        memo = self._cand_here_memo
        found = memo.get(id(node))
        if found is not None:
            return found
        memo[id(node)] = False  # a cycle adds nothing
        found = False
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)) and len(node.elts) >= _WORDLIST_LITERAL:
            # a wordlist written out (the lesson's two guesses are no wordlist)
            found = all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            if name in _COMBINATORS or name in self.generators:
                found = True
            elif name == "range" and node.args:
                bound = self.count(node.args[0] if len(node.args) == 1 else node.args[1])
                found = bound is not None and bound >= 1000
            elif name in ("get", "get_nowait", "popleft", "pop") and isinstance(node.func, ast.Attribute):
                receiver = next((k for k, _ in _target_keys(node.func.value)), "")
                found = bool(receiver) and self._filled_with_candidates(receiver)
            if not found and name in self.defs:  # a function that returns the words of a file
                found = any(self.candidates(r) for r in self.returns.get(name, []))
        elif isinstance(node, ast.GeneratorExp):
            found = any(self.candidates(g.iter) for g in node.generators)
        if not found:
            found = any(self._candidates_here(child) for child in _children(node))
        memo[id(node)] = found
        return found

    def candidates(self, expr: ast.AST) -> bool:
        """Whether iterating `expr` yields password candidates: lines or words of a file,
        every combination of characters, a generator defined here, a very large range."""
        if self._is_file(expr) or self._candidates_here(expr):
            return True
        for key in self.names(expr):
            if key not in self._cand_memo:
                self._cand_memo[key] = False
                self._cand_memo[key] = any(self.candidates(v) for v in self._sources(key)) or (
                    self._filled_with_candidates(key)
                )
            if self._cand_memo[key]:
                return True
        return False

    def _filled_with_candidates(self, key: str) -> bool:
        """A queue or list the code fills, in a loop over candidates, with each candidate."""
        for given in self.filled.get(key, []):
            for name in self.names(given):
                if any(self.candidates(e) for e in self.elements.get(name, [])):
                    return True
        return False

    def is_session(self, node: ast.AST) -> bool:
        """An HTTP client: the requests/httpx/aiohttp module, or a session made from one."""
        root = _root(node)
        if root in _HTTP_MODULES:
            return True
        if isinstance(node, ast.Call) and _name(node.func) in _SESSION_MAKERS:
            return True
        key = next((k for k, _ in _target_keys(node)), "") if isinstance(node, (ast.Name, ast.Attribute)) else ""
        if not key:
            return False
        if key not in self._session_memo:
            self._session_memo[key] = False
            self._session_memo[key] = any(
                isinstance(v, ast.Call) and (_name(v.func) in _SESSION_MAKERS or _root(v) in _HTTP_MODULES)
                for v in self.values.get(key, [])
            )
        return self._session_memo[key]

    def is_socket(self, node: ast.AST) -> bool:
        key = next((k for k, _ in _target_keys(node)), "") if isinstance(node, (ast.Name, ast.Attribute)) else ""
        if isinstance(node, ast.Call):
            return _name(node.func) in ("socket", "create_connection", "wrap_socket")
        if not key:
            return False
        if key not in self._socket_memo:
            self._socket_memo[key] = False
            self._socket_memo[key] = "sock" in key.lower() or any(
                isinstance(v, ast.Call)
                and _name(v.func) in ("socket", "create_connection", "wrap_socket", "accept")
                or (isinstance(v, ast.Subscript) and isinstance(v.value, ast.Call) and _name(v.value.func) == "accept")
                for v in self.values.get(key, [])
            )
        return self._socket_memo[key]

    # -- sending --------------------------------------------------------------------

    def send_target(self, call: ast.Call) -> tuple[bool, list[ast.expr]]:
        """(whether the call sends network traffic, the expressions naming where to)."""
        func = call.func
        name = _name(func)
        args = call.args
        if isinstance(func, ast.Attribute):
            receiver = func.value
            if name == "sendto" and len(args) >= 2:
                return True, [args[-1]]
            if name in ("connect", "connect_ex") and args and self.is_socket(receiver):
                return True, [args[0]]
            raw = "socket" in self.imports and bool(self.all_connects) and not self.is_session(receiver)
            if name in ("send", "sendall") and raw or name in ("send", "sendall", "write") and self.is_socket(receiver):
                key = next((k for k, _ in _target_keys(receiver)), "")
                made = self.connects.get(key) or [
                    v.args[0] for v in self.values.get(key, []) if isinstance(v, ast.Call) and v.args
                ]
                return True, made or self.all_connects
            if name in _HTTP_METHODS and self.is_session(receiver):
                first = args[0] if args else None
                method = isinstance(first, ast.Constant) and str(first.value).upper() in _VERBS
                if name == "request" and (method or len(args) > 1 and _name(receiver) != "http"):
                    url = _keyword(call, "url") or (args[1] if len(args) > 1 else None)
                else:
                    url = _keyword(call, "url") or first
                # a client made for one host (HTTPConnection(host), Session(base_url=...)): its host
                made = [
                    v
                    for key in self.names(receiver)
                    for v in self.values.get(key, [])
                    if isinstance(v, ast.Call) and _name(v.func) in _HOST_CLIENTS
                ]
                hosts = [
                    _keyword(v, "host", "base_url") or (v.args[0] if v.args else None)
                    for v in made
                    if isinstance(v, ast.Call)
                ]
                return True, [w for w in (url, *hosts) if w is not None]
        if name in ("sendmail", "send_message") and isinstance(func, ast.Attribute):
            # mail through a server the code connected to: the server is the target it loads
            servers = [
                v.args[0]
                for key in self.names(func.value)
                for v in self.values.get(key, [])
                if isinstance(v, ast.Call) and _name(v.func) in ("SMTP", "SMTP_SSL") and v.args
            ]
            return bool(servers), servers
        if name in ("urlopen", "urlretrieve", "create_connection", "open_connection") and args:
            return True, [args[0]]
        if name in ("HTTPConnection", "HTTPSConnection") and args:
            return True, [args[0]]
        # scapy's sends: imported, or a packet with a destination in sight (a focused reading
        # may leave `from scapy.all import *` out)
        if name in _SCAPY_SENDS and args and ("scapy" in self.imports or _root(func) == "scapy" or self.dsts):
            # the packet's dst=, in the call or in what its names were assigned
            sources = [args[0], *(v for key in self.names(args[0]) for v in self.values.get(key, []))]
            dsts = [
                kw.value
                for source in sources
                for sub in _walk(source)
                if isinstance(sub, ast.Call)
                for kw in sub.keywords
                if kw.arg in ("dst", "pdst")
            ]
            return True, dsts or self.dsts
        return False, []

    def endless_send(self, call: ast.Call) -> bool:
        """scapy's send(pkt, loop=1), srloop(pkt), send(pkt, count=100000): the loop is inside
        the call."""
        if _name(call.func) not in _SCAPY_SENDS:
            return False
        if _name(call.func) in ("srloop", "srploop"):
            return True
        loop = _keyword(call, "loop")
        if loop is not None and isinstance(loop, ast.Constant) and bool(loop.value):
            return True
        count = _keyword(call, "count")
        if count is None:
            return False
        number = self.count(count)
        return (number is not None and number >= 10000) or (number is None and self.user_count(count))


def _built_text(node: ast.AST) -> bool:
    """Text put together around values: an f-string, "...".format(...), "..." % x, "..." + x."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Call) and _name(node.func) == "format" and isinstance(node.func, ast.Attribute):
        return isinstance(node.func.value, (ast.Constant, ast.Name))
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return isinstance(node.left, ast.Constant) or isinstance(node.right, ast.Constant)
    return False


def _random_string(call: ast.Call) -> bool:
    """ "".join(random.choice(chars) for _ in range(n)), "".join(random.choices(chars, k=n)):
    a random guess drawn each time round a loop."""
    if _name(call.func) != "join":
        return False
    return any(
        isinstance(s, ast.Call) and _name(s.func) in ("choice", "choices", "sample")
        for a in call.args
        for s in _walk(a)
    )


def _body_calls(nodes: Iterable[ast.AST]) -> Iterator[ast.Call]:
    for node in nodes:
        for sub in _walk(node):
            if isinstance(sub, ast.Call):
                yield sub


def _refs(nodes: Iterable[ast.AST]) -> Iterator[str]:
    """Names and attribute names the nodes refer to (a function called, or handed on)."""
    for node in nodes:
        for sub in _walk(node):
            if isinstance(sub, ast.Name):
                yield sub.id
            elif isinstance(sub, ast.Attribute):
                yield sub.attr


class _Reader:
    def __init__(self, code: _Code):
        self.code = code
        self.found: dict[tuple[Behaviour, int, int, int, int], None] = {}
        self._callees: dict[int, list[ast.AST]] = {}  # function -> the functions it refers to
        self._sends: dict[int, list[tuple[ast.Call, list[ast.expr]]]] = {}  # function -> its sends
        self._tried: set[tuple[int, frozenset[str]]] = set()  # (function, candidate params) read
        self._written_out = False  # the candidate loop being read runs over a list written in the code

    def add(self, behaviour: Behaviour, node: ast.AST) -> None:
        if len(self.found) < _MAX_SIGHTINGS:
            key = (
                behaviour,
                node.lineno,  # type: ignore[attr-defined]
                node.col_offset,  # type: ignore[attr-defined]
                node.end_lineno or node.lineno,  # type: ignore[attr-defined]
                node.end_col_offset or 0,  # type: ignore[attr-defined]
            )
            self.found[key] = None

    # -- what a body reaches ----------------------------------------------------------

    def functions(self, nodes: Iterable[ast.AST]) -> list[ast.AST]:
        """The bodies of the local functions (and classes' methods) the nodes call or hand on,
        followed a few calls deep."""
        seen: set[int] = set()
        out: list[ast.AST] = []
        frontier = self._referred(list(nodes))
        for _ in range(_MAX_CALL_DEPTH):
            following: list[ast.AST] = []
            for d in frontier:
                if id(d) not in seen:
                    seen.add(id(d))
                    out.append(d)
                    following.append(d)
            if not following:
                break
            frontier = []
            for d in following:
                callees = self._callees.get(id(d))
                if callees is None:
                    callees = self._callees[id(d)] = self._referred([d])
                frontier += callees
        return out

    def _referred(self, nodes: list[ast.AST]) -> list[ast.AST]:
        """The local functions, and the methods of the local classes, that the nodes name."""
        code = self.code
        out: list[ast.AST] = []
        for ref in set(_refs(nodes)):
            out += code.defs.get(ref, [])
            for c in code.classes.get(ref, []):
                out += [m for m in c.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
        return out

    def _sends_in(self, nodes: list[ast.AST]) -> list[tuple[ast.Call, list[ast.expr]]]:
        out = []
        for call in _body_calls(nodes):
            sends, where = self.code.send_target(call)
            if sends:
                out.append((call, where))
        return out

    def sends(self, nodes: list[ast.AST]) -> list[tuple[ast.Call, list[ast.expr]]]:
        """The calls that send, in the nodes and in the functions they reach."""
        out = self._sends_in(nodes)
        for d in self.functions(nodes):
            found = self._sends.get(id(d))
            if found is None:
                found = self._sends[id(d)] = self._sends_in([d])
            out += found
        return out

    def remote_sends(self, nodes: list[ast.AST], avoid: Iterable[str] = ()) -> list[ast.Call]:
        """Sends to another host, whose target does not follow the loop's variable (`avoid`)."""
        return [call for call, where in self.sends(nodes) if self._remote(where, set(avoid), call)]

    def _remote(self, where: list[ast.expr], avoid: set[str], call: ast.Call) -> bool:
        kinds = [self.code.target_kind(w) for w in where]
        if _LOCAL in kinds:
            return False
        if _REMOTE not in kinds and not self.code.handed_in(call, where):
            return False
        if avoid and _name(call.func) in _HTTP_METHODS:
            # a request whose query or body follows the loop (page=i): enumerating, not repeating
            where = [*where, *(kw.value for kw in call.keywords if kw.arg in ("params", "data", "json"))]
        return not (avoid and any(set(self._follows(w)) & avoid for w in where))

    def _follows(self, expr: ast.AST) -> Iterator[str]:
        """Names the expression reads, and those its names were assigned from (two steps)."""
        frontier: set[str] = set(self.code.names(expr))
        yield from frontier
        for _ in range(2):
            nxt: set[str] = set()
            for key in frontier:
                for v in self.code.values.get(key, []):
                    nxt.update(self.code.names(v))
            yield from nxt
            frontier = nxt

    # -- floods -----------------------------------------------------------------------

    def _endless(self, loop: ast.While | ast.For | ast.AsyncFor) -> bool:
        code = self.code
        if isinstance(loop, ast.While):
            test = loop.test
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                test = test.operand
            if isinstance(test, ast.Constant):
                endless = bool(test.value)
            elif isinstance(test, (ast.Name, ast.Attribute)):
                endless = True
            elif isinstance(test, ast.Call):  # not stop.is_set()
                endless = _name(test.func) in ("is_set", "isSet", "is_alive")
            elif isinstance(test, ast.Compare):  # while time.time() < end: a timed flood
                endless = any(isinstance(s, ast.Call) and _name(s.func) in _CLOCKS for s in _walk(test))
            else:
                endless = False
            return endless and not self._stops(loop)
        it = loop.iter
        if isinstance(it, ast.Call):
            name = _name(it.func)
            if name == "count" or (name == "iter" and len(it.args) == 2) or name == "cycle":
                return not self._stops(loop)
            if name == "range" and it.args:
                bound = code.count(it.args[0] if len(it.args) == 1 else it.args[1])
                return bound is not None and bound >= 10000 and not self._stops(loop)
        return False

    def _holds_connections(self, loop: ast.While | ast.For | ast.AsyncFor) -> bool:
        """Hundreds of connections opened and kept (appended to a list): the slow kind of flood,
        which then keeps them busy at leisure."""
        it = getattr(loop, "iter", None)
        if not (isinstance(it, ast.Call) and _name(it.func) == "range" and it.args):
            return False
        bound_node = it.args[0] if len(it.args) == 1 else it.args[1]
        bound = self.code.count(bound_node)
        many = (bound is not None and bound >= 100) or (bound is None and self.code.user_count(bound_node))
        return many and any(_name(c.func) == "append" for c in _body_calls(loop.body))

    def _counted_by_user(self, loop: ast.While | ast.For | ast.AsyncFor) -> bool:
        """`for _ in range(int(sys.argv[3]))`: as many times as the user says (a packet count,
        or the number of wallets or pages a tool is asked for)."""
        it = getattr(loop, "iter", None)
        if not (isinstance(it, ast.Call) and _name(it.func) == "range" and it.args):
            return False
        bound = it.args[0] if len(it.args) == 1 else it.args[1]
        return self.code.count(bound) is None and self.code.user_count(bound) and not self._stops(loop)

    def _stops(self, loop: ast.While | ast.For | ast.AsyncFor) -> bool:
        """A break or return on the loop's own path (not in an exception handler: stopping when
        the target falls over is still a flood), or pacing anywhere in it: a pause of half a
        second or more (a poller), a wait for input (a chat client, a protocol that answers)."""
        stack: list[tuple[ast.AST, bool]] = [(node, True) for node in loop.body]
        while stack:
            node, own_path = stack.pop()
            if own_path and isinstance(node, (ast.Break, ast.Return)):
                return True
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                continue
            if isinstance(node, ast.Call) and self._paces(node):
                return True
            if isinstance(node, (ast.While, ast.For, ast.AsyncFor)):
                # its breaks are its own; a return still leaves ours
                stack.extend((child, False) for child in _children(node))
                stack.extend((n, True) for n in _walk(node) if isinstance(n, ast.Return))
                continue
            if isinstance(node, ast.ExceptHandler):
                stack.extend((child, False) for child in _children(node))
                continue
            stack.extend((child, own_path) for child in _children(node))
        return False

    def _paces(self, call: ast.Call) -> bool:
        name = _name(call.func)
        if name in _PACERS:
            return True  # paced by a person typing, the other side answering, a file or events
        if name == "read" and isinstance(call.func, ast.Attribute):
            # a camera, a serial port, a sensor: read at their pace (not a response's body)
            source = call.func.value
            made = [source, *(v for key in self.code.names(source) for v in self.code.values.get(key, []))]
            return not any(isinstance(m, ast.Call) and _name(m.func) in _RESPONSES for m in made)
        if name in ("get", "get_nowait") and isinstance(call.func, ast.Attribute) and not call.args:
            return "queue" in _dotted(call.func.value).lower() or _dotted(call.func.value) in ("q", "jobs", "tasks")
        if name == "sleep" and call.args:
            pause = _constant_number(call.args[0])
            return pause is None or pause >= 0.5
        if name == "wait":  # event.wait(5), stop.wait(timeout=interval)
            given = call.args[0] if call.args else _keyword(call, "timeout")
            return given is not None and not isinstance(given, (ast.List, ast.Set, ast.Starred))
        return False

    def repeated_sends(self, nodes: list[ast.AST], avoid: set[str]) -> list[ast.Call]:
        """Remote sends each worker repeats: inside a loop of the functions the workers run
        (a one-shot burst of requests is a load test's shape, not a flood's)."""
        out: list[ast.Call] = []
        for fn in self.functions(nodes):
            for loop in (n for n in _walk(fn) if isinstance(n, (ast.While, ast.For, ast.AsyncFor))):
                if not self._stops(loop):
                    out += self.remote_sends(list(loop.body), avoid | self._loop_vars(loop))
        return out

    def _answers(self, loop: ast.While | ast.For | ast.AsyncFor) -> set[str]:
        """Names the loop's body assigns from what a send returned (r = requests.get(...),
        offset = r.json()[...] + 1), a few steps on."""
        binds: list[tuple[list[ast.expr], ast.expr]] = []
        for stmt in loop.body:
            for n in _walk(stmt):
                if isinstance(n, ast.Assign):
                    binds.append((n.targets, n.value))
                elif isinstance(n, ast.AugAssign):
                    binds.append(([n.target], n.value))
                elif isinstance(n, (ast.For, ast.AsyncFor)):  # for update in r.json()["result"]
                    binds.append(([n.target], n.iter))
        answers: set[str] = set()
        for _ in range(3):
            before = len(answers)
            for targets, value in binds:
                replied = any(isinstance(c, ast.Call) and self.code.send_target(c)[0] for c in _walk(value))
                if replied or self.code.names(value) & answers:
                    answers |= {k for t in targets for k, _ in _target_keys(t)}
            if len(answers) == before:
                break
        return answers

    def _loop_vars(self, loop: ast.AST) -> set[str]:
        if isinstance(loop, (ast.For, ast.AsyncFor)):
            return {k for k, _ in _target_keys(loop.target)}
        return set()

    def _huge(self, it: ast.AST) -> bool:
        """range(N) with N of 10,000 or more: as many jobs as a loop without end sends."""
        if isinstance(it, ast.Call) and _name(it.func) == "range" and it.args:
            bound = self.code.count(it.args[0] if len(it.args) == 1 else it.args[1])
            return bound is not None and bound >= 10000
        return False

    def _spawn_count_big(self, it: ast.AST) -> bool:
        if isinstance(it, ast.Call) and _name(it.func) == "range" and it.args:
            bound_node = it.args[0] if len(it.args) == 1 else it.args[1]
            bound = self.code.count(bound_node)
            return (bound is not None and bound >= 20) or (bound is None and self.code.user_count(bound_node))
        return False

    def _spawns(self, nodes: Sequence[ast.AST]) -> list[ast.Call]:
        """Calls in the nodes that start a worker: a thread, a process, a task, a pool job."""
        out = []
        for call in _body_calls(nodes):
            name = _name(call.func)
            if name in _SPAWNERS or name in _SUBMITTERS or name in _TASK_MAKERS:
                out.append(call)
            elif name == "start" and isinstance(call.func, ast.Attribute):
                out.append(call)
            elif name in self.code.defs and any(isinstance(d, ast.AsyncFunctionDef) for d in self.code.defs[name]):
                out.append(call)  # a coroutine made per iteration, gathered later
        return out

    def floods(self) -> None:
        code = self.code
        for loop in code.loops:
            avoid = self._loop_vars(loop)
            if self._endless(loop):
                # a request that carries what the last answer said (long polling's offset, the
                # next page's URL) is a conversation, not a flood
                avoid = avoid | self._answers(loop)
                for call in self.remote_sends(list(loop.body), avoid):
                    self.add("flood", call)
                continue
            if self._counted_by_user(loop):  # only a send of the loop's own: a packet count
                for call, where in self._sends_in(list(loop.body)):
                    if self._remote(where, avoid, call):
                        self.add("flood", call)
            if self._holds_connections(loop):
                for call in self.remote_sends(list(loop.body), avoid):
                    if _name(call.func) in ("connect", "connect_ex", "create_connection", "open_connection"):
                        self.add("flood", call)
            if isinstance(loop, (ast.For, ast.AsyncFor)) and self._spawn_count_big(loop.iter):
                spawns = [s for s in self._spawns(list(loop.body)) if not self.code.names(s) & avoid]
                if spawns:
                    for call in self.repeated_sends(list(spawns), avoid):
                        self.add("flood", call)
        for comp in code.comprehensions:
            for gen in comp.generators:
                if self._spawn_count_big(gen.iter):
                    avoid = {k for k, _ in _target_keys(gen.target)}
                    element = [comp.key, comp.value] if isinstance(comp, ast.DictComp) else [comp.elt]
                    spawns = [s for s in self._spawns(element) if not self.code.names(s) & avoid]
                    # tens of thousands of jobs need not repeat each: the count is the flood
                    sends = self.remote_sends if self._huge(gen.iter) else self.repeated_sends
                    for call in sends(list(spawns), avoid):
                        self.add("flood", call)
        for call in code.calls:
            name = _name(call.func)
            if name in _MAPPERS and len(call.args) >= 2 and self._spawn_count_big(call.args[1]):
                sends = self.remote_sends if self._huge(call.args[1]) else self.repeated_sends
                for sent in sends([call.args[0]], set()):
                    self.add("flood", sent)
            elif code.endless_send(call):
                sending, where = code.send_target(call)
                if sending and _REMOTE in [code.target_kind(w) for w in where]:
                    self.add("flood", call)

    # -- password guessing --------------------------------------------------------------

    def guesses(self) -> None:
        code = self.code
        for loop in code.loops:
            names: set[str] = set()
            if isinstance(loop, (ast.For, ast.AsyncFor)) and code.candidates(loop.iter):
                names = {k for k, _ in _target_keys(loop.target)}
            for stmt in _walk(loop) if not names else ():
                if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
                    call = stmt.value
                    reads = _name(call.func) in ("readline", "get", "get_nowait", "popleft", "next", "pop")
                    drawn = isinstance(loop, ast.While) and _random_string(call)
                    if (reads and code.candidates(stmt.value)) or drawn:
                        names |= {k for t in stmt.targets for k, _ in _target_keys(t)}
            if not names and isinstance(loop, (ast.For, ast.AsyncFor)):
                names = self._cross_product(loop)
            if names:
                # a list written out in the code, against a hash the code computed itself, is a
                # lesson about hashing; against a hash it was given, it is a dictionary attack
                self._written_out = isinstance(loop, (ast.For, ast.AsyncFor)) and self._written_list(loop.iter)
                self._tries(list(loop.body), names, 0)
                self._written_out = False
        for call in code.calls:  # pool.map(try_one, candidates)
            if _name(call.func) in _MAPPERS and len(call.args) >= 2 and code.candidates(call.args[1]):
                worker = call.args[0]
                for d in code.defs.get(_name(worker), []):
                    positional = d.args.posonlyargs + d.args.args
                    if isinstance(worker, ast.Attribute) and positional and positional[0].arg in ("self", "cls"):
                        positional = positional[1:]
                    if positional:
                        self._tries(list(d.body), {positional[0].arg}, 1)

    def _cross_product(self, loop: ast.For | ast.AsyncFor) -> set[str]:
        """`for user in users: for pw in passwords:` -- every password for every user: the
        inner loop's names, when it runs inside an outer loop over something else."""
        for outer in self.code.enclosing.get(id(loop), []):
            if not self.code.names(loop.iter) & {k for k, _ in _target_keys(outer.target)}:
                if not isinstance(loop.iter, ast.Call) or _name(loop.iter.func) not in ("range", "enumerate", "zip"):
                    return {k for k, _ in _target_keys(loop.target)}
        return set()

    def _derived(self, body: list[ast.AST], names: set[str]) -> set[str]:
        """The candidate names and those assigned from them in the body (a few rounds)."""
        derived = set(names)
        assigns = [
            n
            for stmt in body
            for n in _walk(stmt)
            if isinstance(
                n, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.NamedExpr, ast.For, ast.With, ast.AsyncWith)
            )
        ]
        for _ in range(4):
            before = len(derived)
            for a in assigns:
                if isinstance(a, (ast.With, ast.AsyncWith)):
                    pairs = [(i.optional_vars, i.context_expr) for i in a.items if i.optional_vars is not None]
                elif isinstance(a, ast.For):
                    pairs = [(a.target, a.iter)]
                elif isinstance(a, ast.Assign):
                    pairs = [(t, a.value) for t in a.targets]
                else:
                    pairs = [(a.target, a.value)] if a.value is not None else []
                for target, value in pairs:
                    if self.code.names(value) & derived:
                        derived |= {k for k, _ in _target_keys(target)}
            for call in _body_calls(body):  # tried.add(pw), queue.put(word)
                if isinstance(call.func, ast.Attribute) and call.args and self.code.names(call.args[-1]) & derived:
                    if _name(call.func) in ("append", "add", "put", "extend"):
                        derived |= {k for k, _ in _target_keys(call.func.value)}
            if len(derived) == before:
                break
        return derived

    def _tries(self, body: list[ast.AST], names: set[str], depth: int) -> None:
        key = (id(body[0]) if body else 0, frozenset(names))
        if key in self._tried:
            return  # this body with these candidates: read already
        self._tried.add(key)
        code = self.code
        derived = self._derived(body, names)
        hashed = self._hashed(body, derived)
        prompted = any(
            isinstance(c, ast.Constant) and isinstance(c.value, (str, bytes)) and _PROMPT.search(str(c.value))
            for stmt in body
            for c in _walk(stmt)
        )
        for node in (n for stmt in body for n in _walk(stmt)):
            if isinstance(node, ast.Call):
                if self._is_try(node, derived, prompted):
                    self.add("password-guessing", node)
                elif depth < _MAX_CALL_DEPTH:
                    self._into_function(node, derived, depth)
            elif isinstance(node, ast.Compare) and self._hash_compare(node, derived, hashed):
                self.add("password-guessing", node)
        del code

    def _into_function(self, call: ast.Call, derived: set[str], depth: int) -> None:
        """A candidate handed to a function defined here (attempt(zf, word), Thread(target=try_one,
        args=(word,))): its parameters that receive one are candidates inside it."""
        code = self.code
        name = _name(call.func)
        worker: ast.AST | None = call.func
        args = list(call.args)
        if name in _SPAWNERS or name in _SUBMITTERS:
            worker = _keyword(call, "target") or (call.args[0] if call.args else None)
            given = _keyword(call, "args")
            args = list(given.elts) if isinstance(given, (ast.Tuple, ast.List)) else list(call.args[1:])
        target = _name(worker) if worker is not None else ""
        for d in code.defs.get(target, []):
            positional = d.args.posonlyargs + d.args.args
            if isinstance(worker, ast.Attribute) and positional and positional[0].arg in ("self", "cls"):
                positional = positional[1:]
            params = {p.arg for p, a in zip(positional, args, strict=False) if self.code.names(a) & derived}
            params |= {kw.arg for kw in call.keywords if kw.arg and self.code.names(kw.value) & derived}
            if params:
                self._tries(list(d.body), params, depth + 1)

    def _hashed(self, body: list[ast.AST], derived: set[str]) -> set[str]:
        """Names holding a hash of a candidate (h = md5(word.encode()).hexdigest())."""
        out: set[str] = set()
        for _ in range(2):
            for node in (n for stmt in body for n in _walk(stmt)):
                if isinstance(node, ast.Assign) and (
                    self._hash_of(node.value, derived) or self.code.names(node.value) & out
                ):
                    out |= {k for t in node.targets for k, _ in _target_keys(t)}
                elif (  # h = hashlib.new("md5"); h.update(word.encode()): h holds its hash
                    isinstance(node, ast.Call)
                    and _name(node.func) == "update"
                    and isinstance(node.func, ast.Attribute)
                    and any(self.code.names(a) & derived for a in node.args)
                    and self._hasher(node.func.value)
                ):
                    out |= {k for k, _ in _target_keys(node.func.value)}
        return out

    def _hasher(self, node: ast.AST) -> bool:
        """A hash object (hashlib.new(...), sha256(), hmac.new(...)), not a dict or a set."""
        made = [node, *(v for key in self.code.names(node) for v in self.code.values.get(key, []))]
        return any(
            isinstance(m, ast.Call) and (_root(m.func) in _HASH_MODULES or _name(m.func) in _HASHERS - {"hash"})
            for m in made
        )

    def _hash_of(self, node: ast.AST, derived: set[str]) -> bool:
        """Whether `node` computes a hash of a candidate (not of a file's content)."""
        for sub in _walk(node):
            if not isinstance(sub, ast.Call):
                continue
            name = _name(sub.func)
            root = _root(sub.func)
            if name not in _HASHERS and root not in _HASH_MODULES:
                continue
            if isinstance(sub.func, ast.Name) and sub.func.id == "hash":
                continue  # the builtin hash() of a dict key, no password hash
            if name in ("hexdigest", "digest") and isinstance(sub.func, ast.Attribute):
                inner = sub.func.value
                if isinstance(inner, ast.Call) and self._hash_args(inner, derived):
                    return True
                continue
            if (root in _HASH_MODULES or name in _HASHERS) and self._hash_args(sub, derived):
                return True
        return False

    def _hash_args(self, call: ast.Call, derived: set[str]) -> bool:
        if _root(call.func) not in _HASH_MODULES and _name(call.func) not in _HASHERS:
            return False
        values = [*call.args, *(kw.value for kw in call.keywords)]
        for v in values:
            if any(isinstance(s, ast.Call) and _name(s.func) in ("open", "read", "read_bytes") for s in _walk(v)):
                return False
        return any(self.code.names(v) & derived for v in values)

    def _written_list(self, node: ast.AST) -> bool:
        """The loop runs over a list of strings written in the code (itself, or a name only
        ever assigned one)."""
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return True
        values = self.code.values.get(node.id, []) if isinstance(node, ast.Name) else []
        return bool(values) and all(isinstance(v, (ast.List, ast.Tuple, ast.Set)) for v in values)

    def _computed_here(self, side: ast.AST) -> bool:
        """A hash the code computed itself from its own text (target = sha256(b"x").hexdigest())."""
        values = [v for key in self.code.names(side) for v in self.code.values.get(key, [])]
        return bool(values) and all(
            any(
                isinstance(c, ast.Call) and (_name(c.func) in _HASHERS or _root(c.func) in _HASH_MODULES)
                for c in _walk(v)
            )
            and self.code.target_kind(v) is None  # not of a value given from outside (argv, input)
            and not self.code.reads_file(v)
            for v in values
        )

    def _hash_compare(self, node: ast.Compare, derived: set[str], hashed: set[str]) -> bool:
        sides = [node.left, *node.comparators]
        if not all(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Is)) for op in node.ops):
            return False
        hashing = [s for s in sides if self._hash_of(s, derived) or self.code.names(s) & hashed]
        others = [s for s in sides if not self.code.names(s) & (derived | hashed) and not isinstance(s, ast.Constant)]
        others += [
            s for s in sides if isinstance(s, ast.Constant) and isinstance(s.value, (str, bytes)) and len(s.value) >= 16
        ]
        if self._written_out:
            others = [s for s in others if not self._computed_here(s)]
        return bool(hashing) and bool(others)

    def _is_try(self, call: ast.Call, derived: set[str], prompted: bool = False) -> bool:
        """Whether the call tries a candidate as a password or key (`prompted`: the code around
        it mentions a password, for a candidate typed at a prompt)."""
        code = self.code
        name = _name(call.func)

        def uses(node: ast.AST | None) -> bool:
            return node is not None and bool(self.code.names(node) & derived)

        if name == "compare_digest" and len(call.args) == 2:
            a, b = call.args
            return (self._hash_of(a, derived) and not uses(b)) or (self._hash_of(b, derived) and not uses(a))
        if name in _PASSWORD_SINKS:
            for kw in call.keywords:
                if kw.arg in _PASSWORD_KEYWORDS and uses(kw.value):
                    receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
                    if name in _ARCHIVE_SINKS and receiver is not None and uses(receiver):
                        return False  # each archive with its own password, from a list of both
                    return True
            if name in ("setpassword", "load_key", "unlock", "pass_", "auth_password", "Fernet") and call.args:
                return uses(call.args[0])
            if name == "decrypt" and call.args and isinstance(call.func, ast.Attribute):
                receiver = call.func.value
                # a PDF reader: PdfReader(f).decrypt(p), reader.decrypt(p), doc = PdfFileReader(f)
                made = [receiver, *(v for k in self.code.names(receiver) for v in code.values.get(k, []))]
                text = " ".join(
                    [_dotted(receiver), *(_name(s.func) for m in made for s in _walk(m) if isinstance(s, ast.Call))]
                ).lower()
                return uses(call.args[0]) and ("pdf" in text or "reader" in text) and not uses(receiver)
            if name in ("login", "bind", "simple_bind_s", "login_user", "authenticate") and isinstance(
                call.func, ast.Attribute
            ):
                return any(uses(a) for a in call.args[1:]) or (
                    len(call.args) == 1 and name == "authenticate" and uses(call.args[0])
                )
            if name in ("checkpw", "verify", "check_password", "check_password_hash", "verify_password"):
                # one side the candidate, the other the hash it is checked against (not a
                # stored hash from the list checked against the one password a user typed)
                tried = [a for a in call.args[:2] if uses(a)]
                return len(tried) == 1 and not any(_HASHY.search(k) for k in self.code.names(tried[0]))
            if name in ("SMBConnection", "FTP", "FTP_TLS") and len(call.args) >= 2:
                return any(uses(a) for a in call.args[1:3])
            if name == "connect" and len(call.args) >= 4:
                return uses(call.args[3])
        if name == "decode" and _root(call.func) == "jwt" and call.args:
            key = call.args[1] if len(call.args) >= 2 else _keyword(call, "key")
            return uses(key) and not uses(call.args[0])
        if _TRY_NAMES.search(name) and name not in code.defs and any(uses(a) for a in call.args):
            # a helper of another module named for what it does: try_login(user, word)
            return not _CREATES.search(name)
        if name in _PROMPT_WRITES and prompted and isinstance(call.func, ast.Attribute):
            # typed at a password prompt: telnet, pexpect, a browser's field (fill(selector, text))
            typed = (
                call.args[1] if name in ("fill", "type") and len(call.args) > 1 else call.args[0] if call.args else None
            )
            return uses(typed)
        if not _CREATES.search(name):
            # any other API that takes the candidate as its password (a vault, a database, a share)
            if any(kw.arg in _PASSWORD_ARGUMENTS and uses(kw.value) for kw in call.keywords):
                return True
        if name in _HTTP_METHODS and isinstance(call.func, ast.Attribute) and code.is_session(call.func.value):
            for kw in call.keywords:
                if kw.arg in ("data", "json", "params", "auth", "content") and self._credential(
                    kw.value, derived, kw.arg == "auth"
                ):
                    return True
            return False
        if name in ("run", "call", "Popen", "check_output", "check_call", "system", "popen", "getoutput", "spawn"):
            if call.args and uses(call.args[0]):
                words = [s for s in _strings(call.args[0])]
                joined = " ".join(words)
                tools = {w.strip().split("/")[-1] for w in re.split(r"\s+", joined) if w}
                return bool(tools & _PASSWORD_TOOLS)
        return False

    def _credential(self, node: ast.AST, derived: set[str], auth: bool = False, depth: int = 0) -> bool:
        """A request body or auth that carries a candidate in a password field: a dict's
        password key, a body built as text around one (f-string, format, %, +), or (`auth`)
        the password of auth=(user, password) / HTTPBasicAuth(user, password)."""
        code = self.code
        for sub in _walk(node):
            if isinstance(sub, ast.Dict):
                for k, v in zip(sub.keys, sub.values, strict=True):
                    if isinstance(k, ast.Constant) and isinstance(k.value, str) and _PASSWORD_FIELD.search(k.value):
                        if code.names(v) & derived:
                            return True
            elif _built_text(sub):
                parts = [sub]
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):  # TEMPLATE.format(...)
                    parts += code.values.get(_name(sub.func.value), [])
                text = " ".join(str(c.value) for p in parts for c in _walk(p) if isinstance(c, ast.Constant))
                if _PASSWORD_FIELD.search(text) and code.names(sub) & derived:
                    return True
            elif auth and isinstance(sub, ast.Tuple) and len(sub.elts) == 2 and code.names(sub.elts[1]) & derived:
                return True
            elif isinstance(sub, ast.Call) and "Auth" in _name(sub.func) and code.names(sub) & derived:
                return True
        if depth < 2 and isinstance(node, ast.Name):
            return any(self._credential(v, derived, auth, depth + 1) for v in code.values.get(node.id, []))
        return False


# --- entry points ---------------------------------------------------------------------

_PRINT_TO = re.compile(r"(?m)^([ \t]*)print[ \t]*>>[ \t]*([\w.]+)[ \t]*,[ \t]*(.*?)[ \t]*$")
_PRINT_STATEMENT = re.compile(r"(?m)^([ \t]*)print\b[ \t]*(?![\s(=.,)\[])(.*?)[ \t]*$")
_EXCEPT_COMMA = re.compile(r"(?m)^([ \t]*except\b[^\n:]*?),[ \t]*([A-Za-z_]\w*)[ \t]*:")
_RAISE_COMMA = re.compile(r"(?m)^([ \t]*raise[ \t]+[\w.]+)[ \t]*,[ \t]*(.+?)[ \t]*$")
_LEADING_TABS = re.compile(r"(?m)^[ \t]*\t[ \t]*")
_MAX_PIECES = 400  # top-level statements parsed one by one when the whole does not parse


def _python2_fixed(code: str) -> str:
    """Python 2 scripts read as Python 3, line for line: print statements (also `print >>f,`),
    `except E, e:`, `raise E, "why"`, indentation that mixes tabs and spaces (a tab is 8)."""
    code = _PRINT_TO.sub(lambda m: f"{m.group(1)}print({m.group(3)}, file={m.group(2)})", code)
    code = _PRINT_STATEMENT.sub(lambda m: f"{m.group(1)}print({m.group(2)})", code)
    code = _EXCEPT_COMMA.sub(r"\1 as \2:", code)
    code = _RAISE_COMMA.sub(r"\1(\2)", code)
    return _LEADING_TABS.sub(lambda m: m.group(0).expandtabs(8), code)


_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_UNPARSABLE = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)


def _compile(text: str) -> ast.Module | None:
    try:
        with warnings.catch_warnings():
            # the cell's invalid escapes and the like are its author's business, not a log line
            warnings.simplefilter("ignore")
            tree = compile(text, "<cell>", "exec", _FLAGS)
    except _UNPARSABLE:
        return None
    return tree if isinstance(tree, ast.Module) else None


def _piecewise(code: str) -> ast.Module | None:
    """The top-level statements that parse, each on its own, when the whole does not (one
    broken function must not hide the loop beside it). Pieces start at lines that begin in the
    first column; one that fails is joined to the next (a string or bracket over lines), and
    given up after a few. Line numbers stay the cell's."""
    lines = code.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line[:1] not in ("", " ", "\t", "\n", "\r", "#", ")", "]", "}")]
    if not starts or len(starts) > _MAX_PIECES:
        return None
    bounds = [*starts, len(lines)]
    body: list[ast.stmt] = []
    k = 0
    while k < len(starts):
        for reach in range(1, 4):  # this piece alone, or joined to the next one or two
            end = min(k + reach, len(starts))
            tree = _compile("".join(lines[bounds[k] : bounds[end]]))
            if tree is not None:
                body.extend(ast.increment_lineno(tree, bounds[k]).body)
                k = end
                break
        else:
            k += 1
    return ast.Module(body=body, type_ignores=[]) if body else None


def parse(code: str) -> ast.Module | None:
    """The tree of `code`; Python 2 is read after `_python2_fixed`, and code that still does not
    parse statement by statement (`_piecewise`); None when nothing of it is Python."""
    tree = _compile(code)
    if tree is not None:
        return tree
    fixed = _python2_fixed(code)
    if fixed != code:
        tree = _compile(fixed)
        if tree is not None:
            return tree
    return _piecewise(fixed)


def sightings(code: str, wanted: Iterable[Behaviour] = BEHAVIOURS) -> list[Sighting]:
    """Where each wanted behaviour shows in `code` (offsets into it), in order; [] for code
    that does not parse."""
    tree = parse(code)
    if tree is None:
        return []
    wanted = set(wanted)
    try:
        reader = _Reader(_Code(tree))
        if "flood" in wanted:
            reader.floods()
        if "password-guessing" in wanted:
            reader.guesses()
    except RecursionError:  # a pathologically nested expression: no verdict from structure
        return []
    lines = _line_starts(code)
    out = []
    for behaviour, line, col, end_line, end_col in sorted(reader.found, key=lambda k: (k[1], k[2], k[0])):
        start = _offset(code, lines, line, col)
        end = _offset(code, lines, end_line, end_col)
        if end > start:
            out.append(Sighting(behaviour, start, end))
    return out


def _line_starts(code: str) -> list[int]:
    starts = [0]
    at = code.find("\n")
    while at >= 0:
        starts.append(at + 1)
        at = code.find("\n", at + 1)
    return starts


def _offset(code: str, lines: list[int], line: int, col: int) -> int:
    """The character offset of (1-based line, UTF-8 byte column); clamped into the line (the
    Python 2 rewrite may move a column by a few characters, never a line)."""
    if line < 1 or line > len(lines):
        return len(code)
    start = lines[line - 1]
    end = lines[line] - 1 if line < len(lines) else len(code)
    text = code[start:end]
    if not text.isascii():
        col = len(text.encode()[:col].decode("utf-8", "replace"))
    return start + min(col, len(text))
