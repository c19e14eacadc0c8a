"""Exemptions: a user or group spared from a rule or a whole category, with a reason and an expiry."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from .model import Rule


@dataclass(frozen=True)
class Exemption:
    rule: str | None = None  # rule id or glob ("password-cracking.*")
    category: str | None = None
    users: tuple[str, ...] = ()  # empty users and groups: nobody (an exemption must name someone)
    groups: tuple[str, ...] = ()
    reason: str = ""
    expires: datetime | None = None  # aware UTC; None: no expiry
    source: str = "policy"  # "policy" (static YAML) or "hub" (granted in the hub service)
    id: str | None = None

    def applies(self, rule: Rule, user: str | None, groups: Iterable[str], now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        if self.expires is not None and self.expires <= now:
            return False
        if not ((user is not None and user in self.users) or set(self.groups) & set(groups)):
            return False
        if self.rule is not None and not fnmatch.fnmatchcase(rule.id, self.rule):
            return False
        if self.category is not None and rule.category != self.category:
            return False
        return self.rule is not None or self.category is not None
