"""A small shell reader: enough of POSIX sh to find which programs a line runs.

It keeps each word's offsets in the line, so a match can be pointed at exactly. It is not a
shell: it does not expand globs or run anything. Quotes, escapes, `&&`/`||`/`;`/`|`/`&`
chains, `$(...)`/backquote substitutions, redirections and comments are understood; wrappers
such as `sudo`, `nohup`, `env`, `timeout` are looked through to the real program.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple


class Word(NamedTuple):  # a tuple: one per shell word, built at C speed
    value: str
    start: int  # offsets into the text that was read
    end: int


@dataclass(frozen=True)
class SimpleCommand:
    """One program invocation: its basename, its argument words, and the words as written."""

    name: str
    argv0: Word
    args: tuple[Word, ...]
    piped: bool = False  # its output goes to the next command through `|`

    @property
    def arg_text(self) -> str:
        return " ".join(w.value for w in self.args)

    @property
    def start(self) -> int:
        return self.argv0.start

    @property
    def end(self) -> int:
        return self.args[-1].end if self.args else self.argv0.end


_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# One pass of one regex reads the tokens: comments, operators, redirections, words (runs of
# plain characters, escapes and quoted strings), each with the blanks before it, so that a
# token costs one match (groups: 1 comment, 2 operator, 3 redirection, 4 word, 5 other).
_TOKEN = re.compile(
    r"(?:[ \t\r]+|\\\r?\n)*"
    r"(?:(#[^\n]*)"
    r"|(&&|\|\||;;|\$\(|[;|&()`\n])"
    r"|(\d*(?:>>|>&|<&|&>|>\||<<<|<<-?|>|<))"
    r"""|((?:[^\s;&|()<>`'"\\$]+|\$(?!\()|\\[\s\S]|\\\Z|'[^']*(?:'|\Z)|"(?:[^"\\]|\\[\s\S])*(?:"|\Z))+)"""
    r"|([\s\S]))"
)
_WORD_PART = re.compile(
    r"""\$'((?:[^'\\]|\\[\s\S])*)'?|'([^']*)'?|"((?:[^"\\]|\\[\s\S])*)"?|\\(\r?\n)|\\([\s\S])|([^'"\\$]+|\\|\$)"""
)
# ANSI-C quoting, $'...': the escapes bash resolves
_ANSI_C_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|U[0-9a-fA-F]{1,8}|[0-7]{1,3}|[abefnrtv\\'\"?])")
_ANSI_C_SIMPLE = {"a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _ansi_c(body: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code[0] in "xuU":
            return chr(min(int(code[1:], 16), 0x10FFFF))
        if code[0].isdigit():
            return chr(int(code, 8) & 0xFF)
        return _ANSI_C_SIMPLE.get(code, code)

    return _ANSI_C_ESCAPE.sub(one, body)


_DOUBLE_QUOTED_ESCAPE = re.compile(r"""\\(\r?\n|["\\$`])""")


def _unquote(raw: str) -> str:
    """A word's value: quotes removed, escapes resolved, continuations dropped."""
    out = []
    for m in _WORD_PART.finditer(raw):
        ansi, single, double, _continued, escaped, plain = m.groups()
        if ansi is not None:
            out.append(_ansi_c(ansi))
        elif single is not None:
            out.append(single)
        elif double is not None:
            out.append(_DOUBLE_QUOTED_ESCAPE.sub(lambda e: "" if e.group(1)[-1] == "\n" else e.group(1), double))
        elif escaped is not None:
            out.append(escaped)
        elif plain is not None:
            out.append(plain)
    return "".join(out)


Tokens = tuple[tuple[Word | str, ...], tuple[tuple[int, int], ...]]


def scan(text: str) -> Tokens:
    """(tokens, comment spans) of a shell text: read once, then handed to the functions below."""
    out: list[Word | str] = []
    comments: list[tuple[int, int]] = []
    append = out.append
    for m in _TOKEN.finditer(text):
        kind = m.lastindex
        if kind == 4:
            raw = m.group(4)
            value = _unquote(raw) if ("'" in raw or '"' in raw or "\\" in raw) else raw
            append(Word(value, m.start(4), m.end(4)))
        elif kind == 2:
            append(m.group(2))
        elif kind == 3:
            append(">")
        elif kind == 1:
            comments.append(m.span(1))
    return tuple(out), tuple(comments)


def strip_comments(text: str, scanned: Tokens | None = None) -> str:
    """`text` with shell comments blanked (same length, same offsets); quotes are respected."""
    if "#" not in text:
        return text
    spans = (scanned or scan(text))[1]
    if not spans:
        return text
    parts, last = [], 0
    for start, end in spans:
        parts.append(text[last:start])
        parts.append(" " * (end - start))
        last = end
    parts.append(text[last:])
    return "".join(parts)


_ASSIGN_PREFIXES = {"export", "local", "declare", "readonly", "typeset"}


def assignments(text: str, scanned: Tokens | None = None) -> list[tuple[str, str, int]]:
    """Shell variable assignments (`NAME=value`, `export NAME=value`): (name, value, offset)."""
    if "=" not in text:
        return []
    out: list[tuple[str, str, int]] = []
    at_start = True
    prefixed = False
    for tok in (scanned or scan(text))[0]:
        if isinstance(tok, str):
            at_start, prefixed = tok != ">", False
            continue
        if (at_start or prefixed) and _ASSIGNMENT.match(tok.value):
            name, _, value = tok.value.partition("=")
            out.append((name, value, tok.start))
            continue
        if at_start and tok.value in _ASSIGN_PREFIXES:
            prefixed = True
        elif prefixed and tok.value.startswith("-"):
            pass
        else:
            prefixed = False
        at_start = False
    return out


# Wrappers that run their argument as the real command; value: how many option words take
# an argument (so `timeout 10 xmrig` and `sudo -u bob hashcat` find the real program).
_WRAPPERS: dict[str, set[str]] = {
    "sudo": {"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U"},
    "doas": {"-u", "-C"},
    "nohup": set(),
    "env": {"-u", "-C", "-S"},
    "time": {"-f", "-o"},
    "timeout": {"-s", "-k", "--signal", "--kill-after"},
    "nice": {"-n"},
    "ionice": {"-c", "-n", "-p"},
    "exec": {"-a"},
    "command": set(),
    "builtin": set(),
    "stdbuf": {"-i", "-o", "-e"},
    "setsid": set(),
    "chrt": set(),
    "taskset": set(),
    "xargs": {"-I", "-n", "-P", "-L", "-d", "-a", "-s", "-E"},
    "watch": {"-n", "-d"},
    "screen": {"-S", "-c", "-L", "-t"},
    "proot": set(),
    "unbuffer": set(),
    "eatmydata": set(),
    "torsocks": set(),
    "proxychains": {"-f"},
    "proxychains4": {"-f"},
    "firejail": set(),
    "sshpass": {"-p", "-f", "-d", "-P"},
    "cpulimit": {"-l", "--limit", "-p", "--pid", "-e", "--exe", "-c", "--cpu"},
    "systemd-run": {"-p", "--property", "-u", "--unit"},
}
# Wrappers whose first positional argument is not the program (timeout DURATION, taskset MASK).
_POSITIONAL_BEFORE_PROGRAM = {"timeout": 1, "taskset": 1, "chrt": 1}


# Reserved words that may stand before a command: `if true; then ./miner; fi` runs ./miner.
_RESERVED_BEFORE_COMMAND = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "coproc"}


