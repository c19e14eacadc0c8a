"""The strikes ladder: repeated warnings or blocks escalate to notifying admins, restricting
the user (a hub group the policy enforces strictly) or stopping their servers.

Evaluated shortly after reports that a step counts arrive (every user reported within
`Strikes.delay` in one evaluation). Every step that fires is stored (strike events) and
audited with its outcome, including a failed hub call.
A firing is claimed in the database before its response runs (`Store.claim_strikes_of`, under
a per-user lock), so with several service processes one of them restricts, stops or notifies,
never two; that a user waits while their responses run only saves this process evaluating them
twice at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .db import LadderStep, Store, StrikeStatus
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
        finish: Callable[[tuple[int, str, str]], Awaitable[Any]] | None = None,
    ):
        self.store = store
        self.run_write = run_write
        self.run_read = run_read
        self.hub = hub
        self.restricted_group = restricted_group
        self.notify = notify
        self.log = log
        # records a response's outcome; the service's is a group commit (`Store.finish_strikes`)
        self.finish = finish or (lambda item: run_write(store.finish_strike, *item))
        self._queued: dict[str, tuple[str, ...]] = {}  # users waiting for an evaluation -> their groups
        self._responding: set[str] = set()  # users whose claimed steps' responses are running
        self._ticking = False
        self.on_restricted: Callable[[], None] = lambda: None

    delay = 0.5  # seconds an evaluation waits, so that a burst of reports costs one

    def schedule(self, users: Iterable[tuple[str, tuple[str, ...]]]) -> None:
        """Evaluate these users soon. Every user reported within `delay` shares one evaluation
        (a few queries for all of them, `Store.strike_statuses`); one reported while it runs
        waits for the next."""
        for user, groups in users:
            self._queued[user] = groups
        if not self._ticking and self._queued:
            self._ticking = True
            asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        try:
            while self._queued:
                await asyncio.sleep(self.delay)
                # a user whose responses still run waits: this process evaluates a user once at a time
                batch = {u: g for u, g in self._queued.items() if u not in self._responding}
                for user in batch:
                    del self._queued[user]
                if batch:
                    try:
                        await self._evaluate(batch)
                    except Exception:
                        self.log.exception("tos-guard-hub: evaluating strikes of %d user(s) failed", len(batch))
        finally:
            self._ticking = False

    async def _evaluate(self, users: dict[str, tuple[str, ...]]) -> None:
        """Fire every step these users have reached. Most evaluations fire nothing: find that
        out on a reader, and take the writer (and the per-user locks) only to claim what fires,
        which is checked again there; then each user's responses run in order, users side by side."""
        statuses = await self.run_read(self.store.strike_statuses, list(users.items()))
        firing = [(u, users[u]) for u, mine in statuses.items() if any(status.fires for status in mine)]
        if not firing:
            return
        claimed = await self.run_write(self.store.claim_strikes_of, firing)
        for user, events in claimed.items():
            if events:
                self._responding.add(user)
                asyncio.ensure_future(self._respond_all(user, events))

    async def _respond_all(self, user: str, events: list[tuple[int, StrikeStatus]]) -> None:
        try:
            for event_id, status in events:
                outcome, detail = await self.respond(user, status.step, status.count)
                await self.finish((event_id, outcome, detail))
                if status.step.response == "restrict" and outcome == "done":
                    self.on_restricted()  # the next sync of this user's guard says so at once
        except Exception:
            self.log.exception("tos-guard-hub: responding to the strikes of %s failed", user)
        finally:
            self._responding.discard(user)

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
