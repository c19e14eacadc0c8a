"""`require` (weak signals count only together) and `confidence` (how sure a rule is), in the
policy language, the engine and the guard."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from jupyter_tos_guard.config import TosGuard
from jupyter_tos_guard.guard import Guard, Request
from jupyter_tos_guard.policy import Action, Engine, PolicyError, load_texts

POLICY = """
version: 1
rules:
  - id: c.flood
    category: dos
    title: A hand-written flood
    action: block
    confidence: medium
    message: no floods
    require: all
    match:
      - regex: '\\bwhile\\s+True\\s*:'
      - regex: '\\bsendto\\s*\\('
      - regex: 'random\\._urandom|os\\.urandom'
  - id: c.two-of-three
    category: p2p
    title: Two of three torrent signs
    action: warn
    message: no torrents
    require: 2
    match:
      - literal: announce
      - literal: info_hash
      - literal: peer_id
  - id: c.tool
    category: mining
    title: A miner
    action: block
    message: no mining
    match:
      - command: minerd
"""

FLOOD = "import socket, random\ns = socket.socket()\nwhile True:\n    s.sendto(random._urandom(1024), (host, 80))\n"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_texts([("c.yaml", POLICY)]))


def test_all_of_them_must_hold(engine: Engine) -> None:
    assert engine.evaluate(FLOOD).rule_ids == ("c.flood",)
    # any two of the three are not enough
    assert engine.evaluate("while True:\n    s.sendto(b'hello', addr)\n").rule_ids == ()
    assert engine.evaluate("key = os.urandom(16)\ns.sendto(key, addr)\n").rule_ids == ()


def test_a_rule_that_cannot_hold_does_not_make_a_cell_worth_reading(engine: Engine) -> None:
    # two of c.flood's three regexes hit; nothing is decoded or assembled, so the readers would
    # see this very text: the prefilter lets it go without reading it
    assert not engine.needs_analysis("while True:\n    s.sendto(b'hello', addr)\n")
    assert engine.needs_analysis(FLOOD)
    # hidden text could supply the missing signal: then the cell is read as before
    hidden = "import base64, os\nwhile True:\n    s.sendto(b'x', addr)\nexec(base64.b64decode(blob))\n"
    assert engine.needs_analysis(hidden)


def test_default_needles_are_not_everyday_words(default_engine: Engine) -> None:
    """A tool name the prefilter looks for that every notebook writes makes every cell deep."""
    everyday = {
        "mv",
        "cp",
        "ln",
        "install",
        "pip",
        "python",
        "python3",
        "git",
        "wget",
        "curl",
        "bash",
        "sh",
        "ls",
        "cd",
        "echo",
        "cat",
        "chmod",
        "apt-get",
        "import",
        "run",
        "sudo",
        "nohup",
        "tar",
        "unzip",
    }
    assert not everyday & set(default_engine.compiled.needles)


def test_n_of_them(engine: Engine) -> None:
    assert engine.evaluate("params = {'info_hash': h, 'peer_id': p}").rule_ids == ("c.two-of-three",)
    assert engine.evaluate("print('announce')").rule_ids == ()


def test_require_and_confidence_are_validated() -> None:
    bad = POLICY.replace("require: 2", "require: most").replace("confidence: medium", "confidence: sure")
    with pytest.raises(PolicyError) as err:
        load_texts([("c.yaml", bad)])
    text = str(err.value)
    assert "require must be any, all or a number of matchers" in text
    assert "confidence 'sure' must be one of: low, medium, high" in text


def test_an_override_can_change_require() -> None:
    overlay = "version: 1\nrules:\n  - id: c.two-of-three\n    require: any\n"
    engine = Engine(load_texts([("c.yaml", POLICY), ("site.yaml", overlay)]))
    assert engine.evaluate("print('announce')").rule_ids == ("c.two-of-three",)


def make_guard(tmp_path: Path, **traits: object) -> Guard:
    policy = tmp_path / "c.yaml"
    policy.write_text(POLICY)
    config = TosGuard(
        policy_files=[str(policy)], use_default_policy=False, audit_log=str(tmp_path / "a.jsonl"), **traits
    )
    return Guard(config, logging.getLogger("test"))


def test_confidence_caps_the_action_when_the_operator_says_so(tmp_path: Path) -> None:
    assert make_guard(tmp_path).check(Request(FLOOD)).action == Action.BLOCK  # by default, as the rule says
    capped = make_guard(tmp_path, confidence_actions={"medium": "warn"})
    decision = capped.check(Request(FLOOD))
    assert decision.action == Action.WARN
    assert decision.payload is not None and decision.payload["rules"][0]["confidence"] == "medium"
    # a high-confidence rule in the same cell still acts in full
    assert capped.check(Request(FLOOD + "!minerd\n")).action == Action.BLOCK


def test_confidence_actions_are_validated(tmp_path: Path) -> None:
    from traitlets import TraitError

    with pytest.raises(TraitError, match="confidences are low, medium, high"):
        TosGuard(confidence_actions={"medium": "explode"})
