"""Turn a cell into evidence: the commands, packages, repositories, URLs and code text it holds.

Every piece of evidence keeps the span of the cell it came from. Evidence read straight from
the cell is `exact`; evidence that had to be computed (a decoded string, a `{var}` expansion,
code handed to `exec`) points at the source it was computed from and says how (`via`).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import codecs
import fnmatch
import re
import string
from typing import Literal, NamedTuple

from . import shell
from .cell import autocall_source, cell_body, split_cell
from .python import Derived, PythonFacts, analyze, latest_before, strip_comments
from .windows import Window
from .windows import focus as focus_statements

EvidenceKind = Literal["command", "package", "repo", "url", "text", "behaviour"]
MAX_DEPTH = 3  # exec inside exec inside a shell ... deeper than this is not followed


class Piece(NamedTuple):  # a tuple: made by the thousand, so built at C speed
    """A run of a rebuilt text and the cell span it stands for."""

    start: int  # offsets in the rebuilt text
    end: int
    cell_start: int  # offsets in the cell
    cell_end: int
    exact: bool  # character for character the cell's text (else: computed from that span)
    via: tuple[str, ...] = ()


class Mapped:
    """A text rebuilt from pieces of the cell (a `$var` expansion, a subprocess argument list).

    A span of the rebuilt text maps back to the cell exactly when it lies inside one exact
    piece, and otherwise to the union of the source spans it was built from.
    """

    def __init__(self, text: str, pieces: list[Piece], via: tuple[str, ...] = ()):
        self.text = text
        self.via = via
        merged: list[Piece] = []
        for p in pieces:
            last = merged[-1] if merged else None
            if last is not None and last.exact and p.exact and last.end == p.start and last.cell_end == p.cell_start:
                merged[-1] = Piece(last.start, p.end, last.cell_start, p.cell_end, True)
            else:
                merged.append(p)
        self.pieces = merged  # in order, not overlapping
        self.ends = [p.end for p in merged]
        self.cell_start = min((p.cell_start for p in merged), default=0)
        self.cell_end = max((p.cell_end for p in merged), default=0)

    def map(self, start: int, end: int) -> tuple[int, int, bool, tuple[str, ...]]:
        """(cell start, cell end, exact, via) of the rebuilt text's span [start, end)."""
        first = bisect.bisect_right(self.ends, start)  # the first piece ending after `start`
        inside = []
        for k in range(first, len(self.pieces)):
            p = self.pieces[k]
            if p.start >= end:
                break
            inside.append(p)
        if not inside:  # an empty span, or one in the glue between pieces
            inside = [p for p in self.pieces[max(first - 1, 0) : first + 1] if p.start <= start <= p.end]
        if not inside:
            return self.cell_start, self.cell_end, False, ()
        if len(inside) == 1 and inside[0].exact:
            p = inside[0]
            return p.cell_start + max(start, p.start) - p.start, p.cell_start + min(end, p.end) - p.start, True, ()
        cell_start = min(p.cell_start + max(start - p.start, 0) if p.exact else p.cell_start for p in inside)
        cell_end = max(p.cell_start + min(end, p.end) - p.start if p.exact else p.cell_end for p in inside)
        via = tuple(dict.fromkeys(v for p in inside for v in p.via))
        return cell_start, cell_end, False, via


Origin = Derived | Mapped | None


class Evidence(NamedTuple):
    kind: EvidenceKind
    value: str  # command basename, package name, "owner/name", URL, or a run of code text
    detail: str  # command arguments, package source, repository host
    start: int  # span in the original cell
    end: int
    exact: bool
    via: tuple[str, ...]
    context: str  # the line or command it sits in (for `unless` and excerpts)
    mapping: Mapped | None = None  # text evidence rebuilt from pieces: maps its sub-spans to the cell
    base: int = 0  # where `value` starts in `mapping.text`

    def locate(self, start: int, end: int) -> tuple[int, int, bool, tuple[str, ...]]:
        """Cell span, exactness and extra `via` of `value[start:end]` (for text evidence)."""
        if self.mapping is not None:
            return self.mapping.map(self.base + start, self.base + end)
        if self.exact:
            return self.start + start, self.start + end, True, ()
        return self.start, self.end, False, ()


