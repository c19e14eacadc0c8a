"""Evaluation: evidence looked up in the kinds' indexes, then the finds turned into rule hits
(`unless` exceptions, `require`, the order a verdict lists them in)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .evidence import Evidence
from .matchers.base import Excuse, Index, Kind
from .matching import Found, FoundMap
from .model import Rule
from .verdict import Match, RuleHit, Span

MAX_MATCHES_PER_RULE = 20

_TOKEN_STOP = frozenset(" \t\r\n;|&'\"`()<>{}[],")
_COMMAND_STOP = frozenset("\r\n;|&")
_COMMENT = re.compile(r"(?:^|(?<=\s))#")


class Dispatch:
    """Which indexes read which kind of evidence, in the order their finds are to be listed."""

    def __init__(self, indexes: Iterable[Index[Any]]) -> None:
        by_evidence: dict[str, list[Any]] = defaultdict(list)
        for index in indexes:
            for kind in index.evidence:
                by_evidence[kind].append(index.match)
        self.by_evidence: dict[str, tuple[Any, ...]] = {kind: tuple(fns) for kind, fns in by_evidence.items()}

    def match(self, items: Iterable[Evidence]) -> FoundMap:
        """rule index -> every place one of its matchers matched."""
        found: FoundMap = defaultdict(list)
        by_evidence = self.by_evidence
        for ev in items:
            for match in by_evidence.get(ev.kind, ()):
                match(ev, found)
        return found


def excused_unit(code: str, found: Found, reads: Excuse) -> str:
    """What an `unless` exception is read against (`reads`, the matcher kind's
    `unless_reads`): the command that matched, the URL / host / name token around the match,
    or the command (or statement) around a pattern — never the rest of the line, where a
    student can append whatever excuses it."""
    if reads == "command":
        return found.context or found.text
    start, end = found.start, found.end
    if not (0 <= start <= end <= len(code)):
        return found.text
    stop = _TOKEN_STOP if reads == "token" else _COMMAND_STOP
    low, high = max(0, start - 4096), min(len(code), end + 4096)
    while start > low and code[start - 1] not in stop:
        start -= 1
    while end < high and code[end] not in stop:
        end += 1
    comment = _COMMENT.search(code, found.end, end)  # `# not localhost, honest` excuses nothing
    return code[start : comment.start() if comment else end]


def hits(
    code: str,
    found: FoundMap,
    rules: Sequence[Rule],
    unless: Mapping[int, list[Any]],
    kinds: Mapping[str, Kind[Any]],
    skip: int = 0,
) -> tuple[RuleHit, ...]:
    """Hits from what the readers found (`kinds`: the kinds the policy was compiled with);
    matches in the first `skip` characters (a prelude) count toward a rule's `require` but are
    left out of its matches (a rule holds only with one after them), and spans count from
    there."""
    if not found:
        return ()

    def names_a_tool(hit: RuleHit) -> bool:
        return any(kinds[m.matcher].names_a_tool for m in hit.matches)

    def span(start: int, end: int) -> Span:
        # counted per match (C-level), not a table of every line: big cells have few matches
        line = code.count("\n", skip, start) + 1
        end_line = line + code.count("\n", start, max(start, end - 1))
        line_start = max(code.rfind("\n", 0, start) + 1, skip)
        end_line_start = code.rfind("\n", 0, max(start, end - 1)) + 1 if end_line != line else line_start
        return Span(start - skip, end - skip, line, start - line_start, end_line, end - end_line_start)

    out = []
    for idx in sorted(found):
        rule = rules[idx]
        exceptions = unless.get(idx, ())
        matches: dict[tuple[int, int, str], Match] = {}
        held: set[int] = set()  # which of the rule's matchers hold (by identity), for `require`
        for f in found[idx]:
            # an exception excuses the match itself (its command, URL or statement), never
            # text a student can append beside it on the same line
            if exceptions:
                unit = excused_unit(code, f, kinds[f.matcher.kind].unless_reads)
                if any(u.search(unit) for u in exceptions):
                    continue
            held.add(id(f.matcher))
            if f.start < skip:
                # it matched in code that ran before, and was judged then: one of several signs
                # a rule needs, never a match of this cell
                continue
            key = (f.start, f.end, f.matcher.kind)
            if key not in matches:
                matches[key] = Match(
                    f.matcher.kind, f.matcher.pattern, f.text[:300], span(f.start, f.end), f.via, f.exact
                )
        if matches and len(held) >= rule.require:
            ordered = sorted(matches.values(), key=lambda mt: (not mt.exact, mt.span.start))
            # a cell repeating a name thousands of times must not make a huge verdict
            out.append(RuleHit(rule, tuple(ordered[:MAX_MATCHES_PER_RULE])))
    # strongest first; among equals, the rule that names the tool (a command, a repository,
    # a package) before those that only see signs of it (a pool's domain, a URL)
    out.sort(key=lambda h: (-h.rule.action, -h.rule.severity, not names_a_tool(h), h.rule.id))
    return tuple(out)
