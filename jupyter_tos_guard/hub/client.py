"""Connects a single-user guard to the hub service (reports, heartbeats, exemptions, policy)."""

from __future__ import annotations

from typing import Any


def attach(serverapp: Any, guard: Any) -> None:
    """Wire the guard to the hub service when one is configured; a no-op otherwise."""
    return None
