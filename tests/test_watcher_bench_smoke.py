"""The watcher benchmark runs end to end and prints its figures (a smoke run, not a gate)."""

from __future__ import annotations

import pytest

from jupyter_tos_guard.bench import watcher as bench


def test_watcher_benchmark_prints_cpu_share_and_time_to_kill(capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--sizes", "5", "20", "--seconds", "0.5", "--runs", "2", "--interval", "0.2"])
    out = capsys.readouterr().out
    assert "scan thread" in out and "exec to kill, 2 runs" in out
    assert " 20 " in out and "%" in out
