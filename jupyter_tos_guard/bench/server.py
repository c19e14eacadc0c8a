"""Execute round trips through a real jupyter-server and ipykernel, with the guard and without.

`jupyter tos-guard benchmark --server` (or `python -m jupyter_tos_guard.bench.server
[--quick]`) starts two `jupyter-server` processes side by side on free loopback ports: one
with the extension enabled, one with it disabled. Each gets one kernel (through a notebook
session, as JupyterLab does) and one v1-protocol websocket. After a warm-up, the same cells
are sent to both in short interleaved batches (A then B, then B then A, ...) so that drift
on the machine (other load, the kernels' own growth) falls on both sides alike.

A round trip is what a frontend waits for: from sending the execute_request to having both
the shell execute_reply and the iopub `idle` status for it. Cells are benign and the kernel's
work on small cells is trivial, so the difference is the cost of the guard in the server.
Besides the round trip, the time until the iopub `busy` arrives (the way in: server, guard,
kernel dispatch) and the guard's own check time (its /metrics histogram) are shown, to
attribute the difference.

Targets (small cells): median overhead <= 5 % and <= 1 ms added at p99.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime
import gc
import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

V1 = "v1.kernel.websocket.jupyter.org"
TARGET_MEDIAN_OVERHEAD = 0.05  # small cells: guard median at most 5 % above no-guard median
TARGET_P99_ADDED_MS = 1.0  # small cells: guard p99 at most 1 ms above no-guard p99
MB = 1_000_000
SEED = 20240611
_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)

SMALL_CELLS = (
    "x = 1",
    "y = x + 1",
    'result = df.groupby("region")["sales"].mean()',
    "total = sum(values[:10])",
)
# Run once per kernel before measuring: gives the small cells something trivial to work on
# (`df` is a stand-in with the pandas methods the cell calls; no pandas needed).
SETUP_CELL = """\
class _Frame:
    def groupby(self, *args, **kwargs):
        return self
    def __getitem__(self, key):
        return self
    def mean(self):
        return 0.5
df = _Frame()
values = list(range(100))
"""


def csv_cell(size: int = MB, seed: int = SEED) -> str:
    """A benign cell of about `size` bytes: CSV rows in one triple-quoted string literal."""
    r = random.Random(seed)
    names = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")
    cities = ("paris", "london", "berlin", "tokyo", "lima", "oslo", "cairo", "quito", "delhi", "perth")
    head = 'DATA = """id,name,city,score\n'
    tail = '"""\n'
    rows: list[str] = []
    n = len(head) + len(tail)
    while True:
        row = f"{len(rows)},{r.choice(names)},{r.choice(cities)},{r.random():.4f}\n"
        if n + len(row) > size:
            break
        rows.append(row)
        n += len(row)
    return head + "".join(rows) + tail


def base64_cell(size: int = MB, seed: int = SEED) -> str:
    """A benign cell of about `size` bytes: an embedded blob (say an image), one base64 string."""
    head, tail = 'BLOB = "', '"\n'
    raw = (size - len(head) - len(tail)) // 4 * 3
    return head + base64.b64encode(random.Random(seed).randbytes(raw)).decode() + tail


BIG_CELLS = (
    ("1 MB cell, CSV text literal", 'DATA = """<CSV rows>"""', csv_cell),
    ("1 MB cell, base64 literal", 'BLOB = "<base64, one line>"', base64_cell),
)


@dataclass(frozen=True)
class Plan:
    small_batches: int  # per server, at most
    small_per_batch: int  # short batches: the servers alternate every few tens of ms
    small_budget: float  # seconds at most; batches stop (after a whole ABBA pair) once spent
    big_batches: int  # per server and 1 MB cell, at most
    big_per_batch: int
    big_budget: float  # seconds at most per 1 MB cell
    warmup_small: int  # round trips per small cell and server before measuring
    warmup_big: int  # per 1 MB cell and server
    total: float  # seconds for the whole run, start to stop: the budgets shrink to fit (busy machines)
    timeout: float  # a hung server or kernel fails the run after this many seconds
    min_batches: int = 2


