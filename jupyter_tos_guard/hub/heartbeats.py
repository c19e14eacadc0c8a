"""Tamper evidence: compare the hub's running servers with the guards' heartbeats.

A server that has been running for longer than the grace period without a recent heartbeat
is flagged `no-heartbeat`: its guard is missing, disabled, broken or cut off. When the
service serves a central policy, a guard that still reports another one after the grace
period is flagged `stale-policy`. Flags resolve themselves when the condition ends; both
transitions are audited. (`report-gap` flags are raised at ingest, see `Store.ingest`.)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .db import Store, now
from .hubapi import HubAPI, HubAPIError


class FlagChecker:
    def __init__(
        self,
        store: Store,
        hub: HubAPI,
        grace: float,
        run_read: Callable[..., Awaitable[Any]],
        run_write: Callable[..., Awaitable[Any]],
        central_policy: Callable[[], tuple[str | None, float]],
        notify: Callable[[dict[str, Any]], Awaitable[None]],
        log: logging.Logger,
    ):
        self.store = store
        self.hub = hub
        self.grace = grace
        self.run_read = run_read
        self.run_write = run_write
        self.central_policy = central_policy  # () -> (sha256 served or None, when it last changed)
        self.notify = notify
        self.log = log
        self.last_error: str | None = None
        self.last_run: float | None = None

    async def check(self) -> dict[str, list[tuple[str, str]]]:
        try:
            servers = await self.hub.running_servers()
        except HubAPIError as exc:
            self.last_error = str(exc)
            self.log.error("tos-guard-hub: cannot list running servers, flags not updated: %s", exc)
            return {}
        self.last_error = None
        t = now()
        beats = await self.run_read(self.store.latest_heartbeats)
        digests = await self.run_read(self.store.central_digests)
        served, changed = self.central_policy()
        missing: dict[tuple[str, str], str] = {}
        stale: dict[tuple[str, str], str] = {}
        for server in servers:
            key = (server.user, server.name)
            if not server.ready or server.started is None or t - server.started < self.grace:
                continue
            last = beats.get(key)
            if last is None or last < server.started - 1 or t - last > self.grace:
                seen = (
                    "never since it started"
                    if last is None or last < server.started - 1
                    else f"last {int(t - last)} s ago"
                )
                missing[key] = f"running for {int(t - server.started)} s, no guard heartbeat ({seen})"
                continue
            if served is not None and t - changed > self.grace:
                reported = digests.get(key, (0.0, None))[1]
                if reported != served:
                    stale[key] = (
                        f"guard reports central policy {(reported or 'none')[:12]}, service serves {served[:12]}"
                    )
        result: dict[str, list[tuple[str, str]]] = {}
        for reason, current in (("no-heartbeat", missing), ("stale-policy", stale)):
            raised, resolved = await self.run_write(self.store.sync_flags, reason, current)
            result[f"{reason}:raised"], result[f"{reason}:resolved"] = raised, resolved
            for user, server_name in raised:
                self.log.warning(
                    "tos-guard-hub: flagged %s%s: %s: %s",
                    user,
                    f"/{server_name}" if server_name else "",
                    reason,
                    current[(user, server_name)],
                )
                try:
                    await self.notify(
                        {
                            "event": "flag",
                            "reason": reason,
                            "user": user,
                            "server_name": server_name,
                            "detail": current[(user, server_name)],
                        }
                    )
                except Exception:
                    self.log.warning("tos-guard-hub: flag notification failed", exc_info=True)
        self.last_run = t
        return result
