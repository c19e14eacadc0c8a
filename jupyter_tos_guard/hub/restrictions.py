"""Which users the strike ladder has restricted, for the groups each guard's sync is told.

The hub's answer about a token is cached (HubAuth, minutes), so a user the ladder has just put
in the restricted group would not show in it for that long. The service knows what it did: a
snapshot of the audit trail (every replica writes it), reread at most every `max_age` seconds,
adds the group to what the hub said. A lift is not taken away here: it reaches the guard when
the hub's cached answer expires (an admin who lifts a restriction can also restart the server).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .db import now

if TYPE_CHECKING:
    from .state import ServiceContext


class RestrictionSnapshot:
    def __init__(self, ctx: ServiceContext, max_age: float = 2.0):
        self.ctx = ctx
        self.max_age = max_age
        self._users: set[str] = set()
        self._loaded = float("-inf")
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._loaded = float("-inf")

    async def groups_of(self, user: str, groups: tuple[str, ...]) -> tuple[str, ...]:
        """`groups` as the hub said, with the restricted group when the ladder put `user` in it."""
        group = self.ctx.config.restricted_group
        if not group or group in groups:
            return groups
        if now() - self._loaded > self.max_age:
            if self._loaded == float("-inf") or not self._lock.locked():
                await self._reload()
            # else a reload is under way: answer from the snapshot in hand (at most a reload
            # old) rather than queue every sync behind it
        return (*groups, group) if user in self._users else groups

    async def _reload(self) -> None:
        async with self._lock:
            if now() - self._loaded <= self.max_age:
                return
            loaded = now()
            # the snapshots' own thread: the readers may be busy with the operators' pages
            self._users = await self.ctx.snapshot_read(self.ctx.store.ladder_restricted)
            self._loaded = loaded