FULL = Plan(
    small_batches=1000,
    small_per_batch=2,
    small_budget=45.0,
    big_batches=10,
    big_per_batch=1,
    big_budget=22.0,
    warmup_small=20,
    warmup_big=1,
    total=110.0,
    timeout=300.0,
)
QUICK = Plan(
    small_batches=100,
    small_per_batch=2,
    small_budget=5.0,
    big_batches=1,
    big_per_batch=1,
    big_budget=4.0,
    warmup_small=5,
    warmup_big=0,
    total=26.0,
    timeout=120.0,
    min_batches=1,
)
SHUTDOWN_RESERVE = 4.0  # seconds kept at the end of `total` for stopping the servers


# --- statistics -----------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    values = [v for v in values if v == v]
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


@dataclass
class Samples:
    """Round-trip seconds of one server for one cell set, kept per batch, and the seconds
    until each request's `busy` status arrived."""

    batches: list[list[float]] = field(default_factory=list)
    to_busy: list[float] = field(default_factory=list)

    @property
    def flat(self) -> list[float]:
        return [s for b in self.batches for s in b]


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_executable() -> str:
    """The `jupyter-server` of this Python's environment (not a shim elsewhere on PATH)."""
    here = Path(sysconfig.get_path("scripts")) / "jupyter-server"
    if here.exists():
        return str(here)
    beside = Path(sys.executable).parent / "jupyter-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("jupyter-server")
    if found is None:
        raise RuntimeError("no jupyter-server executable found (is jupyter_server installed?)")
    return found


