"""Cells are analyzed around their interesting places; verdicts and spans stay right."""

from __future__ import annotations

import pytest

from jupyter_tos_guard.policy import Engine, EvaluationContext, load_policy
from jupyter_tos_guard.policy.windows import focus


def filler(lines: int) -> str:
    return "".join(f"value_{i} = compute({i}, factor=0.5)  # step {i}\n" for i in range(lines))


@pytest.fixture(scope="module")
def focused_engine() -> Engine:
    """The default policy, read around the places of each cell (these cells are small enough
    for windows.py never to give up and read them whole)."""
    return Engine(load_policy())


def test_focus_keeps_the_statement_what_it_reads_and_maps_runs_back() -> None:
    text = (
        "from os import system as run\n"
        + filler(200)
        + "cmd = 'ls'\nimport os\nos.system(cmd)\nrun(cmd)\n"
        + filler(50)
    )
    window = focus(text, [text.index("os.system"), text.index("run(cmd)")])
    assert window is not None
    # the call, the assignment it reads, and (called bare) the import that names `run`; a
    # module before a dot (`os.`) needs no import to be read
    assert window.text == "from os import system as run\ncmd = 'ls'\nos.system(cmd)\nrun(cmd)\n"
    assert all(window.text[t : t + n] == text[c : c + n] for t, c, n in window.runs)


def test_hit_deep_in_a_large_cell_is_found_with_its_line(default_engine: Engine) -> None:
    code = filler(3000) + "!./xmrig -o pool.supportxmr.com:443 -u W\n" + filler(100)
    verdict = default_engine.evaluate(code)
    hit = verdict.hit("mining.xmrig")
    assert hit is not None and hit.matches[0].span.line == 3001


def test_multiline_statement_around_a_hit_is_kept_whole(default_engine: Engine) -> None:
    code = (
        filler(500)
        + "import subprocess\nsubprocess.run(\n    [\n        './hashcat',\n        '-m', '0',\n    ]\n)\n"
        + filler(10)
    )
    verdict = default_engine.evaluate(code)
    hit = verdict.hit("password-cracking.hashcat")
    assert hit is not None and hit.matches[0].span.line == 504


def test_variables_assigned_far_away_still_fold(default_engine: Engine) -> None:
    code = 'tool = "girmx"[::-1]\n' + filler(800) + "import os\nos.system(tool + ' -o p:1')\n"
    assert "mining.xmrig" in default_engine.evaluate(code).rule_ids


def test_large_benign_cell_is_allowed(default_engine: Engine) -> None:
    code = filler(20000) + "import subprocess\nsubprocess.run(['nvidia-smi'])\n"
    assert default_engine.evaluate(code).rule_ids == ()


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        (
            "!sshpass -p pw ssh -o StrictHostKeyChecking=no -R 2222:localhost:22 me@vps",
            "remote-access.ssh-reverse-tunnel",
        ),
        ("!cpulimit -l 50 -- ./xmrig -o p:1", "mining.xmrig"),
        ("import asyncio\nawait asyncio.create_subprocess_exec('./xmrig', '-o', 'p:1')", "mining.xmrig"),
        ("import asyncio\nawait asyncio.create_subprocess_shell('./xmrig -o p:1')", "mining.xmrig"),
        ("import os\nos.spawnlp(os.P_NOWAIT, 'xmrig', 'xmrig', '-o', 'p:1')", "mining.xmrig"),
        ("import os\nos.execvp('hashcat', ['hashcat', '-m', '0'])", "password-cracking.hashcat"),
        ("!yarn global add webtorrent-cli", "p2p.webtorrent"),
        ("!pip install qBittorrent__API", "p2p.qbittorrent"),  # PEP 503: runs of - _ . are one separator
    ],
)
def test_wrappers_and_process_apis(default_engine: Engine, code: str, rule: str) -> None:
    assert rule in default_engine.evaluate(code).rule_ids


def test_decorated_function_after_a_hit_keeps_the_payload_decoded(default_engine: Engine) -> None:
    import base64

    payload = base64.b64encode(b"import os; os.system('./xmrig -o pool.supportxmr.com:443')").decode()
    code = (
        filler(120) + f"import base64\nexec(base64.b64decode('{payload}'))\n@staticmethod\ndef later():\n    return 1\n"
    )
    assert "mining.xmrig" in default_engine.evaluate(code).rule_ids


