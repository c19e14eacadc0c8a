"""Run the `tests:` examples that rules carry, as `jupyter tos-guard test` does."""

from __future__ import annotations

from dataclasses import dataclass

from .engine import Engine
from .model import Policy, Rule
from .verdict import Verdict


@dataclass(frozen=True)
class ExampleResult:
    rule: Rule
    expectation: str  # "flag" or "allow"
    example: str
    passed: bool
    verdict: Verdict

    def explain(self) -> str:
        hit = self.verdict.hit(self.rule.id)
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
                matched = verdict.hit(rule.id) is not None
                passed = matched if expectation == "flag" else not matched
                results.append(ExampleResult(rule, expectation, example, passed, verdict))
    return results