_URL = re.compile(r"""(?i)(?<![\w+.-])(?:[a-z][a-z0-9+.-]{0,20}://|magnet:\?)[^\s'"<>`\\{}|^]+""")
_REPO = re.compile(
    r"""(?ix)(?<![\w.-])(?:www\.)?
    (github\.com|gitlab\.com|huggingface\.co|hf\.co|bitbucket\.org|codeberg\.org|gitee\.com
     |raw\.githubusercontent\.com|codeload\.github\.com|gist\.github\.com|objects\.githubusercontent\.com)
    (?::|/)+(?:(?:spaces|datasets|models)/)?
    ([\w.-]+)/([\w.-]+)"""
)
_REPO_HOST_HINTS = ("github", "gitlab", "huggingface", "hf.co", "bitbucket", "codeberg", "gitee")
_HOST_ALIASES = {
    "raw.githubusercontent.com": "github.com",
    "codeload.github.com": "github.com",
    "gist.github.com": "github.com",
    "objects.githubusercontent.com": "github.com",
    "hf.co": "huggingface.co",
}
_HF_REPO_ID = re.compile(
    r"""(?:repo_id\s*=\s*|from_pretrained\(\s*|hf_hub_download\(\s*|snapshot_download\(\s*|load_dataset\(\s*)[rRuUfF]?(["'])([\w.-]+/[\w.-]+)\1"""
)
# {var} (IPython), ${var} with an optional operation (${t%X}, ${t:1}, ${t/a/b}), $var
_SHELL_EXPANSION = re.compile(
    r"\{(?P<py>[A-Za-z_]\w*)\}"
    r"|\$\{(?P<sh>[A-Za-z_]\w*)(?P<op>%%?[^}]*|##?[^}]*|:-?\d+(?::\d+)?|//?[^/}]*/[^}]*)?\}"
    r"|\$(?P<bare>[A-Za-z_]\w*)"
)


def _parameter_operation(value: str, op: str | None) -> str:
    """What bash makes of ${name<op>} for the operations that rebuild a name: suffix and
    prefix removal (glob patterns), substrings, replacement."""
    if not op:
        return value
    if op[0] in "%#":
        longest = op[:2] in ("%%", "##")
        pattern = op[2:] if longest else op[1:]
        cuts = range(len(value) + 1)
        if op[0] == "%":
            for cut in cuts if longest else reversed(cuts):
                if fnmatch.fnmatchcase(value[cut:], pattern):
                    return value[:cut]
        else:
            for cut in reversed(cuts) if longest else cuts:
                if fnmatch.fnmatchcase(value[:cut], pattern):
                    return value[cut:]
        return value
    if op[0] == ":":
        parts = op[1:].split(":")
        start = int(parts[0])
        return value[start : start + int(parts[1])] if len(parts) > 1 else value[start:]
    every = op.startswith("//")
    old, _, new = op[2 if every else 1 :].partition("/")
    return value.replace(old, new) if every else value.replace(old, new, 1)


_ENV_MAGIC = re.compile(r"(?m)^[ \t]*%(?:set_)?env[ \t]+([A-Za-z_]\w*)(?:[ \t]*=[ \t]*|[ \t]+)([^\n]*)")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(text: str) -> str:
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)


_B64_PIPE = re.compile(r"(?:base64|openssl)\b.*(?:-d\b|--decode|-D\b)")
_SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "fish"}
_RUNS_CODE = _SHELLS | {"tmux", "su", "runuser", "python", "python3", "echo", "printf", "eval"}  # read below


CONTEXT_REACH = 400  # how far a match's context (its line) extends either side, at most


def line_around(text: str, start: int, end: int) -> str:
    """The line holding text[start:end], cut to CONTEXT_REACH characters either side (so that
    many matches on one huge line stay linear)."""
    low = max(0, start - CONTEXT_REACH)
    high = min(len(text), end + CONTEXT_REACH)
    a = text.rfind("\n", low, start) + 1 or low
    b = text.find("\n", end, high)
    return text[a : b if b >= 0 else high].strip()


