"""Smoke test of `python -m jupyter_tos_guard.bench.server --quick`: two real servers, two
real kernels, every figure printed, both servers stopped.

No timing is asserted (that depends on the machine); only that each figure line is there.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

FIGURE = r"[-+]?\d+\.\d+ ms"
ROW = rf"\s+\d+\s+{FIGURE}\s+{FIGURE}\s+{FIGURE}\s+{FIGURE}"
SECTIONS = ("small cells", "1 MB cell, CSV text literal", "1 MB cell, base64 literal")


@pytest.fixture(scope="module")
def output() -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter_tos_guard.bench.server", "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
    return proc.stdout


def _section(output: str, name: str) -> str:
    """The block of figures for one cell set, from its heading to the next blank line."""
    heading = re.search(rf"^  {re.escape(name)}: \d+ batch", output, re.M)
    assert heading, f"no figures for {name!r} in:\n{output}"
    end = output.find("\n\n", heading.start())
    return output[heading.start() : end if end >= 0 else None]


def test_both_servers_started_one_guarded(output: str) -> None:
    assert re.search(r"no guard\s+jupyter-server pid \d+ on http://127\.0\.0\.1:\d+\s+\(tos-guard not loaded", output)
    assert re.search(
        r"guard\s+jupyter-server pid \d+ on http://127\.0\.0\.1:\d+\s+\(tos-guard active: \d+ rules", output
    )


@pytest.mark.parametrize("name", SECTIONS)
def test_figures_printed(output: str, name: str) -> None:
    section = _section(output, name)
    for pattern in (
        rf"^  {re.escape(name)}: \d+ batch(es)? x \d+ per server, interleaved, \d+\.\d s",
        rf"^\s+no guard{ROW}",
        rf"^\s+guard{ROW}",
        r"^\s+ratio guard/no guard\s+\d+\.\d+x\s+\d+\.\d+x\s+\d+\.\d+x",
        rf"^\s+added by the guard\s+{FIGURE}\s+{FIGURE}\s+{FIGURE}",
        rf"paired by batch .*: {FIGURE}",
        rf"until iopub busy .*no guard \d+\.\d+ ms, guard \d+\.\d+ ms, added {FIGURE}",
        r"Guard\.check\(\) in the guard server .*mean \d+\.\d+ ms",
    ):
        assert re.search(pattern, section, re.M), f"missing {pattern!r} in:\n{section}"


def test_targets_and_verdict(output: str) -> None:
    assert re.search(
        r"\[target small cells, median overhead <= 5%: (PASS|MISS)\] [-+]\d+\.\d % \(this run's noise", output
    )
    assert re.search(
        r"\[target small cells, p99 added <= 1 ms: (PASS|MISS)\] [-+]\d+\.\d+ ms \(this run's noise", output
    )
    assert re.search(r"server round trips: (PASS|MISS) \(servers stopped; \d+\.\d s\)", output)


def test_servers_gone(output: str) -> None:
    pids = [int(p) for p in re.findall(r"jupyter-server pid (\d+)", output)]
    assert len(pids) == 2
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue
        assert state == "Z", f"jupyter-server {pid} still running"  # a zombie is gone, just not reaped


def test_noise_floor_of_small_cells(output: str) -> None:
    section = _section(output, "small cells")
    assert re.search(rf"noise floor .*median ±{FIGURE} \(±\d+\.\d %\), p99 ±{FIGURE}", section), section