@pytest.mark.parametrize(
    "assign", ["def setup():\n    A = './xm'\n", "with open('f') as fh:\n    A = './xm'\n", "A = ''\nA += './xm'\n"]
)
def test_variables_from_indented_or_augmented_assignments_still_fold(default_engine: Engine, assign: str) -> None:
    code = assign + filler(300) + "import os\nos.system(A + 'rig -o p:1')\n"
    assert "mining.xmrig" in default_engine.evaluate(code).rule_ids


@pytest.mark.parametrize(
    ("code", "language", "line"),
    [
        ("%%bash\nP=./xm\nQ=rig\necho start\n$P$Q -o pool", "python", 5),
        ("P=./xm\nQ=rig\n${P}${Q} -o pool", "bash", 3),
        ("%%bash\nT=xmrig\necho hi\n./$T -o pool", "python", 4),
        ("%%bash\ncd /tmp\nexport URL=https://github.com/xmrig/xmrig\nls\ngit clone $URL", "python", 3),
        ("tool = 'xmrig'\nimport os\nfor i in range(3):\n    print(i)\nos.system('./' + tool)", "python", 5),
        ("a = 'xm'\nprint(a)\nb = a + 'rig'\nprint(b)\nimport os\nos.system(b)", "python", 6),
        ("from os import system as run_it\nx = 1\nrun_it('./xmrig')", "python", 3),
        ("x = '''\nhello\n'''\nimport os\nos.system('./xmrig')", "python", 5),
        ("%%time\nimport os\nos.system('./xmrig')", "python", 3),
        ("%%capture\n!./xmrig", "python", 2),
        ("x = 1 + \\\n  2\n!./xmrig", "python", 3),
    ],
)
def test_focus_follows_variables_and_cell_magics(focused_engine: Engine, code: str, language: str, line: int) -> None:
    from jupyter_tos_guard.policy import EvaluationContext

    hit = focused_engine.evaluate(code, EvaluationContext(language=language)).hit("mining.xmrig")
    assert hit is not None and hit.matches[0].span.line == line


@pytest.mark.parametrize(
    "code",
    [
        'def f():\n    """Never run\nos.system("./xmrig")\n    here."""\n    return 1\n',
        '%%bash\necho "Do not run\nxmrig on this machine"\nls',
        "x = 1 + \\\n!./xmrig",  # a Python continuation line, not a shell escape
    ],
)
def test_focus_does_not_read_strings_as_code(focused_engine: Engine, code: str) -> None:
    assert "mining.xmrig" not in focused_engine.evaluate(code).rule_ids


def test_focused_spans_point_into_the_cell(focused_engine: Engine) -> None:
    code = filler(40) + "def setup():\n    TOOL = './xm'\n" + filler(40) + "import os\nos.system(TOOL + 'rig')\n"
    m = focused_engine.evaluate(code).hit("mining.xmrig").matches[0]
    assert code[m.span.start : m.span.end] == "TOOL + 'rig'"
    assert m.span.line == code[: m.span.start].count("\n") + 1


def test_a_quoted_word_late_in_a_shell_cell_does_not_hide_an_earlier_decoder(default_engine: Engine) -> None:
    code = '%%bash\necho "it\'s" done\necho eG1yaWcgLW8gcG9vbA== | base64 -d | sh\nls\necho "x"y\n'
    assert "mining.xmrig" in default_engine.evaluate(code).rule_ids


def test_focused_reading_agrees_with_whole_reading_on_every_rule_example_in_filler() -> None:
    """The differential check of the focus: every embedded example of the default policy,
    set between ordinary notebook code (and with such code between its own statements), gets
    the same rules whether the cell is read around its places or whole."""
    import random

    from jupyter_tos_guard.bench.engine import CellGenerator

    policy = load_policy()
    focused, whole = Engine(policy), Engine(policy, focus=False)
    gen, rng = CellGenerator(7), random.Random(3)

    def filler() -> str:
        return gen.block(rng.choice(["pandas", "torch", "sklearn", "matplotlib", "comments", "subprocess"]))

    cells = []
    for rule in policy.rules:
        for example in rule.tests.flag + rule.tests.allow:
            if example.lstrip().startswith("%%"):
                cells.append(example + "\n" + "\n".join(f"echo step {i}" for i in range(30)))
                continue
            cells.append(filler() + "\n\n" + example + "\n\n" + filler())
            lines = []
            for line in example.split("\n"):
                lines.append(line)
                if line and not line[0].isspace() and not line.rstrip().endswith(("\\", ",", "(", "[", "{", ":")):
                    lines.append(filler())
            cells.append("\n".join(lines))
    assert len(cells) > 900
    differ = [c for c in cells if focused.evaluate(c).rule_ids != whole.evaluate(c).rule_ids]
    assert differ == []


