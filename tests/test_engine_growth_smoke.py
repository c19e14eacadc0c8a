"""Smoke test of the adversarial growth benchmark: it runs every shape and prints a row each (no timing asserted)."""

from __future__ import annotations

import subprocess
import sys

from jupyter_tos_guard.bench.engine_growth import SHAPES


def test_growth_table_prints_every_shape() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_tos_guard.bench.engine_growth", "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    rows = [line for line in out.splitlines() if line.rstrip().endswith(("PASS", "MISS"))]
    assert len(rows) == len(SHAPES)
    for shape, row in zip(SHAPES, rows, strict=True):
        assert row.strip().startswith(shape)
