"""Indexes the matcher kinds file their matchers in, so that looking up a piece of evidence
costs about the same with 10 rules as with 10,000.

`GlobIndex` finds the name and URL globs worth trying for a name; `TextWords` is one
Aho-Corasick automaton over text evidence shared by every kind that looks for fixed words
(literals, domains), so each text is walked once whatever the number of such kinds.
"""

from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import ahocorasick

from .evidence import Evidence
from .matching import Found, FoundMap, Matcher


def is_word(ch: str) -> bool:
    return bool(ch) and (ch.isalnum() or ch == "_")


def bounded(text: str, start: int, end: int, left: bool, right: bool) -> bool:
    """Whether text[start:end] stands alone on the sides that need it (`left`, `right`)."""
    if left and start > 0 and is_word(text[start - 1]):
        return False
    if right and end < len(text) and is_word(text[end]):
        return False
    return True


class Glob:
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


_GLOB_WILDCARD = re.compile(r"\*|\?|\[[^\]]*\]")


def literal_runs(glob: str) -> list[tuple[str, bool, bool]]:
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


class GlobIndex:
    """Globs filed under their longest literal run: one Aho-Corasick pass over a (short) name
    finds the few globs worth trying, however many the policy has."""

    def __init__(self) -> None:
        self.by_run: dict[str, list[tuple[Glob, Any]]] = defaultdict(list)
        self.unanchored: list[tuple[Glob, Any]] = []  # globs with no literal run
        self.automaton: Any = None

    def add(self, pattern: str, payload: Any) -> None:
        runs = sorted((run.lower() for run, _, _ in literal_runs(pattern)), key=len, reverse=True)
        entry = (Glob(pattern), payload)
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


# (lowercase text, start, end) -> whether the word found there counts (its boundary rule)
Accept = Callable[[str, int, int], bool]


class TextWords:
    """Fixed words searched in text evidence, each with its rule, matcher and boundary rule."""

    evidence = ("text",)

    def __init__(self) -> None:
        self.words: dict[str, list[tuple[int, Matcher, Accept]]] = defaultdict(list)
        self.automaton = ahocorasick.Automaton()

    def add(self, word: str, rule: int, matcher: Matcher, accept: Accept) -> None:
        """`word` lowercase; `accept` says whether a place where it occurs counts."""
        self.words[word].append((rule, matcher, accept))

    def build(self) -> None:
        for word, entries in self.words.items():
            self.automaton.add_word(word, (word, entries))
        if self.words:
            self.automaton.make_automaton()

    def __bool__(self) -> bool:
        return bool(self.words)

    def match(self, ev: Evidence, found: FoundMap) -> None:
        lower = ev.value.lower()
        for end, (word, entries) in self.automaton.iter(lower):
            start = end - len(word) + 1
            for rule, matcher, accept in entries:
                if accept(lower, start, end + 1):
                    found[rule].append(Found.inside(matcher, ev, start, end + 1))
