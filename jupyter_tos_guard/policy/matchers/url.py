"""`url: GLOB`: a URL the cell uses (`stratum+tcp://*`, `https://example.com/x/*.sh`, `magnet:?*`),
matched whole with `*`, `?` and `[...]` wildcards."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import yaml

from ..evidence import Evidence
from ..indexes import GlobIndex, TextWords, literal_runs
from ..matching import Found, FoundMap
from ..nodes import NodeReader
from .base import Index, Kind, Needle


@dataclass(frozen=True)
class UrlMatcher:
    glob: str
    kind: Literal["url"] = "url"

    @property
    def pattern(self) -> str:
        return self.glob


_WILDCARDS = re.compile(r"\*|\?|\[[^\]]*\]")


class UrlIndex(Index[UrlMatcher]):
    evidence = ("url",)

    def __init__(self) -> None:
        self.globs = GlobIndex()  # payload: (rule index, matcher)

    def add(self, rule: int, matcher: UrlMatcher) -> None:
        self.globs.add(matcher.glob, (rule, matcher))

    def build(self) -> None:
        self.globs.build()

    def match(self, ev: Evidence, found: FoundMap) -> None:
        for idx, um in self.globs.matches(ev.value):
            found[idx].append(Found.whole(um, ev, ev.value))


class UrlKind(Kind[UrlMatcher]):
    name = "url"
    unless_reads = "token"

    def parse(self, reader: NodeReader, node: yaml.Node) -> UrlMatcher | None:
        text = reader.string(node, "the url matcher")
        if text is None:
            return None
        if "://" not in text and not text.lower().startswith(("magnet:", "*")):
            reader.problem(node, f"url {text!r} needs a scheme (https://, stratum+tcp://, magnet:?...) or a leading *")
            return None
        if max((len(run) for run in _WILDCARDS.split(text)), default=0) < 3:
            reader.problem(
                node, f"url {text!r} needs at least 3 characters written out (not wildcards) to identify a tool"
            )
            return None
        return UrlMatcher(text.lower())

    def needles(self, matcher: UrlMatcher) -> Iterable[Needle]:
        # its longest written run, wherever it stands (a URL is no word of its own)
        runs = sorted(literal_runs(matcher.glob), key=lambda r: -len(r[0]))
        return [(runs[0][0], False, False)]

    def index(self, words: TextWords) -> UrlIndex:
        return UrlIndex()


KIND = UrlKind()
