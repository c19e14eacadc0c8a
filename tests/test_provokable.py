"""Errors a student can provoke on purpose are not engine failures.

Every input here once made the engine raise (and so fail open) or stall. Each must now come back
as a verdict: what matched in the part that was read, and `unreadable` saying why the rest was
not, so the operator's `on_unreadable` setting decides — never the exception path.
"""

from __future__ import annotations

import time

import pytest

from jupyter_tos_guard.policy import Action, Engine, EvaluationContext
from jupyter_tos_guard.policy.verdict import line_text

PAYLOAD = "!./xmrig -o stratum+tcp://pool.supportxmr.com:3333 -u 44AFFq5kSiGBoZ"


# (name, code): each builds or carries something the readers once choked on
def _tenfold(name: str, build: str) -> str:
    """Three statements that each make a string ten times longer than the one before."""
    lines = [f'{name}0 = "{"x" * 1000}"']
    for i in range(1, 4):
        lines.append(f"{name}{i} = " + build.format(v=f"{name}{i - 1}"))
    return "\n".join(lines) + f"\nimport os\nos.system({name}3)\n"


PROVOKING = [
    (
        "replace bomb in dead code",
        'if False:\n    import os\n    os.system("aaaaaaaaaa"' + '.replace("a", "aaaaaaaaaa")' * 10 + ")\n",
    ),
    ("concat bomb", _tenfold("c", "+".join(["{v}"] * 10))),
    ("format bomb", _tenfold("f", '"' + "{{0}}" * 10 + '".format({v})')),
    ("percent bomb", _tenfold("p", '"' + "%s" * 10 + '" % (' + ", ".join(["{v}"] * 10) + ")")),
    ("f-string bomb", _tenfold("s", 'f"' + "{{{v}}}" * 10 + '"')),
    ("lone surrogate in code", 'x = "\ud800"\nprint(x)\n'),
    ("lone low surrogate in shell", "!echo \udc80 done\n"),
    # escaped in the source: the cell is ASCII, the string Python (and the reader) makes is not
    ("lone surrogate in a literal", 'x = "\\ud800"\nprint(x)\n'),
    ("lone surrogate built and run", 'import os\nc = "ls \\udcff"\nos.system(c + " -l")\n'),
    ("deep nesting", "x = " + "(" * 400 + "1" + ")" * 400 + "\n"),
    ("deep list nesting", "x = " + "[" * 3000 + "]" * 3000 + "\n"),
    ("unbalanced", ")\n"),
    ("nul bytes", "print('a')\x00\x00\n"),
]


@pytest.fixture(scope="module")
def engine(default_engine: Engine) -> Engine:
    return default_engine


@pytest.mark.parametrize(("name", "code"), PROVOKING, ids=[n for n, _ in PROVOKING])
def test_provoking_input_never_raises(engine: Engine, name: str, code: str) -> None:
    started = time.perf_counter()
    verdict = engine.evaluate(code, EvaluationContext())
    assert time.perf_counter() - started < 10, f"{name} took too long"
    assert verdict.action is not None


@pytest.mark.parametrize(("name", "code"), PROVOKING, ids=[n for n, _ in PROVOKING])
def test_payload_beside_provoking_input_is_still_found(engine: Engine, name: str, code: str) -> None:
    """The trick in front does not let the payload behind it through."""
    verdict = engine.evaluate(code + PAYLOAD + "\n", EvaluationContext())
    assert verdict.action is Action.BLOCK, f"{name}: {verdict.rule_ids} unreadable={verdict.unreadable}"


@pytest.mark.parametrize("name", [n for n, _ in PROVOKING if n.endswith("bomb") or "bomb " in n])
def test_folding_budget_marks_the_cell_unreadable(engine: Engine, name: str) -> None:
    # a cell with nothing of interest is not folded at all: the payload makes it worth reading
    code = dict(PROVOKING)[name] + PAYLOAD
    verdict = engine.evaluate(code, EvaluationContext())
    assert verdict.unreadable and "grows past" in verdict.unreadable
    assert "line" in verdict.unreadable


