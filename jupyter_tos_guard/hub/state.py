"""What every request handler of the service shares: the store, the hub API, the token check,
the central policy, the exemptions guards sync, the group-commit writers of reports and
heartbeats, strikes and flag checks (`ServiceContext`)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from jupyterhub.services.auth import HubAuth, _ExpiringDict
from sqlalchemy.exc import IntegrityError
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from .config import TosGuardHubService
from .db import Store, iso, now
from .heartbeats import FlagChecker
from .hubapi import HubAPI
from .restrictions import RestrictionSnapshot
from .strikes import Strikes


class CentralPolicy:
    """The policy file served to guards: reread when it changes, refused when broken."""

    def __init__(self, path: str, log: Any, audit: Callable[..., Any]):
        self.path = path
        self.log = log
        self.audit = audit
        self.text: str | None = None
        self.sha256: str | None = None
        self.changed = 0.0
        self.error: str | None = None
        self._stamp: tuple[float, int] | None = None
        self._checked = 0.0

    def current(self) -> tuple[str | None, str | None]:
        if not self.path:
            return None, None
        t = now()
        if t - self._checked >= 1.0:
            self._checked = t
            self._refresh()
        return self.text, self.sha256

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            if self.error != str(exc):
                self.error = str(exc)
                self.log.error("tos-guard-hub: cannot read the central policy %s: %s", self.path, exc)
            return
        stamp = (st.st_mtime, st.st_size)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        with open(self.path, encoding="utf-8") as f:
            text = f.read()
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if sha == self.sha256:
            return
        from ..policy import PolicyError
        from ..policy.loader import default_policy_texts, load_texts

        try:
            policy = load_texts(default_policy_texts() + [(self.path, text)])
        except PolicyError as err:
            self.error = str(err)
            self.log.error(
                "tos-guard-hub: the central policy %s has problems; still serving %s:\n%s",
                self.path,
                (self.sha256 or "nothing")[:12],
                err,
            )
            self.audit("service", "central_policy_refused", self.path, {"sha256": sha, "error": str(err)})
            return
        self.text, self.sha256, self.changed, self.error = text, sha, now(), None
        self.log.info(
            "tos-guard-hub: serving central policy %s (%d rules with the default)", sha[:12], len(policy.rules)
        )
        self.audit("service", "central_policy_loaded", self.path, {"sha256": sha})

    def state(self) -> tuple[str | None, float]:
        self.current()
        return self.sha256, self.changed


class BoundedExpiringDict(_ExpiringDict):  # type: ignore[misc]
    """HubAuth's own cache (an answer expires after `cache_max_age`), holding at most
    `max_size` answers: past that the oldest is dropped, so 10,000 servers' tokens (or a flood
    of made-up ones, whose refusals are cached too) cannot grow memory without bound."""

    def __init__(self, max_age: float, max_size: int):
        super().__init__(max_age)
        self.max_size = max_size

    def __setitem__(self, key: Any, value: Any) -> None:
        self.values.pop(key, None)  # re-inserted at the end: insertion order is age order
        self.timestamps.pop(key, None)
        super().__setitem__(key, value)
        while len(self.values) > self.max_size:
            oldest = next(iter(self.values))
            del self.values[oldest]
            del self.timestamps[oldest]


class TokenCheck:
    """`HubAuth.user_for_token` with its cache bounded, and one hub request per token at a time:
    requests that arrive while the hub is being asked about their token wait for that answer
    instead of each asking again (HubAuth alone would ask once per request until the first
    answer is cached)."""

    def __init__(self, hub_auth: HubAuth, max_size: int):
        self.hub_auth = hub_auth
        hub_auth.cache = BoundedExpiringDict(hub_auth.cache_max_age, max_size)
        self._asking: dict[str, asyncio.Future[Any]] = {}

    async def user_for_token(self, token: str) -> dict[str, Any] | None:
        key = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        # the cached answer, read as HubAuth reads it (its key for a token without a session):
        # most requests end here, without a task and a shield per request. Should HubAuth name
        # its entries otherwise, this misses and HubAuth below still answers from its cache
        try:
            return self.hub_auth.cache[f"token::{key}"]  # type: ignore[no-any-return]
        except KeyError:
            pass
        pending = self._asking.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self.hub_auth.user_for_token(token, sync=False))
            self._asking[key] = pending
            pending.add_done_callback(lambda _: self._asking.pop(key, None))
        return await asyncio.shield(pending)  # type: ignore[no-any-return]


class ExemptionSnapshot:
    """The active exemptions, reread from the database at most every `max_age` seconds and
    matched in memory to each syncing guard's user and groups: a fleet's syncs cost one query
    per period, not one each. (A grant made on another replica is served within `max_age`.)"""

    KEEP = ("id", "subject_kind", "subject", "rule", "category", "reason", "expires")

    def __init__(self, ctx: ServiceContext, max_age: float = 2.0):
        self.ctx = ctx
        self.max_age = max_age
        self._items: list[dict[str, Any]] = []
        self._loaded = float("-inf")
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._loaded = float("-inf")

    async def for_user(self, user: str, groups: tuple[str, ...]) -> tuple[list[dict[str, Any]], str]:
        """The user's active exemptions (what `Store.exemptions_for` answers) and their ETag."""
        if now() - self._loaded > self.max_age:
            if self._loaded == float("-inf") or not self._lock.locked():
                await self._reload()
            # else: a reload is under way; answer from the snapshot in hand rather than queue
            # 10,000 syncs behind it (it is at most a reload old)
        t = now()
        wanted = set(groups)
        mine = [
            e
            for e in self._items
            if (e["expires"] is None or e["expires"] > t)
            and (
                (e["subject_kind"] == "user" and e["subject"] == user)
                or (e["subject_kind"] == "group" and e["subject"] in wanted)
            )
        ]
        etag = hashlib.sha256(json.dumps(mine, sort_keys=True, default=str).encode()).hexdigest()[:32]
        return mine, etag

    async def _reload(self) -> None:
        async with self._lock:
            if now() - self._loaded <= self.max_age:
                return
            loaded = now()
            # its own thread: the readers may be queued deep with a burst's strike evaluations
            items = await self.ctx.snapshot_read(self.ctx.store.exemptions)
            self._items = sorted(({k: e[k] for k in self.KEEP} for e in items), key=lambda e: e["id"])
            self._loaded = loaded


