"""Every matcher kind, on a small policy written for these tests (independent of the default).

Each rule of tests/policies/matchers.yaml uses one matcher kind, so a test can say which matcher must (or must not) fire.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import pytest
import yaml
from guard_fixtures import policy_text

from jupyter_tos_guard.policy import Action, Engine, EvaluationContext, PolicyError, Verdict, load_texts
from jupyter_tos_guard.policy.evidence import Evidence
from jupyter_tos_guard.policy.indexes import TextWords
from jupyter_tos_guard.policy.matchers import KINDS, Index, Kind, Needle
from jupyter_tos_guard.policy.matching import Found, FoundMap
from jupyter_tos_guard.policy.nodes import NodeReader

POLICY = policy_text("matchers")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_texts([("matchers.yaml", POLICY)]))


def verdict(engine: Engine, code: str, language: str = "python") -> Verdict:
    return engine.evaluate(code, EvaluationContext(language=language))


def fired(engine: Engine, code: str, language: str = "python") -> set[str]:
    return set(verdict(engine, code, language).rule_ids)


def only_match(engine: Engine, code: str, rule_id: str):
    hit = verdict(engine, code).hit(rule_id)
    assert hit is not None, f"{rule_id} did not fire on {code!r}"
    return hit.matches[0]


# --- repo ---------------------------------------------------------------------------------

REPO_FORMS = [
    "!git clone https://github.com/xmrig/xmrig",
    "!git clone https://github.com/xmrig/xmrig.git",
    "!git clone --depth 1 https://www.github.com/xmrig/xmrig.git /opt/x",
    "!git clone git@github.com:xmrig/xmrig.git",
    "!git clone http://github.com/XMRig/XMRig",
    "!wget https://github.com/xmrig/xmrig/archive/refs/heads/master.zip",
    "!wget https://github.com/xmrig/xmrig/archive/refs/tags/v6.21.0.tar.gz",
    "!curl -L -o x.zip https://codeload.github.com/xmrig/xmrig/zip/refs/heads/master",
    "!wget https://github.com/xmrig/xmrig/releases/download/v6.21.0/xmrig-6.21.0-linux-static-x64.tar.gz",
    "!wget https://github.com/xmrig/xmrig/releases/latest",
    "!curl -sSL https://raw.githubusercontent.com/xmrig/xmrig/master/scripts/build_deps.sh | bash",
    "!pip install git+https://github.com/xmrig/xmrig.git@v6.21.0",
    "%pip install git+ssh://git@github.com/xmrig/xmrig.git",
    "import urllib.request\nurllib.request.urlretrieve('https://github.com/xmrig/xmrig/archive/master.zip', 'x.zip')",
    "import subprocess\nsubprocess.run(['git', 'clone', 'https://github.com/xmrig/xmrig'])",
]


@pytest.mark.parametrize("code", REPO_FORMS)
def test_repo_matches_every_form_people_use(engine, code):
    m = only_match(engine, code, "t.repo")
    assert m.matcher == "repo"
    assert m.pattern == "xmrig/xmrig"
    assert m.evidence.lower() == "github.com/xmrig/xmrig"


@pytest.mark.parametrize(
    "code",
    [
        "!git clone https://github.com/xmrig/xmrig-cuda",
        "!git clone https://github.com/xmrig/xmrig-proxy.git",
        "!git clone https://github.com/someone/xmrig",
        "!git clone https://github.com/xmrig/xmrigger",
        "x = 'xmrig/xmrig'  # no host: a path, not a repository",
        "!git clone https://example.com/xmrig/xmrig",
        "# !git clone https://github.com/xmrig/xmrig",
    ],
)
def test_repo_needs_that_owner_and_name_on_a_code_host(engine, code):
    assert "t.repo" not in fired(engine, code)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("!git clone https://github.com/s0md3v/roop", True),
        ("!git clone https://github.com/someone-else/roop.git", True),
        ("!git clone https://gitlab.com/mirror/roop", True),
        ("!git clone https://github.com/s0md3v/roop-unleashed", True),
        ("!git clone https://github.com/s0md3v/roopx", True),
        ("!git clone https://github.com/someone/roop-unleashed", False),
        ("!git clone https://github.com/someone/troop", False),
        ("!git clone https://github.com/someone/roop2", False),
        ("!git clone https://github.com/s0md3v/troop", False),
    ],
)
def test_repo_globs_in_owner_and_name(engine, code, expected):
    assert ("t.repo-glob" in fired(engine, code)) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("!wget https://huggingface.co/deepinsight/inswapper/resolve/main/inswapper_128.onnx", True),
        ("!git clone https://huggingface.co/deepinsight/inswapper", True),
        ("!wget https://hf.co/deepinsight/inswapper/resolve/main/inswapper_128.onnx", True),
        (
            "from huggingface_hub import hf_hub_download\n"
            "path = hf_hub_download(repo_id='deepinsight/inswapper', filename='inswapper_128.onnx')",
            True,
        ),
        ("from huggingface_hub import hf_hub_download\nhf_hub_download('deepinsight/inswapper', 'x.onnx')", True),
        ("from huggingface_hub import snapshot_download\nsnapshot_download('deepinsight/inswapper')", True),
        ('m = AutoModel.from_pretrained("deepinsight/inswapper")', True),
        ("REPO = 'deepinsight/' + 'inswapper'\nhf_hub_download(repo_id=REPO, filename='inswapper_128.onnx')", True),
        ("MODEL = 'deepinsight/inswapper'\nm = AutoModel.from_pretrained(MODEL)", True),
        # the same owner/name elsewhere is a different project: the host restriction holds
        ("!git clone https://github.com/deepinsight/inswapper", False),
        ("!wget https://huggingface.co/deepinsight/buffalo_l/resolve/main/det_10g.onnx", False),
    ],
)
def test_repo_with_host_restriction_and_huggingface_forms(engine, code, expected):
    assert ("t.repo-hf" in fired(engine, code)) is expected


# --- package -------------------------------------------------------------------------------

PACKAGE_FORMS = [
    ("!pip install insightface-swap", "pip"),
    ("!pip install -q --upgrade insightface-swap==0.3.1", "pip"),
    ("!pip3 install --user 'insightface-swap>=0.3'", "pip"),
    ("%pip install -r requirements.txt insightface-swap", "pip"),
    ("!python -m pip install insightface-swap", "pip"),
    ("!python3.11 -m pip install insightface-swap", "pip"),
    ("import sys\n!{sys.executable} -m pip install insightface-swap", "pip"),
    (
        "import sys, subprocess\nsubprocess.check_call([sys.executable, '-m', 'pip', 'install', 'insightface-swap'])",
        "pip",
    ),
    ("!uv pip install insightface-swap", "pip"),
    ("!conda install -y -c conda-forge insightface-swap", "conda"),
    ("%conda install conda-forge::insightface-swap", "conda"),
    ("!mamba install -y insightface-swap=0.3", "conda"),
    ("!apt-get install -y insightface-swap", "apt"),
    ("!sudo apt install -y -qq insightface-swap > /dev/null", "apt"),
    ("!npm install -g insightface-swap", "npm"),
    ("!npx insightface-swap --help", "npm"),
    ("import insightface_swap", "import"),
    ("import numpy as np, insightface_swap as isw", "import"),
    ("from insightface_swap.models import Swapper", "import"),
    ("mod = __import__('insightface_swap')", "import"),
    ("mod = __import__('insightface_' + 'swap')", "import"),
    ("import importlib\nmod = importlib.import_module('insightface_swap.core')", "import"),
    # PEP 503: case and runs of -, _ and . do not tell package names apart
    ("!pip install InsightFace_Swap", "pip"),
    ("!pip install insightface.swap", "pip"),
    ("!pip install insightface--swap", "pip"),
]


@pytest.mark.parametrize(("code", "source"), PACKAGE_FORMS)
def test_package_installs_and_imports(engine, code, source):
    m = only_match(engine, code, "t.pkg")
    assert m.matcher == "package"
    assert m.evidence.startswith(f"{source}: ")


@pytest.mark.parametrize(
    "code",
    [
        "!pip uninstall -y insightface-swap",
        "!pip show insightface-swap",
        "!pip install insightface",
        "!pip install insightface-swapper",
        "import insightface",
        "import insightface_swapper",
        "!apt-get remove insightface-swap",
        "print('pip install insightface-swap')",
        "# !pip install insightface-swap",
    ],
)
def test_package_is_parsed_not_grepped(engine, code):
    assert "t.pkg" not in fired(engine, code)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("!apt-get install -y hydra", True),
        ("!sudo apt install hydra", True),
        ("!pip install hydra", False),  # the PyPI `hydra` is an unrelated library
        ("!pip install hydra-core", False),
        ("import hydra\n@hydra.main(config_path='conf')\ndef main(cfg): ...", False),
        ("!conda install hydra", False),
    ],
)
def test_package_via_restricts_the_source(engine, code, expected):
    assert ("t.pkg-apt" in fired(engine, code)) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import face_fusion", True),
        ("from face_fusion.core import run", True),
        ("import Face_Fusion", True),
        ("!pip install face-fusion", False),
        ("!pip install face_fusion", False),
    ],
)
def test_package_via_import_only(engine, code, expected):
    assert ("t.pkg-import" in fired(engine, code)) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("!pip install pyminer", True),
        ("!pip install pyminer-gpu pandas", True),
        ("!conda install pyminer_cuda", True),
        ("!pip install mypyminer", False),
        ("import pyminer", False),
    ],
)
def test_package_glob(engine, code, expected):
    assert ("t.pkg-glob" in fired(engine, code)) is expected


# --- command -------------------------------------------------------------------------------

COMMAND_FORMS = [
    "!xmrig -o pool:3333",
    "!./xmrig -o pool:3333",
    "!/opt/xmrig/build/xmrig --threads 4",
    "!!./xmrig",
    "  !./xmrig",
    "if True:\n    !./xmrig",
    "out = !./xmrig --version",
    "!sudo ./xmrig",
    "!sudo -u miner nohup ./xmrig > /dev/null 2>&1 &",
    "!nohup ./xmrig &",
    "!timeout 3600 ./xmrig",
    "!timeout -s KILL 1h ./xmrig",
    "!env CUDA_VISIBLE_DEVICES=0 ./xmrig",
    "!GPU=1 ./xmrig",
    "!nice -n 19 ./xmrig",
    "!screen -dmS m ./xmrig",
    "!tmux new-session -d -s m './xmrig -o pool'",
    "!cd build && ./xmrig",
    "!make -j4; ./xmrig",
    "!cat config.json | xmrig --config=-",
    "!(cd build; ./xmrig)",
    "!false || ./xmrig",
    '!bash -c "cd build && ./xmrig"',
    "!sh -c './xmrig -o pool'",
    "%%bash\ncd /tmp\n./xmrig -o pool",
    "%%sh\n./xmrig",
    "%%bash\nif [ -x ./xmrig ]; then ./xmrig -o pool; fi",
    "%%bash\nfor i in 1 2; do\n  ./xmrig -o pool\ndone",
    "%%bash\nwhile true; do nohup ./xmrig & done",
    "%%bash\nuntil false; do ./xmrig; done",
    "%%bash\n! ./xmrig --dry-run",
    "%%bash\n{ ./xmrig; } > log",
    "%%script bash\n./xmrig",
    "%%script /bin/bash --no-raise-error\n./xmrig",
    "%system ./xmrig",
    "%sx ./xmrig",
    "get_ipython().system('./xmrig -o pool')",
    "get_ipython().system_raw('nohup ./xmrig &')",
    "get_ipython().run_line_magic('system', './xmrig')",
    "import os\nos.system('./xmrig -o pool')",
    "import os\nstream = os.popen('./xmrig --version')",
    "import subprocess\nsubprocess.run(['./xmrig', '-o', 'pool'])",
    "import subprocess\nsubprocess.Popen('./xmrig -o pool', shell=True)",
    "import subprocess\nsubprocess.check_output(('xmrig', '--version'))",
    "import subprocess\nsubprocess.call(args=['xmrig'])",
    "import subprocess as sp\nsp.run(['bash', '-c', 'cd /tmp && ./xmrig'])",
    "import subprocess\ncmd = ['./xmrig', '-o', 'pool']\nsubprocess.run(cmd)",
    "import subprocess\nsubprocess.run('./xmrig -o pool'.split())",
    "import shlex, subprocess\nsubprocess.run(shlex.split('./xmrig -o pool'))",
    "import os\nos.execvp('xmrig', ['xmrig'])",
    "import pty\npty.spawn('./xmrig')",
    "from os import system as run_it\nrun_it('./xmrig')",
    "import subprocess\nlaunch = subprocess.Popen\nlaunch(['./xmrig'])",
    "import os\ngetattr(os, 'sys' + 'tem')('./xmrig')",
    "import builtins\nbuiltins.exec(\"import os; os.system('./xmrig')\")",
    "e = eval\ne(\"__import__('os').system('./xmrig')\")",
]


@pytest.mark.parametrize("code", COMMAND_FORMS)
def test_command_in_every_shell_form(engine, code):
    m = only_match(engine, code, "t.cmd")
    assert m.matcher == "command"
    assert m.evidence.split()[0] == "xmrig"


@pytest.mark.parametrize(
    "code",
    [
        "!echo xmrig",
        "!ls xmrig/",
        "!rm -rf xmrig",
        "!git clone https://example.com/xmrig-docs",
        "print('xmrig')",
        "xmrig = 1",
        "!./xmrig-notes.sh",
        "!xmrigger",
        "# !./xmrig",
        '"""\n!./xmrig\n"""',
    ],
)
def test_command_matches_the_program_not_a_word(engine, code):
    assert "t.cmd" not in fired(engine, code)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("!john --wordlist=rockyou.txt hash.txt", True),
        ("!/usr/sbin/john hash.txt", True),
        ("!johnson --help", False),
        ("!john_doe.sh", False),
        ("!hashcat -m 0 -a 0 h.txt", True),
        ("!/usr/bin/hashcat -m 1000 h", True),
        ("!hashcat-utils", False),
        ("print('john', 'johnson')", False),
    ],
)
def test_command_word_boundaries(engine, code, expected):
    assert ("t.cmd-crack" in fired(engine, code)) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("!zip2john backup.zip > h.txt", True),
        ("!./rar2john archive.rar", True),
        ("!/usr/sbin/ssh2john id_rsa", True),
        ("!john2hash x", False),
        ("!zip2johnny", False),
    ],
)
def test_command_glob(engine, code, expected):
    assert ("t.cmd-glob" in fired(engine, code)) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("!ssh -R 80:localhost:8888 serveo.net", True),
        ("!ssh -N -f -R 2222:localhost:22 relay@example.net", True),
        ("!ssh -NfR 2222:localhost:22 relay@example.net", True),
        ("!sudo ssh -o StrictHostKeyChecking=no -R 2222:localhost:22 relay", True),
        ("import subprocess\nsubprocess.Popen(['ssh', '-R', '80:localhost:7860', 'serveo.net'])", True),
        ("!ssh user@login.example.edu", False),
        ("!ssh -L 8888:localhost:8888 me@workstation", False),
        ("!ssh -i ~/.ssh/key student@cluster 'nvidia-smi'", False),
        ("!autossh -R 2222:localhost:22 relay", False),  # another program
    ],
)
def test_command_args_regex(engine, code, expected):
    assert ("t.cmd-args" in fired(engine, code)) is expected


# --- url and domain --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "rule", "expected"),
    [
        ("!./miner -o stratum+tcp://pool.example.com:3333 -u WALLET", "t.url", True),
        ("POOL = 'STRATUM+TCP://eu.pool.example.org:4444'", "t.url", True),
        ("cfg = {'url': 'stratum+tcp://10.0.0.1:3333'}", "t.url", True),
        ("!./miner -o stratum+ssl://pool.example.com:443", "t.url", False),
        ("# stratum+tcp://pool.example.com:3333", "t.url", False),
        ("!aria2c 'magnet:?xt=urn:btih:08ada5a7a6183aae1e09d831df6748d566095a10&dn=Sintel'", "t.magnet", True),
        ('link = "magnet:?xt=urn:btih:ABCDEF0123"', "t.magnet", True),
        ("link = 'magnet:?xt=urn:sha1:ABCDEF0123'", "t.magnet", False),
        ("text = 'a magnet is a piece of iron'", "t.magnet", False),
    ],
)
def test_url_globs(engine, code, rule, expected):
    assert (rule in fired(engine, code)) is expected


def test_url_match_span_is_the_whole_url(engine):
    code = "!./miner -o stratum+tcp://pool.example.com:3333 -u W"
    m = only_match(engine, code, "t.url")
    assert m.evidence == "stratum+tcp://pool.example.com:3333"
    assert (m.span.line, m.span.column, m.span.end_column) == (1, 12, 47)
    assert code[m.span.start : m.span.end] == m.evidence


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("POOL = 'supportxmr.com'", True),
        ("POOL = 'pool.supportxmr.com:443'", True),
        ("!./miner -o gulf.pool.supportxmr.com:3333", True),
        ("url = 'https://www.supportxmr.com/api/miner/W/stats'", True),
        ("POOL = 'SupportXMR.com:5555'", True),
        ("POOL = 'notsupportxmr.com'", False),
        ("POOL = 'my-supportxmr.com'", False),
        ("POOL = 'supportxmr.com.example.org'", False),
        ("POOL = 'supportxmr.community'", False),
        ("POOL = 'supportxmr.co'", False),
        ("# pool.supportxmr.com:443", False),
    ],
)
def test_domain_matches_host_and_subdomains_only(engine, code, expected):
    assert ("t.domain" in fired(engine, code)) is expected


# --- regex, literal, unless ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("!hping3 --flood -S -p 80 10.0.0.5", True),
        ("!sudo hping3   --flood 10.0.0.5", True),
        ("import os\nos.system('hping3 --flood 10.0.0.5')", True),
        ("!hping3 --flood localhost", False),
        ("!hping3 --flood 127.0.0.1", False),
        ("!hping3 -c 3 10.0.0.5", False),
        ("print('hi')  # hping3 --flood 10.0.0.5", False),
    ],
)
def test_regex_with_unless(engine, code, expected):
    assert ("t.regex" in fired(engine, code)) is expected


def test_unless_reads_the_line_of_the_match_not_the_cell(engine):
    code = "!ping -c 1 localhost\n!hping3 --flood 10.0.0.5"
    assert "t.regex" in fired(engine, code)


def test_unless_is_not_fooled_by_a_comment(engine):
    assert "t.regex" in fired(engine, "!hping3 --flood 10.0.0.5  # not localhost, honest")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import slowloris", True),
        ("!python3 slowloris.py example.com", True),
        ("tool = 'SlowLoris'", True),
        ("tool = 'slowlorisx'", False),
        ("tool = 'xslowloris'", False),
        ("tool = 'slow_loris'", False),
        ("# slowloris", False),
    ],
)
def test_literal_is_word_bounded_and_case_insensitive(engine, code, expected):
    assert ("t.literal" in fired(engine, code)) is expected


def test_literal_span_is_exact(engine):
    code = "x = 1\nattack = 'SlowLoris'\n"
    m = only_match(engine, code, "t.literal")
    assert (m.span.line, m.span.column, m.span.end_line, m.span.end_column) == (2, 10, 2, 19)
    assert m.evidence == "SlowLoris"
    assert m.exact


# --- verdicts -----------------------------------------------------------------------------------


def test_strongest_action_wins_and_hits_are_ordered(engine):
    v = verdict(engine, "!hashcat -m 0 h.txt\n!./xmrig\nimport slowloris")
    assert v.action == Action.BLOCK
    assert v.rule_ids == ("t.cmd", "t.cmd-crack", "t.literal")  # block, warn, log


def test_log_only_and_allow(engine):
    assert verdict(engine, "import slowloris").action == Action.LOG
    v = verdict(engine, "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})")
    assert v.action == Action.ALLOW
    assert v.hits == ()
    assert v.elapsed_ms >= 0


def test_every_matching_rule_is_reported_with_all_its_places(engine):
    code = "!./xmrig -o stratum+tcp://pool.supportxmr.com:3333\n!xmrig --version"
    v = verdict(engine, code)
    assert set(v.rule_ids) == {"t.cmd", "t.url", "t.domain"}
    lines = sorted(m.span.line for m in v.hit("t.cmd").matches)
    assert lines == [1, 2]


def test_to_dict_hides_private_patterns(engine):
    v = verdict(engine, "token = 'secret-miner-token'\n!./xmrig")
    d = v.to_dict()
    assert d["action"] == "block"
    rules = {r["id"]: r for r in d["rules"]}
    assert rules["t.private"]["matches"][0]["pattern"] is None
    assert rules["t.private"]["matches"][0]["evidence"] == "secret-miner-token"
    assert rules["t.cmd"]["matches"][0]["pattern"] == "xmrig"
    assert rules["t.cmd"]["matches"][0]["line"] == 2
    assert v.to_dict(reveal_private=True)["rules"][-1]["matches"][0]["pattern"] == "secret-miner-token"
    assert set(rules["t.cmd"]) == {
        "id",
        "category",
        "title",
        "severity",
        "action",
        "confidence",
        "require",
        "message",
        "matches",
    }


def test_max_chars_truncates_and_says_so():
    small = Engine(load_texts([("m.yaml", POLICY)]), max_chars=20)
    v = small.evaluate("x = 1\n" * 10 + "!./xmrig")
    assert v.truncated
    assert v.action == Action.ALLOW
    assert not small.evaluate("!./xmrig").truncated


def test_language_context(engine):
    # markdown and raw text never trigger, whatever they say
    assert fired(engine, "Never run `!./xmrig` or clone https://github.com/xmrig/xmrig", "markdown") == set()
    # a bash kernel's cells are shell
    assert "t.cmd" in fired(engine, "cd /tmp\n./xmrig -o pool", "bash")
    # another language: the text matchers still see it
    assert fired(engine, 'system("./xmrig -o stratum+tcp://p:1")', "r") == {"t.url"}


def test_regex_runs_in_linear_time():
    """A pattern that is exponential on a backtracking engine stays fast on RE2."""
    policy = (
        POLICY
        + r"""
  - id: t.redos
    category: dos
    title: a pattern that backtracks badly elsewhere
    action: log
    message: m
    match:
      - regex: '(a+)+$'
