"""`regex: PATTERN`: an RE2 pattern (case-insensitive, linear time) over the cell's text and
what the readers rebuilt of it (decoded strings, joined lines, assembled commands)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import re2
import yaml

from .. import spans
from ..evidence import Evidence
from ..indexes import TextWords
from ..matching import Found, FoundMap
from ..nodes import NodeReader
from ..patterns import compile_re2, re2_problem
from .base import Index, Kind


@dataclass(frozen=True)
class RegexMatcher:
    regex: str
    kind: Literal["regex"] = "regex"

    @property
    def pattern(self) -> str:
        return self.regex


class RegexIndex(Index[RegexMatcher]):
    """Every pattern in one RE2 set: one pass tells which match a text, and only those are
    searched again for where."""

    evidence = ("text",)

    def __init__(self) -> None:
        self.entries: list[tuple[int, RegexMatcher, Any]] = []
        self.finders: list[spans.Finder] = []
        self.set: Any = None

    def add(self, rule: int, matcher: RegexMatcher) -> None:
        compiled = compile_re2(matcher.regex)
        self.entries.append((rule, matcher, compiled))
        self.finders.append(spans.finder(compiled))

    def build(self) -> None:
        if not self.entries:
            return
        options = re2.Options()
        options.case_sensitive = False
        options.log_errors = False
        self.set = re2.Set.SearchSet(options)
        for _, m, _ in self.entries:
            self.set.Add(m.regex)
        self.set.Compile()

    def match(self, ev: Evidence, found: FoundMap) -> None:
        if self.set is None:
            return
        text = ev.value
        data: str | bytes = text.encode() if text.isascii() else text  # encoded once, not per call
        for i in self.set.Match(data) or ():
            idx, m, rx = self.entries[i]
            where = (
                spans.spans(self.finders[i], data)
                if isinstance(data, bytes)
                else (mo.span() for mo in rx.finditer(text))
            )
            for start, end in where:  # the first non-empty match
                if end > start:
                    found[idx].append(Found.inside(m, ev, start, end))
                    break


class RegexKind(Kind[RegexMatcher]):
    name = "regex"

    def parse(self, reader: NodeReader, node: yaml.Node) -> RegexMatcher | None:
        text = reader.string(node, "the regex matcher")
        if text is None:
            return None
        why = re2_problem(text)
        if why:
            reader.problem(node, why)
            return None
        if compile_re2(text).search("") is not None:
            reader.problem(node, f"pattern {text!r} matches empty text and would fire on every cell")
            return None
        return RegexMatcher(text)

    def patterns(self, matcher: RegexMatcher) -> Iterable[str]:
        return [matcher.regex]

    def index(self, words: TextWords) -> RegexIndex:
        return RegexIndex()


KIND = RegexKind()