RACE_RETRIES = 5  # isolated retries of a request that lost a primary-key race to another replica


class GroupCommit:
    """Requests that arrive while a write is running are stored together in the next
    transaction: one commit (and one fsync) for many requests. `write` takes the list of
    items and returns one result per item, in order."""

    def __init__(
        self,
        ctx: ServiceContext,
        write: Callable[[list[Any]], list[Any]],
        run: Callable[..., Awaitable[Any]] | None = None,
    ):
        self.ctx = ctx
        self.write = write
        self.run = run or ctx.write  # the thread its transactions run on
        self.pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self._running = False

    async def submit(self, item: Any) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append((item, fut))
        if not self._running:
            self._running = True
            asyncio.ensure_future(self._drain())
        return await fut

    @property
    def busy(self) -> bool:
        return bool(self.pending) or self._running

    async def _alone(self, item: Any, fut: asyncio.Future[Any]) -> None:
        """Store one request in its own transaction. A new guard's first row can lose the race
        to another replica more than once while several guards start together (each retry
        then reads the winner's row): retry a few times before giving the guard an error."""
        for attempt in range(RACE_RETRIES):
            try:
                fut.set_result((await self.run(self.write, [item]))[0])
                return
            except IntegrityError as exc:
                if attempt == RACE_RETRIES - 1:
                    fut.set_exception(exc)
                await asyncio.sleep(0.01 * (attempt + 1))
            except Exception as exc:
                fut.set_exception(exc)
                return

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                try:
                    results = await self.run(self.write, [item for item, _ in batch])
                except Exception:
                    # isolate the request that failed (or lost a race with another replica, which
                    # a retry alone resolves); store the others
                    for item, fut in batch:
                        await self._alone(item, fut)
                    continue
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        if isinstance(result, Exception):
                            fut.set_exception(result)
                        else:
                            fut.set_result(result)
        finally:
            self._running = False


