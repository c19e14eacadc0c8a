"""The matcher kinds, one module each: its dataclass, its YAML form, its needles for the
prefilter, its index and its matching. `KINDS` is the registry the loader, the prefilter and
the evaluation read; adding a kind is a module here and a line in `_BUILT_IN`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from . import behaviour, command, domain, literal, package, regex, repo, url
from .base import Excuse, Index, Kind, Needle, check_name_glob, is_name_glob


class Registry:
    """Matcher kinds by YAML key, in the order they are listed to operators."""

    def __init__(self, kinds: tuple[Kind[Any], ...] = ()) -> None:
        self._kinds: dict[str, Kind[Any]] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: Kind[Any]) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"a matcher kind named {kind.name!r} is already registered")
        self._kinds[kind.name] = kind

    def unregister(self, name: str) -> None:
        del self._kinds[name]

    @contextlib.contextmanager
    def registered(self, kind: Kind[Any]) -> Iterator[Kind[Any]]:
        """`kind` in the registry for the duration of a `with` block (tests, experiments)."""
        self.register(kind)
        try:
            yield kind
        finally:
            self.unregister(kind.name)

    def names(self) -> tuple[str, ...]:
        return tuple(self._kinds)

    def __getitem__(self, name: str) -> Kind[Any]:
        return self._kinds[name]

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[Kind[Any]]:
        return iter(tuple(self._kinds.values()))


_BUILT_IN: tuple[Kind[Any], ...] = (
    repo.KIND,
    package.KIND,
    command.KIND,
    url.KIND,
    domain.KIND,
    regex.KIND,
    literal.KIND,
    behaviour.KIND,
)
KINDS = Registry(_BUILT_IN)

__all__ = ["KINDS", "Excuse", "Index", "Kind", "Needle", "Registry", "check_name_glob", "is_name_glob"]
