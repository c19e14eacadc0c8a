"""A rule's text per action, and the policy's `groups:` conditions (a restricted student is
blocked where others are warned), in the policy language and the guard."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from guard_fixtures import read_audit

from jupyter_tos_guard.config import TosGuard
from jupyter_tos_guard.guard import Guard, Request
from jupyter_tos_guard.policy import Action, PolicyError, load_policy, load_texts

POLICY = """
version: 1
rules:
  - id: g.cracker
    category: password-cracking
    title: A cracker
    action: warn
    message:
      warn: Crackers are discouraged here; this run was recorded.
      block: Crackers are not allowed here.
    match:
      - command: crackit
  - id: g.plain
    category: p2p
    title: A torrent client
    action: warn
    message: Torrents are against the terms.
    match:
      - command: torrentit
groups:
  - group: restricted
    action: block
"""


def make_guard(tmp_path: Path, *layers: str, **traits: object) -> Guard:
    files = []
    for n, text in enumerate((POLICY, *layers)):
        path = tmp_path / f"p{n}.yaml"
        path.write_text(text)
        files.append(str(path))
    config = TosGuard(policy_files=files, use_default_policy=False, audit_log=str(tmp_path / "a.jsonl"), **traits)
    return Guard(config, logging.getLogger("test"))


def shown(decision: object) -> list[tuple[str, str]]:
    payload = getattr(decision, "payload", None)
    assert payload is not None
    return [(r["action"], r["message"]) for r in payload["rules"]]


def test_the_student_reads_the_text_written_for_the_action_taken(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    assert shown(guard.check(Request("!crackit", user="ann"))) == [
        ("warn", "Crackers are discouraged here; this run was recorded.")
    ]
    # a member of the restricted group is blocked, and told it is not allowed
    decision = guard.check(Request("!crackit", user="bob", groups=("restricted",)))
    assert decision.action == Action.BLOCK
    assert shown(decision) == [("block", "Crackers are not allowed here.")]
    # one text for every action when only one is written
    assert shown(guard.check(Request("!torrentit", user="bob", groups=("restricted",)))) == [
        ("block", "Torrents are against the terms.")
    ]


def test_the_rollout_mode_and_confidence_caps_also_pick_the_text(tmp_path: Path) -> None:
    raised = "version: 1\nrules:\n  - id: g.cracker\n    action: block\n"
    guard = make_guard(tmp_path, raised, mode="warn")
    assert shown(guard.check(Request("!crackit"))) == [
        ("warn", "Crackers are discouraged here; this run was recorded.")
    ]
    capped = make_guard(
        tmp_path,
        raised.replace("action: block", "action: block\n    confidence: low"),
        confidence_actions={"low": "warn"},
    )
    assert shown(capped.check(Request("!crackit"))) == [
        ("warn", "Crackers are discouraged here; this run was recorded.")
    ]


def test_an_override_of_the_action_keeps_a_text_that_fits(tmp_path: Path) -> None:
    policy = load_texts(
        [("p.yaml", POLICY), ("site.yaml", "version: 1\nrules:\n  - id: g.cracker\n    action: block\n")]
    )
    rule = policy.rule("g.cracker")
    assert rule is not None and rule.message_for() == "Crackers are not allowed here."
    # a per-action override replaces only the action it names
    site = "version: 1\nrules:\n  - id: g.cracker\n    message:\n      block: Not here, please.\n"
    rule = load_texts([("p.yaml", POLICY), ("site.yaml", site)]).rule("g.cracker")
    assert rule is not None
    assert rule.message_for(Action.BLOCK) == "Not here, please."
    assert rule.message_for(Action.WARN) == "Crackers are discouraged here; this run was recorded."
    # a plain override replaces every text
    plain = "version: 1\nrules:\n  - id: g.cracker\n    message: One text.\n"
    rule = load_texts([("p.yaml", POLICY), ("site.yaml", plain)]).rule("g.cracker")
    assert rule is not None and {rule.message_for(a) for a in Action if a} == {"One text."}


def test_group_conditions_name_rules_and_categories_and_later_ones_win(tmp_path: Path) -> None:
    layer = """
version: 1
groups:
  - group: staff
    action: log
    rules: [category:password-cracking]
  - group: restricted
    action: confirm
    rules: ["g.plain"]
"""
    guard = make_guard(tmp_path, layer)
    assert guard.check(Request("!crackit", groups=("staff",))).action == Action.LOG
    assert guard.check(Request("!torrentit", groups=("staff",))).action == Action.WARN
    # the first layer blocks every rule for `restricted`; this layer makes g.plain confirm
    assert guard.check(Request("!torrentit", groups=("restricted",))).action == Action.CONFIRM
    assert guard.check(Request("!crackit", groups=("restricted",))).action == Action.BLOCK


def test_groups_from_a_provider_count_and_a_failing_provider_is_ignored(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    guard.group_providers.append(lambda user: ("restricted",) if user == "eve" else ())
    guard.group_providers.append(lambda user: 1 / 0)  # type: ignore[arg-type,return-value]
    assert guard.check(Request("!crackit", user="eve")).action == Action.BLOCK
    assert guard.check(Request("!crackit", user="ann")).action == Action.WARN
    record = read_audit(tmp_path / "a.jsonl", event="decision")[-2]
    assert record["user"] == "eve" and record["action"] == "block"


@pytest.mark.parametrize(
    ("layer", "problem"),
    [
        ("groups:\n  - group: x\n    action: explode\n", "action 'explode' must be one of: log, warn, confirm, block"),
        ("groups:\n  - action: block\n", "a groups entry needs 'group'"),
        (
            "groups:\n  - group: x\n    action: block\n    rules: [g.crakcer]\n",
            "names no rule defined so far (did you mean 'g.cracker'?)",
        ),
        (
            "groups:\n  - group: x\n    action: block\n    rule: [g.cracker]\n",
            "unknown key 'rule' in a groups entry (did you mean 'rules'?)",
        ),
        (
            "rules:\n  - id: g.cracker\n    message:\n      wran: x\n",
            "unknown key 'wran' in message (did you mean 'warn'?)",
        ),
        ("rules:\n  - id: g.cracker\n    message: {}\n", "message needs a text, or a text for some of"),
    ],
)
def test_mistakes_are_named_with_their_line(layer: str, problem: str) -> None:
    with pytest.raises(PolicyError) as err:
        load_texts([("p.yaml", POLICY), ("site.yaml", "version: 1\n" + layer)])
    assert problem in str(err.value)
    assert "site.yaml:" in str(err.value)


def test_every_default_rule_has_a_warning_and_a_refusal() -> None:
    for rule in load_policy().rules:
        warn, block = rule.message_for(Action.WARN), rule.message_for(Action.BLOCK)
        assert "discourage" in warn, rule.id
        assert "prohibit" in block, rule.id
        assert "recorded" not in warn + block, rule.id  # the notice's headline says so, once