class Server:
    """One `jupyter-server` process in its own process group, with its own dirs."""

    def __init__(self, label: str, guarded: bool, base: Path):
        self.label = label
        self.guarded = guarded
        self.dir = base / label
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / "server.log"
        self.session_id: str | None = None
        self.kernel_id: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        args = [
            server_executable(),
            "--allow-root",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.token={self.token}",
            f"--ServerApp.root_dir={self.dir / 'root'}",
        ]
        if not self.guarded:
            args.append("--ServerApp.jpserver_extensions={'jupyter_tos_guard': False}")
        return args

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(self.dir / "config"),  # no user config: both servers alike
            JUPYTER_RUNTIME_DIR=str(self.dir / "runtime"),
            IPYTHONDIR=str(self.dir / "ipython"),  # one history database per kernel
            JUPYTER_TOS_GUARD_AUDIT_LOG=str(self.dir / "audit.jsonl"),
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self) -> None:
        for sub in ("root", "config", "runtime", "ipython"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.dir / "root",
                start_new_session=True,  # its own process group, to stop it whole
            )

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the process group (the server shuts its kernels down), then SIGKILL if needed."""
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            pass
        # still not reaped, so the group id is still this server's: kill whatever is in it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


# --- HTTP and websocket ---------------------------------------------------------------------


async def _http(server: Server, method: str, path: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
    client = AsyncHTTPClient()
    request = HTTPRequest(
        server.url + path,
        method=method,
        headers={"Authorization": f"token {server.token}"},
        body=None if body is None else json.dumps(body),
        allow_nonstandard_methods=True,
        connect_timeout=timeout,
        request_timeout=timeout,
    )
    try:
        response = await client.fetch(request)
    except HTTPClientError as exc:
        return exc.code, None
    text = response.body.decode() if response.body else ""
    try:
        return response.code, json.loads(text) if text else None
    except ValueError:
        return response.code, text


async def wait_ready(server: Server, timeout: float = 90) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    retried = False
    while True:
        assert server.proc is not None
        if server.proc.poll() is not None:
            if not retried and "already in use" in server.log_tail():
                retried = True  # another process took the free port in the meantime: once more
                server.port = free_port()
                server.start()
                continue
            raise RuntimeError(f"{server.label} server exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            code, _ = await _http(server, "GET", "/api/status", timeout=5)
            if code == 200:
                return
        except OSError:
            pass
        if loop.time() > deadline:
            raise RuntimeError(f"{server.label} server not ready after {timeout:.0f} s:\n{server.log_tail()}")
        await asyncio.sleep(0.1)


async def guard_state(server: Server) -> str:
    """What /tos-guard/policy says: the guard must be active on one server and absent on the other."""
    code, body = await _http(server, "GET", "/tos-guard/policy")
    if code == 200 and isinstance(body, dict):
        return f"tos-guard active: {body.get('rule_count')} rules, mode {body.get('mode')}"
    return f"tos-guard not loaded (GET /tos-guard/policy -> {code})"


async def start_session(server: Server) -> None:
    code, body = await _http(
        server,
        "POST",
        "/api/sessions",
        {
            "path": "benchmark.ipynb",
            "name": "benchmark.ipynb",
            "type": "notebook",
            "kernel": {"name": "python3"},
        },
        timeout=60,
    )
    if code not in (200, 201) or not isinstance(body, dict):
        raise RuntimeError(f"{server.label}: could not start a kernel session (HTTP {code}):\n{server.log_tail()}")
    server.session_id = body["id"]
    server.kernel_id = body["kernel"]["id"]


async def end_session(server: Server) -> None:
    if server.session_id is None:
        return
    with contextlib.suppress(Exception):
        await _http(server, "DELETE", f"/api/sessions/{server.session_id}", timeout=10)
    server.session_id = None


def _frame(channel: bytes, parts: Sequence[bytes]) -> bytes:
    """A v1 websocket frame (the layout of jupyter_server's serialize_msg_to_ws_v1)."""
    offsets = [8 * (1 + 1 + len(parts) + 1)]
    offsets.append(offsets[-1] + len(channel))
    for p in parts:
        offsets.append(offsets[-1] + len(p))
    head = len(offsets).to_bytes(8, "little") + b"".join(o.to_bytes(8, "little") for o in offsets)
    return b"".join([head, channel, *parts])


def _parts(frame: bytes) -> tuple[str, list[bytes]]:
    count = int.from_bytes(frame[:8], "little")
    offsets = [int.from_bytes(frame[8 * (i + 1) : 8 * (i + 2)], "little") for i in range(count)]
    channel = frame[offsets[0] : offsets[1]].decode()
    return channel, [frame[offsets[i] : offsets[i + 1]] for i in range(1, count - 1)]


class Kernel:
    """One v1 websocket to one kernel, doing one request at a time, as a frontend waits for it."""

    def __init__(self, server: Server, ws: WebSocketClientConnection):
        self.server = server
        self.ws = ws
        self.session = uuid.uuid4().hex
        stream = getattr(getattr(ws, "protocol", None), "stream", None)
        self._sock: socket.socket | None = getattr(stream, "socket", None) if _TCP_QUICKACK else None

    @classmethod
    async def connect(cls, server: Server) -> Kernel:
        url = f"ws://127.0.0.1:{server.port}/api/kernels/{server.kernel_id}/channels?session_id={uuid.uuid4().hex}"
        request = HTTPRequest(
            url, headers={"Authorization": f"token {server.token}"}, connect_timeout=30, request_timeout=60
        )
        ws = await websocket_connect(request, subprotocols=[V1], max_message_size=64 * 1024 * 1024)
        if ws.selected_subprotocol != V1:
            ws.close()
            raise RuntimeError(f"{server.label}: server did not accept the v1 websocket protocol")
        return cls(server, ws)

    def _quickack(self) -> None:
        """Ask the kernel TCP stack to ACK what arrives next at once (Linux; no-op elsewhere).

        jupyter_server does not set TCP_NODELAY on kernel websockets, so after it writes the
        `busy` frame, Nagle's algorithm holds the next frames until that one is ACKed; a client
        that delays its ACKs (Linux does, by 40 ms) turns every round trip into 40+ ms, which
        would hide what the guard costs. Both servers are measured with this same client.
        """
        sock = self._sock
        if sock is not None and _TCP_QUICKACK is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
            except OSError:
                self._sock = None

    def _header(self, msg_type: str) -> tuple[str, bytes]:
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": msg_type,
            "session": self.session,
            "username": "benchmark",
            "date": datetime.datetime.now(datetime.UTC).isoformat(),
            "version": "5.3",
        }
        return msg_id, json.dumps(header).encode()

    async def request(self, msg_type: str, content: bytes, channel: bytes = b"shell") -> tuple[float, float]:
        """Send one request; seconds until its reply and its iopub idle have both arrived, and
        seconds until its iopub `busy` arrived (the way in: server, guard, kernel dispatch)."""
        msg_id, header = self._header(msg_type)
        frame = _frame(channel, (header, b"{}", b"{}", content))
        key = msg_id.encode()
        ws = self.ws
        perf = time.perf_counter
        t0 = perf()
        await ws.write_message(frame, binary=True)
        got_reply = got_idle = False
        busy = math.nan
        while not (got_reply and got_idle):
            self._quickack()
            raw = await ws.read_message()
            if raw is None:
                raise ConnectionError(f"{self.server.label}: the kernel websocket closed")
            if not isinstance(raw, bytes):
                continue
            _, parts = _parts(raw)
            if key not in parts[1]:  # cheap pre-check of the parent header before parsing it
                continue
            if json.loads(parts[1]).get("msg_id") != msg_id:
                continue
            kind = json.loads(parts[0]).get("msg_type", "")
            if kind.endswith("_reply"):
                got_reply = True
                if kind == "execute_reply":
                    status = json.loads(parts[3]).get("status")
                    if status != "ok":
                        raise RuntimeError(f"{self.server.label}: the cell did not run ({status}): {parts[3][:500]!r}")
            elif kind == "status":
                state = json.loads(parts[3]).get("execution_state")
                if state == "idle":
                    got_idle = True
                elif state == "busy" and busy != busy:
                    busy = perf() - t0
        return perf() - t0, busy

    async def kernel_info(self, timeout: float = 60) -> None:
        """Until the kernel answers (it may still be starting when the websocket opens)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                await asyncio.wait_for(self.request("kernel_info_request", b"{}"), 5)
                return
            except TimeoutError:
                if loop.time() > deadline:
                    raise RuntimeError(f"{self.server.label}: the kernel never answered kernel_info") from None

    def close(self) -> None:
        self.ws.close()


def execute_request_content(code: str, **extra: Any) -> dict[str, Any]:
    """An execute_request's content as JupyterLab sends it (`extra` overrides a field)."""
    content: dict[str, Any] = {
        "code": code,
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": True,
    }
    content.update(extra)
    return content


