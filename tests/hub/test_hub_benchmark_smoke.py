"""Smoke test of `jupyter-tos-guard-hub benchmark --quick`: it runs and prints every figure (no timing asserted)."""

from __future__ import annotations

import re
import subprocess
import sys

import jupyterhub  # noqa: E402,F401  (installed by the hub extra)


def test_benchmark_quick_prints_every_figure() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter_tos_guard.hub", "benchmark", "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    assert re.search(r"1 report\(s\) per request: \d+ reports in [\d.]+ s = [\d,]+ reports/s", out), out
    assert re.search(r"50 report\(s\) per request: \d+ reports in [\d.]+ s = [\d,]+ reports/s", out), out
    assert re.search(r"ingest: 1200 verdicts stored", out), out
    for case in ("no filter", "user", "group", "category", "rule", "action=block", "last 24 h", "user timeline"):
        assert re.search(rf"^\s+{re.escape(case)}\s+[\d.]+ ms", out, re.M), (case, out)
    assert re.search(r"dashboard: slowest page view \d+ ms", out), out
