"""A per-key sliding-window limit: at most N calls a minute for each user."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0
_MAX_KEYS = 10_000  # a server has few users; bound the table whatever clients claim


class RateLimit:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}

    def allow(self, key: str, per_minute: int) -> bool:
        """Count a call by `key`; False when it already made `per_minute` calls in the last minute."""
        now = self._clock()
        calls = self._calls.get(key)
        if calls is None:
            if len(self._calls) >= _MAX_KEYS:
                self._forget_idle(now)
            calls = self._calls[key] = deque()
        while calls and now - calls[0] >= WINDOW_SECONDS:
            calls.popleft()
        if len(calls) >= per_minute:
            return False
        calls.append(now)
        return True

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, calls in self._calls.items() if not calls or now - calls[-1] >= WINDOW_SECONDS]:
            del self._calls[key]
