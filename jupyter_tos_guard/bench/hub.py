"""Benchmark of the hub service: ingest rate and dashboard query latency.

    jupyter-tos-guard-hub benchmark [--clients 64] [--processes 4] [--reports 20000]
                                    [--verdicts 1000000] [--db PATH] [--quick]

1. Ingest: the real service (`python -m jupyter_tos_guard.hub`, SQLite, full sync) runs as a
   subprocess; many concurrent guards on loopback send reports as the single-user client does:
   in order, each waiting for the acknowledgement before sending the next. Worst case first,
   one report per request, then batches of 50 (what a replay after an outage sends).
   Tokens are checked by a stand-in for the hub's `/hub/api/user` (a few lines here); the
   service caches each identity (60 s), so the stand-in sees one request per guard and the
   figures are the service's own.
2. Dashboard: a SQLite database with `--verdicts` synthetic verdicts (5,000 users, 40 groups,
   all default categories and rules, 90 days), then the queries of the dashboard page (a page
   of verdicts, the counts by action and category, the filter suggestions) for each kind of
   filter, and a user's timeline. Reuse a database between runs with `--db`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

CATEGORIES = {
    "mining": ["mining.xmrig", "mining.nicehash", "mining.pool-url", "mining.stratum", "mining.t-rex"],
    "deepfake": ["deepfake.roop", "deepfake.facefusion", "deepfake.deepfacelab", "deepfake.faceswap"],
    "password_cracking": ["password-cracking.hashcat", "password-cracking.john", "password-cracking.hydra"],
    "dos": ["dos.hping3", "dos.loic", "dos.slowloris"],
    "p2p": ["p2p.libtorrent", "p2p.qbittorrent", "p2p.aria2-magnet", "p2p.transmission"],
    "remote_access": [
        "remote-access.ngrok",
        "remote-access.cloudflared",
        "remote-access.sshd",
        "remote-access.vnc",
        "remote-access.localtunnel",
    ],
    "testing": ["test.warnme", "test.blockme"],
}
ACTIONS = [("warn", 55), ("block", 25), ("log", 10), ("exempted", 5), ("confirm", 3), ("acknowledged", 2)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the stand-in for the hub's /hub/api/user -------------------------------------------------------


class IdentityStub:
    """The hub's `GET /hub/api/user` for tokens `bench-<n>` (user `user<n>`, group `course<n % 40>`),
    in a thread of this process; anything else is refused as the hub refuses an unknown token.
    `requests` counts the questions per token, so a test can see what the service's cache saves.
    `delay` holds each answer that long (a hub under load).

    The few other calls the service makes (list running servers, add to a group, stop a server)
    are answered too, from `users` (the hub's user models, servers included), and recorded in
    `calls` as (method, path): what a test counts to see a response made once. A POST to
    `/webhook` is recorded there as well, as the operators' webhook."""

    def __init__(self, port: int, delay: float = 0.0, users: list[dict[str, Any]] | None = None):
        self.port = port
        self.delay = delay
        self.users = users or []
        self.calls: list[tuple[str, str]] = []
        self.webhooks: list[dict[str, Any]] = []
        self.requests: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()
        self._thread.start()
        self._ready.wait(30)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hub/api"

    def _run(self) -> None:
        from tornado import web

        stub = self

        class User(web.RequestHandler):
            async def get(self) -> None:
                token = self.request.headers.get("Authorization", "").partition(" ")[2]
                with stub._lock:
                    stub.requests[token] = stub.requests.get(token, 0) + 1
                if stub.delay:
                    await asyncio.sleep(stub.delay)
                if not token.startswith("bench-"):
                    self.set_status(403)
                    self.finish("{}")
                    return
                n = int(token.split("-")[1])
                self.finish(
                    json.dumps(
                        {
                            "kind": "user",
                            "name": f"user{n}",
                            "groups": [f"course{n % 40}"],
                            "scopes": [f"access:servers!server=user{n}/"],
                            "admin": False,
                        }
                    )
                )

        class Other(web.RequestHandler):
            def _record(self) -> None:
                with stub._lock:
                    stub.calls.append((self.request.method or "", self.request.path))

            def get(self) -> None:
                self._record()
                if self.request.path == "/hub/api/users":
                    self.finish(json.dumps(stub.users))
                    return
                name = self.request.path.rsplit("/", 1)[-1]
                found = [u for u in stub.users if u["name"] == name]
                if not found:
                    raise web.HTTPError(404)
                self.finish(json.dumps(found[0]))

            def post(self) -> None:
                self._record()
                if self.request.path == "/webhook":
                    with stub._lock:
                        stub.webhooks.append(json.loads(self.request.body))
                self.finish("{}")

            def delete(self) -> None:
                self._record()
                self.set_status(204)
                self.finish()

        async def main() -> None:
            web.Application([(r"/hub/api/user", User), (r"/.*", Other)]).listen(self.port, "127.0.0.1")
            self._ready.set()
            await asyncio.Event().wait()

        asyncio.run(main())


def start_identity_stub(port: int) -> IdentityStub:
    return IdentityStub(port)


class ServiceProcess:
    """The real service (`python -m jupyter_tos_guard.hub`) as a subprocess, identifying tokens with
    `hub_api_url` (the stub above), listening on `port`, its config `extra` lines added."""

    def __init__(self, workdir: Path, db_url: str, hub_api_url: str, port: int, extra: str = "", name: str = "svc"):
        self.port = port
        self.base = f"http://127.0.0.1:{port}/services/tos-guard/"
        config = workdir / f"{name}_config.py"
        config.write_text(
            f"c = get_config()  # noqa\nc.TosGuardHubService.db_url = {db_url!r}\n"
            "c.TosGuardHubService.flag_check_interval = 0\nc.Application.log_level = 'WARN'\n" + extra
        )
        env = dict(
            os.environ,
            JUPYTERHUB_API_URL=hub_api_url,
            JUPYTERHUB_API_TOKEN="svc",
            JUPYTERHUB_SERVICE_PREFIX="/services/tos-guard/",
            JUPYTERHUB_SERVICE_URL=f"http://127.0.0.1:{port}",
        )
        for key in ("JUPYTERHUB_CLIENT_ID", "JUPYTERHUB_OAUTH_ACCESS_SCOPES"):
            env.pop(key, None)
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_tos_guard.hub", "--config", str(config)],
            env=env,
            cwd=workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_http(self.base + "api/health", self.proc)
        except BaseException:
            self.stop()
            raise

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- load generator (one process per --processes) ----------------------------------------------------


def _record(n: int, seq: int) -> dict[str, Any]:
    category = random.choice(list(CATEGORIES))
    rule = random.choice(CATEGORIES[category])
    action = random.choices([a for a, _ in ACTIONS], [w for _, w in ACTIONS])[0]
    return {
        "event": "decision",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "user": f"user{n}",
        "kernel_id": str(uuid.uuid4()),
        "kernel_name": "python3",
        "notebook_path": "work/nb.ipynb",
        "msg_id": uuid.uuid4().hex,
        "channel": "shell",
        "action": action,
        "policy_action": action,
        "mode": "enforce",
        "rules": [rule],
        "categories": [category],
        "excerpt": f"!{rule.split('.')[-1]} --bench {seq}",
        "code_sha256": uuid.uuid4().hex * 2,
        "truncated": False,
        "policy_name": "default",
        "policy_digest": "0" * 64,
    }


def _load_worker(url: str, first: int, clients: int, per_client: int, batch: int, out: Any) -> None:
    """Guards of one process: each sends in order and waits for the acknowledgement, on a new
    connection per request as the guard's client does (aiohttp: cheap on the client side, so
    that the service, not the load generator, is what is measured on a shared machine)."""
    import aiohttp

    async def guard(n: int, session: Any, latencies: list[float]) -> int:
        client_id = uuid.uuid4().hex
        seq = 0
        headers = {"Authorization": f"token bench-{n}", "Content-Type": "application/json"}
        sent = 0
        while sent < per_client:
            records = []
            for _ in range(min(batch, per_client - sent)):
                seq += 1
                records.append({"seq": seq, "record": _record(n, seq)})
            body = json.dumps({"client_id": client_id, "server_name": "", "records": records})
            t0 = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as resp:
                answer = json.loads(await resp.read())
            latencies.append(time.perf_counter() - t0)
            if resp.status != 200 or answer["acked"] != seq:
                raise RuntimeError(f"not acknowledged: {resp.status} {answer}")
            sent += len(records)
        return sent

    async def main() -> tuple[int, list[float]]:
        latencies: list[float] = []
        timeout = aiohttp.ClientTimeout(total=300)
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            counts = await asyncio.gather(*(guard(first + i, session, latencies) for i in range(clients)))
        return sum(counts), latencies

    try:
        out.put(asyncio.run(main()))
    except Exception as exc:  # pragma: no cover - reported by the parent
        out.put(f"{type(exc).__name__}: {exc}")


def run_ingest(args: argparse.Namespace, workdir: Path) -> list[str]:
    from ..hub.db import Store, make_engine

    hub_port, port = free_port(), free_port()
    stub = IdentityStub(hub_port)
    db_url = args.ingest_db_url or f"sqlite:///{workdir / 'ingest.sqlite'}"
    if args.ingest_db_url:
        _empty(db_url)
    service = ServiceProcess(workdir, db_url, stub.api_url, port, name="ingest")
    lines = []
    pg = make_engine(db_url) if db_url.startswith("postgresql") else None
    try:
        url = service.base + "api/guard/reports"
        for batch in (1, 50):
            total_reports = args.reports if batch == 1 else args.reports * 5
            clients = args.clients
            per_process = max(1, clients // args.processes)
            per_client = max(batch, total_reports // (per_process * args.processes))
            ctx = multiprocessing.get_context("spawn")
            out = ctx.Queue()
            procs = [
                ctx.Process(
                    target=_load_worker,
                    args=(url, 100_000 * batch + p * per_process, per_process, per_client, batch, out),
                )
                for p in range(args.processes)
            ]
            t0 = time.perf_counter()
            cpu0 = service.cpu_seconds()
            pg0 = _pg_cpu(pg) if pg is not None else (0.0, 0.0)
            for p in procs:
                p.start()
            results = [out.get(timeout=900) for _ in procs]
            elapsed = time.perf_counter() - t0
            cpu = service.cpu_seconds() - cpu0
            pg1 = _pg_cpu(pg) if pg is not None else (0.0, 0.0)
            for p in procs:
                p.join()
            errors = [r for r in results if isinstance(r, str)]
            if errors:
                raise RuntimeError(f"a load generator failed: {errors[0]}")
            sent = sum(r[0] for r in results)
            latencies = sorted(x for r in results for x in r[1])
            p50 = latencies[len(latencies) // 2] * 1000
            p99 = latencies[int(len(latencies) * 0.99)] * 1000
            lines.append(
                f"ingest, {args.processes * per_process} concurrent guards, {batch} report(s) per request: "
                f"{sent} reports in {elapsed:.1f} s = {sent / elapsed:,.0f} reports/s "
                f"({len(latencies) / elapsed:,.0f} requests/s; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms); "
                # the load generators share the machine: what one process would take at a full core
                f"service CPU {cpu / elapsed * 100:.0f}% of a core, {cpu / len(latencies) * 1000:.2f} ms a request = "
                f"{len(latencies) / max(cpu, 1e-9):,.0f} requests per CPU-second; "
                + (
                    f"PostgreSQL {(pg1[0] - pg0[0]) / len(latencies) * 1000:.2f} ms a request (backends) + "
                    f"{(pg1[1] - pg0[1]) / len(latencies) * 1000:.2f} (background); "
                    if pg is not None
                    else ""
                )
                + f"load average {os.getloadavg()[0]:.2f}"
            )
            print(lines[-1], flush=True)
        engine = make_engine(db_url)
        stored = Store(engine).verdict_count()
        how = "PostgreSQL" if engine.dialect.name == "postgresql" else "SQLite WAL, synchronous=FULL"
        engine.dispose()
        lines.append(f"ingest: {stored} verdicts stored ({how}, group commit)")
        print(lines[-1], flush=True)
    except BaseException:
        print(service.log_tail(), file=sys.stderr)
        raise
    finally:
        service.stop()
        if pg is not None:
            pg.dispose()
    return lines


def _empty(db_url: str) -> None:
    """Drop the service's tables (and its version table) in a benchmark database."""
    from ..hub.db import VERSION_TABLE, make_engine
    from ..hub.models import Base

    engine = make_engine(db_url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {VERSION_TABLE}")
    engine.dispose()


def _wait_http(url: str, proc: subprocess.Popen[bytes]) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the service exited")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the service did not start")


# --- a fleet of guards syncing, and a burst of blocked cells -------------------------------------------


def _fleet_worker(bases: list[str], guards: list[int], burst: list[int], plan: dict[str, float], out: Any) -> None:
    """Guards of one client process, doing what `Reporter` does: one sync per interval (the first
    at a random point of the first interval, then interval x 0.9-1.1) with the ETags the answers
    gave, and for the guards in `burst` one blocked cell's report, retried until acknowledged.
    Guard n talks to replica n % len(bases) (a load balancer's round robin) with token bench-<n>."""
    import aiohttp

    latencies: dict[str, list[float]] = {"sync": [], "report": []}
    errors: dict[str, int] = {"sync": 0, "report": 0}
    acked: list[str] = []
    start, end, interval = plan["start"], plan["start"] + plan["duration"], plan["interval"]

    async def call(session: Any, kind: str, url: str, token: str, body: dict[str, Any]) -> Any:
        t0 = time.perf_counter()
        try:
            async with session.post(
                url,
                data=json.dumps(body),
                headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
            ) as resp:
                data = await resp.read()
                ok = resp.status == 200
        except (TimeoutError, aiohttp.ClientError, OSError):
            ok = False
        latencies[kind].append(time.perf_counter() - t0)
        if not ok:
            errors[kind] += 1
            return None
        return json.loads(data)

    async def guard(n: int, session: Any) -> None:
        base, token = bases[n % len(bases)], f"bench-{n}"
        client_id = f"fleet{n:06d}{uuid.uuid4().hex[:12]}"
        etags: dict[str, Any] = {"exemptions_etag": None, "policy_etag": None}
        beat = {
            "client_id": client_id,
            "server_name": "",
            "version": "bench",
            "policy_name": "default",
            "policy_digest": "0" * 64,
            "mode": "enforce",
            "queue_pending": 0,
        }
        at = start + interval * random.random()
        while at < end:
            await asyncio.sleep(max(0.0, at - time.time()))
            answer = await call(session, "sync", base + "api/guard/sync", token, dict(beat, **etags))
            if answer:
                for kind in ("exemptions", "policy"):
                    if kind in answer:
                        etags[f"{kind}_etag"] = answer[kind]["etag"]
            at += interval * random.uniform(0.9, 1.1)

    async def student(n: int, session: Any) -> None:
        base, token = bases[n % len(bases)], f"bench-{n}"
        client_id = f"burst{n:06d}{uuid.uuid4().hex[:12]}"
        await asyncio.sleep(max(0.0, start + plan["burst_at"] + plan["burst_window"] * random.random() - time.time()))
        body = {
            "client_id": client_id,
            "server_name": "",
            "records": [{"seq": 1, "record": _record(n, 1) | {"action": "block"}}],
        }
        delay = 0.5
        while time.time() < end + 60:
            answer = await call(session, "report", base + "api/guard/reports", token, body)
            if answer and answer.get("acked") == 1:
                acked.append(client_id)
                return
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # the reporter's backoff
            delay = min(delay * 2, 10.0)

    async def main() -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        connector = aiohttp.TCPConnector(limit=0, force_close=True)  # a new connection per request, as the guard
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await asyncio.gather(*(guard(n, session) for n in guards), *(student(n, session) for n in burst))

    try:
        asyncio.run(main())
        out.put({"latencies": latencies, "errors": errors, "acked": acked})
    except Exception as exc:  # pragma: no cover - reported by the parent
        out.put(f"{type(exc).__name__}: {exc}")


def _pg_cpu(engine: Any) -> tuple[float, float]:
    """CPU seconds so far of (the backends connected to this database, the cluster's own background
    processes: WAL writer, checkpointer, ...). Backends of other databases are left out."""
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT pid, datname, backend_type FROM pg_stat_activity")).all()
        ours = conn.execute(text("SELECT current_database(), pg_backend_pid()")).one()
    mine = shared = 0.0
    for pid, datname, backend_type in rows:
        if pid == ours[1]:
            continue
        try:
            cpu = _cpu_seconds(int(pid))
        except OSError:
            continue
        if datname == ours[0]:
            mine += cpu
        elif datname is None and backend_type not in ("client backend",):
            shared += cpu
    return mine, shared


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] * 1000


def run_fleet(args: argparse.Namespace, workdir: Path) -> list[str]:
    from sqlalchemy import text

    from ..hub.db import VERSION_TABLE, make_engine
    from ..hub.models import Base

    url = args.fleet_db_url or f"sqlite:///{workdir / 'fleet.sqlite'}"
    engine = make_engine(url)
    kind = "PostgreSQL" if engine.dialect.name == "postgresql" else "SQLite"
    replicas = [int(r) for r in str(args.replicas).split(",")]
    if kind == "SQLite" and max(replicas) > 1:
        print("fleet: SQLite serves one service process; running 1 only (give --fleet-db-url for PostgreSQL)")
        replicas = [1]
    stub = IdentityStub(free_port())
    lines = [
        f"fleet: {args.guards:,} guards syncing every {args.interval:g} s (x 0.9-1.1, first at random) for "
        f"{args.duration:g} s, {args.fleet_processes} client processes, a token each (the hub stood in for, "
        f"HubAuth's {args.token_cache_age} s cache in the path); burst: {args.burst:,} blocked cells within {args.burst_window:g} s "
        f"at {args.burst_at if args.burst_at is not None else args.duration / 2:g} s; {kind}"
    ]
    print(lines[-1], flush=True)
    results = []
    for n in replicas:
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {VERSION_TABLE}")
        if kind == "SQLite":
            engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{engine.url.database}{suffix}").unlink(missing_ok=True)
        services: list[ServiceProcess] = []
        try:
            for i in range(n):
                extra = f"c.HubAuth.cache_max_age = {args.token_cache_age}\n"
                services.append(ServiceProcess(workdir, url, stub.api_url, free_port(), extra, name=f"fleet{n}-{i}"))
            bases = [svc.base for svc in services]
            every = max(1, args.guards // max(1, args.burst))
            students = [g for g in range(args.guards) if g % every == 0][: args.burst]
            plan = {
                "start": time.time() + 3.0,
                "duration": args.duration,
                "interval": args.interval,
                "burst_at": args.burst_at if args.burst_at is not None else args.duration / 2,
                "burst_window": args.burst_window,
            }
            ctx = multiprocessing.get_context("spawn")
            out = ctx.Queue()
            k = args.fleet_processes
            procs = [
                ctx.Process(
                    target=_fleet_worker,
                    args=(bases, list(range(args.guards))[p::k], students[p::k], plan, out),
                )
                for p in range(k)
            ]
            for p in procs:
                p.start()
            time.sleep(max(0.0, plan["start"] - time.time()))
            cpu0 = [svc.cpu_seconds() for svc in services]
            pg0 = _pg_cpu(engine) if kind == "PostgreSQL" else (0.0, 0.0)
            t0 = time.time()
            got = [out.get(timeout=args.duration + 600) for _ in procs]
            elapsed = time.time() - t0
            cpu = [svc.cpu_seconds() - c for svc, c in zip(services, cpu0, strict=True)]
            pg1 = _pg_cpu(engine) if kind == "PostgreSQL" else (0.0, 0.0)
            for p in procs:
                p.join()
            failed = [g for g in got if isinstance(g, str)]
            if failed:
                raise RuntimeError(f"a fleet client failed: {failed[0]}")
            syncs = [x for g in got for x in g["latencies"]["sync"]]
            reports = [x for g in got for x in g["latencies"]["report"]]
            errors = {kind_: sum(g["errors"][kind_] for g in got) for kind_ in ("sync", "report")}
            acked = [c for g in got for c in g["acked"]]
            with engine.connect() as conn:
                stored = conn.execute(
                    text("SELECT count(*), count(DISTINCT client_id) FROM tos_verdicts WHERE client_id LIKE 'burst%'")
                ).one()
                synced = conn.execute(
                    text("SELECT count(*) FROM tos_guard_clients WHERE last_heartbeat IS NOT NULL")
                ).scalar_one()
            lost = len(students) - int(stored[1])
            duplicated = int(stored[0]) - int(stored[1])
            result = {
                "replicas": n,
                "syncs": len(syncs),
                "sync_rate": len(syncs) / elapsed,
                "sync_p50": _percentile(syncs, 0.5),
                "sync_p99": _percentile(syncs, 0.99),
                "report_p50": _percentile(reports, 0.5),
                "report_p99": _percentile(reports, 0.99),
                "errors": errors,
                "acked": len(acked),
                "lost": lost,
                "duplicated": duplicated,
                "synced_guards": synced,
                "cpu": [c / elapsed * 100 for c in cpu],
                "pg": ((pg1[0] - pg0[0]) / elapsed * 100, (pg1[1] - pg0[1]) / elapsed * 100),
                "hub_questions": sum(stub.requests.values()),
                "load": os.getloadavg()[0],
            }
            stub.requests.clear()
            results.append(result)
            line = (
                f"fleet, {n} service process(es): {result['syncs']:,} syncs ({result['sync_rate']:.0f}/s) "
                f"p50 {result['sync_p50']:.1f} ms p99 {result['sync_p99']:.1f} ms; burst reports p50 "
                f"{result['report_p50']:.1f} ms p99 {result['report_p99']:.1f} ms; errors {errors['sync']} syncs "
                f"{errors['report']} reports; {len(students):,} reports sent, {int(stored[1]):,} stored, "
                f"lost {lost}, duplicated {duplicated}; guards seen {synced:,}; CPU service "
                f"{' + '.join(f'{c:.0f}%' for c in result['cpu'])}, PostgreSQL backends {result['pg'][0]:.0f}% "
                f"+ background {result['pg'][1]:.0f}% of one core; hub asked {result['hub_questions']:,} times; "
                f"load average {result['load']:.1f}"
            )
            lines.append(line)
            print(line, flush=True)
        except BaseException:
            for svc in services:
                print(svc.log_tail(), file=sys.stderr)
            raise
        finally:
            for svc in services:
                svc.stop()
    if len(results) > 1:
        lines.append("fleet, side by side (service processes: " + " | ".join(str(r["replicas"]) for r in results) + ")")
        rows = [
            ("sync p50 / p99 ms", lambda r: f"{r['sync_p50']:.1f} / {r['sync_p99']:.1f}"),
            ("burst report p50 / p99 ms", lambda r: f"{r['report_p50']:.1f} / {r['report_p99']:.1f}"),
            ("errors (syncs, reports)", lambda r: f"{r['errors']['sync']}, {r['errors']['report']}"),
            ("reports lost / duplicated", lambda r: f"{r['lost']} / {r['duplicated']}"),
            ("service CPU % of a core", lambda r: " + ".join(f"{c:.0f}" for c in r["cpu"])),
            ("PostgreSQL CPU % (backends + bg)", lambda r: f"{r['pg'][0]:.0f} + {r['pg'][1]:.0f}"),
        ]
        for name, fmt in rows:
            lines.append(f"  {name:<34}" + " | ".join(f"{fmt(r):>16}" for r in results))
        for line in lines[-len(rows) - 1 :]:
            print(line, flush=True)
    engine.dispose()
    return lines


# --- dashboard queries over many verdicts --------------------------------------------------------------


def fill(store: Any, n: int, chunk: int = 50_000) -> float:
    rng = random.Random(42)
    t_end = time.time()
    t_start = t_end - 90 * 86400
    users = [f"student{i:05d}" for i in range(5000)]
    user_groups = {u: tuple({f"course{rng.randrange(40)}" for _ in range(rng.choice((1, 1, 2, 3)))}) for u in users}
    actions = [a for a, _ in ACTIONS]
    weights = [w for _, w in ACTIONS]
    cats = list(CATEGORIES)
    t0 = time.perf_counter()
    done = 0
    while done < n:
        rows, tags = [], []
        size = min(chunk, n - done)
        # each chunk a slice of the 90 days, in order: ids grow with arrival, as ingest makes them
        lo, hi = t_start + (t_end - t_start) * done / n, t_start + (t_end - t_start) * (done + size) / n
        times = sorted(rng.uniform(lo, hi) for _ in range(size))
        for i in range(size):
            user = rng.choice(users)
            category = rng.choice(cats)
            rule_ids = [rng.choice(CATEGORIES[category])]
            if rng.random() < 0.1:
                other = rng.choice(cats)
                extra = rng.choice(CATEGORIES[other])
                if extra not in rule_ids:
                    rule_ids.append(extra)
            categories = sorted({r_cat for r_cat in cats for r in rule_ids if r in CATEGORIES[r_cat]})
            action = rng.choices(actions, weights)[0]
            groups = user_groups[user]
            t = times[i]
            rows.append(
                {
                    "received": t + rng.uniform(0, 2),
                    "time": t,
                    "user": user,
                    "acting_user": None,
                    "server_name": "",
                    "client_id": f"c{hash(user) & 0xFFFFFF:06x}",
                    "seq": done + i + 1,
                    "event": "decision",
                    "action": action,
                    "policy_action": action,
                    "mode": "enforce",
                    "rules": " ".join(rule_ids),
                    "categories": " ".join(categories),
                    "groups": " ".join(groups),
                    "excerpt": f"!{rule_ids[0].split('.')[-1]} --threads 8 # cell {done + i}",
                    "code_sha256": f"{rng.getrandbits(256):064x}",
                    "notebook_path": f"course/week{rng.randrange(12)}.ipynb",
                    "kernel_id": None,
                    "kernel_name": "python3",
                    "msg_id": None,
                    "channel": "shell",
                    "policy_name": "default",
                    "policy_digest": "0" * 64,
                    "truncated": False,
                    "error": None,
                    "raw": "{}",
                }
            )
            tags.append(
                [("rule", r) for r in rule_ids] + [("category", c) for c in categories] + [("group", g) for g in groups]
            )
        _bulk_load(store, rows, tags)
        done += size
        print(f"  loaded {done:,} verdicts ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - t0


def run_dashboard(args: argparse.Namespace, workdir: Path) -> list[str]:
    from ..hub.db import Filters, Store, ensure_schema, make_engine

    path = Path(args.db) if args.db else workdir / "dashboard.sqlite"
    url = args.dashboard_db_url or f"sqlite:///{path}"
    engine = make_engine(url)
    ensure_schema(engine, allow_upgrade=True)
    from ..hub.config import DEFAULT_LADDER

    store = Store(engine, DEFAULT_LADDER)
    have = store.verdict_count()
    lines = []
    kind = "PostgreSQL" if engine.dialect.name == "postgresql" else "SQLite"
    if have < args.verdicts:
        where = engine.url.render_as_string(hide_password=True)
        print(f"filling {args.verdicts - have:,} synthetic verdicts into {where} ...", file=sys.stderr, flush=True)
        filler = fill_postgres if kind == "PostgreSQL" else fill
        took = filler(store, args.verdicts - have)
        from ..hub import rollup

        t0 = time.perf_counter()
        with engine.begin() as conn:  # the fill bypasses ingest: count it into the hourly rollup
            rollup.rebuild(conn)
        took += time.perf_counter() - t0
        lines.append(f"dashboard: loaded {args.verdicts - have:,} verdicts in {took:.0f} s")
    total = store.verdict_count()
    some_user = store.verdicts(Filters(), 1)[0]["user"]
    now = time.time()
    cases = {
        "no filter": Filters(),
        "user": Filters(user=some_user),
        "group": Filters(group="course7"),
        "category": Filters(category="deepfake"),
        "rule": Filters(rule="password-cracking.hashcat"),
        "action=block": Filters(action="block"),
        "last 24 h": Filters(since=now - 86400),
        "category+action+7 d": Filters(category="mining", action="block", since=now - 7 * 86400),
        "group+rule": Filters(group="course3", rule="remote-access.ngrok"),
    }
    lines.append(
        f"dashboard over {total:,} stored verdicts ({kind}); one page view = page of "
        f"{args.page} + counts by action and category (every match from the rollups; a user filter: the newest 50,000) + "
        "filter suggestions; first run, then median of 3:"
    )
    worst = 0.0
    for name, filters in cases.items():
        timings = []
        for _ in range(4):
            t0 = time.perf_counter()
            rows = store.verdicts(filters, args.page)
            summary = store.summary(filters, 50_000)
            store.known_values()
            timings.append(time.perf_counter() - t0)
        cold, warm = timings[0], statistics.median(timings[1:])
        worst = max(worst, cold, warm)
        matched = f"newest {summary.total:,} counted" if summary.capped else f"{summary.total:,} match"
        lines.append(
            f"  {name:<22} {cold * 1000:8.1f} ms cold {warm * 1000:8.1f} ms warm   ({matched}, {len(rows)} shown)"
        )
    t0 = time.perf_counter()
    store.verdicts(Filters(user=some_user), args.page)
    store.strike_status(some_user, ("course1",), store.ladder())
    lines.append(f"  {'user timeline':<22} {(time.perf_counter() - t0) * 1000:8.1f} ms")
    t0 = time.perf_counter()
    n = sum(1 for _ in store.iter_verdicts(Filters(category="dos"), 10**9))
    lines.append(f"  export (category=dos)  {n:,} rows in {time.perf_counter() - t0:.2f} s")
    lines.append(f"dashboard: slowest page view {worst * 1000:.0f} ms (target < 1000 ms)")
    lines += _chart_queries(store, now, some_user)
    for line in lines:
        print(line, flush=True)
    return lines


def _chart_queries(store: Any, now: float, some_user: str) -> list[str]:
    """The page's other two queries, over its default window (14 days) and a long one (90): the
    charts (`activity`: whole hours from the rollup, raw for the edges and for filters it cannot
    serve; beside it the same answer from the raw table alone: first and second run) and the top
    users. First run, then median of 3."""
    from ..hub.charts import pick_bucket
    from ..hub.db import Filters

    def timed(fn: Any, runs: int = 4) -> tuple[float, float]:
        timings = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            timings.append(time.perf_counter() - t0)
        return timings[0], statistics.median(timings[1:] or timings)

    lines = ["dashboard charts and top users (first run / median of 3, ms):"]
    lines.append(
        f"  {'window, filter':<26}{'charts':>18}{'charts, raw only':>20}{'top users':>18}   verdicts in window"
    )
    cases = [("", Filters()), ("category", Filters(category="deepfake")), ("action=block", Filters(action="block"))]
    cases += [("group", Filters(group="course7")), ("user (raw)", Filters(user=some_user))]
    for days in (14, 90):
        until = now
        since = until - days * 86400
        start, bucket, _ = pick_bucket(since, until)
        for name, f in cases:
            w = dataclasses.replace(f, since=since, until=until)
            total = store.activity(w, start, bucket).total
            fast = timed(lambda w=w, s=start, b=bucket: store.activity(w, s, b))
            raw = timed(lambda w=w, s=start, b=bucket: store.activity(w, s, b, use_rollup=False), runs=2)
            top = timed(lambda w=w: store.top_users(w))
            label = f"{days} d{', ' + name if name else ''}"
            lines.append(
                f"  {label:<26}{fast[0] * 1000:8.0f} /{fast[1] * 1000:7.0f}  {raw[0] * 1000:8.0f} /{raw[1] * 1000:7.0f}"
                f"  {top[0] * 1000:8.0f} /{top[1] * 1000:7.0f}   {total:,}"
            )
    lines.append(f"  (load average {os.getloadavg()[0]:.2f})")
    return lines


def fill_postgres(store: Any, n: int, chunk: int = 200_000) -> float:
    """The same synthetic verdicts as `fill`, loaded with COPY: the tables' secondary indexes and
    constraints are dropped first and rebuilt after (exactly as they were defined), as one does
    for a bulk load. Minutes for 10,000,000 verdicts, not hours."""
    import io

    rng = random.Random(42)
    t_end = time.time()
    t_start = t_end - 90 * 86400
    users = [f"student{i:05d}" for i in range(5000)]
    user_groups = {u: sorted({f"course{rng.randrange(40)}" for _ in range(rng.choice((1, 1, 2, 3)))}) for u in users}
    actions = [a for a, _ in ACTIONS]
    weights = [w for _, w in ACTIONS]
    cats = list(CATEGORIES)
    rule_cat = {r: c for c, rs in CATEGORIES.items() for r in rs}
    columns = (
        'id, received, time, "user", server_name, client_id, seq, event, action, policy_action, mode, rules, '
        "categories, groups, excerpt, code_sha256, notebook_path, kernel_name, channel, policy_name, "
        "policy_digest, truncated, raw"
    )
    t0 = time.perf_counter()
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        saved = []
        for table in ("tos_verdicts", "tos_verdict_tags"):
            cur.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype IN ('u', 'f')",
                (table,),
            )
            for name, definition in cur.fetchall():
                saved.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
                cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            cur.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT LIKE %s",
                (table, "%pkey"),
            )
            for name, definition in cur.fetchall():
                saved.insert(0, definition)
                cur.execute(f"DROP INDEX {name}")
        cur.execute("SELECT coalesce(max(id), 0) FROM tos_verdicts")
        next_id = int(cur.fetchone()[0]) + 1
        raw.commit()
        done = 0
        while done < n:
            size = min(chunk, n - done)
            # each chunk a slice of the 90 days, in order: ids grow with arrival, as ingest makes them
            lo, hi = t_start + (t_end - t_start) * done / n, t_start + (t_end - t_start) * (done + size) / n
            times = sorted(rng.uniform(lo, hi) for _ in range(size))
            verdicts, tags = io.StringIO(), io.StringIO()
            for i in range(size):
                user = rng.choice(users)
                category = rng.choice(cats)
                rule_ids = [rng.choice(CATEGORIES[category])]
                if rng.random() < 0.1:
                    extra = rng.choice(CATEGORIES[rng.choice(cats)])
                    if extra not in rule_ids:
                        rule_ids.append(extra)
                categories = sorted({rule_cat[r] for r in rule_ids})
                action = rng.choices(actions, weights)[0]
                groups = user_groups[user]
                t = times[i]
                vid = next_id + done + i
                verdicts.write(
                    f"{vid}\t{t + rng.uniform(0, 2)}\t{t}\t{user}\t\tc{hash(user) & 0xFFFFFF:06x}\t{done + i + 1}\t"
                    f"decision\t{action}\t{action}\tenforce\t{' '.join(rule_ids)}\t{' '.join(categories)}\t"
                    f"{' '.join(groups)}\t!{rule_ids[0].split('.')[-1]} --threads 8 # cell {done + i}\t"
                    f"{rng.getrandbits(256):064x}\tcourse/week{rng.randrange(12)}.ipynb\tpython3\tshell\t"
                    f"default\t{'0' * 64}\tf\t{{}}\n"
                )
                for r in rule_ids:
                    tags.write(f"{vid}\trule\t{r}\n")
                for c in categories:
                    tags.write(f"{vid}\tcategory\t{c}\n")
                for g in groups:
                    tags.write(f"{vid}\tgroup\t{g}\n")
            verdicts.seek(0)
            tags.seek(0)
            cur.copy_expert(f"COPY tos_verdicts ({columns}) FROM STDIN", verdicts)
            cur.copy_expert("COPY tos_verdict_tags (verdict_id, kind, value) FROM STDIN", tags)
            raw.commit()
            done += size
            print(f"  loaded {done:,} verdicts ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        print("  rebuilding indexes and constraints ...", file=sys.stderr, flush=True)
        for statement in saved:
            cur.execute(statement)
        cur.execute("SELECT setval(pg_get_serial_sequence('tos_verdicts', 'id'), (SELECT max(id) FROM tos_verdicts))")
        raw.commit()
        driver = raw.driver_connection  # VACUUM (for index-only scans) runs outside a transaction
        driver.autocommit = True
        with driver.cursor() as vacuum:
            vacuum.execute("VACUUM ANALYZE tos_verdicts")
            vacuum.execute("VACUUM ANALYZE tos_verdict_tags")
        driver.autocommit = False
    finally:
        raw.close()
    return time.perf_counter() - t0


def _bulk_load(store: Any, rows: list[dict[str, Any]], tags: list[list[tuple[str, str]]]) -> None:
    """Insert verdict rows and their tags in two statements (the benchmark's fill; the service never does this)."""
    from sqlalchemy import insert

    from ..hub.models import Verdict, VerdictTag

    with store.session() as s:
        ids = s.execute(insert(Verdict).returning(Verdict.id, sort_by_parameter_order=True), rows).scalars().all()
        s.execute(
            insert(VerdictTag),
            [{"verdict_id": i, "kind": k, "value": v} for i, ts in zip(ids, tags, strict=True) for k, v in ts],
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="jupyter-tos-guard-hub benchmark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--clients", type=int, default=64, help="concurrent guards (default 64)")
    parser.add_argument("--processes", type=int, default=2, help="load-generating processes (default 2)")
    parser.add_argument("--reports", type=int, default=20_000, help="reports sent one per request (default 20000)")
    parser.add_argument("--verdicts", type=int, default=1_000_000, help="stored verdicts for the dashboard (1000000)")
    parser.add_argument("--page", type=int, default=100, help="verdicts per page (100)")
    parser.add_argument("--db", help="SQLite file for the dashboard part (kept; reused when it has enough rows)")
    parser.add_argument(
        "--dashboard-db-url",
        help="a database URL for the dashboard part instead (e.g. PostgreSQL: filled with COPY; reused when it "
        "has enough rows)",
    )
    parser.add_argument(
        "--ingest-db-url",
        help="a database URL for the ingest part, e.g. PostgreSQL; its tos_* tables are DROPPED first "
        "(default: a SQLite file)",
    )
    fleet = parser.add_argument_group("fleet (a university's servers syncing, and a burst of blocked cells)")
    fleet.add_argument("--guards", type=int, default=10_000, help="guards (servers) in the fleet (10000)")
    fleet.add_argument("--interval", type=float, default=60.0, help="their sync interval, seconds (60)")
    fleet.add_argument("--duration", type=float, default=150.0, help="seconds the fleet runs (150)")
    fleet.add_argument("--burst", type=int, default=2000, help="students whose blocked cell is reported (2000)")
    fleet.add_argument("--burst-window", type=float, default=10.0, help="seconds the burst is spread over (10)")
    fleet.add_argument("--burst-at", type=float, help="seconds into the run the burst starts (half the duration)")
    fleet.add_argument(
        "--token-cache-age",
        type=int,
        default=60,
        help="the service's c.HubAuth.cache_max_age, seconds (60, the service's default)",
    )
    fleet.add_argument("--fleet-processes", type=int, default=3, help="client processes (3)")
    fleet.add_argument("--replicas", default="1,2", help="service processes to compare, e.g. 1,2 (PostgreSQL)")
    fleet.add_argument(
        "--fleet-db-url",
        help="PostgreSQL URL for the fleet; its tos_* tables are DROPPED before each run. Default: a SQLite "
        "file (1 service process only)",
    )
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-dashboard", action="store_true")
    parser.add_argument("--skip-fleet", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.processes, args.reports, args.verdicts = 8, 2, 200, 5_000
        args.guards, args.interval, args.duration, args.burst, args.burst_window = 60, 1.0, 3.0, 20, 1.0
        args.fleet_processes = 2
    with tempfile.TemporaryDirectory(prefix="tos-guard-hub-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_ingest:
            run_ingest(args, work)
        if not args.skip_fleet:
            run_fleet(args, work)
        if not args.skip_dashboard:
            run_dashboard(args, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
