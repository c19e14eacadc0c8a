"""Smoke test of `jupyter tos-guard benchmark --quick`: it runs and prints every figure.

No timing is asserted (that depends on the machine); only that each figure line is there.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def output() -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter_tos_guard", "benchmark", "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
    return proc.stdout


FIGURE = r"\d+\.\d+ ms"


@pytest.mark.parametrize(
    "pattern",
    [
        # default policy load: YAML and compile, separately
        rf"load \(read \+ YAML \+ validate\)\s+{FIGURE}\s+Engine compile\s+{FIGURE}",
        # the mix composition, one line per kind, and the size buckets
        r"^\s+pandas\s+\d+\s+\d+",
        r"^\s+prohibited\s+\d+\s+\d+.*\d+/\d+",
        r"^\s+obfuscated\s+\d+\s+\d+.*\d+/\d+",
        r"sizes: \d+ B \.\. \d+ B.*<=1 KB \d+, 1-4 KB \d+, 4-10 KB \d+",
        # per-cell latency: overall (with its target) and per size bucket
        rf"all cells\s+\d+\s+{FIGURE}\s+{FIGURE}\s+{FIGURE}\s+\[target p99 <= 1 ms: (PASS|MISS)\]",
        rf"size <=1 KB\s+\d+\s+{FIGURE}\s+{FIGURE}",
        rf"size 1-4 KB\s+\d+\s+{FIGURE}\s+{FIGURE}",
        rf"size 4-10 KB\s+\d+\s+{FIGURE}\s+{FIGURE}",
        # throughput on 1 MB cells, benign and with one prohibited line
        rf"benign\s+1\.\d\dMB\s+{FIGURE}\s+\d+\.\d\s+\d+\.\d\s+(fast|deep|\?)\s+allow",
        rf"one prohibited line\s+1\.\d\dMB\s+{FIGURE}\s+\d+\.\d\s+\d+\.\d\s+(deep|\?)\s+block",
        r"\[target >= 20 MB/s on large cells: (PASS|MISS)\]",
        # the synthetic 10,000-rule policy: load and compile timed separately
        r"\d+ KB of YAML, \d+ matchers: .*regex \d+",
        r"10000 rules: load_texts \d+\.\d+ s \+ Engine compile \d+\.\d+ s = \d+\.\d+ s",
        r"\[target 10,000 rules load <= 2 s: (PASS|MISS)\]",
        # per-cell latency at 100 / 1,000 / 10,000 rules, with the ratio vs 100 rules
        rf"^\s+1[0-9]{{2}}\s+\d+\.\d\d s\s+{FIGURE}\s+{FIGURE}",
        rf"^\s+1000\s+\d+\.\d\d s\s+{FIGURE}\s+{FIGURE}",
        rf"^\s+10000\s+\d+\.\d\d s\s+{FIGURE}\s+{FIGURE}.*\d+\.\d\d\s+\d+\.\d\d",
        r"100x the rules -> \d+\.\d\dx p50, \d+\.\d\dx p99",
        # real code: the installed dependencies' modules, as the engine reads them and read whole
        rf"as the engine reads them\s+\d+\s+{FIGURE}\s+{FIGURE}",
        rf"every one read whole\s+\d+\s+{FIGURE}\s+{FIGURE}",
        # cells in sequence, with and without the memory of earlier cells
        rf"check, memory off\s+\d+\s+{FIGURE}",
        rf"check, memory on\s+\d+\s+{FIGURE}.*names remembered",
        r"ratio on/off: p50 x\d+\.\d\d, p99 x\d+\.\d\d",
        # the summary
        r"^\s+(PASS|MISS)\s+p99 <= 1 ms",
        r"^\s+(PASS|MISS)\s+>= 20 MB/s on large cells",
        r"^\s+(PASS|MISS)\s+10,000 rules load <= 2 s",
        r"^\s+(PASS|MISS)\s+cost grows far slower than rules",
    ],
)
def test_figure_printed(output: str, pattern: str) -> None:
    assert re.search(pattern, output, re.M), f"missing {pattern!r} in:\n{output}"


def test_quick_mode_skips_10mb_cells(output: str) -> None:
    assert "10.00MB" not in output
    assert "skipped in --quick mode" in output


def test_server_hook_without_flag(output: str) -> None:
    assert "add --server" in output


def test_scan_benchmark_runs_without_semgrep(tmp_path) -> None:
    (tmp_path / "a.py").write_text("import os\nos.system('./xmrig -o pool.example.com:3333')\n")
    (tmp_path / "b.sh").write_text("echo fine\n")
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter_tos_guard.bench.scan", str(tmp_path), "--semgrep", "", "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"jupyter tos-guard scan\s+\d+\.\d\d s .* 2 files read, \d+ findings", proc.stdout)
    assert "semgrep: not found" in proc.stdout
