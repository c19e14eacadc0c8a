"""`literal: TEXT`: fixed text anywhere in the cell's text, case-insensitively; an edge that is
a letter, digit or `_` must not continue a longer word."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import yaml

from ..indexes import TextWords, bounded, is_word
from ..nodes import NodeReader
from .base import Index, Kind, Needle


@dataclass(frozen=True)
class LiteralMatcher:
    text: str
    kind: Literal["literal"] = "literal"

    @property
    def pattern(self) -> str:
        return self.text


def _edges(text: str) -> tuple[bool, bool]:
    """Which of its edges must stand alone: those that are word characters."""
    return is_word(text[0]), is_word(text[-1])


class LiteralIndex(Index[LiteralMatcher]):
    """Files literals in the shared text words (one walk over each text for all fixed words)."""

    def __init__(self, words: TextWords) -> None:
        self.words = words

    def add(self, rule: int, matcher: LiteralMatcher) -> None:
        left, right = _edges(matcher.text)
        self.words.add(matcher.text, rule, matcher, functools.partial(bounded, left=left, right=right))


class LiteralKind(Kind[LiteralMatcher]):
    name = "literal"

    def parse(self, reader: NodeReader, node: yaml.Node) -> LiteralMatcher | None:
        text = reader.string(node, "the literal matcher")
        if text is None:
            return None
        if len(text.strip()) < 3:
            reader.problem(node, f"literal {text!r} is too short to identify a tool")
            return None
        return LiteralMatcher(text.lower())

    def needles(self, matcher: LiteralMatcher) -> Iterable[Needle]:
        return [(matcher.text, *_edges(matcher.text))]

    def index(self, words: TextWords) -> LiteralIndex:
        return LiteralIndex(words)


KIND = LiteralKind()
