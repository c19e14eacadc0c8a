"""Prometheus metrics, exported on the server's own /metrics endpoint."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# `surface`: the route the code took (cell, debugger, process, terminal, file), as in the audit
CHECKED = Counter(
    "jupyter_tos_guard_checked_total", "Requests checked against the terms-of-use policy, by surface.", ["surface"]
)
MATCHED = Counter(
    "jupyter_tos_guard_matched_total",
    "Checked requests that matched at least one rule, by category, the action taken and surface.",
    ["category", "action", "surface"],
)
BLOCKED = Counter(
    "jupyter_tos_guard_blocked_total",
    "Requests stopped: cells answered by the guard instead of the kernel, processes stopped, by surface.",
    ["surface"],
)
ENGINE_FAILURES = Counter(
    "jupyter_tos_guard_engine_failures_total", "Checks that failed inside the policy engine (see on_engine_error)."
)
POLICY_RELOAD_FAILURES = Counter(
    "jupyter_tos_guard_policy_reload_failures_total", "Policy reloads refused because a file had problems."
)
CHECK_SECONDS = Histogram(
    "jupyter_tos_guard_check_seconds",
    "Time spent checking one execute request.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