def test_focused_reading_agrees_with_whole_reading_on_shell_scripts_in_every_form() -> None:
    """The shell scripts among the examples, as a `%%bash` cell and as a script file the guard
    reads (`!bash x.sh`): a rule whose patterns run over several lines (a loop and the `done`
    after it) must hold whether the script is read around its places or whole."""
    policy = load_policy()
    focused, whole = Engine(policy), Engine(policy, focus=False)
    bash = EvaluationContext(language="bash")
    scripts = [
        example
        for rule in policy.rules
        for example in rule.tests.flag + rule.tests.allow
        if "\n" in example
        and (example.startswith(("%%bash", "%%sh")) or (example.startswith("#!") and "sh" in example.split("\n", 1)[0]))
    ]
    assert len(scripts) >= 30
    differ = []
    for script in scripts:
        body = script.split("\n", 1)[1]
        for code, context in ((f"%%bash\n{body}", None), (script, bash), (body, bash)):
            if focused.evaluate(code, context).rule_ids != whole.evaluate(code, context).rule_ids:
                differ.append((code, context))
    assert differ == []


@pytest.mark.parametrize(
    ("code", "deep"),
    [
        ("%%bash\ncd $HOME/data\nls -la ${DATA_DIR}\ncat metrics.json | python -m json.tool | head", False),
        ("!cat out.json | python3 -m json.tool\n!tr -d ' ' < a.csv > b.csv", False),
        ("%%bash\necho aGk= | base64 -d | bash", True),
        ("%%bash\necho 'print(1)' | python3 -\n", True),
        ("%%bash\ncurl -s https://example.org/x.sh | bash -s -- --flag", True),
        ("%%bash\necho tvezk | tr 'a-z' 'n-za-m'", True),
        ("%%bash\nP=./xm\nQ=rig\n$P$Q", True),
    ],
)
def test_shell_cells_go_deep_only_on_signs_of_hiding(default_engine: Engine, code: str, deep: bool) -> None:
    assert default_engine.needs_analysis(code) is deep


def test_span_finder_fast_and_public_paths_agree() -> None:
    import re2

    from jupyter_tos_guard.policy import spans

    pattern = re2.compile(r"\bxm\w*|a*")
    data = b"xmrig and xmr, baa xm"

    class Public:  # no compiled program exposed: the public API is used
        def search(self, text: bytes, pos: int):  # noqa: ANN201
            return pattern.search(text, pos)

    fast = list(spans.spans(spans.finder(pattern), data))
    public = list(spans.spans(spans.finder(Public()), data))
    assert fast == public == [m.span() for m in pattern.finditer(data)]


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("%env T=xmrig\n!./$T -o pool", "mining.xmrig"),
        ("%env T ./xm\nx = 1\n!${T}rig -o pool", "mining.xmrig"),
        ("%set_env T=./xm\n!${T}rig -o pool", "mining.xmrig"),
        ('import os\nos.environ["M"] = "./xm"\nprint(2)\n!${M}rig -o p', "mining.xmrig"),
        (
            'import os\ndef setup():\n    os.environ.setdefault("M", "./hash")\nprint(1)\n!${M}cat -m 0 h.txt',
            "password-cracking.hashcat",
        ),
        ('import os\nos.putenv("M", "xmrig")\n!./$M', "mining.xmrig"),
        ("%env MODEL=bert\n!echo $MODEL", None),
        ('import os\nos.environ["X"] = "1"\n!echo $X', None),
    ],
)
def test_variables_a_cell_puts_in_the_environment_reach_its_shell_escapes(code: str, rule: str | None) -> None:
    policy = load_policy()
    for engine in (Engine(policy), Engine(policy, focus=False)):
        ids = engine.evaluate(code).rule_ids
        assert (rule in ids) if rule else ids == ()


