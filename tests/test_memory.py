"""Across cells: names an earlier cell assigned are known to the next ones (policy/memory.py),
in the engine, the guard (per kernel, forgotten on restart) and `scan` (a notebook as one program)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from test_default_policy import BENIGN

from jupyter_tos_guard.config import TosGuard
from jupyter_tos_guard.guard import Guard, Request
from jupyter_tos_guard.policy import Action, Engine
from jupyter_tos_guard.policy.memory import MAX_STATEMENT_CHARS, Memory
from jupyter_tos_guard.scan import ScanReport, scan_file

SPLIT = [
    "a = './xm'",
    "b = a + 'rig'\nflags = (\n    ' --threads 2'\n    ' --fast'\n)",
    "!{b}{flags}",
]


def run_cells(engine: Engine, cells: list[str]) -> list[tuple[str, ...]]:
    memory = Memory()
    out = []
    for cell in cells:
        out.append(engine.evaluate(cell, prelude=memory.prelude(cell)).rule_ids)
        memory.remember(cell)
    return out


def test_a_command_split_over_cells_is_read_whole(default_engine: Engine) -> None:
    assert run_cells(default_engine, SPLIT) == [(), (), ("mining.xmrig",)]
    # each cell alone is innocent
    assert [default_engine.evaluate(c).rule_ids for c in SPLIT] == [(), (), ()]


@pytest.mark.parametrize(
    "cells",
    [
        ["import os\nos.environ['TOOL'] = './xmrig'", "!$TOOL --threads 2"],
        ["%env TOOL=./xmrig", "!$TOOL --threads 2"],
        [
            "cmd: str = './xmrig --threads 2'",
            "import subprocess\nsubprocess.run(cmd, shell=True)",
        ],
        ["x, y = './xm', 'rig --threads 2'", "import os\nos.system(x + y)"],
        ["c = './xm'", "c += 'rig --threads 2'", "get_ipython().system(c)"],
    ],
)
def test_kinds_of_assignment_carry_over(default_engine: Engine, cells: list[str]) -> None:
    assert run_cells(default_engine, cells)[-1] == ("mining.xmrig",)


def test_matches_in_earlier_cells_count_once_and_spans_are_the_cells_own(default_engine: Engine) -> None:
    memory = Memory()
    memory.remember("pool = 'stratum+tcp://pool.example.com:3333'\nwallet = '4Abc'")
    # the earlier cell's own URL matched when it ran; here only what this cell does counts
    assert default_engine.evaluate("print(pool)", prelude=memory.prelude("print(pool)")).rule_ids == ()
    cell = "x = 1\n!./xmrig -o {pool} -u {wallet}"
    verdict = default_engine.evaluate(cell, prelude=memory.prelude(cell))
    match = verdict.hits[0].matches[0]
    assert (match.span.line, match.span.column) == (2, 1)
    assert cell[match.span.start : match.span.end].startswith("./xmrig")


def test_memory_is_bounded_and_keeps_only_strings() -> None:
    memory = Memory(max_names=3)
    memory.remember("n = 3\nm = model.fit(x)\nbig = '" + "z" * MAX_STATEMENT_CHARS + "'\ndef f():\n    inner = 'x'\n")
    assert len(memory) == 0
    memory.remember("a = 'a'\nb = 'b'\nc = 'c'\nd = 'd'")
    assert memory.prelude("a b c d") == "b = 'b'\nc = 'c'\nd = 'd'\n"  # the oldest forgotten
    assert memory.prelude("print(1)") == ""


def test_benign_cells_in_sequence_stay_quiet(default_engine: Engine) -> None:
    flagged = [r for r in run_cells(default_engine, BENIGN) if r]
    assert flagged == []


def make_guard(tmp_path: Path, **traits: object) -> Guard:
    config = TosGuard(audit_log=str(tmp_path / "a.jsonl"), **traits)
    return Guard(config, logging.getLogger("test"))


def test_the_guard_remembers_per_kernel_and_forgets_on_restart(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    check = lambda code, kernel="k1": guard.check(Request(code, kernel_id=kernel)).action  # noqa: E731
    assert check(SPLIT[0]) == check(SPLIT[1]) == Action.ALLOW
    assert check(SPLIT[2]) == Action.BLOCK
    assert check(SPLIT[2], kernel="k2") == Action.ALLOW  # another kernel, another namespace
    guard.forget("k1")
    assert check(SPLIT[2]) == Action.ALLOW
    # a refused cell ran nothing, so it assigned nothing
    assert check("t = './xmrig'\n!./xmrig --threads 2") == Action.BLOCK
    assert check("!{t} --threads 2") == Action.ALLOW
    off = make_guard(tmp_path, remember_cells=False)
    for cell in SPLIT:
        decision = off.check(Request(cell, kernel_id="k1"))
    assert decision.action == Action.ALLOW


def test_scan_reads_a_notebook_as_one_program(tmp_path: Path, default_engine: Engine) -> None:
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": []} for c in SPLIT],
    }
    path = tmp_path / "split.ipynb"
    path.write_text(json.dumps(nb))
    report = ScanReport()
    scan_file(default_engine, path, report)
    assert [(f.cell, f.rule, f.line) for f in report.findings] == [(3, "mining.xmrig", 1)]


def test_assignments_are_found_on_the_lines_that_hold_them_as_the_line_pattern_finds_them() -> None:
    """Memory looks for assignments only on lines with an `=`; it must find exactly what the
    line pattern finds when tried at every line, whatever else the cell holds."""
    from jupyter_tos_guard.policy.memory import _ASSIGN_LINE, _assignment_lines

    cells = [
        "a = 1\nb == 2\nc += 'x'\n  d = 3\nx: str = 'y'\nos.environ['K'] = 'v'\ne, f = 'a', 'b'\n",
        "=\n==\n\n=a\nq=1",
        "print('a = b')\nif x == 1:\n    y = 2\nz = (\n  'a' '=' 'b')\n",
        "no equals here\nat all",
        "",
        "BLOB = '" + "QUJD+/" * 5000 + "=='\nnext = 'x'",
    ]
    for cell in cells:
        expected = [(m.start(), m.end(), m.groupdict()) for m in _ASSIGN_LINE.finditer(cell)]
        assert [(m.start(), m.end(), m.groupdict()) for m in _assignment_lines(cell)] == expected


def test_a_pasted_data_line_is_not_kept_and_what_follows_it_is() -> None:
    """A megabyte of base64 on one line is data: not kept (nor scanned for calls word by word),
    and the short assignments after it are still remembered."""
    memory = Memory()
    memory.remember("BLOB = '" + "QUJD+/" * 200_000 + "'\ncmd = './xm' + 'rig'\n")
    assert len(memory) == 1
    assert memory.prelude("!{cmd}") == "cmd = './xm' + 'rig'\n"


TUNNEL_SPLIT = [
    "!nohup jupyter lab --port 8889 --allow-root &",  # one sign of remote-access.tunneled-jupyter
    "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})",
    "print(df.describe())\n!./ngrok http 8889",  # ... and its other one
]


def test_a_rule_whose_signs_stand_in_different_cells_holds_in_the_cell_that_completes_it(tmp_path: Path) -> None:
    guard = make_guard(tmp_path)
    decisions = [guard.check(Request(cell, kernel_id="k1")) for cell in TUNNEL_SPLIT]
    assert [d.action for d in decisions] == [Action.ALLOW, Action.ALLOW, Action.WARN]
    verdict = decisions[2].verdict
    assert verdict is not None and verdict.rule_ids == ("remote-access.tunneled-jupyter",)
    (hit,) = verdict.hits
    assert [m.span.line for m in hit.matches] == [2]  # the line of this cell that completes it
    # another kernel never ran the first cell; after a restart this one has not either
    assert guard.check(Request(TUNNEL_SPLIT[2], kernel_id="k2")).action == Action.ALLOW
    guard.forget("k1")
    assert guard.check(Request(TUNNEL_SPLIT[2], kernel_id="k1")).action == Action.ALLOW


def test_signs_are_kept_as_lines_bounded_and_read_only_by_a_cell_with_a_sign_of_the_same_rule(
    default_engine: Engine,
) -> None:
    signs = default_engine.compiled.signs
    found = signs.lines(TUNNEL_SPLIT[0] + "\nx = 1")
    assert [rule for rule, _ in found] == ["remote-access.tunneled-jupyter"]
    assert list(found.values()) == [[TUNNEL_SPLIT[0]]]
    memory = Memory()
    memory.remember_signs(found)
    assert signs.rules_in("print(1)") == set()
    assert memory.sign_prelude(signs.rules_in("print(1)")) == ""
    assert memory.sign_prelude(signs.rules_in("!./ngrok http 8889")) == TUNNEL_SPLIT[0] + "\n"
    for i in range(100):
        memory.remember_signs({("r", f"sign {i}"): [f"line {i}"]})
    assert memory.sign_prelude({"r", "remote-access.tunneled-jupyter"}).count("\n") == 32
    # a sign in the prelude alone, with nothing of the rule in the cell, is no hit
    assert default_engine.evaluate("x = 2", signs=TUNNEL_SPLIT[0] + "\n!./ngrok http 8889\n").rule_ids == ()


def test_a_sign_seen_in_many_cells_keeps_its_latest_lines_and_never_pushes_out_another(tmp_path: Path) -> None:
    """A rule counts which of its signs hold, not how often: thirty data downloads must not
    push the `chmod +x` of an earlier cell out of the kernel's memory."""
    guard = make_guard(tmp_path)
    cells = ["!wget -q https://example.com/files/tool -O t && chmod +x t"]
    cells += [f"!wget -q https://example.org/data/part{i}.csv" for i in range(40)]
    for cell in cells:
        assert guard.check(Request(cell, kernel_id="k")).action == Action.ALLOW
    guard.remember_pending()
    memory = guard.memories["k"]
    prelude = memory.sign_prelude({"hidden-code.download-and-run"})
    assert cells[0] in prelude and cells[-1] in prelude and cells[-3] not in prelude
    assert prelude.count("\n") <= 4
    decision = guard.check(Request("!./t --threads 2", kernel_id="k"))
    assert decision.verdict is not None and decision.verdict.rule_ids == ("hidden-code.download-and-run",)


