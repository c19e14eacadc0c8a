"""Exemptions: written in the policy or granted elsewhere; audited as exempted, neither shown nor blocked."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from guard_fixtures import POLICIES, read_audit

from jupyter_tos_guard.config import TosGuard
from jupyter_tos_guard.exemptions import Exemption
from jupyter_tos_guard.guard import Guard, Request
from jupyter_tos_guard.policy import Action


def make_guard(audit_path: Path) -> Guard:
    policy = str(POLICIES / "exemptions.yaml")
    config = TosGuard(policy_files=[policy], use_default_policy=False, audit_log=str(audit_path))
    return Guard(config, logging.getLogger("test"))


def test_group_exemption_spares_its_members_only(audit_path: Path) -> None:
    guard = make_guard(audit_path)
    member = guard.check(Request("!crackit -a", user="alice", groups=("security-101",)))
    assert member.action == Action.ALLOW
    record = read_audit(audit_path, event="decision")[-1]
    assert record["action"] == "exempted" and record["rules"] == ["lab.cracker"] and record["user"] == "alice"
    other = guard.check(Request("!crackit -a", user="bob", groups=("biology",)))
    assert other.action == Action.BLOCK


def test_expired_exemption_no_longer_applies(audit_path: Path) -> None:
    guard = make_guard(audit_path)
    assert guard.check(Request("!torrentit x", user="carol")).action == Action.WARN


def test_exemption_spares_only_its_rule_when_several_match(audit_path: Path) -> None:
    guard = make_guard(audit_path)
    decision = guard.check(Request("!crackit\n!torrentit", user="alice", groups=("security-101",)))
    assert decision.action == Action.WARN
    assert decision.verdict is not None and decision.verdict.rule_ids == ("lab.torrent",)


def test_provided_exemptions_apply_and_a_failing_provider_is_ignored(audit_path: Path) -> None:
    guard = make_guard(audit_path)
    soon = datetime.now(UTC) + timedelta(hours=1)
    guard.exemption_providers.append(
        lambda user, groups: [Exemption(category="p2p", users=("dave",), expires=soon, source="hub")]
    )

    def broken(user: str | None, groups: tuple[str, ...]) -> list[Exemption]:
        raise RuntimeError("hub unreachable")

    guard.exemption_providers.append(broken)
    assert guard.check(Request("!torrentit", user="dave")).action == Action.ALLOW
    assert guard.check(Request("!torrentit", user="erin")).action == Action.WARN


def test_sinks_receive_every_record_and_a_failing_sink_is_ignored(audit_path: Path) -> None:
    guard = make_guard(audit_path)
    seen: list[dict] = []
    guard.sinks.append(lambda record: (_ for _ in ()).throw(RuntimeError("sink down")))
    guard.sinks.append(seen.append)
    guard.check(Request("!torrentit", user="erin"))
    assert seen[-1]["rules"] == ["lab.torrent"] and seen[-1]["action"] == "warn"