def execute_content(code: str) -> bytes:
    """Pre-packed execute_request content, as JupyterLab sends it."""
    return json.dumps(execute_request_content(code)).encode()


# --- measuring ------------------------------------------------------------------------------


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


async def interleaved(
    kernels: Sequence[Kernel],
    contents: Sequence[bytes],
    batches: int,
    per_batch: int,
    budget: float,
    min_batches: int = 2,
) -> list[Samples]:
    """Up to `batches` batches per kernel of `per_batch` round trips, cycling through `contents`.

    Kernels alternate batch by batch, and the one that goes first alternates too (ABBA...),
    so drift on the machine is shared evenly. Stops early, after a whole ABBA pair, when the
    next pair would overrun `budget` seconds.
    """
    out = [Samples() for _ in kernels]
    turn = 0
    started = time.perf_counter()
    pair_started, pair_seconds = started, 0.0
    gc.collect()
    with _gc_paused():  # the client's collector must not land inside a round trip
        for b in range(batches):
            if b % 2 == 0:
                now = time.perf_counter()
                if b:
                    pair_seconds = now - pair_started
                pair_started = now
                if b >= min_batches and now - started + pair_seconds > budget:
                    break
                if b and b % 20 == 0:
                    gc.collect()  # between round trips, never inside one
            order = list(range(len(kernels)))
            if b % 2:
                order.reverse()
            for k in order:
                kernel = kernels[k]
                times = []
                for i in range(per_batch):
                    total, busy = await kernel.request("execute_request", contents[(turn + i) % len(contents)])
                    times.append(total)
                    out[k].to_busy.append(busy)
                out[k].batches.append(times)
            turn += per_batch
    return out