def _strip_wrappers(words: list[Word]) -> list[Word]:
    while words:
        head = words[0]
        if _ASSIGNMENT.match(head.value) or head.value in _RESERVED_BEFORE_COMMAND:
            words = words[1:]
            continue
        name = head.value.rsplit("/", 1)[-1]
        if name not in _WRAPPERS:
            return words
        takes_value = _WRAPPERS[name]
        i = 1
        while i < len(words) and words[i].value.startswith("-") and words[i].value != "-":
            flag = words[i].value
            if flag == "--":  # end of options: the program follows
                i += 1
                break
            # "-dmS name": combined short flags whose last letter takes a value
            combined = not flag.startswith("--") and len(flag) > 2 and f"-{flag[-1]}" in takes_value
            i += 2 if flag in takes_value or combined else 1
        while i < len(words) and name == "env" and _ASSIGNMENT.match(words[i].value):
            i += 1
        i += _POSITIONAL_BEFORE_PROGRAM.get(name, 0)
        words = words[i:]
    return words


_BRACES = re.compile(r"\{([^{}]*,[^{}]*)\}")
MAX_EXPANSIONS = 16


def brace_expansions(word: str) -> list[str]:
    """`xm{r,}ig` -> ["xmrig", "xmig"]: what bash makes of a word with braces (at most a few)."""
    out: list[str] = []
    todo = [word]
    while todo and len(out) + len(todo) <= MAX_EXPANSIONS:
        current = todo.pop(0)
        m = _BRACES.search(current)
        if m is None:
            out.append(current)
            continue
        todo.extend(current[: m.start()] + alt + current[m.end() :] for alt in m.group(1).split(","))
    return out + todo


def simple_commands(text: str, scanned: Tokens | None = None) -> list[SimpleCommand]:
    """Every program a shell line would run, wrappers looked through."""
    out: list[SimpleCommand] = []
    current: list[Word] = []
    skip_next = False

    def flush(operator: str) -> None:
        words = _strip_wrappers(current)
        if words and words[0].value:
            name = words[0].value.rstrip("/").rsplit("/", 1)[-1] or words[0].value
            out.append(SimpleCommand(name, words[0], tuple(words[1:]), operator == "|"))
        current.clear()

    for tok in (scanned or scan(text))[0]:
        if isinstance(tok, str):
            if tok == ">":
                skip_next = True
                continue
            flush(tok)
            skip_next = False
            continue
        if skip_next:
            skip_next = False
            continue
        current.append(tok)
    flush("")
    return out


