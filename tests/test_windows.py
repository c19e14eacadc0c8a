"""Large cells are analyzed around their interesting places; verdicts and spans stay right."""

from __future__ import annotations

import pytest

from jupyter_tos_guard.policy import Engine, load_policy
from jupyter_tos_guard.policy.windows import WINDOW_MIN_CHARS, focus


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_policy())


def filler(lines: int) -> str:
    return "".join(f"value_{i} = compute({i}, factor=0.5)  # step {i}\n" for i in range(lines))


def test_focus_keeps_length_and_blanks_the_rest() -> None:
    text = filler(200) + "import os\nos.system('ls')\n" + filler(50)
    out, ranges = focus(text, [text.index("os.system")])
    assert ranges and all(text[a:b] == out[a:b] for a, b in ranges)
    assert len(out) == len(text)
    assert "os.system('ls')" in out and "value_3 " not in out


def test_hit_deep_in_a_large_cell_is_found_with_its_line(engine: Engine) -> None:
    code = filler(3000) + "!./xmrig -o pool.supportxmr.com:443 -u W\n" + filler(100)
    assert len(code) > WINDOW_MIN_CHARS
    verdict = engine.evaluate(code)
    hit = verdict.hit("mining.xmrig")
    assert hit is not None and hit.matches[0].span.line == 3001


def test_multiline_statement_around_a_hit_is_kept_whole(engine: Engine) -> None:
    code = filler(500) + "import subprocess\nsubprocess.run(\n    [\n        './hashcat',\n        '-m', '0',\n    ]\n)\n" + filler(10)
    verdict = engine.evaluate(code)
    hit = verdict.hit("password-cracking.hashcat")
    assert hit is not None and hit.matches[0].span.line == 504


def test_variables_assigned_far_away_still_fold(engine: Engine) -> None:
    code = 'tool = "girmx"[::-1]\n' + filler(800) + "import os\nos.system(tool + ' -o p:1')\n"
    assert "mining.xmrig" in engine.evaluate(code).rule_ids


def test_large_benign_cell_is_allowed(engine: Engine) -> None:
    code = filler(20000) + "import subprocess\nsubprocess.run(['nvidia-smi'])\n"
    assert engine.evaluate(code).rule_ids == ()


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("!sshpass -p pw ssh -o StrictHostKeyChecking=no -R 2222:localhost:22 me@vps", "remote-access.ssh-reverse-tunnel"),
        ("!cpulimit -l 50 -- ./xmrig -o p:1", "mining.xmrig"),
        ("import asyncio\nawait asyncio.create_subprocess_exec('./xmrig', '-o', 'p:1')", "mining.xmrig"),
        ("import asyncio\nawait asyncio.create_subprocess_shell('./xmrig -o p:1')", "mining.xmrig"),
        ("import os\nos.spawnlp(os.P_NOWAIT, 'xmrig', 'xmrig', '-o', 'p:1')", "mining.xmrig"),
        ("import os\nos.execvp('hashcat', ['hashcat', '-m', '0'])", "password-cracking.hashcat"),
        ("!yarn global add webtorrent-cli", "p2p.webtorrent"),
        ("!pip install qBittorrent__API", "p2p.qbittorrent"),  # PEP 503: runs of - _ . are one separator
    ],
)
def test_wrappers_and_process_apis(engine: Engine, code: str, rule: str) -> None:
    assert rule in engine.evaluate(code).rule_ids


def test_decorated_function_after_a_hit_keeps_the_payload_decoded(engine: Engine) -> None:
    import base64

    payload = base64.b64encode(b"import os; os.system('./xmrig -o pool.supportxmr.com:443')").decode()
    code = filler(120) + f"import base64\nexec(base64.b64decode('{payload}'))\n@staticmethod\ndef later():\n    return 1\n"
    assert len(code) > WINDOW_MIN_CHARS
    assert "mining.xmrig" in engine.evaluate(code).rule_ids


@pytest.mark.parametrize("assign", ["def setup():\n    A = './xm'\n", "with open('f') as fh:\n    A = './xm'\n",
                                    "A = ''\nA += './xm'\n"])
def test_variables_from_indented_or_augmented_assignments_still_fold(engine: Engine, assign: str) -> None:
    code = assign + filler(300) + "import os\nos.system(A + 'rig -o p:1')\n"
    assert "mining.xmrig" in engine.evaluate(code).rule_ids