async def warm_up(kernels: Sequence[Kernel], contents: Sequence[bytes], rounds: int) -> None:
    for _ in range(rounds):
        for kernel in kernels:
            for content in contents:
                await kernel.request("execute_request", content)


# --- report ---------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:9.3f} ms"


def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@dataclass
class Comparison:
    name: str
    plain: Samples
    guarded: Samples
    seconds: float
    check_ms: float | None = None  # mean Guard.check time in the guard server, from its /metrics

    def stat(self, which: Samples, p: float) -> float:
        return percentile(which.flat, p)

    def paired_median_added(self) -> float:
        """Median over batch pairs of (guard batch median - no-guard batch median): drift-free."""
        diffs = [
            statistics.median(g) - statistics.median(n)
            for g, n in zip(self.guarded.batches, self.plain.batches, strict=True)
        ]
        return statistics.median(diffs)

    def noise(self, p: float) -> float:
        """Seconds by which percentile `p` of the same server differs between its even and its
        odd batches (the larger of the two servers): differences below this are not resolved."""
        out = []
        for s in (self.plain, self.guarded):
            even = [x for b in s.batches[0::2] for x in b]
            odd = [x for b in s.batches[1::2] for x in b]
            if even and odd:
                out.append(abs(percentile(even, p) - percentile(odd, p)))
        return max(out, default=math.nan)

    def print(self) -> None:
        n, g = self.plain, self.guarded
        per = len(n.flat) // max(1, len(n.batches))
        print(
            f"  {self.name}: {len(n.batches)} batch{'es' if len(n.batches) != 1 else ''} x {per} per server, "
            f"interleaved, {self.seconds:.1f} s"
        )
        print(f"    {'':22s} {'samples':>7s} {'median':>12s} {'p90':>12s} {'p99':>12s} {'max':>12s}")
        for label, s in (("no guard", n), ("guard", g)):
            f = s.flat
            print(
                f"    {label:22s} {len(f):7d} {_ms(percentile(f, 50))}   {_ms(percentile(f, 90))}   "
                f"{_ms(percentile(f, 99))}   {_ms(max(f))}"
            )
        ratio = {p: self.stat(g, p) / self.stat(n, p) for p in (50, 90, 99)}
        added = {p: self.stat(g, p) - self.stat(n, p) for p in (50, 90, 99)}
        print(f"    {'ratio guard/no guard':22s} {'':7s} {ratio[50]:11.3f}x   {ratio[90]:11.3f}x   {ratio[99]:11.3f}x")
        print(
            f"    {'added by the guard':22s} {'':7s} {added[50] * 1000:+9.3f} ms   {added[90] * 1000:+9.3f} ms   "
            f"{added[99] * 1000:+9.3f} ms"
        )
        print(
            f"    added, paired by batch (median of per-batch median differences): "
            f"{self.paired_median_added() * 1000:+.3f} ms"
        )
        if len(n.batches) >= 4:
            med = self.stat(n, 50)
            print(
                f"    noise floor (one server, even vs odd batches, the larger of the two): median "
                f"±{self.noise(50) * 1000:.3f} ms (±{self.noise(50) / med * 100:.1f} %), p99 ±{self.noise(99) * 1000:.3f} ms"
            )
        nb, gb = (percentile(s.to_busy, 50) for s in (n, g))
        print(
            f"    until iopub busy (way in: server, guard, kernel dispatch), median: no guard {nb * 1000:.3f} ms, "
            f"guard {gb * 1000:.3f} ms, added {(gb - nb) * 1000:+.3f} ms"
        )
        if self.check_ms is not None:
            print(f"    Guard.check() in the guard server (its /metrics histogram): mean {self.check_ms:.3f} ms")

    @property
    def median_overhead(self) -> float:
        return self.stat(self.guarded, 50) / self.stat(self.plain, 50) - 1

    @property
    def p99_added_ms(self) -> float:
        return (self.stat(self.guarded, 99) - self.stat(self.plain, 99)) * 1000


