"""The strikes ladder: repeated warnings or blocks escalate to notifying admins, restricting
the user (a hub group the policy enforces strictly) or stopping their servers.

Evaluated shortly after reports that a step counts arrive (coalesced per user). Every step
that fires is stored (strike events) and audited with its outcome, including a failed hub call.
A firing is claimed in the database before its response runs (`Store.claim_strikes`, under a
per-user lock), so with several service processes one of them restricts, stops or notifies,
never two; the in-process lock only saves this process evaluating a user twice at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .db import LadderStep, Store
from .hubapi import HubAPI, HubAPIError

Notify = Callable[[dict[str, Any]], Awaitable[None]]


class Strikes:
    def __init__(
        self,
        store: Store,
        run_write: Callable[..., Awaitable[Any]],
        run_read: Callable[..., Awaitable[Any]],
        hub: HubAPI | None,
        restricted_group: str,
        notify: Notify,
        log: logging.Logger,
    ):
        self.store = store
        self.run_write = run_write
        self.run_read = run_read
        self.hub = hub
        self.restricted_group = restricted_group
        self.notify = notify
        self.log = log
        self._locks: dict[str, asyncio.Lock] = {}
        self._queued: dict[str, tuple[str, ...]] = {}  # users waiting for an evaluation -> their groups
        self.on_restricted: Callable[[], None] = lambda: None

    delay = 0.5  # seconds a user's evaluation waits, so that a burst of reports costs one

    def schedule(self, users: Iterable[tuple[str, tuple[str, ...]]]) -> None:
        """Evaluate these users soon. A burst of reports from one user costs one evaluation
        (reports within `delay` share it; one more queues behind a running one), not one per report."""
        for user, groups in users:
            if user in self._queued:
                self._queued[user] = groups
                continue
            self._queued[user] = groups
            asyncio.ensure_future(self._guarded(user))

    async def _guarded(self, user: str) -> None:
        await asyncio.sleep(self.delay)
        lock = self._locks.setdefault(user, asyncio.Lock())
        try:
            async with lock:  # wait for a running evaluation; reports that arrive meanwhile join this one
                groups = self._queued.pop(user, ())
                await self._evaluate_locked(user, groups)
        except Exception:
            self.log.exception("tos-guard-hub: evaluating strikes of %s failed", user)
        finally:
            if not lock.locked() and user not in self._queued:
                self._locks.pop(user, None)

    async def evaluate(self, user: str, groups: tuple[str, ...]) -> list[tuple[LadderStep, str]]:
        """Fire every step the user has reached; one evaluation per user at a time."""
        async with self._locks.setdefault(user, asyncio.Lock()):
            return await self._evaluate_locked(user, groups)

    async def _evaluate_locked(self, user: str, groups: tuple[str, ...]) -> list[tuple[LadderStep, str]]:
        fired: list[tuple[LadderStep, str]] = []
        # most evaluations fire nothing: find that out on a reader, and take the writer (and the
        # lock) only to claim what fires, which is checked again there
        statuses = await self.run_read(self.store.strike_status, user, groups)
        if not any(status.fires for status in statuses):
            return fired
        claimed = await self.run_write(self.store.claim_strikes, user, groups)
        for event_id, status in claimed:
            outcome, detail = await self.respond(user, status.step, status.count)
            await self.run_write(self.store.finish_strike, event_id, outcome, detail)
            if status.step.response == "restrict" and outcome == "done":
                self.on_restricted()  # the next sync of this user's guard says so at once
            fired.append((status.step, outcome))
        return fired

    async def respond(self, user: str, step: LadderStep, count: int) -> tuple[str, str]:
        what = f"{count} x {'/'.join(step.actions)} within {int(step.window)} s"
        try:
            if step.response == "restrict":
                if self.hub is None:
                    raise HubAPIError(0, "no hub API configured")
                await self.hub.add_to_group(self.restricted_group, [user])
                detail = f"{what}: added to group {self.restricted_group}"
            elif step.response == "stop":
                if self.hub is None:
                    raise HubAPIError(0, "no hub API configured")
                model = await self.hub.user(user)
                names = [n for n, s in (model.get("servers") or {}).items() if s.get("ready") or s.get("pending")]
                for name in names:
                    await self.hub.stop_server(user, name)
                detail = f"{what}: stopped {', '.join(repr(n or 'default') for n in names) or 'no running server'}"
            else:
                detail = f"{what}: admins notified"
            outcome = "done"
        except HubAPIError as exc:
            outcome, detail = "failed", f"{what}: {step.response} failed: {exc}"
        level = logging.WARNING if outcome == "done" else logging.ERROR
        self.log.log(level, "tos-guard-hub: strike %r for %s: %s", step.name, user, detail)
        try:
            await self.notify(
                {
                    "event": "strike",
                    "user": user,
                    "step": step.name,
                    "response": step.response,
                    "count": count,
                    "outcome": outcome,
                    "detail": detail,
                }
            )
        except Exception:
            self.log.warning("tos-guard-hub: strike notification failed", exc_info=True)
        return outcome, detail

    async def lift_restriction(self, user: str) -> str:
        if self.hub is None:
            return "no hub API configured"
        try:
            await self.hub.remove_from_group(self.restricted_group, [user])
            return f"removed from group {self.restricted_group}"
        except HubAPIError as exc:
            return f"removing from group {self.restricted_group} failed: {exc}"


def ladder_json(steps: list[LadderStep]) -> str:
    return json.dumps([s.as_dict() for s in steps], indent=2)