def test_past_deadline_is_unreadable(engine: Engine) -> None:
    verdict = engine.evaluate(PAYLOAD, EvaluationContext(), deadline=time.monotonic() - 1)
    assert verdict.unreadable == "the check ran out of time"
    assert verdict.action is Action.BLOCK  # what was read still counts


CLEAN = [
    "import numpy as np\nx = np.arange(10) ** 2\nprint(x.sum())\n",
    "s = 'ab' * 1000\nt = s.replace('a', 'xyz')\nprint(len(t))\n",
    "rows = ['a', 'b', 'c']\nprint(', '.join(rows))\nprint('{} and {}'.format(1, 2))\n",
    "!pip install pandas\n!ls -la\n",
    "name = 'world'\nprint(f'hello {name}' * 3)\n",
]


@pytest.mark.parametrize("code", CLEAN)
def test_ordinary_code_is_never_unreadable(engine: Engine, code: str) -> None:
    verdict = engine.evaluate(code, EvaluationContext())
    assert verdict.unreadable is None
    assert verdict.action is Action.ALLOW


# data pasted into a cell is as long as the cell: reading it is not growth. The shell line after it
# makes the cell worth the deep read, where the budget applies.
BIG_DATA = {
    "CSV literal": 'DATA = """' + "id,name,score\n" + "17,ab,0.5\n" * 120_000 + '"""\n',
    "base64 literal": 'BLOB = "' + "QUJD" * 200_000 + '"\n',
    "joined literals": 'A = "' + "x" * 300_000 + '" + "' + "y" * 300_000 + '"\n',
}


@pytest.mark.parametrize("name", list(BIG_DATA))
def test_data_longer_than_the_budget_is_read_not_refused(engine: Engine, name: str) -> None:
    verdict = engine.evaluate(BIG_DATA[name] + "!ls -la\nimport os\nos.system('echo ' + 'done')\n", EvaluationContext())
    assert verdict.unreadable is None, verdict.unreadable
    assert verdict.action is Action.ALLOW
    found = engine.evaluate(BIG_DATA[name] + PAYLOAD + "\n", EvaluationContext())
    assert found.action is Action.BLOCK and found.unreadable is None


def test_a_big_literal_grown_past_the_cell_is_unreadable(engine: Engine) -> None:
    code = 'A = "' + "x" * 300_000 + '"\nimport os\nos.system(A * 4)\n' + PAYLOAD + "\n"
    verdict = engine.evaluate(code, EvaluationContext())
    assert verdict.unreadable and "grows past" in verdict.unreadable


def test_unless_excuses_the_match_not_what_is_appended(engine: Engine) -> None:
    """An exception is read against the match it excuses; text appended after `;` is not part of it."""
    appended = "!./renamed-binary -o pool.supportxmr.com:443 -u 44AFFq5kSiGB ; : https://api.nanopool.org/x\n"
    verdict = engine.evaluate(appended, EvaluationContext())
    assert "mining.pool-domains" in verdict.rule_ids
    # the exception still spares what it was written for: a pool's public statistics API
    api = 'import requests\nr = requests.get("https://api.nanopool.org/v1/xmr/hashrate/44AFFq")\n'
    assert "mining.pool-domains" not in engine.evaluate(api, EvaluationContext()).rule_ids


@pytest.mark.parametrize("brk", ["\u2028", "\u0085", "\x0c", "\u2029", "\x1e"])
def test_excerpt_is_the_matched_line_whatever_breaks_precede_it(engine: Engine, brk: str) -> None:
    code = f"print('innocent'){brk}x = 1\n{PAYLOAD}\n"
    verdict = engine.evaluate(code, EvaluationContext())
    assert verdict.action is Action.BLOCK
    match = verdict.hits[0].matches[0]
    assert "xmrig" in line_text(code, match.span.line)


def test_line_text_counts_newlines_only() -> None:
    code = "a\u2028b\nc\r\nd"
    assert line_text(code, 1) == "a\u2028b"
    assert line_text(code, 2) == "c"
    assert line_text(code, 3) == "d"
    assert line_text(code, 4) == ""
    assert line_text(code, 0) == ""
