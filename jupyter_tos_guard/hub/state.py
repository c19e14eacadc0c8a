"""What every request handler of the service shares: the store, the hub API, the central policy,
the group-commit writer of reports, strikes and flag checks (`ServiceContext`)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from jupyterhub.services.auth import HubAuth
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from .config import TosGuardHubService
from .db import IngestItem, IngestResult, Store, iso, now
from .heartbeats import FlagChecker
from .hubapi import HubAPI
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


class GroupCommit:
    """Report requests that arrive while a write is running are stored together in the next
    transaction: one commit (and one fsync) for many requests."""

    def __init__(self, ctx: ServiceContext):
        self.ctx = ctx
        self.pending: list[tuple[IngestItem, asyncio.Future[IngestResult]]] = []
        self._running = False

    async def submit(self, item: IngestItem) -> IngestResult:
        fut: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self.pending.append((item, fut))
        if not self._running:
            self._running = True
            asyncio.ensure_future(self._drain())
        return await fut

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                try:
                    results = await self.ctx.write(self.ctx.store.ingest, [item for item, _ in batch])
                except Exception:
                    # isolate the request that failed; store the others
                    for item, fut in batch:
                        try:
                            fut.set_result((await self.ctx.write(self.ctx.store.ingest, [item]))[0])
                        except Exception as exc:
                            fut.set_exception(exc)
                    continue
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
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
        self.write_pool = ThreadPoolExecutor(1, thread_name_prefix="tos-db-write")
        self.read_pool = ThreadPoolExecutor(4, thread_name_prefix="tos-db-read")
        self.ingestor = GroupCommit(self)
        self.policy = CentralPolicy(config.policy_file, log, self._audit_sync)
        self.strikes = Strikes(store, self.write, self.read, hub_api, config.restricted_group, self.notify, log)
        self.flags: FlagChecker | None = None
        if hub_api is not None:
            self.flags = FlagChecker(
                store, hub_api, config.heartbeat_grace, self.read, self.write, self.policy.state, self.notify, log
            )

    async def write(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.write_pool, partial(fn, *args, **kwargs))

    async def read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.read_pool, partial(fn, *args, **kwargs))

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
        self.write_pool.shutdown(wait=True)
        self.read_pool.shutdown(wait=False)