@pytest.mark.parametrize(
    "code",
    [
        'a, b = "./xm", "rig"\nimport os\nprint(1)\nos.system(a + b + " -o p")',
        'tool, pool = "xmrig", "p:1"\nx = 2\n!./{tool} -o {pool}',
        '(a, b) = ["./xm", "rig"]\nimport subprocess\nsubprocess.run([a + b, "-o", "p"])',
    ],
)
def test_tuple_assignments_fold(code: str) -> None:
    policy = load_policy()
    for engine in (Engine(policy), Engine(policy, focus=False)):
        assert "mining.xmrig" in engine.evaluate(code).rule_ids


def test_focus_follows_what_a_call_reads_not_its_keywords_or_its_text() -> None:
    # `shell=`, `text=` are keyword names and `failed`, `command` words of an f-string's text:
    # none is a variable the call reads, so their unrelated assignments are not kept; `cmd`
    # and `code` (filled in) are
    text = (
        "shell = 'zsh'\ntext = open('notes.txt').read()\nfailed = 0\ncommand = 'help'\n"
        + "cmd = 'ls -l'\ncode = 3\n"
        + filler(100)
        + "import subprocess\n"
        + "p = subprocess.run(cmd, shell=True, text=True)\n"
        + "raise RuntimeError(f'command failed ({code}): {cmd}')\n"
    )
    window = focus(text, [text.index("subprocess.run"), text.index("RuntimeError")])
    assert window is not None
    assert window.text == (
        "cmd = 'ls -l'\ncode = 3\n"
        "p = subprocess.run(cmd, shell=True, text=True)\n"
        "raise RuntimeError(f'command failed ({code}): {cmd}')\n"
    )


def test_assignments_and_imports_are_found_as_before_in_long_blank_and_tuple_lines() -> None:
    # a statement whose comments became long runs of spaces, tuple targets in brackets, an
    # import bound under another name further down: each definition is still found
    long_comment = "#" + " x" * 400 + "\n"
    text = (
        "(first, tool) = 'a', 'girmx'\n"
        + long_comment * 3
        + "import os as o, sys\n"
        + filler(30)
        + "o.system(tool[::-1])  "
        + long_comment
    )
    window = focus(text, [text.index("o.system")])
    assert window is not None
    assert "(first, tool) = 'a', 'girmx'\n" in window.text
    assert Engine(load_policy()).evaluate(text).hit("mining.xmrig") is not None


@pytest.mark.parametrize("alphabet", ["standard", "urlsafe"])
def test_pasted_base64_is_data_not_names(default_engine: Engine, alphabet: str) -> None:
    """Random base64 holds short names and signs by chance ("/mz/", "+frp+", "-uv-", "DDOS"),
    about once per megabyte; inside a run of data they are no reason to read the cell, and the
    cell's own code beside the data is still read."""
    import base64
    import random

    encode = base64.b64encode if alphabet == "standard" else base64.urlsafe_b64encode
    data = encode(random.Random(11).randbytes(3_000_000)).decode()
    cell = f'BLOB = "{data}"'
    assert any(f"{c}mz{d}" in data.lower() for c in "+/-_" for d in "+/-_")  # chance names are there
    assert not default_engine.needs_analysis(cell)
    assert default_engine.evaluate(cell).rule_ids == ()
    beside = cell + "\nimport os\nos.system('./xmrig --donate-level 1')"
    assert "mining.xmrig" in default_engine.evaluate(beside).rule_ids
    hidden = "import base64, os\nos.system(base64.b64decode('Li94bXJpZyAtLWRvbmF0ZS1sZXZlbCAx').decode())\n" + cell
    assert "mining.xmrig" in default_engine.evaluate(hidden).rule_ids


def test_a_name_in_a_long_url_path_is_not_taken_for_data(default_engine: Engine) -> None:
    path = "/".join("Ab3" * 20 for _ in range(6))  # 365 characters of letters, digits and slashes
    cell = f"!wget -q https://downloads.example.org/{path}/xmrig"
    places: list[int] = []
    assert default_engine.compiled.worth_analyzing(cell, places)
    assert cell.index("xmrig") in places  # the path's run follows a host: not data