def test_hidden_code_in_remembered_sign_lines_sends_no_later_cell_to_be_read(default_engine: Engine) -> None:
    """Sign lines were read when their cell ran: decoding, a sink or a tool name in them is no
    reason to read every later cell that shares one of their signs (8 KB setup cells took
    5-8 ms each that way); their signs still count toward the rule."""
    hidden = "exec(codecs.decode('bf.flfgrz(\"./kzevt -b cbby\")', 'rot13'))  # ./run\n!./xmrig --help\n"
    setup = "\n".join(f"!wget -q https://example.org/data/part{i}.zip -O d.zip && unzip -q d.zip" for i in range(40))
    assert default_engine.prefiltered(setup, signs=hidden) is not None  # settled by the first pass
    assert default_engine.prefiltered(setup, prelude=hidden) is None  # assignments are read, though
    # the signs there still count: with a chmod in this cell, the rule holds
    verdict = default_engine.evaluate(setup + "\n!chmod +x d", signs=hidden)
    assert verdict.rule_ids == ("hidden-code.download-and-run",)
    assert all(m.span.line > 0 for h in verdict.hits for m in h.matches)


def test_a_huge_cell_is_not_searched_for_signs(default_engine: Engine) -> None:
    from jupyter_tos_guard.policy.signs import MAX_TEXT_CHARS

    huge = TUNNEL_SPLIT[0] + "\n" + "x = 1\n" * (MAX_TEXT_CHARS // 6)
    assert default_engine.compiled.signs.lines(huge) == {}
    assert default_engine.compiled.signs.rules_in(huge) == set()


@pytest.mark.parametrize(
    "cell",
    [
        "%%bash\necho eG1yaWc= | base64 -d | sh",
        "%%bash\nP=xm\nQ=rig\n./$P$Q -o pool.example.org:3333",
        "%%capture\n!./xm''rig --help",
    ],
)
def test_a_cell_magic_after_remembered_code_still_heads_its_cell(default_engine: Engine, cell: str) -> None:
    """What earlier cells left is read before the cell; a `%%bash` cell is still read as the
    shell script it is (before, any prelude turned its body into text)."""
    alone = default_engine.evaluate(cell).rule_ids
    assert "mining.xmrig" in alone
    assert default_engine.evaluate(cell, prelude='data_dir = "data"\n').rule_ids == alone
    assert default_engine.evaluate(cell, signs="!wget -q https://example.org/a.zip\n").rule_ids == alone