async def _check_totals(server: Server) -> tuple[float, float] | None:
    """(count, sum of seconds) of the guard's check histogram, from the server's /metrics."""
    code, text = await _http(server, "GET", "/metrics")
    if code != 200 or not isinstance(text, str):
        return None
    found: dict[str, float] = {}
    for line in text.splitlines():
        for key in ("count", "sum"):
            name = f"jupyter_tos_guard_check_seconds_{key}"
            if line.startswith(name + " ") or line.startswith(name + "{"):
                found[key] = float(line.rsplit(" ", 1)[1])
    if len(found) != 2:
        return None
    return found["count"], found["sum"]


async def _compare(
    name: str,
    kernels: Sequence[Kernel],
    guarded: Server,
    contents: Sequence[bytes],
    batches: int,
    per_batch: int,
    budget: float,
    min_batches: int,
) -> Comparison:
    before = await _check_totals(guarded)
    t0 = time.perf_counter()
    plain_s, guard_s = await interleaved(kernels, contents, batches, per_batch, budget, min_batches)
    seconds = time.perf_counter() - t0
    after = await _check_totals(guarded)
    check_ms = None
    if before is not None and after is not None and after[0] > before[0]:
        check_ms = (after[1] - before[1]) / (after[0] - before[0]) * 1000
    return Comparison(name, plain_s, guard_s, seconds, check_ms)


async def _bench(plain: Server, guarded: Server, plan: Plan, deadline: float) -> list[Comparison]:
    """Everything between starting the servers and stopping them; `deadline` (perf_counter)
    is when the measurements must be over."""
    servers = (plain, guarded)
    await asyncio.gather(*(wait_ready(s) for s in servers))
    states = await asyncio.gather(*(guard_state(s) for s in servers))
    if "active" not in states[1] or "active" in states[0]:
        raise RuntimeError(
            f"the guard must be on the guard server only; got: no guard: {states[0]}; guard: {states[1]}"
        )
    for s, state in zip(servers, states, strict=True):
        print(f"  {s.label:9s} jupyter-server pid {s.proc.pid if s.proc else '?'} on {s.url}  ({state})")
    await asyncio.gather(*(start_session(s) for s in servers))
    kernels: list[Kernel] = []
    try:
        for s in servers:
            kernels.append(await Kernel.connect(s))
        await asyncio.gather(*(k.kernel_info() for k in kernels))
        setup = execute_content(SETUP_CELL)
        for k in kernels:
            await k.request("execute_request", setup)

        small = [execute_content(c) for c in SMALL_CELLS]
        big = [(label, shown, make()) for label, shown, make in BIG_CELLS]
        print(f"  small cells: {', '.join(repr(c) for c in SMALL_CELLS)} (45 B or less)")
        for label, shown, code in big:
            print(f"  {label}: {shown} ({len(code.encode()):,} B)")
        print(f"  warm-up per server: {plan.warmup_small} x each small cell, {plan.warmup_big} x each 1 MB cell")
        sys.stdout.flush()
        await warm_up(kernels, small, plan.warmup_small)
        big_contents = [(label, execute_content(code)) for label, _, code in big]
        for _, content in big_contents:
            await warm_up(kernels, [content], plan.warmup_big)

        # half of what is left for the small cells (the targets), the rest shared by the 1 MB cells
        budget = min(plan.small_budget, (deadline - time.perf_counter()) / 2)
        results = [
            await _compare(
                "small cells",
                kernels,
                guarded,
                small,
                plan.small_batches,
                plan.small_per_batch,
                budget,
                plan.min_batches,
            )
        ]
        print()
        results[-1].print()
        sys.stdout.flush()
        for i, (label, content) in enumerate(big_contents):
            budget = min(plan.big_budget, (deadline - time.perf_counter()) / (len(big_contents) - i))
            results.append(
                await _compare(
                    label, kernels, guarded, [content], plan.big_batches, plan.big_per_batch, budget, plan.min_batches
                )
            )
            print()
            results[-1].print()
            sys.stdout.flush()
        return results
    finally:
        for k in kernels:
            k.close()
        await asyncio.gather(*(end_session(s) for s in servers), return_exceptions=True)


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("jupyter_server", "ipykernel", "tornado", "pyzmq"):
        try:
            out.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            out.append(f"{dist} ?")
    return ", ".join(out)


