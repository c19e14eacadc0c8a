"""What a matcher is and what it finds: the contract between the matcher kinds (`matchers/`),
the indexes they file themselves in, and the evaluation that turns their finds into hits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .evidence import Evidence, line_around


class Matcher(Protocol):
    """One matcher of a rule, as the model and the verdict see it: frozen data of a kind."""

    @property
    def kind(self) -> str:
        """The YAML key it is written under (`command`, `repo` ...)."""
        ...

    @property
    def pattern(self) -> str:
        """What it looks for, as the operator wrote it (shown in verdicts)."""
        ...


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


# rule index (in the policy's order) -> every place one of its matchers matched
FoundMap = dict[int, list[Found]]
