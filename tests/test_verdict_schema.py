"""Every payload the server builds for a student matches the one verdict schema in events/.

The labextension's jest suite checks its own fixtures and parser against the same file, so a
field added on one side and not the other fails here or there.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import jsonschema
import pytest

from jupyter_tos_guard.messages import failure_payload, file_payload, unreadable_reason, verdict_payload
from jupyter_tos_guard.policy import Action, Engine, EvaluationContext, load_texts

POLICY = """
version: 1
name: schema test
rules:
  - id: s.block
    category: mining
    title: A miner
    action: block
    message: Mining is not allowed.
    match:
      - command: xmrig
      - domain: supportxmr.com
  - id: s.private
    category: mining
    title: A private rule
    action: warn
    private: true
    message: Not here.
    match:
      - literal: zzprivatezz
"""


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    text = files("jupyter_tos_guard").joinpath("events/verdict.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_texts([("schema.yaml", POLICY)]))


def check(schema: dict[str, Any], payload: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schema).validate(payload)


def payload_of(engine: Engine, code: str, **extra: Any) -> dict[str, Any]:
    verdict = engine.evaluate(code, EvaluationContext())
    payload = verdict_payload(
        verdict, code, action=verdict.action, info_url="https://example.org/t", appeal_url=None, policy_name="p"
    )
    payload.update(extra)
    return payload


def test_block_payload(schema: dict[str, Any], engine: Engine) -> None:
    payload = payload_of(engine, "x = 1\n!./xmrig -o pool.supportxmr.com:443 " + "a" * 400 + "\n")
    assert payload["rules"][0]["id"] == "s.block"
    check(schema, payload)


def test_confirm_process_and_terminal_payloads(schema: dict[str, Any], engine: Engine) -> None:
    base = payload_of(engine, "!xmrig\n")
    check(schema, dict(base, action="confirm", confirm={"token": "t0k", "expires": "2026-12-03T10:00:00Z"}))
    check(schema, dict(base, action="acknowledged", confirm=None))
    check(
        schema,
        dict(base, surface="process", pid=42, command_line="xmrig -o x", started_from="terminal 1", judged="argv"),
    )
    check(schema, dict(base, surface="terminal", started_from="terminal 1"))
    check(schema, dict(base, elapsed_ms=0.5))


def test_failure_unreadable_and_file_payloads(schema: dict[str, Any], engine: Engine) -> None:
    check(schema, failure_payload(info_url=None, appeal_url=None))
    check(schema, dict(payload_of(engine, "!xmrig\n"), reason=unreadable_reason("too long", stopped=True)))
    findings = [{"title": "A miner", "cell": 3, "line": 1}]
    check(schema, file_payload(findings, is_notebook=True, info_url=None, appeal_url=None, policy_name="p"))
    check(schema, file_payload(findings, is_notebook=False, info_url=None, appeal_url=None, policy_name="p"))


def test_private_rule_shows_no_matched_value(schema: dict[str, Any], engine: Engine) -> None:
    payload = payload_of(engine, "note = 'zzprivatezz'\n")
    [rule] = payload["rules"]
    assert rule["id"] == "s.private"
    assert all(m["matched"] == "" for m in rule["matches"])
    assert "zzprivatezz" in rule["matches"][0]["excerpt"]  # the student's own line
    check(schema, payload)


def test_schema_rejects_what_the_frontend_would_not_expect(schema: dict[str, Any], engine: Engine) -> None:
    good = payload_of(engine, "!xmrig\n")
    for bad in (
        dict(good, action="explode"),
        dict(good, surprise=1),
        {k: v for k, v in good.items() if k != "rules"},
        dict(good, rules=[dict(good["rules"][0], severity="dire")]),
    ):
        with pytest.raises(jsonschema.ValidationError):
            check(schema, bad)


def test_action_labels_are_the_schemas() -> None:
    """Every action the engine knows is one the schema (and so the frontend) knows."""
    text = files("jupyter_tos_guard").joinpath("events/verdict.schema.json").read_text()
    enum = set(json.loads(text)["properties"]["action"]["enum"])
    assert {a.label for a in Action} <= enum
