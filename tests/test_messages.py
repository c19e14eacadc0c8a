"""What a student reads, built by messages.py: the reason said once in full (the notice), the
error kept to one line and the links, rules in the order a student should read them.

A frontend without the labextension (a console, nbclient) shows the notice's text/plain and
then the error's traceback: `console_view` is that view.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from jupyter_tos_guard.messages import (
    ERROR_NAME,
    error_content,
    failure_payload,
    first_sentence,
    notice_content,
    notice_html,
    unreadable_reason,
    verdict_payload,
)
from jupyter_tos_guard.policy import Action, Engine, load_policy

TERMS = "https://example.org/terms-of-use"
APPEAL = "https://example.org/exemption-request"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# the miner named by its release archive (a regex of the XMRig rule), then its pool
MINER_AND_POOL = (
    '!curl -LO https://example.org/dl/xmrig-6.21.0-linux-static-x64.tar.gz\nPOOL = "pool.supportxmr.com:3333"\n'
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_policy([]))


def payload_for(engine: Engine, code: str, action: Action | None = None) -> dict[str, Any]:
    verdict = engine.evaluate(code)
    return verdict_payload(verdict, code, action=action or verdict.action, info_url=TERMS, appeal_url=APPEAL)


def console_view(payload: dict[str, Any]) -> str:
    """What a plain-text frontend prints for a stopped cell: the notice, then the error."""
    notice = notice_content(payload)["data"]["text/plain"]
    error = error_content(payload)
    return notice + "\n".join(ANSI.sub("", line) for line in error["traceback"]) + "\n"


def test_the_tool_leads_even_when_only_its_archive_name_matched(engine: Engine) -> None:
    payload = payload_for(engine, MINER_AND_POOL)
    # the engine's own order puts the pool first here (both matched through non-tool matchers)
    assert {h.rule.id for h in engine.evaluate(MINER_AND_POOL).hits} == {"mining.xmrig", "mining.pool-domains"}
    assert [r["id"] for r in payload["rules"]] == ["mining.xmrig", "mining.pool-domains"]
    assert error_content(payload)["evalue"].startswith("XMRig cryptocurrency miner (and 1 more rule): ")


def test_the_action_taken_comes_before_the_tool() -> None:
    from jupyter_tos_guard.policy import load_texts

    policy = load_texts(
        [
            (
                "p.yaml",
                """
version: 1
rules:
  - {id: a.tool, category: c, title: The tool, action: warn, message: Tool., match: [{command: sometool}]}
  - {id: b.sign, category: c, title: The sign, action: block, message: Sign., match: [{domain: sign.example}]}
""",
            )
        ]
    )
    code = "!sometool --to sign.example\n"
    verdict = Engine(policy).evaluate(code)
    payload = verdict_payload(verdict, code, action=verdict.action, info_url=None, appeal_url=None)
    assert [r["id"] for r in payload["rules"]] == ["b.sign", "a.tool"]  # the block is why it stopped


def test_a_console_reads_the_full_reason_once_and_a_short_error(engine: Engine) -> None:
    payload = payload_for(engine, MINER_AND_POOL)
    seen = console_view(payload)
    for rule in payload["rules"]:
        # the whole message, once (wrapped between words)
        assert " ".join(seen.split()).count(rule["message"]) == 1
    assert seen.count("This cell was not run") == 2  # the notice's headline and the error's line
    assert seen.count(TERMS) == 2 and seen.count(APPEAL) == 2  # in the notice and under the error
    error = error_content(payload)
    assert error["ename"] == ERROR_NAME
    assert "\n" not in error["evalue"]
    text = [ANSI.sub("", line) for line in error["traceback"]]
    assert text[0].startswith(f"{ERROR_NAME}: This cell was not run: XMRig cryptocurrency miner")
    assert len(text) <= 5
    assert not any("XMRig turns the shared" in line for line in text)  # the paragraph is the notice's
    # no line a terminal would have to break inside a word, but for links and the student's own code
    for line in seen.splitlines():
        if "http" not in line and "Matched on line" not in line:
            assert len(line) <= 88, line


def test_confirm_error_says_how_to_run_it(engine: Engine) -> None:
    code = "import subprocess\nsubprocess.run(['ngrok', 'tcp', '22'])\n"
    payload = dict(payload_for(engine, code, Action.CONFIRM), confirm={"token": "t", "expires": None})
    text = [ANSI.sub("", line) for line in error_content(payload)["traceback"]]
    assert text[0].startswith(f"{ERROR_NAME}: This cell was not run yet (it needs your acknowledgement)")
    assert any("I understand — run anyway" in line for line in text)
    assert notice_content(payload)["data"]["text/plain"].startswith(
        "This cell was not run yet (it needs your acknowledgement)."
    )


def test_a_reason_without_rules_is_said_in_the_error_too() -> None:
    failed = failure_payload(info_url=TERMS, appeal_url=None)
    error = error_content(failed)
    assert error["evalue"] == "The terms-of-use check could not be completed, so this cell was not run."
    first = " ".join(ANSI.sub("", line) for line in error["traceback"][:2])
    assert first.startswith(f"{ERROR_NAME}: The terms-of-use check could not be completed, so this cell was not run.")
    unread = dict(failed, reason=unreadable_reason("the check ran out of time", stopped=True))
    assert "ran out of time" in error_content(unread)["evalue"]


def test_html_fallback_says_the_headline_once(engine: Engine) -> None:
    page = notice_html(payload_for(engine, MINER_AND_POOL))
    assert page.count("This cell was not run") == 1
    assert page.index("XMRig cryptocurrency miner") < page.index("Well-known cryptocurrency mining pools")


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("One. Two.", "One."),
        ("Mining is prohibited (see the terms). XMRig turns CPUs into coins.", "Mining is prohibited (see the terms)."),
        ("A stratum+tcp:// address connects a miner. Whatever program.", "A stratum+tcp:// address connects a miner."),
        ("No full stop at all", "No full stop at all"),
        ("Version 6.21.0 is a miner. Really.", "Version 6.21.0 is a miner."),
    ],
)
def test_first_sentence(text: str, first: str) -> None:
    assert first_sentence(text) == first