def join_continuations(text: str) -> str:
    """Backslash-newline continuations blanked (same length), so a command reads as one line."""
    # one character is looked for with memchr, a two-character string is not (9 ms per 10 MB)
    if "\\" not in text or ("\\\n" not in text and "\\\r\n" not in text):
        return text
    # what `\\\r?\n` finds: a backslash starts at most one of the two (what follows it differs),
    # and spaces make no new one; two replaces run at C speed (a regex sub: 16 ms per 10 MB)
    return text.replace("\\\r\n", "   ").replace("\\\n", "  ")


def _inner(text: str, word: shell.Word) -> int | None:
    """Where `word.value` is written in `text`: as is, or inside one pair of quotes; else None."""
    raw = text[word.start : word.end]
    if raw == word.value:
        return word.start
    if len(raw) >= 2 and raw[0] in "'\"" and raw[-1] == raw[0] and raw[1:-1] == word.value:
        return word.start + 1
    return None


class Collector:
    """Collects evidence from one cell (and, recursively, from code it runs)."""

    def __init__(self) -> None:
        self.environ: dict[str, list[tuple[int, str]]] = {}  # variables the cell sets with %env
        self.unparsed = False  # the cell's own Python did not parse
        self.unreadable: str | None = None  # why part of it could not be read (see PythonFacts)
        self.items: list[Evidence] = []
        self.scanned: dict[str, shell.Tokens] = {}  # each shell text is tokenized once

    def scan(self, text: str) -> shell.Tokens:
        found = self.scanned.get(text)
        if found is None:
            found = self.scanned[text] = shell.scan(text)
        return found

    # Positions. With no origin, offsets are the cell's. With a `Mapped` origin, offsets are
    # positions in its rebuilt text and map back piece by piece. With a `Derived` origin
    # (decoded or computed code), everything points at the source it was computed from.
    def add(
        self,
        kind: EvidenceKind,
        value: str,
        detail: str,
        start: int,
        end: int,
        context: str,
        origin: Origin,
        via: tuple[str, ...] = (),
    ) -> None:
        if not (value.isascii() and context.isascii()):
            # a string the cell computes may hold a lone surrogate ("\ud800" in a literal):
            # one for one, as the cell's own text was (no UTF-8 encoder, RE2's included, takes it)
            value, context = _clean(value), _clean(context)
        if origin is None:
            self.items.append(Evidence(kind, value, detail, start, end, True, via, context))
        elif isinstance(origin, Mapped):
            cell_start, cell_end, exact, extra = origin.map(start, end)
            if kind == "text":  # sub-spans are mapped when they match (see Evidence.locate)
                self.items.append(
                    Evidence(
                        kind, value, detail, cell_start, cell_end, exact, _vias(origin.via, via), context, origin, start
                    )
                )
            else:
                self.items.append(
                    Evidence(kind, value, detail, cell_start, cell_end, exact, _vias(origin.via, extra, via), context)
                )
        else:
            self.items.append(Evidence(kind, value, detail, origin.start, origin.end, False, origin.via + via, context))

    @staticmethod
    def narrow(origin: Origin, start: int, end: int, value: str, via: tuple[str, ...]) -> Derived:
        """The origin of something computed from [start, end) of the current text."""
        if origin is None:
            return Derived(value, start, end, via)
        if isinstance(origin, Mapped):
            cell_start, cell_end, _, extra = origin.map(start, end)
            return Derived(value, cell_start, cell_end, _vias(origin.via, extra, via))
        return origin

    def collect(
        self, code: str, language: str = "python", origin: Derived | None = None, depth: int = 0, start: int = 0
    ) -> None:
        """`start`: where the cell begins after a prelude of code that ran before (see
        `split_cell`)."""
        split = split_cell(code, language, start)
        if depth == 0 and "env" in code:
            for m in _ENV_MAGIC.finditer(code):  # %env TOOL=./miner, %set_env TOOL ./miner
                self.environ.setdefault(m.group(1), []).append((m.start(), m.group(2).strip().strip("'\"")))
        python_view = split.python
        facts: PythonFacts | None = None
        if split.has_python:
            facts = analyze(python_view)
            if origin is None and not facts.parsed:
                self.unparsed = True
            if facts.unreadable and self.unreadable is None:
                self.unreadable = facts.unreadable
            self.python_facts(facts, code, origin, depth)
        if split.has_python:
            clean = join_continuations(strip_comments(python_view))
            self.text(clean, 0, len(clean), origin, ("python",))
            for m in _HF_REPO_ID.finditer(clean):
                self.add(
                    "repo",
                    m.group(2).lower(),
                    "huggingface.co",
                    m.start(2),
                    m.end(2),
                    line_around(code, m.start(), m.end()),
                    origin,
                )
        for seg in split.segments:
            text = code[seg.start : seg.end]
            if seg.kind == "python":  # `%time <line>`, an autocall: a line IPython runs as code
                if depth < MAX_DEPTH:
                    source = autocall_source(text) if "autocall" in seg.via else text
                    nested = (
                        Derived(source, seg.start, seg.end, seg.via)
                        if origin is None
                        else Derived(source, origin.start, origin.end, origin.via + seg.via)
                    )
                    self.collect(source, "python", nested, depth + 1)
                continue
            if seg.kind == "shell":
                expanded = self.expand(text, seg.start, facts)
                if expanded is None:
                    self.shell(text, seg.start, origin, depth, seg.via)
                elif origin is None:
                    self.shell(expanded.text, 0, expanded, depth, seg.via)
                else:
                    self.shell(expanded.text, 0, origin, depth, seg.via)
            else:
                self.text(text, seg.start, seg.end, origin, seg.via)

    def substitutions(self, text: str, offset: int, origin: Origin, depth: int, via: tuple[str, ...]) -> None:
        """`$(echo ./xmrig) -o ...` and backticks read with the echoed words in place, and what a
        here-string hands a shell or python (`sh <<< '...'`)."""
        replaced = _ECHO_SUBSTITUTION.sub(lambda m: m.group(1) or m.group(2) or "", text)
        if replaced != text:
            src = self.narrow(origin, offset, offset + len(text), replaced, ("substitution",))
            self.shell(replaced, 0, src, depth + 1, via)
        for m in _HERE_STRING.finditer(text):
            body = shell._unquote(m.group(2))
            src = self.narrow(origin, offset + m.start(), offset + m.end(), body, ("here-string",))
            if m.group(1).startswith("python"):
                self.collect(body, "python", src, depth + 1)
            else:
                self.shell(body, 0, src, depth + 1, via)

    def find_exec(
        self, cmd: shell.SimpleCommand, offset: int, context: str, origin: Origin, via: tuple[str, ...]
    ) -> None:
        """`find . -name xmrig -exec {} -o pool \\;` runs each file it finds, named like -name says."""
        values = [w.value for w in cmd.args]
        for flag in ("-exec", "-execdir"):
            if flag in values and values.index(flag) + 1 < len(values) and values[values.index(flag) + 1] == "{}":
                named = next((values[i + 1] for i, v in enumerate(values[:-1]) if v in ("-name", "-iname")), None)
                if named:
                    rest = values[values.index(flag) + 2 :]
                    args = " ".join(v for v in rest if v not in (";", "+", "\\;"))
                    self.add("command", named, args, offset + cmd.start, offset + cmd.end, context, origin, via)

    def expand(self, text: str, offset: int, facts: PythonFacts | None) -> Mapped | None:
        """`{var}` and `$var` replaced by the literal last assigned to them before the use:
        in Python earlier in the cell (as IPython does for `!` lines) or by the shell text
        itself (`VAR=value`, `export VAR=value`). None when nothing was replaced."""
        if "{" not in text and "$" not in text:
            return None
        python_env = facts.env if facts is not None else {}
        shell_env: dict[str, list[tuple[int, str]]] = {}
        if "$" in text:
            for name, value, at in shell.assignments(text, self.scan(text)):
                shell_env.setdefault(name, []).append((offset + at, value))
            # the environment the cell set for its shells: %env, os.environ[...] = ...
            for name, entries in self.environ.items():
                shell_env.setdefault(name, []).extend(entries)
                shell_env[name].sort()
            if facts is not None:
                for name, entries in facts.environ.items():
                    shell_env.setdefault(name, []).extend(entries)
                    shell_env[name].sort()
        if not python_env and not shell_env:
            return None
        pieces: list[Piece] = []
        out: list[str] = []
        last = 0
        length = 0
        for m in _SHELL_EXPANSION.finditer(text):
            name = m.group("py") or m.group("sh") or m.group("bare")
            at = offset + m.start()
            best: tuple[int, str] | None = None
            for env in (python_env, shell_env) if m.group("py") is None else (python_env,):
                entry = latest_before(env.get(name, ()), at)
                if entry is not None and (best is None or entry[0] > best[0]):
                    best = entry  # type: ignore[assignment]
            if best is None:
                continue
            if m.start() > last:
                pieces.append(Piece(length, length + m.start() - last, offset + last, offset + m.start(), True))
                out.append(text[last : m.start()])
                length += m.start() - last
            value = _parameter_operation(best[1], m.group("op"))
            pieces.append(Piece(length, length + len(value), at, offset + m.end(), False, ("expanded",)))
            out.append(value)
            length += len(value)
            last = m.end()
        if not pieces:
            return None
        pieces.append(Piece(length, length + len(text) - last, offset + last, offset + len(text), True))
        out.append(text[last:])
        return Mapped("".join(out), pieces)

    def python_facts(self, facts: PythonFacts, code: str, origin: Derived | None, depth: int) -> None:
        for name, start, end in facts.imports:
            self.add("package", name, "import", start, end, line_around(code, start, end), origin)
        for d in facts.computed_imports:
            self.add(
                "package",
                d.value,
                "import",
                d.start,
                d.end,
                line_around(code, d.start, d.end),
                origin if origin is not None or d.exact else d,
            )
        for d in facts.hub_repos:
            self.add(
                "repo",
                d.value.lower(),
                "huggingface.co",
                d.start,
                d.end,
                line_around(code, d.start, d.end),
                origin if origin is not None or d.exact else d,
            )
        for d in facts.shell:
            self.shell_derived(d, origin, depth)
        for words, start, end in facts.argv:
            self.argv(words, start, end, origin, depth)
        for d in facts.strings:
            self.derived_text(d, origin)
        for behaviour, start, end in facts.behaviours:  # seen while the tree was read (decoded.py)
            self.add("behaviour", behaviour, "python", start, end, line_around(code, start, end), origin)
        if depth < MAX_DEPTH:
            for d in facts.executed:
                nested = d if origin is None else Derived(d.value, origin.start, origin.end, origin.via + d.via)
                self.collect(d.value, "python", nested, depth + 1)

    def derived_text(self, d: Derived, origin: Derived | None) -> None:
        if d.exact and origin is None:
            self.text(d.value, d.start, d.end, None, ())
        else:
            self.text(d.value, 0, len(d.value), d if origin is None else origin, ())

    def shell_derived(self, d: Derived, origin: Derived | None, depth: int) -> None:
        if d.exact and origin is None:
            self.shell(d.value, d.start, None, depth, d.via + ("shell",))
        else:
            self.shell(d.value, 0, d if origin is None else origin, depth, ("shell",))

    def argv(self, words: list[Derived], start: int, end: int, origin: Derived | None, depth: int) -> None:
        head = words[0].value.strip()
        if len(words) >= 3 and head.rsplit("/", 1)[-1] in _SHELLS and words[1].value == "-c":
            self.shell_derived(words[2], origin, depth)
            return
        if len(words) == 1:  # Popen("cmd args", shell=True) written as a one-item list
            self.shell_derived(words[0], origin, depth)
            return
        # The list read as one shell line; each word maps back to the literal it came from.
        parts: list[str] = []
        pieces: list[Piece] = []
        length = 0
        for w in words:
            if parts:
                parts.append(" ")
                length += 1
            quoted = shell_quote(w.value)
            inner = quoted.find(w.value) if w.value else -1
            if w.exact and inner >= 0 and len(quoted) - inner - len(w.value) == inner:
                pieces.append(Piece(length + inner, length + inner + len(w.value), w.start, w.end, True))
            else:
                pieces.append(Piece(length, length + len(quoted), w.start, w.end, False, w.via))
            parts.append(quoted)
            length += len(quoted)
        joined = "".join(parts)
        if origin is None:
            self.shell(joined, 0, Mapped(joined, pieces, ("subprocess",)), depth, ())
        else:
            self.shell(joined, 0, origin, depth, ())

    def shell(self, text: str, offset: int, origin: Origin, depth: int, via: tuple[str, ...]) -> None:
        """Commands, installs and decoded pipelines in a shell text starting at `offset`.

        `offset` is where `text` starts: in the cell (no origin), or in the rebuilt text of a
        `Mapped` origin; a `Derived` origin ignores it."""
        plain = origin is None or isinstance(origin, Mapped)  # positions inside `text` can be mapped
        scanned = self.scan(text)
        self.text(join_continuations(shell.strip_comments(text, scanned)), offset, offset + len(text), origin, via)
        commands = shell.simple_commands(text, scanned)
        if depth < MAX_DEPTH and ("`" in text or "$(" in text or "<<<" in text):
            self.substitutions(text, offset, origin, depth, via)
        for i, cmd in enumerate(commands):
            context = text[cmd.start : cmd.end]
            self.add("command", cmd.name, cmd.arg_text, offset + cmd.start, offset + cmd.end, context, origin, via)
            if "{" in cmd.name:  # ./xm{r,}ig: bash runs each expansion's first as the program
                for name in shell.brace_expansions(cmd.name):
                    if name != cmd.name:
                        self.add(
                            "command", name, cmd.arg_text, offset + cmd.start, offset + cmd.end, context, origin, via
                        )
            if cmd.name == "find" and depth < MAX_DEPTH:
                self.find_exec(cmd, offset, context, origin, via)
            words = (cmd.argv0, *cmd.args)
            if any(w.value != text[w.start : w.end] for w in words):
                # quotes or escapes inside words (stratum+tcp:/""/pool.support""xmr.com): the
                # URLs and hosts are read as the program receives them
                line = " ".join(w.value for w in words)
                src = self.narrow(origin, offset + cmd.start, offset + cmd.end, line, ("dequoted",))
                self.text(line, 0, len(line), src, ())
            for inst in shell.installs(cmd):
                self.add(
                    "package",
                    inst.name,
                    inst.source,
                    offset + inst.word.start,
                    offset + inst.word.end,
                    context,
                    origin,
                    via,
                )
            if depth >= MAX_DEPTH or cmd.name not in _RUNS_CODE:
                continue
            values = [w.value for w in cmd.args]
            # a shell command handed over as one argument: sh -c "...", su -c "...", tmux new "..."
            inner_word = None
            if cmd.name in _SHELLS and "-c" in values and values.index("-c") + 1 < len(values):
                inner_word = cmd.args[values.index("-c") + 1]
            elif cmd.name in ("tmux", "su", "runuser") and cmd.args:
                inner_word = next((a for a in reversed(cmd.args) if " " in a.value), None)
            if inner_word is not None:
                w = inner_word
                at = _inner(text, w) if plain else None
                if at is not None:
                    self.shell(w.value, offset + at, origin, depth + 1, via)
                else:
                    label = "sh -c" if cmd.name in _SHELLS else cmd.name
                    src = self.narrow(origin, offset + w.start, offset + w.end, w.value, (label,))
                    self.shell(w.value, 0, src, depth + 1, via)
            if cmd.name in ("python", "python3") and "-c" in values and values.index("-c") + 1 < len(values):
                w = cmd.args[values.index("-c") + 1]
                self.collect(
                    w.value,
                    "python",
                    self.narrow(origin, offset + w.start, offset + w.end, w.value, ("python -c",)),
                    depth + 1,
                )
            if cmd.name == "eval" and cmd.args:  # eval "./xm""rig ...": the words, joined, run again
                joined = " ".join(w.value for w in cmd.args)
                src = self.narrow(origin, offset + cmd.start, offset + cmd.end, joined, ("eval",))
                self.shell(joined, 0, src, depth + 1, via)
            if cmd.name in ("echo", "printf") and cmd.piped and i + 1 < len(commands):
                decoded = _decode_pipeline(cmd, commands[i + 1])
                if decoded:
                    last = i + 1
                    while commands[last].piped and last + 1 < len(commands):
                        last += 1  # the span runs to the end of the pipeline (`| sh`)
                    src = self.narrow(
                        origin, offset + cmd.start, offset + commands[last].end, decoded[0], (decoded[1],)
                    )
                    # read as what the pipeline hands it to: a shell, python, or (no consumer:
                    # a file, a variable) either
                    consumer = commands[last].name if last > i + 1 else ""
                    if not consumer.startswith("python"):
                        self.shell(decoded[0], 0, src, depth + 1, ())
                    if consumer not in _SHELLS:
                        self.collect(decoded[0], "python", src, depth + 1)

    def text(self, text: str, start: int, end: int, origin: Origin, via: tuple[str, ...]) -> None:
        if not text.strip():
            return
        self.add("text", text, "", start, end, "", origin, via)
        if "://" in text or ":?" in text:  # cheap tests that spare the regex scans most texts
            for m in _URL.finditer(text):
                url = m.group(0).rstrip(".,;:)]")
                self.add(
                    "url",
                    url,
                    "",
                    start + m.start(),
                    start + m.start() + len(url),
                    line_around(text, m.start(), m.end()),
                    origin,
                    via,
                )
        lower = text.lower()
        if not any(host in lower for host in _REPO_HOST_HINTS):
            return
        for m in _REPO.finditer(text):
            host = m.group(1).lower()
            name = m.group(3)
            if name.lower().endswith(".git"):
                name = name[:-4]
            self.add(
                "repo",
                f"{m.group(2)}/{name}".lower(),
                _HOST_ALIASES.get(host, host),
                start + m.start(),
                start + m.end(),
                line_around(text, m.start(), m.end()),
                origin,
                via,
            )


