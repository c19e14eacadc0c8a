"""Several service processes (replicas) on one real PostgreSQL ($JUPYTER_TOS_GUARD_HUB_TEST_DB_URL,
see scripts/pg.sh): started together on an empty database, reports sent to both stored once, a
replica killed while a guard streams to it losing and duplicating nothing, a strike decided
once, a flag check run once per period. The hub is the counting stand-in of bench/hub.py."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from jupyter_tos_guard.bench.hub import IdentityStub, ServiceProcess, free_port
from jupyter_tos_guard.hub.db import VERSION_TABLE, Store, make_engine
from jupyter_tos_guard.hub.models import Base, Flag, StrikeEvent, Verdict

DB_URL = os.environ.get("JUPYTER_TOS_GUARD_HUB_TEST_DB_URL", "")
pytestmark = pytest.mark.skipif(not DB_URL, reason="needs PostgreSQL: $JUPYTER_TOS_GUARD_HUB_TEST_DB_URL")

LADDER = [{"name": "3 blocks", "actions": ["block"], "count": 3, "window": 3600, "response": "restrict"}]
LONG_AGO = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
RUNNING = [{"name": "user900", "groups": [], "servers": {"": {"started": LONG_AGO, "ready": True}}}]


class Replicas:
    def __init__(self, root: Path):
        self.root = root
        self.stub = IdentityStub(free_port(), users=RUNNING)
        self.extra = (
            f"c.TosGuardHubService.strike_ladder = {LADDER!r}\n"
            f"c.TosGuardHubService.notify_webhook_url = 'http://127.0.0.1:{self.stub.port}/webhook'\n"
            "c.TosGuardHubService.flag_check_interval = 1\n"
            "c.TosGuardHubService.heartbeat_grace = 1\n"
        )
        self.services: list[ServiceProcess] = []

    def start(self, n: int) -> list[ServiceProcess]:
        """n more replicas, started at the same moment."""
        started: list[ServiceProcess] = []
        errors: list[BaseException] = []

        def one(i: int) -> None:
            try:
                name = f"replica{len(self.services) + i}"
                started.append(ServiceProcess(self.root, DB_URL, self.stub.api_url, free_port(), self.extra, name))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.services += started
        if errors:
            raise errors[0]
        return started

    def logs(self) -> str:
        return "\n".join(f"--- {s.log_path.name}\n{s.log_tail(2000)}" for s in self.services)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    engine = make_engine(DB_URL)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {VERSION_TABLE}")
    engine.dispose()
    r = Replicas(tmp_path_factory.mktemp("replicas"))
    try:
        r.start(2)  # on the empty database: one creates the schema, the other waits for it
        yield r
    except BaseException:
        print(r.logs())
        raise
    finally:
        for s in r.services:
            if s.proc.poll() is None:
                s.stop()


@pytest.fixture
def store() -> Iterator[Store]:
    engine = make_engine(DB_URL)
    yield Store(engine)
    engine.dispose()


def record(action: str = "block", rule: str = "mining.xmrig") -> dict[str, Any]:
    return {"event": "decision", "action": action, "rules": [rule], "categories": [rule.split(".")[0]]}


async def post(session: aiohttp.ClientSession, base: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    async with session.post(base + "api/guard/reports", data=json.dumps(body), headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


def test_reports_sent_to_both_replicas_land_once(replicas: Replicas, store: Store) -> None:
    a, b = replicas.services[:2]
    clients = [uuid.uuid4().hex for _ in range(20)]

    async def go() -> list[dict[str, Any]]:
        answers = []
        async with aiohttp.ClientSession() as session:
            for first in (1, 11):  # each batch to both replicas at once: a retry landing on the other one
                batch = [{"seq": n, "record": record("warn")} for n in range(first, first + 10)]
                sends = []
                for i, cid in enumerate(clients):
                    body = {"client_id": cid, "records": batch}
                    for base in (a.base, b.base) if i % 2 else (b.base, a.base):
                        sends.append(post(session, base, f"bench-{100 + i}", body))
                answers += await asyncio.gather(*sends)
        return answers

    answers = asyncio.run(go())
    assert all(x["acked"] in (10, 20) for x in answers)
    assert sum(x["inserted"] for x in answers) == 20 * 20 and sum(x["duplicates"] for x in answers) == 20 * 20
    with store.sessions() as s:
        rows = s.execute(select(Verdict.client_id, Verdict.seq).where(Verdict.client_id.in_(clients))).all()
        gaps = s.execute(select(func.count()).select_from(Flag).where(Flag.reason == "report-gap")).scalar_one()
    assert sorted(rows) == sorted((cid, n) for cid in clients for n in range(1, 21))
    assert gaps == 0


def test_a_strike_is_decided_once(replicas: Replicas, store: Store) -> None:
    a, b = replicas.services[:2]

    async def go() -> None:
        async with aiohttp.ClientSession() as session:
            sends = []
            for base in (a.base, b.base):  # two of user7's servers, each reporting to another replica
                body = {"client_id": uuid.uuid4().hex, "records": [{"seq": n, "record": record()} for n in (1, 2)]}
                sends.append(post(session, base, "bench-7", body))
            await asyncio.gather(*sends)

    asyncio.run(go())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with store.sessions() as s:
            events = s.execute(select(StrikeEvent).where(StrikeEvent.user == "user7")).scalars().all()
        if events and events[0].outcome != "pending":
            break
        time.sleep(0.2)
    time.sleep(1.5)  # both replicas have evaluated user7 by now (0.5 s after the reports)
    with store.sessions() as s:
        events = s.execute(select(StrikeEvent).where(StrikeEvent.user == "user7")).scalars().all()
    assert [(e.step, e.outcome) for e in events] == [("3 blocks", "done")], replicas.logs()
    assert replicas.stub.calls.count(("POST", "/hub/api/groups/tos-restricted/users")) == 1
    assert [w["user"] for w in replicas.stub.webhooks if w["event"] == "strike"] == ["user7"]


def test_the_flag_check_runs_once_per_period(replicas: Replicas, store: Store) -> None:
    def listings() -> int:
        return replicas.stub.calls.count(("GET", "/hub/api/users"))

    time.sleep(1.5)
    before, t0 = listings(), time.monotonic()
    time.sleep(5)
    ran = listings() - before
    elapsed = time.monotonic() - t0
    # two replicas ticking every second: about one check a second, not two
    assert 0.6 * elapsed <= ran <= elapsed + 1.5, (ran, elapsed)
    with store.sessions() as s:
        flags = s.execute(select(Flag).where(Flag.user == "user900")).scalars().all()
    assert [(f.reason, f.resolved) for f in flags] == [("no-heartbeat", None)]
    assert [w["reason"] for w in replicas.stub.webhooks if w["event"] == "flag" and w["user"] == "user900"] == [
        "no-heartbeat"
    ]


class RoundRobin:
    """A TCP load balancer on loopback: each connection to the next live replica, as a Kubernetes
    Service in front of a Deployment's pods; a replica that refuses connections is skipped."""

    def __init__(self, ports: list[int]):
        self.ports = ports
        self.next = 0
        self.port = free_port()

    async def start(self) -> asyncio.AbstractServer:
        return await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(len(self.ports)):
            port = self.ports[self.next % len(self.ports)]
            self.next += 1
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        else:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def test_a_replica_killed_mid_stream_loses_and_duplicates_nothing(
    replicas: Replicas, store: Store, tmp_path: Path
) -> None:
    from traitlets.config import Config

    from jupyter_tos_guard.config import TosGuard, TosGuardHub
    from jupyter_tos_guard.guard import Guard
    from jupyter_tos_guard.reporter import Reporter

    [victim] = replicas.start(1)
    survivor = replicas.services[1]
    lb = RoundRobin([victim.port, survivor.port])
    log = logging.getLogger("test-replicas")
    traits = {"api_token": "bench-31", "batch_size": 5, "retry_initial": 0.05, "retry_max": 0.2, "sync_interval": 0}
    config = TosGuardHub(config=Config({"TosGuardHub": traits}))
    config.service_url = f"http://127.0.0.1:{lb.port}/services/tos-guard/"
    config.queue_dir, config.fsync = str(tmp_path / "queue"), False
    reporter = Reporter(Guard(TosGuard(audit_log=""), log), config, log, user="user31")
    total = 400

    async def go() -> None:
        server = await lb.start()
        await reporter.start()
        for _ in range(total):
            reporter.sink(record("warn", "p2p.aria2-magnet"))
        while reporter.queue.acked < 60:  # streaming through both replicas
            await asyncio.sleep(0.01)
        victim.stop(kill=True)  # SIGKILL: requests in flight to it die with it
        deadline = time.monotonic() + 60
        while reporter.queue.acked < total and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await reporter.aclose()
        server.close()

    asyncio.run(go())
    assert reporter.queue.acked == total, replicas.logs()
    with store.sessions() as s:
        seqs = s.execute(select(Verdict.seq).where(Verdict.client_id == reporter.queue.client_id)).scalars().all()
        gaps = s.execute(select(func.count()).select_from(Flag).where(Flag.reason == "report-gap")).scalar_one()
    assert sorted(seqs) == list(range(1, total + 1))
    assert gaps == 0
