"""What a matcher kind is: one object that knows its YAML form, what the prefilter must look
for, and how to find its matchers in the evidence the readers produce.

A kind is registered by name (`matchers/__init__.py`); the loader, the prefilter and the
evaluation only ever go through the registry, so a new kind needs no edit anywhere else.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, Generic, Literal, TypeVar

if TYPE_CHECKING:
    import yaml

    from ..evidence import Evidence
    from ..indexes import TextWords
    from ..matching import FoundMap, Matcher
    from ..nodes import NodeReader

M = TypeVar("M", bound="Matcher")

# A name the prefilter looks for in the cell (lowercased there): (text, needs a left word
# boundary, needs a right one). `xmrig` needs both; a URL's run `pool.example` neither.
Needle = tuple[str, bool, bool]

# What an `unless` exception is read against (see evaluation.excused_unit): the command that
# matched, the URL / host / name token around the match, or the statement around it
Excuse = Literal["command", "token", "statement"]

_NAME_GLOB_RE = re.compile(r"^[A-Za-z0-9_.*+-]+$")


def is_name_glob(text: str) -> bool:
    """A command, package or repository part: a name, optionally with `*` wildcards."""
    return bool(_NAME_GLOB_RE.match(text))


def check_name_glob(reader: NodeReader, node: yaml.Node, text: str, what: str) -> bool:
    if not is_name_glob(text) or not text.strip("*"):
        reader.problem(node, f"{what} {text!r} must be a name, optionally with * wildcards")
        return False
    return True


class Index(ABC, Generic[M]):
    """The matchers of one kind in a compiled policy, filed for lookup by evidence."""

    # the evidence kinds `match` reads (Evidence.kind); () for an index that files everything
    # in shared indexes (the text words) and so is never asked itself
    evidence: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def add(self, rule: int, matcher: M) -> None:
        """File `matcher` of the rule at index `rule` (called in the policy's order)."""

    def build(self) -> None:  # noqa: B027 - most indexes are complete once filled
        """Finish after the last `add` (automata are made once, not per matcher)."""

    def match(self, ev: Evidence, found: FoundMap) -> None:  # noqa: B027 - see `evidence`
        """Append to `found[rule]` every matcher that matches `ev`."""


class Kind(ABC, Generic[M]):
    """One matcher kind. Subclasses set `name` and implement `parse` and `index`."""

    name: ClassVar[str]  # the YAML key, and the matcher's `kind`
    # a match names the tool itself (its command, repository, package), not only a sign of it:
    # such hits are listed first among equals
    names_a_tool: ClassVar[bool] = False
    unless_reads: ClassVar[Excuse] = "statement"

    @abstractmethod
    def parse(self, reader: NodeReader, node: yaml.Node) -> M | None:
        """The matcher written as `node` (the value under the kind's key), or None after
        reporting every problem through `reader` (which places it in the file)."""

    def needles(self, matcher: M) -> Iterable[Needle]:
        """Names that make a cell worth reading for this matcher (see `Needle`)."""
        return ()

    def patterns(self, matcher: M) -> Iterable[str]:
        """RE2 patterns that make a cell worth reading for this matcher, where no fixed name
        can (operator regexes). A rule that needs more of these to hit than hit in a cell
        with nothing hidden cannot hold there, so they weigh less than needles."""
        return ()

    def patterns_required(self, matcher: M) -> int:
        """How many of `patterns(matcher)`, from the first, must all hit for the matcher to
        hold in a cell with nothing hidden (0 or 1: any one). Each is a cheap sign on its own,
        where one pattern requiring them all together would cost the prefilter's automaton far
        more states; patterns past these are places to read, never a reason to."""
        return 0

    @abstractmethod
    def index(self, words: TextWords) -> Index[M]:
        """An empty index for a policy's matchers of this kind. `words` is the text-word
        index shared by all kinds, for kinds that look for fixed words in text."""