def _vias(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for g in groups for v in g))


def shell_quote(value: str) -> str:
    return value if value and not re.search(r"[\s'\"\\$`]", value) else "'" + value.replace("'", "'\\''") + "'"


def _decode_pipeline(echo: shell.SimpleCommand, nxt: shell.SimpleCommand) -> tuple[str, str] | None:
    """`echo <b64> | base64 -d | sh` and `echo <hex> | xxd -r -p | bash`: what would run."""
    if not echo.args:
        return None
    payload = "".join(w.value for w in echo.args if not w.value.startswith("-"))
    try:
        if nxt.name in ("base64", "openssl") and _B64_PIPE.search(f"{nxt.name} {nxt.arg_text}"):
            return base64.b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8", "replace"), "base64"
        if nxt.name == "base32" and _B64_PIPE.search(f"base64 {nxt.arg_text}"):
            return base64.b32decode(payload + "=" * (-len(payload) % 8)).decode("utf-8", "replace"), "base32"
        if nxt.name == "xxd" and "-r" in nxt.arg_text:
            return binascii.unhexlify(re.sub(r"\s", "", payload)).decode("utf-8", "replace"), "hex"
        if nxt.name == "rev":
            return payload[::-1], "reversed"
        if nxt.name == "tr" and _is_rot13(nxt):
            return codecs.decode(payload, "rot13"), "rot13"
        if nxt.name in _SHELLS and not nxt.args:  # printf './xm%sig' r | sh: the output is the program
            return (_printf(echo) if echo.name == "printf" else " ".join(w.value for w in echo.args)), "pipe"
    except (binascii.Error, ValueError):
        return None
    return None


