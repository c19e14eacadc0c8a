"""Turn a cell into evidence: the commands, packages, repositories, URLs and code text it holds.

Every piece of evidence keeps the span of the cell it came from. Evidence read straight from
the cell is `exact`; evidence that had to be computed (a decoded string, a `{var}` expansion,
code handed to `exec`) points at the source it was computed from and says how (`via`).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Literal

from . import shell
from .cell import split_cell
from .python import Derived, PythonFacts, analyze, strip_comments

EvidenceKind = Literal["command", "package", "repo", "url", "text"]
MAX_DEPTH = 3  # exec inside exec inside a shell ... deeper than this is not followed


@dataclass(frozen=True)
class Evidence:
    kind: EvidenceKind
    value: str  # command basename, package name, "owner/name", URL, or a run of code text
    detail: str  # command arguments, package source, repository host
    start: int  # span in the original cell
    end: int
    exact: bool
    via: tuple[str, ...]
    context: str  # the line or command it sits in (for `unless` and excerpts)


_URL = re.compile(r"""(?i)(?<![\w+.-])(?:[a-z][a-z0-9+.-]{0,20}://|magnet:\?)[^\s'"<>`\\{}|^]+""")
_REPO = re.compile(
    r"""(?ix)(?<![\w.-])(?:www\.)?
    (github\.com|gitlab\.com|huggingface\.co|hf\.co|bitbucket\.org|codeberg\.org|gitee\.com
     |raw\.githubusercontent\.com|codeload\.github\.com|gist\.github\.com|objects\.githubusercontent\.com)
    (?::|/)+(?:(?:spaces|datasets|models)/)?
    ([\w.-]+)/([\w.-]+)"""
)
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
_SHELL_EXPANSION = re.compile(r"\{([A-Za-z_]\w*)\}|\$\{?([A-Za-z_]\w*)\}?")
_B64_PIPE = re.compile(r"(?:base64|openssl)\b.*(?:-d\b|--decode|-D\b)")
_SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "fish"}


def _line_around(text: str, start: int, end: int) -> str:
    a = text.rfind("\n", 0, start) + 1
    b = text.find("\n", end)
    return text[a : b if b >= 0 else len(text)].strip()


