"""Run the `tests:` examples that rules carry, as `jupyter tos-guard test` does.

A `flag` example may pin the lines that must match, as Semgrep's annotations do: a comment line
`# ruleid: <this rule's id>` says the next line holds a match of the rule. Without one, a match
anywhere passes. (Comments never trigger a rule, so the marker cannot match itself.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .engine import Engine
from .model import Policy, Rule
from .verdict import Verdict

_MARKER = re.compile(r"^[ \t]*#[ \t]*ruleid:[ \t]*(\S+)[ \t]*$")


def pinned_lines(example: str, rule_id: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """(lines, from 1, that a `# ruleid:` marker pins for `rule_id`; ids of markers naming
    another rule, which is a mistake in the example)."""
    lines = example.split("\n")
    pinned, strangers = [], []
    for n, line in enumerate(lines, start=1):
        m = _MARKER.match(line)
        if not m:
            continue
        if m.group(1) != rule_id:
            strangers.append(m.group(1))
            continue
        target = n + 1
        while target <= len(lines) and _MARKER.match(lines[target - 1]):
            target += 1
        pinned.append(target)
    return tuple(pinned), tuple(strangers)


@dataclass(frozen=True)
class ExampleResult:
    rule: Rule
    expectation: str  # "flag" or "allow"
    example: str
    passed: bool
    verdict: Verdict
    missed_lines: tuple[int, ...] = field(default=())  # pinned lines with no match of the rule
    strangers: tuple[str, ...] = field(default=())  # `# ruleid:` markers naming another rule

    def explain(self) -> str:
        hit = self.verdict.hit(self.rule.id)
        if self.strangers:
            return f"a '# ruleid:' marker names {', '.join(map(repr, self.strangers))}, not {self.rule.id!r}"
        if self.expectation == "flag" and hit is not None and self.missed_lines:
            where = ", ".join(str(m.span.line) for m in hit.matches)
            lines = ", ".join(map(str, self.missed_lines))
            return f"the rule matched on line {where}, not on the pinned line {lines}"
        if self.expectation == "flag":
            return "the rule did not match" + (
                f" (other rules did: {', '.join(self.verdict.rule_ids)})" if self.verdict.hits else ""
            )
        assert hit is not None
        return "the rule matched: " + "; ".join(
            f"{m.matcher} {m.pattern!r} on {m.evidence!r} at line {m.span.line}, column {m.span.column + 1}"
            for m in hit.matches
        )


def run_rule_tests(
    policy: Policy, engine: Engine | None = None, rules: list[Rule] | None = None
) -> list[ExampleResult]:
    engine = engine or Engine(policy)
    results = []
    for rule in rules if rules is not None else policy.rules:
        for expectation, examples in (("flag", rule.tests.flag), ("allow", rule.tests.allow)):
            for example in examples:
                verdict = engine.evaluate(example)
                hit = verdict.hit(rule.id)
                pinned, strangers = pinned_lines(example, rule.id)
                matched_lines = (
                    {line for m in hit.matches for line in range(m.span.line, m.span.end_line + 1)} if hit else set()
                )
                missed = tuple(n for n in pinned if n not in matched_lines)
                if expectation == "flag":
                    passed = hit is not None and not missed and not strangers
                else:
                    passed = hit is None and not strangers
                results.append(ExampleResult(rule, expectation, example, passed, verdict, missed, strangers))
    return results