"""
    )
    eng = Engine(load_texts([("m.yaml", policy)]))
    code = "x = '" + "a" * 200_000 + "!'"
    started = time.perf_counter()
    v = eng.evaluate(code)
    assert time.perf_counter() - started < 5
    assert "t.redos" not in v.rule_ids


def test_many_globs_each_match_only_their_own_names():
    """Globs are indexed by their literal text; with hundreds of them, a name still meets
    exactly the globs that match it (and no others)."""
    rules = "".join(
        f"""
  - id: g.r{i}
    category: mining
    title: generated {i}
    action: warn
    message: m
    match:
      - command: "tool{i}x*"
      - package: {{name: "pkg{i}-*", via: [pip]}}
      - repo: "owner{i}/*"
      - url: "https://dl{i}.example.com/*.tar.gz"
"""
        for i in range(400)
    )
    eng = Engine(load_texts([("g.yaml", "version: 1\nrules:" + rules)]))
    assert eng.evaluate("!tool17x --run").rule_ids == ("g.r17",)
    assert eng.evaluate("!tool170xyz").rule_ids == ("g.r170",)
    assert eng.evaluate("!tool17 --run").rule_ids == ()
    assert eng.evaluate("!pip install pkg399-gpu").rule_ids == ("g.r399",)
    assert eng.evaluate("!pip install pkg399").rule_ids == ()
    assert eng.evaluate("!git clone https://github.com/owner5/anything").rule_ids == ("g.r5",)
    assert eng.evaluate("!git clone https://github.com/owner55x/anything").rule_ids == ()
    assert eng.evaluate("!wget HTTPS://DL42.example.com/pkg/v1.TAR.GZ").rule_ids == ("g.r42",)
    assert eng.evaluate("!wget https://dl42.example.com/pkg/v1.zip").rule_ids == ()


# --- a kind added from outside the package --------------------------------------------------
# What CONTRIBUTING.md's "Adding a matcher kind" describes, done in a test: a `port` kind (a
# host's TCP port, as mining pools publish them) written, registered for these tests only, and
# used from YAML like any built-in kind.


@dataclass(frozen=True)
class PortMatcher:
    port: int
    kind: Literal["port"] = "port"

    @property
    def pattern(self) -> str:
        return str(self.port)


_HOST_PORT = re.compile(r"(?i)\b(?:[a-z0-9-]+\.)+[a-z]{2,}:(\d{1,5})\b")


class PortIndex(Index[PortMatcher]):
    evidence = ("text",)

    def __init__(self) -> None:
        self.ports: dict[int, list[tuple[int, PortMatcher]]] = defaultdict(list)

    def add(self, rule: int, matcher: PortMatcher) -> None:
        self.ports[matcher.port].append((rule, matcher))

    def match(self, ev: Evidence, found: FoundMap) -> None:
        for mo in _HOST_PORT.finditer(ev.value):
            for rule, matcher in self.ports.get(int(mo.group(1)), ()):
                found[rule].append(Found.inside(matcher, ev, mo.start(), mo.end()))


class PortKind(Kind[PortMatcher]):
    name = "port"
    unless_reads = "token"

    def parse(self, reader: NodeReader, node: yaml.Node) -> PortMatcher | None:
        value = reader.scalar(node, "the port matcher")
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            reader.problem(node, f"port {getattr(node, 'value', value)!r} must be a number from 1 to 65535")
            return None
        return PortMatcher(value)

    def needles(self, matcher: PortMatcher) -> Iterable[Needle]:
        return [(f":{matcher.port}", False, True)]

    def index(self, words: TextWords) -> PortIndex:
        return PortIndex()


PORT_POLICY = """\
version: 1
rules:
  - id: t.pool-port
    category: mining
    title: a pool's stratum port
    action: warn
    message: Mining is not allowed.
    match:
      - port: 3333
