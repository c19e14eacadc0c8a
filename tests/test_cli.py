"""`jupyter tos-guard scan|validate|test|explain`, in process and as a real subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from jupyter_tos_guard.cli import main

SAMPLES = Path(__file__).parent / "samples"


def run_cli(*args: str, cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_tos_guard", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        input=stdin,
        timeout=120,
    )


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def scan_json(capsys, *paths: str | Path, policy: Path | None = None) -> tuple[int, dict]:
    args = ["scan", "--format", "json"] + (["--policy", str(policy)] if policy else []) + [str(p) for p in paths]
    code, out, _ = cli(capsys, *args)
    return code, json.loads(out)


def findings_by(report: dict) -> dict[tuple[str, str], dict]:
    """(file name, rule) -> the first finding."""
    out: dict[tuple[str, str], dict] = {}
    for f in report["findings"]:
        out.setdefault((Path(f["path"]).name, f["rule"]), f)
    return out


def write_notebook(path: Path, *sources: str, markdown: str | None = None) -> Path:
    cells = ([new_markdown_cell(markdown)] if markdown else []) + [new_code_cell(s) for s in sources]
    path.write_text(nbformat.writes(new_notebook(cells=cells)), encoding="utf-8")
    return path


OVERRIDE = textwrap.dedent(
    """\
    version: 1
    rules:
      - id: mining.xmrig
        action: log
    """
)


# --- scan ---------------------------------------------------------------------------------------


def test_scan_samples_json_shape_and_findings():
    """The realistic samples through a real `python -m jupyter_tos_guard scan` process."""
    proc = run_cli("scan", "--format", "json", "samples", cwd=SAMPLES.parent)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) == {"files_scanned", "findings", "errors"}
    # 5 clean + 6 flagged files, and the broken notebook (an error, then its code cells read);
    # the .txt and ruff.toml are not walked
    assert report["files_scanned"] == 12
    broken = str(Path("samples/broken/truncated.ipynb"))
    assert report["errors"] == [{"path": broken, "error": report["errors"][0]["error"]}]
    assert "not a readable notebook" in report["errors"][0]["error"]
    assert "1 code cells read from what is left" in report["errors"][0]["error"]
    for f in report["findings"]:
        assert set(f) == {"path", "cell", "line", "column", "rule", "category", "action", "excerpt"}
        assert Path(f["path"]).parts[:2] in (("samples", "flagged"), ("samples", "broken")), f
    assert {f["rule"] for f in report["findings"] if f["path"] == broken} >= {"mining.xmrig"}
    found = findings_by(report)

    roop = found[("faceswap_colab.ipynb", "deepfake.roop")]
    assert (roop["cell"], roop["line"], roop["column"], roop["action"]) == (3, 2, 30, "warn")
    assert roop["excerpt"] == "!git clone --depth 1 https://github.com/s0md3v/roop.git"
    assert roop["category"] == "deepfake"
    assert found[("faceswap_colab.ipynb", "deepfake.inswapper")]["cell"] == 4
    # the roop command line, continued over two lines in a %%bash cell, is found too
    rules_by_cell = {(f["cell"], f["rule"]) for f in report["findings"] if f["path"].endswith("faceswap_colab.ipynb")}
    assert (6, "deepfake.roop") in rules_by_cell

    wget = found[("monero_mining.ipynb", "mining.xmrig")]
    assert (wget["cell"], wget["line"], wget["column"], wget["action"]) == (3, 3, 17, "block")
    miner = [f for f in report["findings"] if f["path"].endswith("monero_mining.ipynb") and f["cell"] == 4]
    assert {(f["rule"], f["line"]) for f in miner} == {
        ("mining.pool-domains", 2),
        ("mining.xmrig", 3),
        ("mining.miner-arguments", 3),  # its pool and wallet, whatever the program is called
    }

    torrent = {f["rule"] for f in report["findings"] if f["path"].endswith("torrent_fetch.ipynb")}
    assert {"p2p.aria2-bittorrent", "p2p.bittorrent-links", "p2p.libtorrent"} <= torrent

    john = found[("crack_archive.py", "password-cracking.john")]
    assert (john["cell"], john["line"], john["column"]) == (None, 9, 22)
    hidden = found[("cache_warmer.py", "mining.xmrig")]  # base64 handed to a shell
    assert (hidden["cell"], hidden["line"], hidden["action"]) == (None, 11, "block")
    tunnel = found[("remote_box.sh", "remote-access.ssh-reverse-tunnel")]
    assert (tunnel["line"], tunnel["column"]) == (12, 1)
    assert found[("remote_box.sh", "remote-access.ssh-server")]["line"] == 6


def test_scan_clean_samples_exit_0(capsys):
    code, report = scan_json(capsys, SAMPLES / "clean")
    assert code == 0
    assert report == {"files_scanned": 5, "findings": [], "errors": []}


def test_scan_reads_a_named_file_by_its_content(capsys):
    hidden = SAMPLES / "misc" / "notebook_saved_as.txt"
    code, report = scan_json(capsys, hidden)
    assert code == 1
    assert report["files_scanned"] == 1
    [finding] = [f for f in report["findings"] if f["rule"] == "password-cracking.hashcat"]
    assert (finding["cell"], finding["line"]) == (3, 1)
    # walked as part of a directory, a .txt file is not a notebook or script and is skipped
    code, report = scan_json(capsys, SAMPLES / "misc")
    assert (code, report["files_scanned"], report["findings"]) == (0, 0, [])


def test_scan_directory_recursively_skipping_checkpoints(tmp_path, capsys):
    deep = tmp_path / "course" / "week3" / "lab"
    deep.mkdir(parents=True)
    write_notebook(deep / "lab.ipynb", "import pandas as pd", "!hashcat -m 0 hashes.txt", markdown="hashcat is banned")
    ckpt = tmp_path / "course" / ".ipynb_checkpoints"
    ckpt.mkdir()
    write_notebook(ckpt / "old-checkpoint.ipynb", "!./xmrig")
    (tmp_path / "course" / "run.sh").write_text("#!/bin/bash\necho ok\nsudo hping3 --flood -S 10.0.0.9\n")
    (tmp_path / "course" / "notes.md").write_text("!./xmrig\n")
    (tmp_path / "course" / "tool").write_text("#!/bin/sh\n./xmrig\n")  # no suffix: not walked
    code, report = scan_json(capsys, tmp_path)
    assert code == 1
    assert report["files_scanned"] == 2
    got = sorted((Path(f["path"]).name, f["cell"], f["line"], f["rule"]) for f in report["findings"])
    assert got == [("lab.ipynb", 3, 1, "password-cracking.hashcat"), ("run.sh", None, 3, "dos.hping3-flood")]


def test_scan_with_several_processes_finds_the_same_in_the_same_order(tmp_path):
    for n in range(40):
        folder = tmp_path / f"week{n % 7}"
        folder.mkdir(exist_ok=True)
        cells = ["import pandas as pd"] + (["!./xmrig -o pool.example.com:3333"] if n % 3 == 0 else [])
        write_notebook(folder / f"lab{n:02d}.ipynb", *cells)
        (folder / f"util{n:02d}.py").write_text("import os\n" + ("os.system('hashcat -m 0 h')\n" if n % 5 == 0 else ""))
    (tmp_path / "broken.ipynb").write_text("{not json")
    one = run_cli("scan", "--format", "json", "-j", "1", str(tmp_path))
    two = run_cli("scan", "--format", "json", "-j", "2", str(tmp_path))
    assert one.returncode == two.returncode == 1
    assert json.loads(one.stdout) == json.loads(two.stdout)
    report = json.loads(two.stdout)
    assert report["files_scanned"] == 80 and len(report["errors"]) == 1
    assert len({f["path"] for f in report["findings"]}) == 14 + 8
    bad = run_cli("scan", "-j", "0", str(tmp_path))
    assert bad.returncode == 2 and "not a positive number of processes" in bad.stderr


def test_scan_scripts_by_shebang_and_suffix(tmp_path, capsys):
    script = tmp_path / "setup"
    script.write_text("#!/usr/bin/env bash\nset -e\ncd /opt && ./xmrig --donate-level 1\n")
    py = tmp_path / "job.py"
    py.write_text("import subprocess\n\n\nsubprocess.run(['hashcat', '-m', '0', 'h.txt'])\n")
    code, report = scan_json(capsys, script, py)
    assert code == 1
    got = {(Path(f["path"]).name, f["line"], f["column"], f["rule"]) for f in report["findings"]}
    assert got == {("setup", 3, 12, "mining.xmrig"), ("job.py", 4, 18, "password-cracking.hashcat")}


def test_scan_goes_on_after_corrupt_and_unreadable_files(tmp_path, capsys):
    write_notebook(tmp_path / "a_good.ipynb", "!./xmrig")
    (tmp_path / "b_corrupt.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "!./xmrig"')
    (tmp_path / "c_notjson.ipynb").write_text("this is not json at all")
    (tmp_path / "d_latin1.py").write_bytes("# caf\xe9\nimport os\n".encode("latin-1"))
    write_notebook(tmp_path / "e_after.ipynb", "!hashcat -a 3 h.txt")
    (tmp_path / "f_script.ipynb").write_text("import os\nos.system('./xmrig -o pool.minexmr.com:4444')\n")
    code, report = scan_json(capsys, tmp_path)
    assert code == 1
    # what is no notebook is still read, as plain text: a script saved as .ipynb runs with python
    assert report["files_scanned"] == 5
    errors = {Path(e["path"]).name: e["error"] for e in report["errors"]}
    assert set(errors) == {"b_corrupt.ipynb", "c_notjson.ipynb", "d_latin1.py", "f_script.ipynb"}
    assert "not a readable notebook" in errors["b_corrupt.ipynb"] and "1 code cells read" in errors["b_corrupt.ipynb"]
    assert "read as plain text" in errors["f_script.ipynb"]
    assert "not UTF-8" in errors["d_latin1.py"]
    found = {Path(f["path"]).name for f in report["findings"]}
    assert found == {"a_good.ipynb", "b_corrupt.ipynb", "e_after.ipynb", "f_script.ipynb"}


def test_scan_exit_0_when_only_log_level_findings(tmp_path, capsys):
    nb = write_notebook(tmp_path / "m.ipynb", "!./xmrig -o pool")
    policy = tmp_path / "campus.yaml"
    policy.write_text(OVERRIDE)
    code, report = scan_json(capsys, nb, policy=policy)
    assert code == 0
    assert [(f["rule"], f["action"]) for f in report["findings"]] == [("mining.xmrig", "log")]


def test_scan_text_format(tmp_path, capsys):
    nb = write_notebook(tmp_path / "m.ipynb", "x = 1", "!./xmrig -o pool")
    code, out, err = cli(capsys, "scan", str(nb))
    assert code == 1
    assert f"{nb} cell 2 line 1:2: BLOCK mining.xmrig [mining] !./xmrig -o pool" in out
    assert out.rstrip().endswith("1 files scanned, 1 findings, 0 errors")


@pytest.mark.parametrize(
    "args",
    [
        ["scan", "/no/such/path.ipynb"],
        ["scan"],
        ["scan", "--format", "xml", "."],
        ["frobnicate"],
        [],
    ],
)
def test_usage_errors_exit_2(args, capsys):
    with pytest.raises(SystemExit) as exc:
        if main(args) == 2:
            raise SystemExit(2)
    assert exc.value.code == 2


def test_scan_with_a_broken_policy_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules:\n  - id: x.y\n    action: nuke\n")
    code, out, err = cli(capsys, "scan", "--policy", str(bad), str(SAMPLES / "clean"))
    assert code == 2
    assert f"{bad}:4:13: action 'nuke'" in err


# --- validate -----------------------------------------------------------------------------------


def test_validate_good_files_layered_in_order(tmp_path, capsys):
    first = tmp_path / "first.yaml"
    first.write_text(
        textwrap.dedent(
            """\
        version: 1
        rules:
          - id: site.tool
            category: mining
            title: Site tool
            action: warn
            message: Not here.
            match: [{command: sitetool}]
        """
        )
    )
    second = tmp_path / "second.yaml"
    second.write_text("version: 1\nrules:\n  - id: site.tool\n    action: block\n")
    code, out, _ = cli(capsys, "validate", str(first), str(second))
    assert code == 0, out
    assert f"{first}: OK" in out and f"{second}: OK" in out


def test_validate_warns_of_a_dollar_meant_as_a_line_end(tmp_path, capsys):
    """RE2's `$` is the end of the text a regex reads (a whole cell): a pattern that means a line's
    end misses every line but the last. Validate says so, and still passes the file."""
    policy = tmp_path / "site.yaml"
    policy.write_text(
        textwrap.dedent(
            """\
        version: 1
        rules:
          - id: site.login
            category: mining
            title: Short login flags
            action: warn
            message: Not here.
            match:
              - regex: '-u\\s+\\S+\\s+-p\\s+x([ \\t]|$)'
          - id: site.fine
            category: mining
            title: Fine
            action: warn
            message: Not here.
            match:
              - regex: '(?m)^\\s*sitetool\\b.*$'
              - regex: '--coin(\\s|$)'
        """
        )
    )
    code, out, _ = cli(capsys, "validate", str(policy))
    assert code == 0, out
    warnings = [line for line in out.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith(f"{policy}:3: warning: rule site.login: '$' in pattern")
    assert "(?m)" in warnings[0]


def test_no_default_regex_means_a_line_end_by_dollar():
    from jupyter_tos_guard.policy import load_policy
    from jupyter_tos_guard.policy.matchers.regex import RegexMatcher
    from jupyter_tos_guard.policy.patterns import line_end_hint

    hints = [
        (rule.id, m.regex)
        for rule in load_policy().rules
        for m in rule.matchers
        if isinstance(m, RegexMatcher) and line_end_hint(m.regex)
    ]
    assert hints == []


def test_validate_lists_every_problem_exit_1(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        textwrap.dedent(
            """\
        version: 1
        rules:
          - id: site.one
            category: mining
            title: One
            action: warm
            message: m
            match:
              - regex: '(?<=pool)\\.com'
          - id: site.two
            titel: Two
        disable: [nothing.here]
        """
        )
    )
    missing = tmp_path / "missing.yaml"
    proc = run_cli("validate", str(bad), str(missing))
    assert proc.returncode == 1
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == f"{missing}:1:1: no such file"
    assert any(line.startswith(f"{bad}:6:13: action 'warm' must be one of: log, warn, ") for line in lines)
    assert any(
        line.startswith(f"{bad}:9:16: pattern '(?<=pool)\\.com' is refused") and "linear time" in line for line in lines
    )
    assert any(line.startswith(f"{bad}:11:5: unknown key 'titel'") and "'title'" in line for line in lines)
    assert f"{bad}:12:11: disable 'nothing.here' matches no rule defined so far" in lines
    assert len(lines) == 6, lines  # also: site.two misses its fields


# --- test -----------------------------------------------------------------------------------------

FAILING = textwrap.dedent(
    """\
    version: 1
    rules:
      - id: site.sitetool
        category: mining
        title: Site tool
        action: warn
        message: Not here.
        match: [{command: sitetool}]
        tests:
          flag:
            - "!sitetool --run"
            - "print('sitetool')"
          allow:
            - "!ls"
            - "import os\\nos.system('sitetool -v')"
      - id: site.other
        category: mining
        title: Other
        action: warn
        message: Not here.
        match: [{command: othertool}]
        tests:
          flag: ["!othertool"]
          allow: ["!ls"]
    """
)


def test_test_command_names_failures(tmp_path, capsys):
    policy = tmp_path / "site.yaml"
    policy.write_text(FAILING)
    code, out, _ = cli(capsys, "test", str(policy))
    assert code == 1
    assert "FAIL site.sitetool: flag example: the rule did not match" in out
    assert "    | print('sitetool')" in out
    assert (
        "FAIL site.sitetool: allow example: the rule matched: command 'sitetool' on 'sitetool -v' at line 2, column 12"
    ) in out
    assert "    | os.system('sitetool -v')" in out
    assert "site.other" not in out.replace("2 rules", "")
    assert "2 rules, 6 examples" in out
    assert "4 passed, 2 failed" in out


PINNED = textwrap.dedent(
    """\
    version: 1
    rules:
      - id: site.pinned
        category: misuse
        title: Site tool
        action: warn
        message: Not here.
        match: [{command: sitetool}]
        tests:
          flag:
            - |
              import os
              # ruleid: site.pinned
              os.system('sitetool -v')
            - |
              # ruleid: site.pinned
              print('setup')
              os.system('sitetool -v')
            - |
              # ruleid: site.other
              os.system('sitetool -v')
    """
)


def test_test_command_checks_the_lines_an_example_pins(tmp_path, capsys):
    policy = tmp_path / "site.yaml"
    policy.write_text(PINNED)
    code, out, _ = cli(capsys, "test", "--no-default", str(policy))
    assert code == 1
    assert "FAIL site.pinned: flag example: the rule matched on line 3, not on the pinned line 2" in out
    assert "FAIL site.pinned: flag example: a '# ruleid:' marker names 'site.other', not 'site.pinned'" in out
    assert "1 passed, 2 failed" in out


def test_test_command_rule_filter_and_no_default(tmp_path, capsys):
    policy = tmp_path / "site.yaml"
    policy.write_text(FAILING)
    code, out, _ = cli(capsys, "test", "--no-default", "--rule", "site.other", str(policy))
    assert code == 0
    assert "1 rules, 2 examples" in out and "2 passed, 0 failed" in out


def test_test_command_with_broken_policy_exits_2(tmp_path, capsys):
    policy = tmp_path / "site.yaml"
    policy.write_text("version: 1\nrules: 5\n")
    code, _, err = cli(capsys, "test", str(policy))
    assert code == 2
    assert f"{policy}:2:8: rules must be a list" in err


def test_test_command_on_the_default_policy_subprocess():
    proc = run_cli("test")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " 0 failed" in proc.stdout


# --- explain --------------------------------------------------------------------------------------


def test_explain_text(capsys):
    code, out, _ = cli(capsys, "explain", "import os\n!git clone https://github.com/xmrig/xmrig")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("block: 1 rule(s) matched")
    assert lines[1].startswith("- mining.xmrig [mining, ")
    assert lines[2].startswith("  why: ")
    assert "matched 'github.com/xmrig/xmrig' via shell at line 2, column 20" in lines[3]
    assert lines[4] == "       2 | !git clone https://github.com/xmrig/xmrig"
    assert lines[5] == "         | " + " " * 19 + "^" * len("github.com/xmrig/xmrig")


def test_explain_allow_and_derived(capsys):
    code, out, _ = cli(capsys, "explain", "import pandas as pd")
    assert code == 0 and out.startswith("allow: no rule matched")
    code, out, _ = cli(capsys, "explain", "import os\nos.system('./xm' + 'rig')")
    assert "via concat+shell" in out and "(derived from this source)" in out


def test_explain_json_from_stdin_subprocess(tmp_path):
    policy = tmp_path / "campus.yaml"
    policy.write_text(OVERRIDE)
    proc = run_cli("explain", "--format", "json", "--policy", str(policy), "-", stdin="x = 1\n!./xmrig -o pool\n")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["action"] == "log"
    [rule] = [r for r in data["rules"] if r["id"] == "mining.xmrig"]
    assert rule["action"] == "log"
    m = rule["matches"][0]
    assert (m["matcher"], m["evidence"], m["line"], m["column"], m["exact"]) == ("command", "xmrig -o pool", 2, 2, True)
    assert m["via"] == ["shell"]


def test_console_script_is_installed():
    exe = shutil.which("jupyter-tos-guard")
    assert exe is not None
    proc = subprocess.run([exe, "explain", "!hashcat -m 0 h"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "password-cracking.hashcat" in proc.stdout


def test_scan_of_only_unreadable_files_is_not_a_pass(tmp_path, capsys):
    (tmp_path / "broken.ipynb").write_text('{"cells": [ not json')
    code, out, err = cli(capsys, "scan", str(tmp_path))
    assert code == 3
    assert "broken.ipynb: error:" in err and "0 files scanned, 0 findings, 1 errors" in out


def test_scan_sarif(tmp_path, capsys):
    write_notebook(tmp_path / "m.ipynb", "x = 1", "!./xmrig -o pool.supportxmr.com:3333")
    (tmp_path / "run.sh").write_text("#!/bin/sh\nhashcat -m 0 h.txt\n")
    (tmp_path / "bad.ipynb").write_text("{ nope")
    code, out, _ = cli(capsys, "scan", "--format", "sarif", str(tmp_path))
    assert code == 1
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0"
    [run] = sarif["runs"]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["mining.xmrig"]["defaultConfiguration"]["level"] == "error"
    assert rules["password-cracking.hashcat"]["defaultConfiguration"]["level"] == "warning"
    by_rule = {r["ruleId"]: r for r in run["results"]}
    xmrig = by_rule["mining.xmrig"]
    region = xmrig["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (1, 2)  # counted from 1, as scan's text output
    assert xmrig["properties"]["cell"] == 2 and "cell 2" in xmrig["message"]["text"]
    assert xmrig["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("m.ipynb")
    assert (
        run["results"][xmrig["ruleIndex"]]
        and run["tool"]["driver"]["rules"][xmrig["ruleIndex"]]["id"] == "mining.xmrig"
    )
    [note] = run["invocations"][0]["toolExecutionNotifications"]
    assert "bad.ipynb" in note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert run["invocations"][0]["executionSuccessful"] is False


def test_scan_reads_nbformat_3_notebooks_and_starts_fast(tmp_path, capsys):
    v3 = {
        "nbformat": 3,
        "metadata": {"language": "python"},
        "worksheets": [
            {"cells": [{"cell_type": "markdown", "source": "x"}, {"cell_type": "code", "input": "!./xmrig -o p"}]}
        ],
    }
    (tmp_path / "old.ipynb").write_text(json.dumps(v3))
    code, report = scan_json(capsys, tmp_path)
    assert code == 1
    assert [(f["cell"], f["rule"]) for f in report["findings"]] == [(2, "mining.xmrig")]
    # the scanner does not import nbformat's schema validation (a second of start-up)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, jupyter_tos_guard.cli, jupyter_tos_guard.scan; print('nbformat' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "False"


def test_salvage_reads_the_code_cells_left_in_broken_json():
    from jupyter_tos_guard.scan import salvage_cells

    broken = (
        '{"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["run ./xmrig here"]},\n'
        ' {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["import os\\n", "os.system(\\"ls\\")"]},\n'
        ' {"cell_type": "code", "source": "!./xmrig -o pool.example.com:3333"'  # cut short here
    )
    assert salvage_cells(broken) == [(1, 'import os\nos.system("ls")'), (2, "!./xmrig -o pool.example.com:3333")]
    assert salvage_cells('{"cells": [ not json') == []


def test_a_rule_whose_signs_stand_in_different_cells_is_found_in_the_notebook(tmp_path, capsys):
    # a Jupyter of its own started in one cell, published through a tunnel two cells on: neither
    # cell alone holds both signs of remote-access.tunneled-jupyter
    write_notebook(
        tmp_path / "split.ipynb",
        "import os\nprint(os.getcwd())",
        "!nohup jupyter lab --port 8889 --allow-root &",
        "x = 1",
        "!./ngrok http 8889",
        markdown="# set-up",
    )
    write_notebook(tmp_path / "one.ipynb", "!nohup jupyter lab --port 8889 --allow-root &\n!./ngrok http 8889")
    _, report = scan_json(capsys, tmp_path)
    split = [f for f in report["findings"] if Path(f["path"]).name == "split.ipynb"]
    tunneled = [f for f in split if f["rule"] == "remote-access.tunneled-jupyter"]
    assert [(f["cell"], f["line"], f["column"]) for f in tunneled] == [(3, 1, 7)]  # cell numbers count markdown
    assert tunneled[0]["excerpt"] == "!nohup jupyter lab --port 8889 --allow-root &"
    one = [f["rule"] for f in report["findings"] if Path(f["path"]).name == "one.ipynb"]
    assert one.count("remote-access.tunneled-jupyter") == 1  # found in its cell, not again for the notebook
