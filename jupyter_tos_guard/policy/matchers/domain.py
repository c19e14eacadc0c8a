"""`domain: HOST`: a host name anywhere in the cell's text (a mining pool, a tunnel provider),
itself or any subdomain of it, never as part of a longer name."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import yaml

from ..indexes import TextWords, is_word
from ..nodes import NodeReader
from .base import Index, Kind, Needle


@dataclass(frozen=True)
class DomainMatcher:
    domain: str
    kind: Literal["domain"] = "domain"

    @property
    def pattern(self) -> str:
        return self.domain


_DOMAIN_RE = re.compile(r"^(?:[a-z0-9-]+\.)+[a-z0-9-]+$")


def domain_bounded(text: str, start: int, end: int) -> bool:
    """`pool.example.com` in `eu.pool.example.com:3333`, not in `mypool.example.com` nor in
    `pool.example.community`."""
    if start > 0 and (is_word(text[start - 1]) or text[start - 1] == "-"):
        return False
    if end < len(text):
        ch = text[end]
        if is_word(ch) or ch == "-":
            return False
        if ch == "." and end + 1 < len(text) and is_word(text[end + 1]):
            return False
    return True


class DomainIndex(Index[DomainMatcher]):
    """Files domains in the shared text words (one walk over each text for all fixed words)."""

    def __init__(self, words: TextWords) -> None:
        self.words = words

    def add(self, rule: int, matcher: DomainMatcher) -> None:
        self.words.add(matcher.domain, rule, matcher, domain_bounded)


class DomainKind(Kind[DomainMatcher]):
    name = "domain"
    unless_reads = "token"

    def parse(self, reader: NodeReader, node: yaml.Node) -> DomainMatcher | None:
        text = reader.string(node, "the domain matcher")
        if text is None:
            return None
        domain = text.lower().strip(".")
        if not _DOMAIN_RE.match(domain):
            reader.problem(node, f"domain {text!r} is not a host name such as pool.example.com")
            return None
        return DomainMatcher(domain)

    def needles(self, matcher: DomainMatcher) -> Iterable[Needle]:
        return [(matcher.domain, False, False)]

    def index(self, words: TextWords) -> DomainIndex:
        return DomainIndex(words)


KIND = DomainKind()