class Collector:
    """Collects evidence from one cell (and, recursively, from code it runs)."""

    def __init__(self, code: str, need_python: bool = True):
        self.code = code
        self.need_python = need_python
        self.items: list[Evidence] = []

    # Positions: at top level offsets are the cell's; nested (decoded) code maps everything to
    # the span of the source it was decoded from.
    def add(self, kind: EvidenceKind, value: str, detail: str, start: int, end: int, context: str,
            origin: Derived | None, via: tuple[str, ...] = ()) -> None:
        if origin is None:
            self.items.append(Evidence(kind, value, detail, start, end, True, via, context))
        else:
            self.items.append(Evidence(kind, value, detail, origin.start, origin.end, False, origin.via + via, context))

    def collect(self, code: str, language: str = "python", origin: Derived | None = None, depth: int = 0) -> None:
        split = split_cell(code, language)
        facts: PythonFacts | None = None
        if split.has_python and (self.need_python or origin is not None):
            facts = analyze(split.python)
            self.python_facts(facts, code, origin, depth)
        if split.has_python:
            clean = strip_comments(split.python)
            self.text(clean, 0, len(clean), origin, ("python",), code)
            for m in _HF_REPO_ID.finditer(clean):
                self.add("repo", m.group(2).lower(), "huggingface.co", m.start(2), m.end(2),
                         _line_around(code, m.start(), m.end()), origin)
        for seg in split.segments:
            text = code[seg.start : seg.end]
            if seg.kind == "shell":
                expanded = self.expand(text, seg.start, facts)
                if expanded != text:
                    sub = Derived(expanded, seg.start, seg.end, ("expanded",))
                    self.shell(expanded, 0, sub if origin is None else origin, depth, seg.via)
                else:
                    self.shell(text, seg.start, origin, depth, seg.via)
            else:
                self.text(text, seg.start, seg.end, origin, seg.via, code)

    def expand(self, text: str, offset: int, facts: PythonFacts | None) -> str:
        if facts is None or not facts.env or ("{" not in text and "$" not in text):
            return text

        def value(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(2)
            best = None
            for at, v in facts.env.get(name, ()):
                if at < offset:
                    best = v
            return best if best is not None else m.group(0)

        return _SHELL_EXPANSION.sub(value, text)

    def python_facts(self, facts: PythonFacts, code: str, origin: Derived | None, depth: int) -> None:
        for name, start, end in facts.imports:
            self.add("package", name, "import", start, end, _line_around(code, start, end), origin)
        for d in facts.shell:
            self.shell_derived(d, origin, depth)
        for words, start, end in facts.argv:
            self.argv(words, start, end, code, origin, depth)
        for d in facts.strings:
            self.derived_text(d, origin)
        if depth < MAX_DEPTH:
            for d in facts.executed:
                nested = d if origin is None else Derived(d.value, origin.start, origin.end, origin.via + d.via)
                self.collect(d.value, "python", nested, depth + 1)

    def derived_text(self, d: Derived, origin: Derived | None) -> None:
        if d.exact and origin is None:
            self.text(d.value, d.start, d.end, None, (), self.code)
        else:
            self.text(d.value, 0, len(d.value), d if origin is None else origin, (), d.value)

    def shell_derived(self, d: Derived, origin: Derived | None, depth: int) -> None:
        if d.exact and origin is None:
            self.shell(d.value, d.start, None, depth, d.via + ("shell",))
        else:
            self.shell(d.value, 0, d if origin is None else origin, depth, ("shell",))

    def argv(self, words: list[Derived], start: int, end: int, code: str, origin: Derived | None, depth: int) -> None:
        head = words[0].value.strip()
        if len(words) >= 3 and head.rsplit("/", 1)[-1] in _SHELLS and words[1].value == "-c":
            self.shell_derived(words[2], origin, depth)
            return
        if len(words) == 1:  # Popen("cmd args", shell=True) written as a one-item list
            self.shell_derived(words[0], origin, depth)
            return
        joined = " ".join(shell_quote(w.value) for w in words)
        self.shell(joined, 0, Derived(joined, start, end, ("subprocess",)) if origin is None else origin, depth, ())
        for w in words:
            self.derived_text(w, origin)

    def shell(self, text: str, offset: int, origin: Derived | None, depth: int, via: tuple[str, ...]) -> None:
        """Commands, installs and decoded pipelines in a shell text starting at `offset`."""
        self.text(text, offset, offset + len(text), origin, via, text if origin else self.code)
        commands = shell.simple_commands(text)
        for i, cmd in enumerate(commands):
            context = text[cmd.start : cmd.end]
            self.add("command", cmd.name, cmd.arg_text, offset + cmd.start, offset + cmd.end, context, origin, via)
            for inst in shell.installs(cmd):
                self.add("package", inst.name, inst.source, offset + inst.word.start, offset + inst.word.end,
                         context, origin, via)
            if depth >= MAX_DEPTH:
                continue
            values = [w.value for w in cmd.args]
            if cmd.name in _SHELLS and "-c" in values and values.index("-c") + 1 < len(values):
                w = cmd.args[values.index("-c") + 1]
                inner = Derived(w.value, offset + w.start, offset + w.end, ("sh -c",))
                exact = origin is None and text[w.start : w.end] == w.value
                self.shell(w.value, offset + w.start if exact else 0, None if exact else (origin or inner), depth + 1, via)
            if cmd.name in ("tmux", "su", "runuser") and cmd.args:
                # tmux new-session -d "cmd" / su -c "cmd" user: a shell command as an argument
                w = next((a for a in reversed(cmd.args) if " " in a.value), None)
                if w is not None:
                    exact = origin is None and text[w.start : w.end].strip("'\"") == w.value
                    inner = Derived(w.value, offset + w.start, offset + w.end, (cmd.name,))
                    self.shell(w.value, offset + w.start + (1 if exact and text[w.start] in "'\"" else 0) if exact else 0,
                               None if exact else (origin or inner), depth + 1, via)
            if cmd.name in ("python", "python3") and "-c" in values and values.index("-c") + 1 < len(values):
                w = cmd.args[values.index("-c") + 1]
                self.collect(w.value, "python", origin or Derived(w.value, offset + w.start, offset + w.end, ("python -c",)), depth + 1)
            if cmd.name in ("echo", "printf") and i + 1 < len(commands):
                decoded = _decode_pipeline(cmd, commands[i + 1 :])
                if decoded:
                    src = origin or Derived(decoded[0], offset + cmd.start, offset + commands[-1].end, (decoded[1],))
                    self.shell(decoded[0], 0, src, depth + 1, ())
                    self.collect(decoded[0], "python", src, depth + 1)

    def text(self, text: str, start: int, end: int, origin: Derived | None, via: tuple[str, ...], context_src: str) -> None:
        if not text.strip():
            return
        self.add("text", text, "", start, end, "", origin, via)
        for m in _URL.finditer(text):
            url = m.group(0).rstrip(".,;:)]")
            self.add("url", url, "", start + m.start(), start + m.start() + len(url),
                     _line_around(text, m.start(), m.end()), origin, via)
        for m in _REPO.finditer(text):
            host = m.group(1).lower()
            name = m.group(3)
            if name.lower().endswith(".git"):
                name = name[:-4]
            self.add("repo", f"{m.group(2)}/{name}".lower(), _HOST_ALIASES.get(host, host),
                     start + m.start(), start + m.end(), _line_around(text, m.start(), m.end()), origin, via)


def shell_quote(value: str) -> str:
    return value if value and not re.search(r"[\s'\"\\$`]", value) else "'" + value.replace("'", "'\\''") + "'"


def _decode_pipeline(echo: shell.SimpleCommand, rest: list[shell.SimpleCommand]) -> tuple[str, str] | None:
    """`echo <b64> | base64 -d | sh` and `echo <hex> | xxd -r -p | bash`: what would run."""
    if not rest or not echo.args:
        return None
    payload = "".join(w.value for w in echo.args if not w.value.startswith("-"))
    nxt = rest[0]
    try:
        if nxt.name in ("base64", "openssl") and _B64_PIPE.search(f"{nxt.name} {nxt.arg_text}"):
            return base64.b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8", "replace"), "base64"
        if nxt.name == "xxd" and "-r" in nxt.arg_text:
            return binascii.unhexlify(re.sub(r"\s", "", payload)).decode("utf-8", "replace"), "hex"
        if nxt.name == "rev":
            return payload[::-1], "reversed"
        if nxt.name == "tr" and "a-zA-Z" in nxt.arg_text and "n-za-mN-ZA-M" in nxt.arg_text:
            import codecs

            return codecs.decode(payload, "rot13"), "rot13"
    except (binascii.Error, ValueError):
        return None
    return None


def collect(code: str, language: str = "python", need_python: bool = True) -> list[Evidence]:
    c = Collector(code, need_python)
    c.collect(code, language)
    return c.items