# --- package installs -------------------------------------------------------------------

_PIP_VALUE_OPTIONS = {
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--src",
    "--upgrade-strategy",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--no-binary",
    "--only-binary",
    "--progress-bar",
    "-C",
    "--config-settings",
    "--trusted-host",
    "--cache-dir",
    "--log",
    "--proxy",
    "--retries",
    "--timeout",
    "--python",
    "-p",
}
_CONDA_VALUE_OPTIONS = {"-c", "--channel", "-n", "--name", "-p", "--prefix", "--file", "--override-channels-x"}
_APT_VALUE_OPTIONS = {"-o", "-t", "--target-release", "-c"}
_NPM_VALUE_OPTIONS = {"--prefix", "--registry", "-w", "--workspace"}
_REQ_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Install:
    source: str  # pip | conda | apt | npm
    name: str
    word: Word


def _positional(words: tuple[Word, ...], value_options: set[str]) -> list[Word]:
    out, skip = [], False
    for w in words:
        if skip:
            skip = False
            continue
        if w.value.startswith("-"):
            skip = w.value in value_options
            continue
        out.append(w)
    return out


def _pip_names(words: list[Word]) -> list[tuple[str, Word]]:
    out = []
    for w in words:
        spec = w.value.strip()
        if "://" in spec or spec.startswith((".", "/", "~")) or spec.endswith((".whl", ".zip", ".tar.gz")):
            continue  # URLs and local paths: the repo/url matchers look at those
        m = _REQ_NAME.match(spec)
        if m:
            out.append((m.group(1), w))
    return out


_INSTALLERS = frozenset(
    {
        "uv",
        "pipx",
        "conda",
        "mamba",
        "micromamba",
        "apt",
        "apt-get",
        "aptitude",
        "yum",
        "dnf",
        "apk",
        "brew",
        "snap",
        "zypper",
        "pacman",
        "npm",
        "yarn",
        "pnpm",
        "bun",
        "npx",
        "bunx",
        "pnpx",
    }
)


def installs(cmd: SimpleCommand) -> list[Install]:
    """Packages a command installs, by ecosystem."""
    name = cmd.name
    args = cmd.args
    if name not in _INSTALLERS and not (args and args[0].value == "-m") and not name.startswith(("pip", "python")):
        return []  # most commands install nothing: decided before looking at their words
    values = [w.value for w in args]
    if len(values) >= 2 and values[0] == "-m" and values[1] in ("pip", "pip3", "uv", "conda"):
        # python -m pip, python3.11 -m pip, and `{sys.executable} -m pip` from a notebook
        return installs(SimpleCommand(values[1], args[1], args[2:]))
    if name in ("python", "python3") or re.fullmatch(r"python3\.\d+", name):
        return []
    if name == "uv" and values[:1] == ["pip"]:
        return installs(SimpleCommand("pip", args[0], args[1:]))
    if name in ("pip", "pip3", "pipx") or re.fullmatch(r"pip3\.\d+", name):
        if values[:1] and values[0] in ("install", "download", "wheel", "inject", "run"):
            return [Install("pip", n, w) for n, w in _pip_names(_positional(args[1:], _PIP_VALUE_OPTIONS))]
        return []
    if name in ("conda", "mamba", "micromamba"):
        if values[:1] and values[0] in ("install", "create"):
            out = []
            for w in _positional(args[1:], _CONDA_VALUE_OPTIONS):
                spec = w.value.split("::")[-1]
                m = _REQ_NAME.match(spec)
                if m:
                    out.append(Install("conda", m.group(1).split("=")[0], w))
            return out
        return []
    if name in ("apt", "apt-get", "aptitude", "yum", "dnf", "apk", "brew", "snap", "zypper", "pacman"):
        verbs = {"install", "add", "-S", "reinstall"}
        if not any(v in verbs for v in values[:3]):
            return []
        out = []
        for w in _positional(args, _APT_VALUE_OPTIONS):
            if w.value in verbs:
                continue
            m = _REQ_NAME.match(w.value)
            if m:
                out.append(Install("apt", m.group(1).split(":")[0], w))
        return out
    if name in ("npm", "yarn", "pnpm", "bun"):
        words = values[1:] if values[:1] == ["global"] else values  # yarn global add x
        rest = args[1:] if values[:1] == ["global"] else args
        if not words or words[0] not in ("install", "i", "add", "exec", "dlx", "x"):
            return []
        out = []
        for w in _positional(rest[1:], _NPM_VALUE_OPTIONS):
            out.append(Install("npm", _npm_name(w.value), w))
        return out
    if name in ("npx", "bunx", "pnpx"):
        pos = _positional(args, _NPM_VALUE_OPTIONS)
        return [Install("npm", _npm_name(pos[0].value), pos[0])] if pos else []
    return []


def _npm_name(spec: str) -> str:
    if spec.startswith("@"):
        scope, _, rest = spec.partition("/")
        return f"{scope}/{rest.split('@')[0]}"
    return spec.split("@")[0]
