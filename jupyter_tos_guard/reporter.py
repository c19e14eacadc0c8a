"""Connects a single-user guard to the hub service (reports, heartbeats, exemptions, policy).

The guard's audit records go through `Reporter.sink`, which only appends one fsync'd JSON
line to an on-disk queue and returns: the student's cell never waits on the network. A
background task sends the queue to the service in order, in batches, and advances a cursor
when the service acknowledges; while the service is down it retries with exponential
backoff, and after a restart of the server it resumes where the cursor stands. Records are
numbered; the service stores each (client id, number) once, so a batch sent twice (the
acknowledgement was lost) is not stored twice, and a hole in the numbering is evidence that
the queue was tampered with.

Once per `sync_interval` one `POST api/guard/sync` does the rest: it is the heartbeat
(package version, policy digest, queue depth) and carries the ETags of the exemptions and the
central policy the guard holds; the answer brings the user's hub groups and, only when they
changed, the exemptions granted to this user or their groups (kept in a local cache on disk,
registered in `guard.exemption_providers`; checks read only the cache) and the centrally served
policy (handed to `guard.set_remote_policy`, which keeps the last good one). An idle fleet costs
one small request per server per interval. Against a service of the previous version (no
`api/guard/sync`) the guard falls back to its three old calls.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from . import __version__
from .config import TosGuardHub
from .exemptions import Exemption

QUEUE_FILE = "queue.jsonl"
CURSOR_FILE = "cursor.json"
CLIENT_FILE = "client.json"
EXEMPTIONS_FILE = "exemptions.json"
GROUPS_FILE = "groups.json"
# after reporting one of these, sync again this soon: the service's strike ladder decides in
# the meantime (it runs when the report is stored), and a restriction it adds comes back
STRIKE_ACTIONS = frozenset({"warn", "confirm", "block"})
STRIKE_SETTLE_SECONDS = 2.0
NO_POLICY = "none"  # the policy ETag when the service serves no central policy
EMPTY_POLICY = "version: 1\n"


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(path: str, data: dict[str, Any], fsync: bool) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if fsync:
        _fsync_dir(os.path.dirname(path))


class DiskQueue:
    """Numbered records in an append-only JSON-lines file, and a cursor of what was acknowledged."""

    def __init__(self, directory: str, fsync: bool = True, compact_bytes: int = 1024 * 1024):
        self.directory = directory
        self.fsync = fsync
        self.compact_bytes = compact_bytes
        self._lock = threading.Lock()
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.path = os.path.join(directory, QUEUE_FILE)
        self.cursor_path = os.path.join(directory, CURSOR_FILE)
        self.client_id = self._client_id()
        self.acked = self._read_cursor()
        self.last_seq = self.acked
        self._ack_pos = 0  # byte offset of the first record after `acked`
        self.dropped = 0  # unreadable lines skipped (reported in heartbeats)
        self._scan()
        self._file = open(self.path, "ab")  # noqa: SIM115 - kept open for appends

    def _client_id(self) -> str:
        path = os.path.join(self.directory, CLIENT_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                value = str(json.load(f)["client_id"])
            if value:
                return value
        except (OSError, ValueError, KeyError, TypeError):
            pass
        value = uuid.uuid4().hex
        _write_atomic(path, {"client_id": value, "created": time.time()}, self.fsync)
        return value

    def _read_cursor(self) -> int:
        try:
            with open(self.cursor_path, encoding="utf-8") as f:
                return int(json.load(f)["acked"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def _scan(self) -> None:
        """Find the first unacknowledged record and the last number; drop a torn last line."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a write torn by a crash: the record was never acknowledged to anyone
            with open(self.path, "r+b") as f:
                f.truncate(end)
        pos = 0
        ack_pos = None
        for line in data[:end].splitlines(keepends=True):
            try:
                seq = int(json.loads(line)["seq"])
            except (ValueError, KeyError, TypeError):
                pos += len(line)
                continue
            if seq > self.acked and ack_pos is None:
                ack_pos = pos
            self.last_seq = max(self.last_seq, seq)
            pos += len(line)
        self._ack_pos = ack_pos if ack_pos is not None else end

    def append(self, record: dict[str, Any]) -> int:
        with self._lock:
            seq = self.last_seq + 1
            line = (
                json.dumps(
                    {"seq": seq, "record": record}, ensure_ascii=False, separators=(",", ":"), default=str
                ).encode("utf-8")
                + b"\n"
            )
            self._file.write(line)
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())
            self.last_seq = seq
            return seq

    @property
    def pending_count(self) -> int:
        return self.last_seq - self.acked

    def pending(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Up to `limit` unacknowledged records, oldest first."""
        with self._lock:
            pos = self._ack_pos
        out: list[tuple[int, dict[str, Any]]] = []
        with open(self.path, "rb") as f:
            f.seek(pos)
            while len(out) < limit:
                line = f.readline()
                if not line.endswith(b"\n"):
                    break
                try:
                    item = json.loads(line)
                    seq, record = int(item["seq"]), item["record"]
                except (ValueError, KeyError, TypeError):
                    self.dropped += 1
                    continue
                if seq > self.acked and isinstance(record, dict):
                    out.append((seq, record))
        return out

    def ack(self, seq: int) -> None:
        """The service has stored every record up to `seq`."""
        with self._lock:
            if seq <= self.acked:
                return
            seq = min(seq, self.last_seq)
            with open(self.path, "rb") as f:
                f.seek(self._ack_pos)
                pos = self._ack_pos
                while True:
                    line = f.readline()
                    if not line.endswith(b"\n"):
                        break
                    try:
                        s = int(json.loads(line)["seq"])
                    except (ValueError, KeyError, TypeError):
                        s = -1
                    if s > seq:
                        break
                    pos += len(line)
            self.acked = seq
            self._ack_pos = pos
            _write_atomic(self.cursor_path, {"acked": seq, "client_id": self.client_id}, self.fsync)
            if self.acked == self.last_seq and self._ack_pos > self.compact_bytes:
                self._file.truncate(0)
                self._file.seek(0)
                self._ack_pos = 0

    def close(self) -> None:
        with self._lock:
            self._file.close()


class Reporter:
    """The guard's side of the hub service.

    `groups` is the user's hub groups as the service last said (from the hub's answer for this
    server's token): None before the first answer, otherwise a tuple, kept on disk in the queue
    directory so a restart while the service is unreachable still knows them. `on_groups`, when
    set, is called with the new tuple whenever a sync answer changes them (on the event loop;
    keep it quick). Policy conditions on groups read these; the reporter only delivers them.
    """

    def __init__(
        self,
        guard: Any,
        config: TosGuardHub,
        log: Any,
        user: str,
        server_name: str = "",
        on_groups: Callable[[tuple[str, ...]], None] | None = None,
    ):
        self.guard = guard
        self.config = config
        self.log = log
        self.user = user
        self.server_name = server_name
        self.url = config.service_url
        self.sync_interval, self.use_exemptions, self.use_policy, self.config_notes = config.effective_sync()
        self.queue = DiskQueue(config.queue_dir, fsync=config.fsync, compact_bytes=config.compact_bytes)
        self._exemptions: tuple[Exemption, ...] = ()
        self._exemptions_etag: str | None = None
        self._exemptions_path = os.path.join(config.queue_dir, EXEMPTIONS_FILE)
        self._load_cached_exemptions()
        self.groups: tuple[str, ...] | None = None
        self.on_groups = on_groups
        self._groups_path = os.path.join(config.queue_dir, GROUPS_FILE)
        self._load_cached_groups()
        self.heartbeat_grace: float | None = None  # as the service last said
        self.central_sha256: str | None = None  # the central policy text in force
        self._policy_etag: str | None = None
        self._policy_tried: str | None = None
        self._legacy = 0  # > 0: the service predates api/guard/sync; syncs left before asking again
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._soon: asyncio.TimerHandle | None = None  # the sync after a reported warning or block
        self._stopped = False
        self.sent = 0
        self.syncs = 0
        self.failures = 0
        self.last_error: str | None = None
        self.started = time.time()

    # --- called by the guard, on the kernel path: never block on the network ---------------

    def sink(self, record: dict[str, Any]) -> None:
        self.queue.append(record)
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    def groups_of(self, user: str | None) -> tuple[str, ...]:
        """The hub groups the service names for this server's own user (the policy's `groups:`
        conditions read them); none for anyone else, e.g. an admin who opened this server."""
        return self.groups or () if user in (None, self.user) else ()

    def exemptions(self, user: str | None, groups: tuple[str, ...]) -> Iterable[Exemption]:
        return self._exemptions

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self.queue.pending_count:
            self._wake.set()
        self._tasks = [asyncio.ensure_future(self._sender())]
        for note in self.config_notes:
            self.log.warning("tos-guard: %s", note)
        if self.sync_interval > 0:
            self._tasks.append(asyncio.ensure_future(self._every(self.sync_interval, self.sync)))
        self.log.info(
            "tos-guard: reporting to the hub service at %s (queue %s, %d pending)",
            self.url,
            self.queue.directory,
            self.queue.pending_count,
        )

    async def aclose(self) -> None:
        """Stop: one last attempt to deliver what is queued (bounded by `drain_timeout`), then cancel
        every task and close the queue. What could not be sent stays on disk for the next start."""
        if self._stopped:
            return
        self._stopped = True
        if self.sink in self.guard.sinks:  # from here on, records stay in the local audit log only
            self.guard.sinks.remove(self.sink)
        if self._soon is not None:
            self._soon.cancel()
            self._soon = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.config.drain_timeout > 0 and self.queue.pending_count:
            try:
                await asyncio.wait_for(self._drain(), self.config.drain_timeout)
            except Exception as exc:  # the service is down or slow: the queue keeps the rest
                self.log.info(
                    "tos-guard: %d reports stay queued for the next start (%s)",
                    self.queue.pending_count,
                    type(exc).__name__,
                )
        self.queue.close()

    async def _drain(self) -> None:
        while True:
            batch = await asyncio.to_thread(self.queue.pending, self.config.batch_size)
            if not batch:
                return
            acked = await self.send(batch)
            await asyncio.to_thread(self.queue.ack, acked)
            self.sent += len(batch)

    # --- HTTP ------------------------------------------------------------------------------------

    async def _request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        hdrs = {"Authorization": f"token {self.config.api_token}"}
        hdrs.update(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body, default=str)
            hdrs["Content-Type"] = "application/json"
        req = HTTPRequest(
            self.url + path,
            method=method,
            headers=hdrs,
            body=data,
            request_timeout=self.config.request_timeout,
            connect_timeout=self.config.request_timeout,
        )
        return await AsyncHTTPClient().fetch(req, raise_error=False)

    @staticmethod
    def _check(resp: Any, ok: tuple[int, ...] = (200,)) -> Any:
        if resp.code in ok:
            return json.loads(resp.body) if resp.body else None
        if resp.code == 599:
            raise ConnectionError(str(resp.error))
        detail = resp.body.decode("utf-8", "replace")[:300] if resp.body else ""
        raise HTTPClientError(resp.code, f"{resp.reason}: {detail}")

    # --- the queue -------------------------------------------------------------------------------

    async def _sender(self) -> None:
        assert self._wake is not None
        delay = self.config.retry_initial
        while not self._stopped:
            self._wake.clear()  # before reading: a record appended from now on sets it again
            last = self.queue.last_seq
            batch = await asyncio.to_thread(self.queue.pending, self.config.batch_size)
            if not batch:
                if last > self.queue.acked:
                    # numbered records that cannot be read back (a damaged queue file): skip them,
                    # the service will see the hole in the numbering and flag it
                    await asyncio.sleep(0.5)
                    if not await asyncio.to_thread(self.queue.pending, 1):
                        self.log.error(
                            "tos-guard: records %d..%d of the hub queue are unreadable; skipped",
                            self.queue.acked + 1,
                            last,
                        )
                        await asyncio.to_thread(self.queue.ack, last)
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), 30)
                except TimeoutError:
                    pass
                continue
            try:
                acked = await self.send(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed("sending reports", exc)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.config.retry_max)
                continue
            if self.failures:
                self.log.info("tos-guard: the hub service is reachable again; replaying the queue")
            self.failures, self.last_error = 0, None
            delay = self.config.retry_initial
            await asyncio.to_thread(self.queue.ack, acked)
            self.sent += len(batch)
            if any(record.get("action") in STRIKE_ACTIONS for _, record in batch):
                self._sync_soon()

    def _sync_soon(self) -> None:
        """A warning or a block was just reported: the strike ladder may now restrict this
        user. Sync once shortly, so that the restriction reaches the student's next cell rather
        than the one after the next sync interval."""
        if self._stopped or self._soon is not None or self.sync_interval <= 0:
            return
        loop = asyncio.get_running_loop()

        async def run() -> None:
            try:
                await self.sync()
            except Exception as exc:
                self.log.debug("tos-guard: hub service: the sync after a report failed: %s", exc)
            finally:
                self._soon = None

        def start() -> None:
            if not self._stopped:
                self._tasks = [t for t in self._tasks if not t.done()]
                self._tasks.append(asyncio.ensure_future(run()))
            else:
                self._soon = None

        self._soon = loop.call_later(STRIKE_SETTLE_SECONDS, start)

    async def send(self, batch: list[tuple[int, dict[str, Any]]]) -> int:
        body = {
            "client_id": self.queue.client_id,
            "server_name": self.server_name,
            "records": [{"seq": seq, "record": record} for seq, record in batch],
        }
        answer = self._check(await self._request("POST", "api/guard/reports", body))
        return int(answer["acked"])

    def _failed(self, what: str, exc: BaseException) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self.failures == 1 or self.failures % 20 == 0:
            self.log.warning(
                "tos-guard: %s to the hub service failed (%d pending, kept on disk): %s",
                what,
                self.queue.pending_count,
                self.last_error,
            )

    async def _every(self, interval: float, job: Any) -> None:
        # a random start: 10,000 servers started together (a class, a hub restart) must not call
        # the service together every interval after
        await asyncio.sleep(interval * random.random())
        while not self._stopped:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.log.debug("tos-guard: hub service: %s failed: %s", job.__name__, exc)
            await asyncio.sleep(interval * random.uniform(0.9, 1.1))

    # --- the sync: heartbeat, groups, exemptions, central policy ----------------------------------------

    def sync_body(self) -> dict[str, Any]:
        body = self.heartbeat_body()
        # an ETag key present asks for that kind; null asks for it whatever the service holds
        if self.use_exemptions:
            body["exemptions_etag"] = self._exemptions_etag
        if self.use_policy:
            body["policy_etag"] = self._policy_etag
        return body

    async def sync(self) -> None:
        """One call to the service; the answer carries only what changed."""
        if self._legacy:  # an older service; ask again now and then, it may have been upgraded
            self._legacy -= 1
            await self._legacy_sync()
            return
        resp = await self._request("POST", "api/guard/sync", self.sync_body())
        if resp.code == 404:
            self.log.info("tos-guard: the hub service has no api/guard/sync (an older version): using its old calls")
            self._legacy = 30
            await self._legacy_sync()
            return
        answer = self._check(resp)
        self.apply_sync(answer)
        self.syncs += 1

    async def _legacy_sync(self) -> None:
        await self.heartbeat()
        if self.use_exemptions:
            await self.fetch_exemptions()
        if self.use_policy:
            await self.pull_policy()

    def apply_sync(self, answer: Any) -> None:
        if not isinstance(answer, dict):
            raise ValueError("the sync answer is not an object")
        grace = answer.get("heartbeat_grace")
        if isinstance(grace, int | float):
            self.heartbeat_grace = float(grace)
        groups = answer.get("groups")
        if isinstance(groups, list):
            self._set_groups(tuple(str(g) for g in groups))
        exemptions = answer.get("exemptions")
        if self.use_exemptions and isinstance(exemptions, dict):
            self._set_exemptions(list(exemptions.get("items") or []), exemptions.get("etag"))
        policy = answer.get("policy")
        if self.use_policy and isinstance(policy, dict):
            etag = policy.get("etag")
            if policy.get("text") is None:
                self._withdraw_policy()
                self._policy_etag = str(etag) if etag else NO_POLICY
            else:
                self._apply_policy(str(policy["sha256"]), str(policy["text"]), policy.get("source"))
                self._policy_etag = str(etag) if etag else None

    def _set_groups(self, groups: tuple[str, ...]) -> None:
        if groups == self.groups:
            return
        self.groups = groups
        try:
            _write_atomic(self._groups_path, {"fetched": time.time(), "groups": list(groups)}, fsync=False)
        except OSError:
            pass
        if self.on_groups is not None:
            try:
                self.on_groups(groups)
            except Exception:
                self.log.exception("tos-guard: the on_groups callback failed")

    def _load_cached_groups(self) -> None:
        try:
            with open(self._groups_path, encoding="utf-8") as f:
                groups = json.load(f)["groups"]
        except (OSError, ValueError, KeyError, TypeError):
            return
        if isinstance(groups, list):
            self.groups = tuple(str(g) for g in groups)

    # --- the previous version's calls (heartbeat, exemptions, central policy) ---------------------------

    def heartbeat_body(self) -> dict[str, Any]:
        policy = self.guard.engine.policy
        return {
            "client_id": self.queue.client_id,
            "server_name": self.server_name,
            "version": __version__,
            "policy_name": policy.name,
            "policy_digest": policy.digest,
            "central_policy_sha256": self.central_sha256,
            "policy_error": self.guard.policy_error,
            "mode": self.guard.config.mode,
            "queue_pending": self.queue.pending_count,
            "last_seq": self.queue.last_seq,
            "acked": self.queue.acked,
            "unreadable_queue_lines": self.queue.dropped,
            "exemptions": len(self._exemptions),
            "started": self.started,
            "pid": os.getpid(),
        }

    async def heartbeat(self) -> None:
        self._check(await self._request("POST", "api/guard/heartbeat", self.heartbeat_body()))

    async def fetch_exemptions(self) -> None:
        answer = self._check(await self._request("GET", "api/guard/exemptions"))
        self._set_exemptions(list(answer.get("exemptions") or []), None)

    def _set_exemptions(self, items: list[Any], etag: Any) -> None:
        self._exemptions = tuple(e for e in (self._exemption(i) for i in items) if e is not None)
        self._exemptions_etag = str(etag) if etag else None
        try:
            _write_atomic(
                self._exemptions_path,
                {"fetched": time.time(), "etag": self._exemptions_etag, "exemptions": items},
                fsync=False,
            )
        except OSError:
            pass

    def _load_cached_exemptions(self) -> None:
        try:
            with open(self._exemptions_path, encoding="utf-8") as f:
                cached = json.load(f)
            items = cached["exemptions"]
            self._exemptions = tuple(e for e in (self._exemption(i) for i in items) if e is not None)
        except (OSError, ValueError, KeyError, TypeError):
            return
        etag = cached.get("etag")
        self._exemptions_etag = str(etag) if etag else None

    @staticmethod
    def _exemption(item: Any) -> Exemption | None:
        try:
            kind, subject = item["subject_kind"], str(item["subject"])
            expires = item.get("expires")
            return Exemption(
                rule=item.get("rule") or None,
                category=item.get("category") or None,
                users=(subject,) if kind == "user" else (),
                groups=(subject,) if kind == "group" else (),
                reason=str(item.get("reason") or ""),
                expires=datetime.fromtimestamp(float(expires), UTC) if expires is not None else None,
                source="hub",
                id=str(item.get("id")),
            )
        except (KeyError, TypeError, ValueError):
            return None

    async def pull_policy(self) -> None:
        headers = {"If-None-Match": self._policy_etag} if self._policy_etag else {}
        resp = await self._request("GET", "api/guard/policy", headers=headers)
        if resp.code == 304:
            return
        answer = self._check(resp, ok=(200, 204))
        if resp.code == 204 or not answer:
            self._withdraw_policy()
            self._policy_etag = None
            return
        self._policy_etag = resp.headers.get("Etag")
        self._apply_policy(str(answer["sha256"]), str(answer["text"]), answer.get("source"))

    def _withdraw_policy(self) -> None:
        if self.central_sha256 is not None:  # the operator withdrew the central policy
            if self.guard.set_remote_policy("hub:none", EMPTY_POLICY):
                self.central_sha256 = None

    def _apply_policy(self, sha: str, text: str, source: Any) -> None:
        if sha == self.central_sha256 or sha == self._policy_tried:
            return
        self._policy_tried = sha
        if self.guard.set_remote_policy(f"hub:{source or 'central policy'}", text):
            self.central_sha256 = sha
            self.log.info("tos-guard: central policy %s from the hub service is in force", sha[:12])


def make_reporter(config: TosGuardHub, guard: Any, log: Any) -> Reporter | None:
    """The guard's reporter when this server runs under JupyterHub with a service; None otherwise.

    Its sink and exemption cache are registered with the guard at once (records made before the
    loop runs wait in the queue); the extension app starts it and closes it.
    """
    if not config.enabled:
        return None
    if not config.api_token or not os.environ.get("JUPYTERHUB_API_URL"):
        return None  # not under JupyterHub
    if not config.service_url:
        log.warning(
            "tos-guard: running under JupyterHub but no hub service URL is configured "
            "(c.TosGuardHub.service_url or $JUPYTER_TOS_GUARD_HUB_URL): verdicts stay local"
        )
        return None
    user = os.environ.get("JUPYTERHUB_USER", "") or (guard.identity or "")
    try:
        reporter = Reporter(guard, config, log, user=user, server_name=os.environ.get("JUPYTERHUB_SERVER_NAME", ""))
    except OSError as exc:
        log.error("tos-guard: cannot open the hub report queue in %s: %s; verdicts stay local", config.queue_dir, exc)
        return None
    guard.sinks.append(reporter.sink)
    if reporter.use_exemptions:
        guard.exemption_providers.append(reporter.exemptions)
    guard.group_providers.append(reporter.groups_of)
    return reporter