class ServiceContext:
    def __init__(
        self,
        config: TosGuardHubService,
        store: Store,
        log: Any,
        hub_auth: HubAuth,
        hub_api: HubAPI | None,
        service_name: str,
    ):
        self.config = config
        self.store = store
        self.log = log
        self.hub_auth = hub_auth
        self.hub_api = hub_api
        self.service_name = service_name
        self.holder = f"{socket.gethostname()}:{os.getpid()}"  # names this process in claimed periodic runs
        self.write_pool = ThreadPoolExecutor(1, thread_name_prefix="tos-db-write")
        # SQLite has one writer, so every write queues on one thread. PostgreSQL takes writers
        # side by side (its row and advisory locks order what must be ordered): there reports,
        # heartbeats and strike firings each get a writer, so that a class's strikes firing or
        # 10,000 heartbeats do not hold up the acknowledgement of reports
        self.concurrent_writers = store.engine.dialect.name == "postgresql"
        self.ingest_pool, self.heartbeat_pool, self.strike_write_pool = (
            (
                ThreadPoolExecutor(1, thread_name_prefix=f"tos-db-write-{name}")
                for name in ("reports", "beats", "strikes")
            )
            if self.concurrent_writers
            else (self.write_pool,) * 3
        )
        self.read_pool = ThreadPoolExecutor(4, thread_name_prefix="tos-db-read")
        # strike evaluations (thousands in a burst of blocked cells) queue here, not before the
        # operators' pages; the snapshot of exemptions guards sync gets a thread of its own
        self.strike_pool = ThreadPoolExecutor(2, thread_name_prefix="tos-db-strikes")
        self.snapshot_pool = ThreadPoolExecutor(1, thread_name_prefix="tos-db-snapshot")
        self.ingestor = GroupCommit(self, store.ingest, partial(self._run, self.ingest_pool))
        self.heartbeats = GroupCommit(self, store.heartbeats, partial(self._run, self.heartbeat_pool))
        self.tokens = TokenCheck(hub_auth, config.token_cache_size)
        self.exemptions = ExemptionSnapshot(self)
        self.policy = CentralPolicy(config.policy_file, log, self._audit_sync)
        # the outcomes of responses that finish together are recorded in one transaction
        self.strike_finishes = GroupCommit(self, store.finish_strikes, partial(self._run, self.strike_write_pool))
        self.strikes = Strikes(
            store,
            partial(self._run, self.strike_write_pool),
            self.strike_read,
            hub_api,
            config.restricted_group,
            self.notify,
            log,
            self.strike_finishes.submit,
        )
        self.restrictions = RestrictionSnapshot(self)
        self.strikes.on_restricted = self.restrictions.invalidate
        self.flags: FlagChecker | None = None
        if hub_api is not None:
            self.flags = FlagChecker(
                store, hub_api, config.heartbeat_grace, self.read, self.write, self.policy.state, self.notify, log
            )

    @staticmethod
    async def _run(pool: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, partial(fn, *args, **kwargs))

    async def write(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.write_pool, partial(fn, *args, **kwargs))

    async def read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.read_pool, partial(fn, *args, **kwargs))

    async def strike_read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.strike_pool, partial(fn, *args, **kwargs))

    async def snapshot_read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.snapshot_pool, partial(fn, *args, **kwargs))

    def _audit_sync(self, actor: str, action: str, subject: str, detail: dict[str, Any]) -> None:
        try:
            self.store.audit(actor, action, subject, detail)
        except Exception:
            self.log.warning("tos-guard-hub: audit write failed", exc_info=True)

    async def notify(self, payload: dict[str, Any]) -> None:
        url = self.config.notify_webhook_url
        if not url:
            return
        body = json.dumps(dict(payload, service=self.service_name, time=iso(now())))
        req = HTTPRequest(
            url,
            method="POST",
            body=body,
            headers={"Content-Type": "application/json"},
            request_timeout=10,
            connect_timeout=10,
        )
        resp = await AsyncHTTPClient().fetch(req, raise_error=False)
        if resp.code >= 400 or resp.code == 599:
            self.log.error("tos-guard-hub: webhook %s answered %s", url, resp.code)

    def close(self) -> None:
        for pool in {self.write_pool, self.ingest_pool, self.heartbeat_pool, self.strike_write_pool}:
            pool.shutdown(wait=True)
        self.read_pool.shutdown(wait=False)
        self.strike_pool.shutdown(wait=False)
        self.snapshot_pool.shutdown(wait=False)