def _printf(cmd: shell.SimpleCommand) -> str:
    """What `printf FORMAT ARGS...` prints, for %s, %b, %c, %d and escapes (enough to rebuild a command)."""
    args = [w.value for w in cmd.args]
    if not args:
        return ""
    fmt, values = args[0], iter(args[1:])
    out = re.sub(r"%[-0-9.]*([sbcd%])", lambda m: "%" if m.group(1) == "%" else next(values, ""), fmt)
    return shell._ansi_c(out)


_ECHO_SUBSTITUTION = re.compile(
    r"""\$\(\s*(?:echo|printf\s+%s)\s+([^()`$;|&\n]*?)\s*\)|`\s*(?:echo|printf\s+%s)\s+([^`$;|&\n]*?)\s*`"""
)
_HERE_STRING = re.compile(r"""\b(sh|bash|zsh|dash|ksh|python3?)\s*<<<\s*((?:'[^']*'|"(?:[^"\\]|\\.)*"|\S+))""")


def _tr_set(spec: str) -> str:
    """The characters of a `tr` set such as `A-Za-z` (ranges expanded)."""
    out: list[str] = []
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-" and spec[i] <= spec[i + 2]:
            out.extend(chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            out.append(spec[i])
            i += 1
    return "".join(out)


_ROT13 = {c: codecs.encode(c, "rot13") for c in string.ascii_letters}


def _is_rot13(tr: shell.SimpleCommand) -> bool:
    """`tr 'A-Za-z' 'N-ZA-Mn-za-m'` in any of its spellings."""
    sets = [w.value for w in tr.args if not w.value.startswith("-")]
    if len(sets) != 2:
        return False
    source, target = _tr_set(sets[0]), _tr_set(sets[1])
    if len(source) != len(target) or not any(c.isalpha() for c in source):
        return False
    return all(_ROT13.get(a) == b for a, b in zip(source, target, strict=True))


# A focused cell whose kept statements do not parse on their own (a string or bracket opened
# outside them) is read whole when that is affordable; past this size the line-based fallback
# of `analyze` reads the kept statements instead.
WHOLE_RETRY_CHARS = 64 * 1024


def collect(
    code: str,
    language: str = "python",
    focus: list[int] | None = None,
    notes: list[str] | None = None,
    start: int = 0,
) -> list[Evidence]:
    """Evidence of a cell. With `focus` (offsets of its interesting places), only the
    statements around them and the variables they use are read (see `windows`). Reasons why
    part of the cell could not be read are appended to `notes`. `start`: where the cell
    begins after code that ran before it (a kernel's prelude)."""
    c = _collect(code, language, focus, start)
    if notes is not None and c[1].unreadable:
        notes.append(c[1].unreadable)
    return c[0]


def _collect(code: str, language: str, focus: list[int] | None, start: int) -> tuple[list[Evidence], Collector]:
    window, begin = None, 0
    if focus is not None:
        mode, begin = cell_body(code, language, start)
        if mode == "python" or mode == "shell":
            # a cell magic's header and all before it are kept as they are: the cell still
            # begins at `start` in the window's text
            window = focus_statements(code, focus, mode, begin)
    c = Collector()
    if window is None:
        c.collect(code, language, start=start)
        return c.items, c
    c.collect(window.text, language, start=start if begin else 0)
    if c.unparsed and len(code) <= WHOLE_RETRY_CHARS:
        c = Collector()
        c.collect(code, language, start=start)
        return c.items, c
    return _remap(c.items, window), c


def _remap(items: list[Evidence], window: Window) -> list[Evidence]:
    """Evidence found in a window's text, placed back in the cell."""
    runs = window.runs
    firsts = [t for t, _, _ in runs]
    table = Mapped(window.text, [Piece(t, t + n, c, c + n, True) for t, c, n in runs])

    def place(start: int, end: int) -> tuple[int, int, bool]:
        t, c, n = runs[max(bisect.bisect_right(firsts, start) - 1, 0)]
        if t <= start and end <= t + n:  # inside one run (nearly always): a shift
            return start - t + c, end - t + c, True
        return table.map(start, end)[:3]

    out = []
    for ev in items:
        start, end, exact = place(ev.start, ev.end)
        mapping, base = ev.mapping, ev.base
        if mapping is not None:
            pieces = []
            for p in mapping.pieces:
                cell_start, cell_end, inside = place(p.cell_start, p.cell_end)
                pieces.append(Piece(p.start, p.end, cell_start, cell_end, p.exact and inside, p.via))
            mapping = Mapped(mapping.text, pieces, mapping.via)
        elif ev.kind == "text" and ev.exact:  # its sub-spans map through the window's runs
            mapping, base, exact = table, ev.start, True
        out.append(
            Evidence(ev.kind, ev.value, ev.detail, start, end, ev.exact and exact, ev.via, ev.context, mapping, base)
        )
    return out
