"""The engine: a policy compiled once, then `evaluate(code, context) -> Verdict` per cell.

Two stages keep the common case cheap. A prefilter reads the cell in one RE2 set pass (a DFA:
its cost grows with the cell, not with the number of rules) holding every tool name the rules
mention, the handful of signs of hiding (`b64decode`, `exec(`, `chr(` ...), of a sink (`!`,
`subprocess`, `os.system` ...) and of assembly, and the operators' regexes. A cell with none
of those is allowed right there. For the rest, the places of those hits pick the statements
worth reading (see `windows`); only those are split, parsed and normalized into evidence,
which is looked up in per-kind indexes.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import ahocorasick
import re2

from . import spans
from .cell import SHELL_LANGUAGES, cell_body
from .evidence import Evidence, collect, join_continuations, line_around
from .loader import compile_re2, without_gc
from .model import (
    Action,
    CommandMatcher,
    DomainMatcher,
    LiteralMatcher,
    Matcher,
    PackageMatcher,
    Policy,
    RegexMatcher,
    RepoMatcher,
    Rule,
    UrlMatcher,
)
from .verdict import Match, RuleHit, Span, Verdict


@dataclass(frozen=True)
class EvaluationContext:
    """Who runs the code and in which language; rules may use it for exemptions."""

    language: str = "python"
    user: str | None = None
    groups: tuple[str, ...] = ()


def _is_word(ch: str) -> bool:
    return bool(ch) and (ch.isalnum() or ch == "_")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def normalize_text(code: str) -> str:
    """Text every reader can take: lone surrogates (which a JSON message can carry, and which no
    UTF-8 encoder accepts) become U+FFFD, one for one, so every offset stays where it was."""
    if code.isascii():
        return code
    return _LONE_SURROGATE.sub("\ufffd", code)


_TOKEN_STOP = frozenset(" \t\r\n;|&'\"`()<>{}[],")
_COMMAND_STOP = frozenset("\r\n;|&")
_TOKEN_KINDS = frozenset({"url", "domain", "repo", "package"})
_COMMENT = re.compile(r"(?:^|(?<=\s))#")


def _excused_unit(code: str, found: Found) -> str:
    """What an `unless` exception is read against: the URL / host / name around a match of
    those kinds, the command that matched, or the command (or statement) around a pattern —
    never the rest of the line, where a student can append whatever excuses it."""
    if found.matcher.kind == "command":
        return found.context or found.text
    start, end = found.start, found.end
    if not (0 <= start <= end <= len(code)):
        return found.text
    stop = _TOKEN_STOP if found.matcher.kind in _TOKEN_KINDS else _COMMAND_STOP
    low, high = max(0, start - 4096), min(len(code), end + 4096)
    while start > low and code[start - 1] not in stop:
        start -= 1
    while end < high and code[end] not in stop:
        end += 1
    comment = _COMMENT.search(code, found.end, end)  # `# not localhost, honest` excuses nothing
    return code[start : comment.start() if comment else end]


_TOOL_MATCHERS = frozenset({"command", "repo", "package"})


def _names_a_tool(hit: RuleHit) -> bool:
    return any(m.matcher in _TOOL_MATCHERS for m in hit.matches)


def normalize_package(name: str) -> str:
    """PEP 503 style: case and runs of -, _ and . do not distinguish package names."""
    return re.sub(r"[-_.]+", "-", name.lower())


class _Glob:
    """A name or URL pattern. `*` globs (all that names may use) match with string operations,
    which are cheaper to build and to run than regexes; `?` and `[...]` (URLs) use fnmatch."""

    __slots__ = ("parts", "regex")

    def __init__(self, pattern: str):
        pattern = pattern.lower()
        self.regex = re.compile(fnmatch.translate(pattern), re.I) if ("?" in pattern or "[" in pattern) else None
        self.parts = pattern.split("*")

    def match(self, text: str) -> bool:
        """Whole-string match of lowercase `text`."""
        if self.regex is not None:
            return self.regex.match(text) is not None
        parts = self.parts
        if len(parts) == 1:
            return text == parts[0]
        head, tail = parts[0], parts[-1]
        if len(text) < len(head) + len(tail) or not text.startswith(head) or not text.endswith(tail):
            return False
        pos, end = len(head), len(text) - len(tail)
        for middle in parts[1:-1]:
            found = text.find(middle, pos, end)
            if found < 0:
                return False
            pos = found + len(middle)
        return True


class _GlobIndex:
    """Globs filed under their longest literal run: one Aho-Corasick pass over a (short) name
    finds the few globs worth trying, however many the policy has."""

    def __init__(self) -> None:
        self.by_run: dict[str, list[tuple[_Glob, Any]]] = defaultdict(list)
        self.unanchored: list[tuple[_Glob, Any]] = []  # globs with no literal run
        self.automaton: Any = None

    def add(self, pattern: str, payload: Any) -> None:
        runs = sorted((run.lower() for run, _, _ in _literal_runs(pattern)), key=len, reverse=True)
        entry = (_Glob(pattern), payload)
        if runs:
            self.by_run[runs[0]].append(entry)
        else:
            self.unanchored.append(entry)

    def build(self) -> None:
        if self.by_run:
            self.automaton = ahocorasick.Automaton()
            for run in self.by_run:
                self.automaton.add_word(run, run)
            self.automaton.make_automaton()

    def matches(self, text: str) -> list[Any]:
        """Payloads of the globs that match `text`, case-insensitively."""
        text = text.lower()
        out = [payload for glob, payload in self.unanchored if glob.match(text)]
        if self.automaton is None:
            return out
        seen: set[str] = set()
        for _, run in self.automaton.iter(text):
            if run not in seen:
                seen.add(run)
                out.extend(payload for glob, payload in self.by_run[run] if glob.match(text))
        return out


_GLOB_WILDCARD = re.compile(r"\*|\?|\[[^\]]*\]")
_SHELL_GLOB = re.compile(r"\*|\?|\[[^\]]+\]")


def _literal_runs(glob: str) -> list[tuple[str, bool, bool]]:
    """The literal runs of a glob (between `*`, `?` and `[...]`), each with (needs left
    boundary, needs right boundary): the text the prefilter can look for."""
    if "*" not in glob and "?" not in glob and "[" not in glob:
        return [(glob, True, True)] if glob else []  # a plain name (most of them)
    parts = _GLOB_WILDCARD.split(glob)
    out = []
    for i, part in enumerate(parts):
        if part:
            out.append((part, i == 0, i == len(parts) - 1))
    return out


# What can make a cell match although no tool name appears in it. Three kinds, read in one
# RE2 set pass: ways to HIDE a name (decoding, char codes, reversal, concatenation of literals,
# escapes, exec/eval/dynamic imports), SINKS that run a string (a shell, subprocess, os.system),
# and ways to ASSEMBLE a string from parts (f-strings, .format, %-formatting, $var / {var}).
# A sink alone cannot run a name the cell never spells out, and assembly alone runs nothing;
# only the combination, or any hiding, needs the full analysis.
_HIDING_PATTERNS = (
    r"(?i:b64decode|b32decode|b16decode|b85decode|a85decode|decodebytes|fromhex|unhexlify|a2b_hex"
    r"|rot_?13|__import__|import_module|\bmarshal\b|(?:zlib|gzip|bz2|lzma)\.decompress)",
    r"\.translate\s*\(|\bmaketrans\b|\bvars\s*\(|__dict__\s*\[|\.__add__\s*\(",  # tables, sinks by name
    # a shell program word that is a glob or has braces: ./xmr*, ./[x]mrig, ./xm{r,}ig
    r"(?m:^[ \t]*!!?[ \t]*(?:[\w.~/-]*/)?[\w.-]*(?:\*|\[[^\]\s]+\]|\{[^}\s]*,[^}\s]*\})[\w.*-]*(?:\s|$))",
    r"(?m:^[ \t]*(?:-exec|-execdir)\b|\bfind\b[^\n]*-exec(?:dir)?\s+\{\})",
    r"\$\{[A-Za-z_]\w*(?:%|#|:-?\d|/)",  # ${t%X}, ${t:1}, ${t/a/b}: a name rebuilt by the shell
    # shell decoders and codec names; bare "base64"/"xxd" also occur by chance inside base64 data
    r"(?i:\bbase64\s+(?:-\w*[dD]|--decode)|[\"']base_?64[\"']|\bxxd\b|\bopenssl\s+(?:enc|base64))",
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
_WHOLE = -1  # in `places`: do not focus, read the whole cell
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
    rf"""[\w.]*\(\s*(?:{_LITERAL}|[\[(]\s*{_LITERAL}(?:\s*,\s*{_LITERAL})*\s*,?\s*[\])])\s*[,)]"""
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
    if isinstance(data, bytes):
        return [start for start, _ in spans.spans(find, data)]
    return [m.start() for m in pattern.finditer(data)]


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


MAX_MATCHES_PER_RULE = 20


class CompiledPolicy:
    """Indexes of a policy's matchers, built once per policy."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.rules = policy.rules
        self.needles: dict[str, frozenset[tuple[bool, bool]]] = {}  # lowercase name -> boundary rules
        self.needle_regex: Any = None
        self.content = ahocorasick.Automaton()  # literals and domains, searched in evidence text
        self.commands: dict[str, list[tuple[int, CommandMatcher, Any]]] = defaultdict(list)
        self.command_globs = _GlobIndex()  # payload: (rule index, matcher, args regex)
        self.command_samples: list[tuple[str, int, CommandMatcher, Any]] = []
        self.packages: dict[str, list[tuple[int, PackageMatcher]]] = defaultdict(list)
        self.package_globs = _GlobIndex()  # payload: (rule index, matcher)
        self.repos: dict[str, list[tuple[int, RepoMatcher, _Glob | None]]] = defaultdict(list)
        self.repo_globs = _GlobIndex()  # on the name; payload: (rule index, matcher, owner glob)
        self.repo_owner_globs = _GlobIndex()  # "owner/*": on the owner; payload: (rule index, matcher)
        self.urls = _GlobIndex()  # payload: (rule index, matcher)
        self.regexes: list[tuple[int, RegexMatcher, Any]] = []
        self.unless: dict[int, list[Any]] = {}
        self.regex_set: Any = None
        self.regexes_needed: dict[int, int] = {}  # rule index -> regex hits it needs (require > 1)
        needles: dict[str, set[tuple[bool, bool]]] = defaultdict(set)
        content: dict[str, list[tuple[int, Matcher]]] = defaultdict(list)

        def needle(text: str, left: bool = True, right: bool = True) -> None:
            needles[text.lower()].add((left, right))

        for idx, rule in enumerate(self.rules):
            if rule.unless:
                self.unless[idx] = [compile_re2(p) for p in rule.unless]
            for m in rule.matchers:
                if isinstance(m, CommandMatcher):
                    args = compile_re2(m.args) if m.args else None
                    if "*" in m.name:
                        self.command_globs.add(m.name, (idx, m, args))
                    else:
                        self.commands[m.name].append((idx, m, args))
                    # a name the command would have, for a glob the student types (`./xmr*`)
                    self.command_samples.append((m.name.replace("*", "").lower(), idx, m, args))
                    for run, lb, rb in _literal_runs(m.name):
                        needle(run, lb, rb)
                elif isinstance(m, PackageMatcher):
                    norm = normalize_package(m.name.replace("*", "\0")).replace("\0", "*")
                    if "*" in norm:
                        self.package_globs.add(norm, (idx, m))
                    else:
                        self.packages[norm].append((idx, m))
                    for run, lb, rb in _literal_runs(norm):
                        for sep in ("-", "_", "."):
                            needle(run.replace("-", sep), lb, rb)

                elif isinstance(m, RepoMatcher):
                    owner = None if m.owner == "*" else _Glob(m.owner)
                    if m.name == "*":
                        self.repo_owner_globs.add(m.owner, (idx, m))
                    elif "*" in m.name:
                        self.repo_globs.add(m.name, (idx, m, owner))
                    else:
                        self.repos[m.name].append((idx, m, owner))
                    runs = _literal_runs(m.name) or _literal_runs(m.owner)
                    for run, lb, rb in runs:
                        needle(run, lb, rb)
                elif isinstance(m, UrlMatcher):
                    self.urls.add(m.glob, (idx, m))
                    runs = sorted(_literal_runs(m.glob), key=lambda r: -len(r[0]))
                    needle(runs[0][0], False, False)
                elif isinstance(m, DomainMatcher):
                    content[m.domain].append((idx, m))
                    needle(m.domain, False, False)
                elif isinstance(m, LiteralMatcher):
                    content[m.text].append((idx, m))
                    needle(m.text, _is_word(m.text[0]), _is_word(m.text[-1]))
                elif isinstance(m, RegexMatcher):
                    self.regexes.append((idx, m, compile_re2(m.regex)))
            if rule.require > 1:
                # how many of its regexes must hit for the rule to hold, even if every other
                # matcher (a command, a package ...) did
                others = sum(not isinstance(m, RegexMatcher) for m in rule.matchers)
                self.regexes_needed[idx] = rule.require - others
        for index in (self.command_globs, self.package_globs, self.repo_globs, self.repo_owner_globs, self.urls):
            index.build()
        self.needles = {text: frozenset(bounds) for text, bounds in needles.items()}
        self.needle_regex = _needle_regex(self.needles)
        self._find_needle = spans.finder(self.needle_regex) if self.needle_regex is not None else None
        for text, entries in content.items():
            self.content.add_word(text, (text, entries))
        if content:
            self.content.make_automaton()
        if self.regexes:
            options = re2.Options()
            options.case_sensitive = False
            options.log_errors = False
            self.regex_set = re2.Set.SearchSet(options)
            for _, m, _ in self.regexes:
                self.regex_set.Add(m.regex)
            self.regex_set.Compile()
        self.regex_finders = [spans.finder(rx) for _, _, rx in self.regexes]
        self.scan, self.needle_slot, self.regex_base = _scan_set(
            self.needle_regex, [m.regex for _, m, _ in self.regexes]
        )

    # --- stage 1 ------------------------------------------------------------------------

    def worth_analyzing(self, code: str, places: list[int] | None = None, *, shell: bool = False) -> bool:
        """(anything to look at, whether Python needs a full parse).

        One RE2 set pass tells which of the tool names, signs of hiding, sinks, assembly and
        operator regexes occur at all; a cell with none is done. With `places`, every
        interesting offset is appended to it (for focusing the analysis on them). `shell`: the
        cell is a shell script, where quotes and backslashes inside a word (`xm''rig`,
        `x\\mrig`) hide a name; such names are looked for with those removed.
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
                worth = True
                if places is None:
                    return True
                places.append(start)
            if quoted:
                found: list[int] = []
                if self._dequoted_places(lower, found):
                    if places is None:
                        return True
                    worth = True
                    places.extend(found)
        if shell and "$" in code:
            # `$P$Q`, `${A}rig`: a name glued together from variables
            joins = _starts(_SHELL_JOIN, _FIND_JOIN, raw)
            if joins and places is None:
                return True
            worth = worth or bool(joins)
            if places is not None:
                places.extend(joins)
        if shell:
            # a shell script is all sinks, and `$HOME` is no assembly: its variables matter when
            # they are glued into a word (`$P$Q`, found above) or hold a name (a needle, above)
            kinds.discard(_SINK)
        if _HIDING in kinds or (_SINK in kinds and _ASSEMBLY in kinds):
            worth = True
            if places is None:
                return True
            if _HIDING in kinds:
                places.extend(_starts(_FOCUS_HIDING, _FIND_HIDING, raw))
            if _SINK in kinds and _ASSEMBLY in kinds:  # (a sink fed by hiding is followed from it)
                places.extend(_live_sinks(code, raw))
        if self.regex_set is not None:
            # operator regexes read commands continued over lines as one line, as the evidence does
            hits = [i - self.regex_base for i in matched if i >= self.regex_base]
            joined = join_continuations(code)
            if joined is not code and not hits:
                hits = self.regex_set.Match(joined) or []
            if hits and self.regexes_needed and not (_HIDING in kinds or (_SINK in kinds and _ASSEMBLY in kinds)):
                # with nothing decoded or assembled, the readers see the cell's own text: a rule
                # that needs more of its regexes than hit here cannot hold, so its hits are no
                # reason to read the cell (a `wget ... https://` line alone is no download-and-run)
                hits = self._possible(hits)
            if hits:
                if places is None:
                    return True
                worth = True
                for i in hits:
                    places.extend(itertools.islice(_starts(self.regexes[i][2], self.regex_finders[i], raw), 100))
                if joined is not code:
                    places.append(_WHOLE)  # positions in the joined text differ: analyze the whole cell
        return worth

    def _possible(self, hits: list[int]) -> list[int]:
        """The regex hits (indexes into `self.regexes`) of rules that could still hold."""
        needed = self.regexes_needed
        count: dict[int, int] = defaultdict(int)
        for i in set(hits):
            count[self.regexes[i][0]] += 1
        return [i for i in hits if count[self.regexes[i][0]] >= needed.get(self.regexes[i][0], 1)]

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
            if any(self._bounded(lower, start, end, lb, rb) for lb, rb in needles[name]):
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

    @staticmethod
    def _bounded(text: str, start: int, end: int, left: bool, right: bool) -> bool:
        if left and start > 0 and _is_word(text[start - 1]):
            return False
        if right and end < len(text) and _is_word(text[end]):
            return False
        return True

    # --- stage 2 ------------------------------------------------------------------------

    def match(self, items: Iterable[Evidence]) -> dict[int, list[Found]]:
        """rule index -> every place one of its matchers matched."""
        found: dict[int, list[Found]] = defaultdict(list)
        for ev in items:
            if ev.kind == "command":
                self._commands(ev, found)
            elif ev.kind == "package":
                self._packages(ev, found)
            elif ev.kind == "repo":
                self._repos(ev, found)
            elif ev.kind == "url":
                for idx, um in self.urls.matches(ev.value):
                    found[idx].append(Found.whole(um, ev, ev.value))
            elif ev.kind == "text":
                self._text(ev, found)
        return found

    def _commands(self, ev: Evidence, found: dict[int, list[Found]]) -> None:
        name = ev.value.lower()
        candidates = [(idx, m, args) for idx, m, args in self.commands.get(name, ())]
        candidates += self.command_globs.matches(name)
        if _SHELL_GLOB.search(name) and len(_SHELL_GLOB.sub("", name)) >= 3:
            # the program is a glob (`./xmr*`, `./[x]mrig`): whatever it expands to runs; a glob
            # with fewer than three literal characters says too little to name a tool
            glob = _Glob(name)
            candidates += [(idx, m, args) for sample, idx, m, args in self.command_samples if glob.match(sample)]
        for idx, m, args in candidates:
            if args is None or args.search(ev.detail):
                found[idx].append(Found.whole(m, ev, f"{ev.value} {ev.detail}".strip()))

    def _packages(self, ev: Evidence, found: dict[int, list[Found]]) -> None:
        names = {normalize_package(ev.value)}
        if ev.detail == "import":
            names.add(normalize_package(ev.value.split(".")[0]))
        for name in names:
            candidates = list(self.packages.get(name, ()))
            candidates += self.package_globs.matches(name)
            for idx, m in candidates:
                if ev.detail in m.via:
                    found[idx].append(Found.whole(m, ev, f"{ev.detail}: {ev.value}"))

    def _repos(self, ev: Evidence, found: dict[int, list[Found]]) -> None:
        owner, _, name = ev.value.partition("/")
        candidates = list(self.repos.get(name, ())) + self.repo_globs.matches(name)
        candidates += [(idx, m, None) for idx, m in self.repo_owner_globs.matches(owner)]
        for idx, m, owner_glob in candidates:
            if (owner_glob is None or owner_glob.match(owner)) and (m.host is None or m.host == ev.detail):
                found[idx].append(Found.whole(m, ev, f"{ev.detail}/{ev.value}"))

    def _text(self, ev: Evidence, found: dict[int, list[Found]]) -> None:
        text = ev.value
        lower = text.lower()
        if len(self.content):
            for end, (needle, entries) in self.content.iter(lower):
                start = end - len(needle) + 1
                for idx, m in entries:
                    if isinstance(m, DomainMatcher):
                        ok = _domain_bounded(lower, start, end + 1)
                    else:
                        ok = self._bounded(lower, start, end + 1, _is_word(needle[0]), _is_word(needle[-1]))
                    if ok:
                        found[idx].append(Found.inside(m, ev, start, end + 1))
        if self.regex_set is not None:
            data: str | bytes = text.encode() if text.isascii() else text  # encoded once, not per call
            for i in self.regex_set.Match(data) or ():
                idx, m, rx = self.regexes[i]
                where = (
                    spans.spans(self.regex_finders[i], data)
                    if isinstance(data, bytes)
                    else (mo.span() for mo in rx.finditer(text))
                )
                for start, end in where:  # the first non-empty match
                    if end > start:
                        found[idx].append(Found.inside(m, ev, start, end))
                        break


@dataclass(frozen=True)
class Found:
    """One matcher matching one piece of evidence, placed in the cell."""

    matcher: Matcher
    start: int  # span in the cell
    end: int
    exact: bool
    text: str  # the normalized text that matched
    context: str  # the normalized line or command around it (what `unless` reads)
    via: tuple[str, ...]

    @classmethod
    def whole(cls, matcher: Matcher, ev: Evidence, text: str) -> Found:
        return cls(matcher, ev.start, ev.end, ev.exact, text, ev.context, ev.via)

    @classmethod
    def inside(cls, matcher: Matcher, ev: Evidence, start: int, end: int) -> Found:
        """A match of `ev.value[start:end]` (text evidence): mapped back to the cell."""
        cell_start, cell_end, exact, extra = ev.locate(start, end)
        via = ev.via + tuple(v for v in extra if v not in ev.via)
        return cls(matcher, cell_start, cell_end, exact, ev.value[start:end], line_around(ev.value, start, end), via)


def _domain_bounded(text: str, start: int, end: int) -> bool:
    if start > 0 and (_is_word(text[start - 1]) or text[start - 1] == "-"):
        return False
    if end < len(text):
        ch = text[end]
        if _is_word(ch) or ch == "-":
            return False
        if ch == "." and end + 1 < len(text) and _is_word(text[end + 1]):
            return False
    return True


class Engine:
    """Evaluates cells against one policy. Thread-safe for reads; build a new one to reload."""

    def __init__(self, policy: Policy, *, max_chars: int | None = None, focus: bool = True):
        self.policy = policy
        with without_gc():  # tens of thousands of index entries, none of them in a cycle
            self.compiled = CompiledPolicy(policy)
        self.max_chars = max_chars
        self.focus = focus  # False: read every deep cell whole (the reference for tests)

    def needs_analysis(self, code: str, context: EvaluationContext | None = None) -> bool:
        """Whether `evaluate` reads this cell beyond the prefilter (the deep path)."""
        language = (context or EvaluationContext()).language
        if language in SHELL_LANGUAGES:
            return True
        return self.compiled.worth_analyzing(code, shell=cell_body(code, language)[0] == "shell")

    def evaluate(
        self,
        code: str,
        context: EvaluationContext | None = None,
        *,
        deadline: float | None = None,
        prelude: str = "",
    ) -> Verdict:
        """The verdict on one piece of code. Never raises on what a client can send: text the
        readers cannot take (lone surrogates) is normalised first, and a cell that cannot be read
        to the end (a folding budget, `deadline` — a time.monotonic() value — passed) comes back
        with `unreadable` set beside whatever matched in what was read.

        `prelude` is code that ran before (earlier cells' assignments, see `memory.py`): read
        with the cell, so a name set there resolves here, but only what matches in `code` counts,
        and spans count from `code`'s own start."""
        started = time.perf_counter()
        context = context or EvaluationContext()
        truncated = False
        code = normalize_text(code)
        if self.max_chars is not None and len(code) > self.max_chars:
            code, truncated = code[: self.max_chars], True
        if prelude:
            prelude = normalize_text(prelude).rstrip("\n") + "\n"
            code = prelude + code
        # every cell is read around its interesting places only (see `windows`)
        places: list[int] = []
        shell_cell = cell_body(code, context.language)[0] == "shell"
        worth = self.compiled.worth_analyzing(code, places, shell=shell_cell)
        if context.language in SHELL_LANGUAGES:
            worth = True  # every line of a shell script runs something: never skip one
        if not worth:
            return Verdict(Action.ALLOW, (), (time.perf_counter() - started) * 1000, truncated)
        # read around its places (windows.py reads it whole when that would keep most of it)
        focused = self.focus and _WHOLE not in places
        focus: list[int] | None = places if focused else None
        notes: list[str] = []
        items = collect(code, context.language, focus=focus, notes=notes)
        if deadline is not None and time.monotonic() > deadline:
            notes.append("the check ran out of time")
        found = self.compiled.match(items)
        hits = self._hits(code, found, len(prelude))
        action = max((h.rule.action for h in hits), default=Action.ALLOW)
        elapsed = (time.perf_counter() - started) * 1000
        return Verdict(action, hits, elapsed, truncated, notes[0] if notes else None)

    def _hits(self, code: str, found: dict[int, list[Found]], skip: int = 0) -> tuple[RuleHit, ...]:
        """Hits from what the readers found; matches in the first `skip` characters (a
        prelude) are left out, and spans count from there."""
        if not found:
            return ()

        def span(start: int, end: int) -> Span:
            # counted per match (C-level), not a table of every line: big cells have few matches
            line = code.count("\n", skip, start) + 1
            end_line = line + code.count("\n", start, max(start, end - 1))
            line_start = max(code.rfind("\n", 0, start) + 1, skip)
            end_line_start = code.rfind("\n", 0, max(start, end - 1)) + 1 if end_line != line else line_start
            return Span(start - skip, end - skip, line, start - line_start, end_line, end - end_line_start)

        hits = []
        for idx in sorted(found):
            rule: Rule = self.compiled.rules[idx]
            unless = self.compiled.unless.get(idx, ())
            matches: dict[tuple[int, int, str], Match] = {}
            held: set[int] = set()  # which of the rule's matchers hold (by identity), for `require`
            for f in found[idx]:
                if f.start < skip:
                    continue  # it matched in code that ran before, and was judged then
                # an exception excuses the match itself (its command, URL or statement), never
                # text a student can append beside it on the same line
                if unless and any(u.search(_excused_unit(code, f)) for u in unless):
                    continue
                held.add(id(f.matcher))
                key = (f.start, f.end, f.matcher.kind)
                if key not in matches:
                    matches[key] = Match(
                        f.matcher.kind, f.matcher.pattern, f.text[:300], span(f.start, f.end), f.via, f.exact
                    )
            if matches and len(held) >= rule.require:
                ordered = sorted(matches.values(), key=lambda mt: (not mt.exact, mt.span.start))
                # a cell repeating a name thousands of times must not make a huge verdict
                hits.append(RuleHit(rule, tuple(ordered[:MAX_MATCHES_PER_RULE])))
        # strongest first; among equals, the rule that names the tool (a command, a repository,
        # a package) before those that only see signs of it (a pool's domain, a URL)
        hits.sort(key=lambda h: (-h.rule.action, -h.rule.severity, not _names_a_tool(h), h.rule.id))
        return tuple(hits)