def run(quick: bool) -> None:
    """Start both servers, measure, print the figures and the verdict; always stop the servers."""
    plan = QUICK if quick else FULL
    title = f"server round trips: guard vs no guard ({'quick' if quick else 'full'} mode)"
    print()
    print(f"== {title} " + "=" * max(0, 86 - len(title)))
    print(
        f"  Python {sys.version.split()[0]}, {_versions()}; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(
        "  one jupyter-server + one ipykernel each, v1 websocket protocol; a round trip = execute_request sent "
        "-> execute_reply and iopub idle received"
    )
    print(
        "  the client ACKs at once (TCP_QUICKACK" + ("" if _TCP_QUICKACK else ": not available here") + "): "
        "servers send without TCP_NODELAY, and a delayed ACK would add a ~40 ms Nagle stall to every round trip"
    )
    sys.stdout.flush()
    started = time.perf_counter()
    previous_term = None
    with contextlib.suppress(ValueError):  # not in the main thread: leave SIGTERM alone

        def _terminate(signum: int, frame: Any) -> None:
            raise SystemExit(128 + signum)

        previous_term = signal.signal(signal.SIGTERM, _terminate)
    base = Path(tempfile.mkdtemp(prefix="tos-guard-server-bench-"))
    plain = Server("no guard", guarded=False, base=base)
    guarded = Server("guard", guarded=True, base=base)
    keep = False
    try:
        plain.start()
        guarded.start()

        async def main() -> list[Comparison]:
            deadline = started + plan.total - SHUTDOWN_RESERVE
            return await asyncio.wait_for(_bench(plain, guarded, plan, deadline), plan.timeout)

        small_cmp = asyncio.run(main())[0]
    except BaseException:
        keep = True
        for s in (plain, guarded):
            print(f"  --- {s.label} server log (tail), kept in {s.log_path} ---", file=sys.stderr)
            print(s.log_tail(), file=sys.stderr)
        raise
    finally:
        for s in (plain, guarded):
            s.stop()
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
        if not keep:
            shutil.rmtree(base, ignore_errors=True)

    overhead = small_cmp.median_overhead
    added = small_cmp.p99_added_ms
    ok_median = overhead <= TARGET_MEDIAN_OVERHEAD
    ok_p99 = added <= TARGET_P99_ADDED_MS
    print()
    noise_median = small_cmp.noise(50) / small_cmp.stat(small_cmp.plain, 50) * 100
    noise_p99 = small_cmp.noise(99) * 1000
    print(
        f"  [target small cells, median overhead <= {TARGET_MEDIAN_OVERHEAD:.0%}: {_mark(ok_median)}] "
        f"{overhead * 100:+.1f} % (this run's noise floor ±{noise_median:.1f} %)"
    )
    print(
        f"  [target small cells, p99 added <= {TARGET_P99_ADDED_MS:g} ms: {_mark(ok_p99)}] {added:+.3f} ms "
        f"(this run's noise floor ±{noise_p99:.3f} ms)"
    )
    print(
        f"  server round trips: {_mark(ok_median and ok_p99)} (servers stopped; {time.perf_counter() - started:.1f} s)"
    )
    print(
        "  (shared or busy machines make round trips noisy, p99 most of all: compare runs, and see the "
        "'until iopub busy' and Guard.check() lines for the guard's own cost)"
    )
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jupyter_tos_guard.bench.server", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer round trips (under 30 s)")
    args = parser.parse_args(argv)
    run(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
