"""Smoke test of `jupyter-tos-guard-hub benchmark --quick`: it runs and prints every figure (no timing
asserted). On PostgreSQL ($JUPYTER_TOS_GUARD_HUB_TEST_DB_URL) the fleet runs with 1 and 2 service
processes and the dashboard is filled with COPY; otherwise on SQLite with one process."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import jupyterhub  # noqa: E402,F401  (installed by the hub extra)

DB_URL = os.environ.get("JUPYTER_TOS_GUARD_HUB_TEST_DB_URL", "")


def test_benchmark_quick_prints_every_figure() -> None:
    extra = ["--fleet-db-url", DB_URL, "--dashboard-db-url", DB_URL] if DB_URL else []
    if DB_URL:  # the dashboard part reuses a filled database: start from an empty one
        from jupyter_tos_guard.hub.db import VERSION_TABLE, make_engine
        from jupyter_tos_guard.hub.models import Base

        engine = make_engine(DB_URL)
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {VERSION_TABLE}")
        engine.dispose()
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter_tos_guard.hub", "benchmark", "--quick", *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    assert re.search(r"1 report\(s\) per request: \d+ reports in [\d.]+ s = [\d,]+ reports/s", out), out
    assert re.search(r"service CPU \d+% of a core, [\d.]+ ms a request = [\d,]+ requests per CPU-second", out), out
    assert re.search(r"50 report\(s\) per request: \d+ reports in [\d.]+ s = [\d,]+ reports/s", out), out
    assert re.search(r"ingest: 1200 verdicts stored", out), out
    for n in (1, 2) if DB_URL else (1,):
        m = re.search(
            rf"fleet, {n} service process\(es\): ([\d,]+) syncs .* p99 [\d.]+ ms; burst reports p50 [\d.]+ ms "
            r"p99 [\d.]+ ms; errors (\d+) syncs (\d+) reports; 20 reports sent, 20 stored, lost 0, duplicated 0; "
            r"guards seen 60; CPU service [\d% +]+, PostgreSQL",
            out,
        )
        assert m and int(m.group(1).replace(",", "")) >= 60, out  # every guard synced at least once
    if DB_URL:
        assert "fleet, side by side" in out and "reports lost / duplicated" in out, out
    kind = "PostgreSQL" if DB_URL else "SQLite"
    assert f"stored verdicts ({kind})" in out, out
    for case in ("no filter", "user", "group", "category", "rule", "action=block", "last 24 h", "user timeline"):
        assert re.search(rf"^\s+{re.escape(case)}\s+[\d.]+ ms", out, re.M), (case, out)
    assert re.search(r"dashboard: slowest page view \d+ ms", out), out
    # the charts (rollup and raw alone) and the top users, 14 and 90 days, each filter
    for days in (14, 90):
        for case in ("", ", category", ", action=block", ", group", ", user (raw)"):
            label = re.escape(f"{days} d{case}")
            assert re.search(rf"^\s+{label}\s+(\d+ /\s*\d+\s+){{3}}\s*[\d,]+$", out, re.M), (label, out)
    # over the 90 days of synthetic verdicts, the chart counts every one
    m = re.search(r"^\s+90 d\s+.*\s([\d,]+)$", out, re.M)
    assert m and int(m.group(1).replace(",", "")) >= 4900, out
