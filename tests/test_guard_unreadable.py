"""What the guard does with code it could not read to the end, and with each part of a request.

A student can make a cell unreadable on purpose (too long, or a string built past the check's
budget) to hide what follows; `on_unreadable` decides, and every such decision is audited.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from guard_fixtures import read_audit

from jupyter_tos_guard.config import TosGuard
from jupyter_tos_guard.guard import Guard, Request
from jupyter_tos_guard.messages import ENGINE_FAILED
from jupyter_tos_guard.policy import Action

POLICY = """
version: 1
rules:
  - id: u.miner
    category: mining
    title: A miner
    action: block
    message: no mining
    match: [{command: minerd}]
  - id: u.torrent
    category: p2p
    title: A torrent client
    action: warn
    message: no torrents
    match: [{command: torrentit}]
"""

CAP = 4096
FILLER = "# nothing to see here\n" * (CAP // 10)  # well past the cap


def make_guard(tmp_path: Path, **traits: Any) -> Guard:
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY)
    config = TosGuard(
        policy_files=[str(policy)],
        use_default_policy=False,
        audit_log=str(tmp_path / "a.jsonl"),
        max_scan_bytes=CAP,
        **traits,
    )
    return Guard(config, logging.getLogger("test"))


def records(tmp_path: Path) -> list[dict[str, Any]]:
    return read_audit(tmp_path / "a.jsonl")


def test_payload_past_the_cap_is_blocked_and_audited(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    decision = guard.check(Request(FILLER + "!minerd --pool x\n"))
    assert decision.action == Action.BLOCK
    assert decision.payload is not None
    assert "could not be checked" in decision.payload["reason"]
    assert f"{CAP:,} characters" in decision.payload["reason"]
    [record] = records(tmp_path)
    assert record["truncated"] is True and record["unreadable"]
    assert record["action"] == "block" and record["policy_action"] == "block" and record["rules"] == []


def test_long_harmless_cell_is_audited_even_when_it_runs(tmp_path: Path) -> None:
    guard = make_guard(tmp_path, on_unreadable="warn")
    decision = guard.check(Request(FILLER + "print('done')\n"))
    assert decision.action == Action.WARN  # runs, with a notice
    assert decision.payload is not None and "It ran" in decision.payload["reason"]
    [record] = records(tmp_path)
    assert record["action"] == "warn" and record["truncated"] is True


def test_monitor_mode_only_logs_an_unreadable_cell(tmp_path: Path) -> None:
    guard = make_guard(tmp_path, mode="monitor")
    decision = guard.check(Request(FILLER + "!minerd\n"))
    assert decision.action == Action.LOG
    [record] = records(tmp_path)
    assert record["action"] == "log" and record["policy_action"] == "block" and record["unreadable"]


def test_short_cells_are_untouched(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    assert guard.check(Request("print('hello')\n")).action == Action.ALLOW
    assert records(tmp_path) == []


def test_what_matched_before_the_cap_still_names_its_rule(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    decision = guard.check(Request("!torrentit a.torrent\n" + FILLER))
    assert decision.action == Action.BLOCK  # the unread rest outranks the warn rule
    [record] = records(tmp_path)
    assert record["rules"] == ["u.torrent"]
    assert decision.payload is not None and decision.payload["rules"][0]["id"] == "u.torrent"


def test_user_expressions_are_read_apart_from_the_code(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    # `)` glued to the code once made the whole cell unparsable Python and the payload unseen
    decision = guard.check(Request("import os\nos.system('minerd --pool x')\n", user_expressions=(")",)))
    assert decision.action == Action.BLOCK
    # and a payload in an expression is found on its own, even after a long cell
    hidden = guard.check(Request("x = 1\n" * 500, user_expressions=("__import__('os').system('minerd')",)))
    assert hidden.action == Action.BLOCK
    assert hidden.payload is not None and hidden.payload["rules"][0]["id"] == "u.miner"
    assert [r["rules"] for r in records(tmp_path)] == [["u.miner"], ["u.miner"]]


def test_every_part_that_fires_is_audited(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    decision = guard.check(Request("!torrentit x\n", user_expressions=("__import__('os').system('minerd')",)))
    assert decision.action == Action.BLOCK
    assert decision.payload is not None and decision.payload["rules"][0]["id"] == "u.miner"  # the strongest shown
    [record] = records(tmp_path)
    assert record["rules"] == ["u.torrent", "u.miner"]


def test_fail_closed_event_carries_the_payload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    guard = make_guard(tmp_path, on_engine_error="fail_closed")
    emitted: list[dict[str, Any]] = []
    guard.emit = emitted.append

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(guard.engine, "evaluate", broken)
    decision = guard.check(Request("print(1)"))
    assert decision.action == Action.BLOCK
    [event] = emitted
    assert event["event"] == "engine_error" and event["verdict"]["reason"] == ENGINE_FAILED
    assert decision.payload == event["verdict"]
