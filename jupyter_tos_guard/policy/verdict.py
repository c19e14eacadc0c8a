"""What the engine answers: which rules matched, where, on what evidence, and what to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import Action, Rule


@dataclass(frozen=True)
class Span:
    """A region of the original cell: 0-based offsets, 1-based lines, 0-based columns."""

    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class Match:
    """One place where one matcher of a rule matched.

    `evidence` is the normalized text that matched (for example the decoded string or the
    command after `sudo` and paths were stripped); `via` names the transformations that led
    there (`shell`, `base64`, `concat`, ...); `exact` says whether `span` covers exactly the
    matched characters or only the source they were derived from.
    """

    matcher: str
    pattern: str
    evidence: str
    span: Span
    via: tuple[str, ...] = ()
    exact: bool = True


@dataclass(frozen=True)
class RuleHit:
    rule: Rule
    matches: tuple[Match, ...]


@dataclass(frozen=True)
class Verdict:
    action: Action
    hits: tuple[RuleHit, ...]
    elapsed_ms: float
    truncated: bool = False
    # why the engine could not read all of the cell (a budget, the deadline), for the operator's
    # `on_unreadable` setting; the rules that matched in what was read are reported all the same
    unreadable: str | None = None

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(h.rule.id for h in self.hits)

    def hit(self, rule_id: str) -> RuleHit | None:
        for h in self.hits:
            if h.rule.id == rule_id:
                return h
        return None

    def to_dict(self, *, reveal_private: bool = False) -> dict[str, Any]:
        """JSON-ready form, for operators' tools: lines and columns count from 1, as editors
        and compilers do (`end_column` is the column just past the match). Patterns of private
        rules stay hidden unless asked for."""
        return {
            "action": self.action.label,
            "elapsed_ms": round(self.elapsed_ms, 4),
            "truncated": self.truncated,
            "unreadable": self.unreadable,
            "rules": [
                {
                    "id": h.rule.id,
                    "category": h.rule.category,
                    "title": h.rule.title,
                    "severity": h.rule.severity.label,
                    "action": h.rule.action.label,
                    "confidence": h.rule.confidence,
                    "require": h.rule.require,
                    "message": h.rule.message,
                    "matches": [
                        {
                            "matcher": m.matcher,
                            "pattern": m.pattern if (reveal_private or not h.rule.private) else None,
                            "evidence": m.evidence,
                            "line": m.span.line,
                            "column": m.span.column + 1,
                            "end_line": m.span.end_line,
                            "end_column": m.span.end_column + 1,
                            "via": list(m.via),
                            "exact": m.exact,
                        }
                        for m in h.matches
                    ],
                }
                for h in self.hits
            ],
        }


def line_text(code: str, line: int) -> str:
    """Line `line` (from 1) of `code` as the engine counts lines: split at "\n" only. Other
    characters that str.splitlines() takes for line breaks (U+2028, U+0085, form feed, ...)
    must not shift what a student or an operator is shown away from the line that matched."""
    if line < 1:
        return ""
    start = 0
    for _ in range(line - 1):
        start = code.find("\n", start) + 1
        if start == 0:
            return ""
    end = code.find("\n", start)
    return (code[start:] if end < 0 else code[start:end]).rstrip("\r")
