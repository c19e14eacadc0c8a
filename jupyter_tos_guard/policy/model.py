"""The policy's data model: rules, their matchers, actions and severities.

Everything here is plain, immutable data. Each matcher kind's dataclass lives with its kind
in `matchers/` (re-exported here); loading lives in `loader.py`, matching in `engine.py`;
nothing in this package knows about tornado, websockets or Jupyter.
"""

from __future__ import annotations

import enum
import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from .matchers.command import CommandMatcher
from .matchers.domain import DomainMatcher
from .matchers.literal import LiteralMatcher
from .matchers.package import PACKAGE_SOURCES, PackageMatcher
from .matchers.regex import RegexMatcher
from .matchers.repo import RepoMatcher
from .matchers.url import UrlMatcher
from .matching import Matcher

if TYPE_CHECKING:
    from .exemptions import Exemption

__all__ = [
    "MATCHER_KINDS",
    "PACKAGE_SOURCES",
    "RULE_ACTIONS",
    "SEVERITIES",
    "Action",
    "CommandMatcher",
    "DomainMatcher",
    "GroupCondition",
    "LiteralMatcher",
    "Matcher",
    "MatcherKind",
    "PackageMatcher",
    "Policy",
    "Position",
    "RegexMatcher",
    "RepoMatcher",
    "Rule",
    "RuleTests",
    "Severity",
    "UrlMatcher",
]


class Action(enum.IntEnum):
    """What happens to a cell. Ordered: the strongest action of all matched rules wins."""

    ALLOW = 0
    LOG = 1
    WARN = 2
    CONFIRM = 3  # blocked until the student acknowledges, then runs once
    BLOCK = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Action:
        return cls[value.upper()]


class Severity(enum.IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()


RULE_ACTIONS = ("log", "warn", "confirm", "block")
SEVERITIES = ("low", "medium", "high", "critical")

# the built-in kinds; a kind registered later is listed in `matchers.KINDS` only
MatcherKind = Literal["repo", "package", "command", "url", "domain", "regex", "literal"]
MATCHER_KINDS: tuple[MatcherKind, ...] = (
    "repo",
    "package",
    "command",
    "url",
    "domain",
    "regex",
    "literal",
)


@dataclass(frozen=True)
class Position:
    """Where something was written in a policy file (1-based)."""

    source: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}"


@dataclass(frozen=True)
class RuleTests:
    flag: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    title: str
    severity: Severity
    action: Action
    message: str  # for any action `messages` does not name
    matchers: tuple[Matcher, ...]
    unless: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    private: bool = False
    tests: RuleTests = field(default_factory=RuleTests)
    origin: Position | None = None
    # how many of the rule's matchers must hold in one piece of code: 1 (any, the default), or
    # more, so that weak signals count only together (a send loop *and* a forged source)
    require: int = 1
    # how sure a match makes us that the tool really runs; operators may let a lower confidence
    # take a milder action (TosGuard.confidence_actions)
    confidence: str = "high"
    # texts written for one action each, ((action label, text), ...): a warning says what is
    # discouraged and that the run was recorded, a block that it is not allowed, so a rule whose
    # action an operator (or a group condition) changes still speaks the right way
    messages: tuple[tuple[str, str], ...] = ()

    def message_for(self, action: Action | None = None) -> str:
        """The text for `action` (the rule's own by default): written for it, else for its
        sibling (log and warn let the cell run, confirm and block stop it), else `message`."""
        action = self.action if action is None else action
        if self.messages:
            texts = dict(self.messages)
            for label in (action.label, _SIBLING.get(action.label, "")):
                if label in texts:
                    return texts[label]
        return self.message


_SIBLING = {"log": "warn", "warn": "log", "confirm": "block", "block": "confirm"}


@dataclass(frozen=True)
class GroupCondition:
    """A policy layer's `groups:` entry: for members of a hub group, the rules it names take
    `action` (e.g. block for a group the strike ladder restricts)."""

    group: str
    action: Action
    rules: tuple[str, ...]  # rule-id globs and `category:NAME`
    origin: Position | None = None

    def applies(self, rule: Rule) -> bool:
        for target in self.rules:
            if target.startswith("category:"):
                if rule.category == target.split(":", 1)[1]:
                    return True
            elif fnmatch.fnmatchcase(rule.id, target):
                return True
        return False


@dataclass(frozen=True)
class Policy:
    """The layered result of the default policy and the operator's files."""

    name: str
    version: int
    rules: tuple[Rule, ...]
    info_url: str | None = None
    appeal_url: str | None = None
    contact: str | None = None
    sources: tuple[str, ...] = ()
    digest: str = ""
    exemptions: tuple[Exemption, ...] = ()  # static exemptions written in the policy files
    groups: tuple[GroupCondition, ...] = ()  # in layer order: a later entry wins for a rule

    def action_for_groups(self, rule: Rule, groups: tuple[str, ...]) -> Action:
        """The action `rule` takes for a member of `groups` (its own when no condition names it)."""
        action = rule.action
        for condition in self.groups:
            if condition.group in groups and condition.applies(rule):
                action = condition.action
        return action

    def rule(self, rule_id: str) -> Rule | None:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(sorted({r.category for r in self.rules}))