"""


@pytest.fixture
def port_kind() -> Iterator[Kind[PortMatcher]]:
    with KINDS.registered(PortKind()) as kind:
        yield kind


def test_a_kind_registered_from_outside_is_used_from_yaml_end_to_end(port_kind):
    policy = load_texts([("ports.yaml", PORT_POLICY)])
    assert policy.rules[0].matchers == (PortMatcher(3333),)
    eng = Engine(policy)
    cell = "import socket\nsock = socket.create_connection(('eu.pool.example.net:3333'))\n"
    # the prefilter lets the cell through for the kind's needle alone: without the rule it would not
    assert eng.needs_analysis(cell)
    assert not Engine(load_texts([("none.yaml", "version: 1\nrules: []\n")])).needs_analysis(cell)
    hit = eng.evaluate(cell).hit("t.pool-port")
    assert hit is not None
    (match,) = hit.matches
    assert (match.matcher, match.pattern, match.evidence) == ("port", "3333", "eu.pool.example.net:3333")
    assert match.span.line == 2 and cell.splitlines()[1][match.span.column :].startswith("eu.pool.example.net:3333")


def test_a_registered_kind_leaves_its_harmless_twins_alone(port_kind):
    eng = Engine(load_texts([("ports.yaml", PORT_POLICY)]))
    twin = "schedule = {'warmup':3333, 'decay':0.1}\n"  # the needle, but no host before it
    assert eng.needs_analysis(twin)
    assert eng.evaluate(twin).rule_ids == ()
    for code in ("port = 3333\n", "url = 'https://example.com:33331/x'\n", "t = '12:33:33'\n"):
        assert eng.evaluate(code).rule_ids == (), code


def test_a_registered_kind_reports_a_bad_value_with_file_and_line(port_kind):
    text = PORT_POLICY.replace("port: 3333", "port: 99999")
    with pytest.raises(PolicyError) as err:
        load_texts([("ports.yaml", text)])
    assert [str(p) for p in err.value.problems] == ["ports.yaml:9:15: port '99999' must be a number from 1 to 65535"]
    # and the loader offers it among the kinds
    assert one_load_problem("version: 1\nrules:\n  - id: x\n    match: [{}]\n").endswith(
        "regex, literal, behaviour, port"
    )


def one_load_problem(text: str) -> str:
    with pytest.raises(PolicyError) as err:
        load_texts([("k.yaml", text)])
    return "\n".join(str(p) for p in err.value.problems)


def test_a_kind_is_known_only_while_registered():
    with KINDS.registered(PortKind()):
        eng = Engine(load_texts([("ports.yaml", PORT_POLICY)]))
    assert "port" not in KINDS
    # a policy compiled with the kind keeps it; a new load no longer knows the key
    assert eng.evaluate("!./miner -o pool.example.org:3333").rule_ids == ("t.pool-port",)
    assert "unknown key 'port' in a matcher" in one_load_problem(PORT_POLICY)
    with pytest.raises(ValueError, match="already registered"):
        KINDS.register(KINDS["command"])
