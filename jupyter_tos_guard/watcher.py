"""The process watcher: every new process of the student's server is judged like a shell line.

A cell is checked when it is sent; what it (or a terminal, or a script it wrote) later starts
is only visible as processes. The watcher looks at the process table every `interval`
seconds, judges each new process's argv (and the script an interpreter runs) with the same
engine and rules as a shell line in a cell, and stops what a `block` rule matches.

Threads and the event loop: the scan and the signalling run in one daemon thread, because
reading /proc costs a few hundred microseconds to milliseconds per tick and a stop needs a
pass over the whole table. The thread evaluates the engine itself (pure, read-only) as a
prefilter: the common case, a process no rule matches, never touches the loop. Only a match
is posted to the loop (`IOLoop.add_callback`), where `Guard.check` decides with modes,
exemptions and fail_open/fail_closed exactly as for a cell, audits, emits the event, and the
notices go to the notebook or the terminal that started the process. The decision to stop
goes back to the thread as an order; the loop never waits on it.

Never stopped, never judged: the server and its ancestors, kernels, terminals' shells, and
pids registered with `protect()`. Their children are judged like any other process.
"""

from __future__ import annotations

import asyncio
import collections
import os
import shlex
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tornado.ioloop import IOLoop, PeriodicCallback
from traitlets import Bool, Float, Int, default
from traitlets.config import LoggingConfigurable

from . import processes
from .guard import Guard, Request
from .policy import Action, EvaluationContext

MARKER_ENV = "JUPYTER_TOS_GUARD_SERVER"
SETTLE_SECONDS = 2.0  # a new process's argv is re-read every tick this long: fork comes before exec
_LANGUAGE = {"shell": "bash", "python": "python"}
_SCRIPT_CACHE_SIZE = 4096


@dataclass
class _Seen:
    start: int
    ppid: int
    first_seen: float
    inside: bool  # part of this server's processes (descendant, same uid, or carries our marker)
    cmdline: bytes | None = None


@dataclass(frozen=True)
class Judgement:
    """One text to check for a process: its command line, or the script it runs."""

    code: str
    language: str
    what: str  # "command line" or the script's path


@dataclass(frozen=True)
class Candidate:
    """A process the prefilter matched, handed to the loop for the guard's decision."""

    pid: int
    start: int
    argv: tuple[str, ...]
    ancestors: tuple[int, ...]
    judgements: tuple[Judgement, ...]
    sid: int = 0  # its session: a terminal's shell or a kernel leads one, and it survives reparenting
    session_name: str | None = None  # JPY_SESSION_NAME, the notebook path every kernel child inherits

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv)


@dataclass
class _StopOrder:
    pid: int
    start: int
    protected: frozenset[int]
    grace: float
    targets: list[tuple[int, int]] = field(default_factory=list)
    group: int | None = None
    deadline: float | None = None


class ProcessWatcher(LoggingConfigurable):
    """Judges the processes of this server's user with the terms-of-use policy (jupyter-tos-guard)."""

    enabled = Bool(
        config=True,
        help="""Watch the processes of this server's user and judge each new one's command line
        (and the script an interpreter runs) with the terms-of-use policy, stopping what a
        `block` rule matches. This is what sees a program started from a terminal, from a
        script written by an earlier cell, or under another name. Needs Linux's /proc;
        off elsewhere.""",
    )

    @default("enabled")
    def _default_enabled(self) -> bool:
        return sys.platform.startswith("linux") and os.path.isdir("/proc/self")

    interval = Float(
        0.5,
        config=True,
        help="""Seconds between looks at the process table. A process is normally stopped
        within this time (plus `grace` if it ignores SIGTERM). A program that runs and exits
        in less time may be missed entirely: see README, "Terminals and processes".""",
    )

    rescan_interval = Float(
        10.0,
        config=True,
        help="""Seconds between re-reads of every watched process's command line: a program
        can rewrite its argv after it started. 0 re-reads only new processes.""",
    )

    grace = Float(
        2.0,
        config=True,
        help="""Seconds a stopped process (and its process group or descendants) gets to exit
        after SIGTERM before it is sent SIGKILL.""",
    )

    max_script_bytes = Int(
        256 * 1024,
        config=True,
        help="""Only the first this-many bytes of a script run by an interpreter (`bash x.sh`,
        `python x.py`) are read and judged. Each file is read once per modification.""",
    )

    include_same_uid = Bool(
        True,
        config=True,
        help="""Also watch processes of this server's user that do not descend from the server
        (started by `setsid`, `nohup` and double forks that escaped the process tree, or by
        another login of the same user). Ignored when the server runs as root: then only
        the server's descendants and processes carrying its environment marker are watched,
        never the whole machine's.""",
    )

    def __init__(self, guard: Guard, serverapp: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.guard = guard
        self.serverapp = serverapp
        self.cpu_seconds = 0.0  # the scan thread's CPU time, for the benchmark
        self.scans = 0
        self._pid = os.getpid()
        self._uid = os.geteuid()
        self._seen: dict[int, _Seen] = {}
        self._scripts: collections.OrderedDict[tuple[str, int, int], bool] = collections.OrderedDict()
        self._base_protected: frozenset[int] = frozenset()
        self._protected: frozenset[int] = frozenset()  # never stopped; replaced whole, read by the thread
        # never judged: the server, its ancestors, terminals' shells, the guard's helpers. Kernels
        # are judged by their own argv (a kernelspec can start anything) but never stopped as
        # part of stopping something else.
        self._unjudged: frozenset[int] = frozenset()
        self._helpers: set[int] = set()
        self._kernels: dict[int, str] = {}
        self._terminals: dict[int, str] = {}
        self._paths: dict[str, str | None] = {}
        self._orders: collections.deque[_StopOrder] = collections.deque()
        self._active: list[_StopOrder] = []
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: IOLoop | None = None
        self._refresher: PeriodicCallback | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._deciding: asyncio.Lock | None = None
        # (pid, start) -> until when: what is below it is stopped with it, even after it is gone
        self._being_stopped: dict[tuple[int, int], float] = {}
        self._marker = b""
        self._next_rescan = 0.0

    # --- life cycle -----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start watching (call on the event loop's thread)."""
        if not self.enabled or self.running:
            if not self.enabled:
                self.log.info("tos-guard: the process watcher is off")
            return
        me = processes.read_stat(self._pid)
        if me is None:
            self.log.error("tos-guard: /proc is not readable here; the process watcher is off")
            return
        # Every process started from now on inherits this, even one that left the process tree.
        marker = f"{self._pid}-{me.start}"
        os.environ[MARKER_ENV] = marker
        self._marker = f"{MARKER_ENV}={marker}".encode()
        self._base_protected = frozenset({self._pid, *processes.ancestors(self._pid)})
        self._unjudged = self._unjudged | self._base_protected
        self._loop = IOLoop.current()
        self._deciding = asyncio.Lock()
        self.refresh()
        self._refresher = PeriodicCallback(self.refresh, max(50.0, self.interval * 1000))
        self._refresher.start()
        self._stopping.clear()
        self._next_rescan = time.monotonic() + self.rescan_interval
        self._thread = threading.Thread(target=self._run, name="tos-guard-process-watcher", daemon=True)
        self._thread.start()
        self.log.info(
            "tos-guard: watching processes every %.2fs (%s)",
            self.interval,
            "same user" if self._same_uid_mode else "descendants of the server",
        )

    def stop(self) -> None:
        """Stop the thread and the callbacks; processes already ordered stopped are killed now."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._refresher is not None:
            self._refresher.stop()
            self._refresher = None
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
        for order in self._active:
            self._signal_all(order, signal.SIGKILL)
        self._active.clear()
        self._clear_marker()

    def _clear_marker(self) -> None:
        if self._marker and os.environ.get(MARKER_ENV) == self._marker.decode().partition("=")[2]:
            os.environ.pop(MARKER_ENV, None)

    def protect(self, pid: int) -> None:
        """Never judge or stop this process (one of the guard's own helpers)."""
        self._helpers.add(pid)
        self._protected = self._protected | {pid}
        self._unjudged = self._unjudged | {pid}

    @property
    def _same_uid_mode(self) -> bool:
        return self.include_same_uid and self._uid != 0

    # --- what is running on the server (loop thread) ---------------------------------------------

    def refresh(self) -> None:
        """Learn the kernels' and terminals' pids: they are never stopped, and name where a process came from."""
        kernels: dict[int, str] = {}
        terminals: dict[int, str] = {}
        app = self.serverapp
        km = getattr(app, "kernel_manager", None)
        if km is not None:
            for kid in list(km.list_kernel_ids()):
                pid = _kernel_pid(km, kid)
                if pid:
                    kernels[pid] = kid
        web_app = getattr(app, "web_app", None)
        tm = web_app.settings.get("terminal_manager") if web_app is not None else None
        for name, term in list(getattr(tm, "terminals", {}).items()):
            pid = getattr(getattr(term, "ptyproc", None), "pid", None)
            if pid:
                terminals[int(pid)] = str(name)
        self._kernels, self._terminals = kernels, terminals
        self._unjudged = self._base_protected | set(terminals) | self._helpers
        self._protected = self._unjudged | set(kernels)

    # --- the scan (watcher thread) -----------------------------------------------------------------

    def _loop_closed(self) -> bool:
        asyncio_loop = getattr(self._loop, "asyncio_loop", None)
        return asyncio_loop is not None and asyncio_loop.is_closed()

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._loop_closed():
                # the server's loop is gone without a stop(): nothing can take our decisions any
                # more, so finish what was ordered and go, rather than scan for nobody
                for order in self._active:
                    self._signal_all(order, signal.SIGKILL)
                self._active.clear()
                self._clear_marker()
                return
            started = time.thread_time()
            try:
                self.scan_once()
                self._work_orders()
            except Exception:  # the watcher must outlive anything /proc or a policy throws at it
                self.log.exception("tos-guard: the process watcher's scan failed; it goes on")
            self.cpu_seconds += time.thread_time() - started
            self.scans += 1
            wait = self.interval
            deadlines = [o.deadline for o in self._active if o.deadline is not None]
            if deadlines:
                wait = max(0.0, min(wait, min(deadlines) - time.monotonic()))
            self._wake.wait(wait)
            self._wake.clear()

    def scan_once(self) -> None:
        """One look at the table: forget gone pids, judge new ones, re-read young (and, every
        `rescan_interval`, all) watched command lines."""
        now = time.monotonic()
        current = processes.pids()
        seen = self._seen
        for pid in seen.keys() - current:
            del seen[pid]
        new = current - seen.keys()
        rescan = self.rescan_interval > 0 and now >= self._next_rescan
        if rescan:
            self._next_rescan = now + self.rescan_interval
        # known processes first: a parent that exec'd since the last look is judged before the
        # children it started meanwhile, so they go with its stop instead of each getting a record
        unjudged = self._unjudged
        for pid, entry in list(seen.items()):
            if not entry.inside or pid in unjudged:
                continue
            if not rescan and now - entry.first_seen > SETTLE_SECONDS:
                continue
            raw = processes.read_cmdline_raw(pid)
            if raw is None or raw == entry.cmdline:
                continue
            stat = processes.read_stat(pid)
            if stat is None:
                continue
            if stat.start != entry.start:  # the pid was reused between two ticks: a new process
                del seen[pid]
                self._first_sight(pid, now)
                continue
            entry.cmdline = raw  # exec'd, or rewrote its argv
            self._judge(pid, stat, raw)
        for pid in sorted(new):
            self._first_sight(pid, now)

    def _first_sight(self, pid: int, now: float) -> None:
        stat = processes.read_stat(pid)
        if stat is None:
            return
        inside = self._inside(pid, stat)
        entry = _Seen(stat.start, stat.ppid, now, inside)
        self._seen[pid] = entry
        if not inside or pid in self._unjudged:
            return
        entry.cmdline = processes.read_cmdline_raw(pid)
        if entry.cmdline:
            self._judge(pid, stat, entry.cmdline)

    def _inside(self, pid: int, stat: processes.Stat) -> bool:
        if pid == self._pid:
            return True
        if pid in self._base_protected or stat.ppid == 0:
            return False
        if self._same_uid_mode:
            return processes.owner(pid) == self._uid
        if self._is_descendant(stat):
            return True
        return processes.owner(pid) == self._uid and processes.environ_has(pid, self._marker)

    def _is_descendant(self, stat: processes.Stat) -> bool:
        parent = stat.ppid
        for _ in range(64):
            if parent == self._pid:
                return True
            if parent <= 1:
                return False
            known = self._seen.get(parent)
            if known is not None:
                return known.inside
            parent_stat = processes.read_stat(parent)
            if parent_stat is None:
                return False
            parent = parent_stat.ppid
        return False

    def _ancestors(self, pid: int) -> tuple[int, ...]:
        chain: list[int] = []
        current = self._seen.get(pid)
        while current is not None and len(chain) < 64 and current.ppid > 1:
            chain.append(current.ppid)
            current = self._seen.get(current.ppid)
        if not chain or chain[-1] not in self._seen:
            chain.extend(processes.ancestors(chain[-1] if chain else pid))
        return tuple(chain)

    def _judge(self, pid: int, stat: processes.Stat, raw: bytes) -> None:
        argv = processes.split_cmdline(raw)
        if not argv:
            return
        engine = self.guard.engine  # one whole policy for this process, old or new
        judgements: list[Judgement] = []
        text = processes.command_text(argv, processes.read_link(pid, "exe"), stat.comm)
        if _matches(engine, text, "bash"):
            judgements.append(Judgement(text, "bash", "command line"))
        script = processes.script_of(argv)
        if script is not None:
            language = _LANGUAGE.get(script.kind, script.kind)
            if script.inline is not None:
                if _matches(engine, script.inline, language):
                    judgements.append(Judgement(script.inline, language, f"{argv[0]} -c"))
            elif script.path is not None:
                found = self._script(pid, script.path, engine, language)
                if found is not None:
                    judgements.append(Judgement(found, language, script.path))
        if judgements and self._loop is not None:
            candidate = Candidate(
                pid,
                stat.start,
                argv,
                self._ancestors(pid),
                tuple(judgements),
                stat.sid,
                processes.environ_value(pid, "JPY_SESSION_NAME"),
            )
            self._loop.add_callback(self._dispatch, candidate)

    def _script(self, pid: int, path: str, engine: Any, language: str) -> str | None:
        """The script's text if a rule matches it; files that matched nothing are not read again."""
        # the key comes from a stat of the same file we read, so a rewrite is a new key
        read = processes.read_script(pid, path, self.max_script_bytes)
        if read is None:
            return None
        key, text = read
        if key in self._scripts:
            return None
        if not _matches(engine, text, language):
            self._scripts[key] = True
            if len(self._scripts) > _SCRIPT_CACHE_SIZE:
                self._scripts.popitem(last=False)
            return None
        return text  # matched: judged for every process that runs it

    # --- deciding (loop thread) --------------------------------------------------------------------

    def _dispatch(self, candidate: Candidate) -> None:
        task = asyncio.ensure_future(self._decide(candidate))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _decide(self, candidate: Candidate) -> None:
        # one at a time, in the order the scan found them: a parent is decided before its child
        assert self._deciding is not None
        async with self._deciding:
            await self._decide_one(candidate)

    def _under_a_stop(self, candidate: Candidate) -> bool:
        """Part of something already being stopped: it goes with it, without a record of its own."""
        now = time.monotonic()
        for key, until in list(self._being_stopped.items()):
            if until < now:
                del self._being_stopped[key]
            elif key == (candidate.pid, candidate.start) or key[0] in candidate.ancestors:
                return True
        return False

    async def _decide_one(self, candidate: Candidate) -> None:
        try:
            self.refresh()  # a kernel or terminal that started a moment ago is known now
            if candidate.pid in self._unjudged or self._under_a_stop(candidate):
                return
            kernel_id, terminal = self._started_by(candidate)
            if kernel_id is None and terminal is None and candidate.session_name:
                kernel_id = await self._kernel_for_path(candidate.session_name)
            notebook_path = await self._notebook_path(kernel_id) if kernel_id else None
            origin = f"kernel:{kernel_id}" if kernel_id else f"terminal:{terminal}" if terminal else None
            user, groups = self._identity(kernel_id)
            for judgement in candidate.judgements:
                decision = self.guard.check(
                    Request(
                        code=judgement.code,
                        language=judgement.language,
                        channel="process",
                        kernel_id=kernel_id,
                        notebook_path=notebook_path,
                        user=user,
                        groups=groups,
                        surface="process",
                        pid=candidate.pid,
                        command_line=candidate.command_line,
                        origin=origin,
                    )
                )
                stop = decision.action >= Action.CONFIRM  # confirm: there is no one to ask
                if stop:
                    self._order_stop(candidate)
                if decision.action >= Action.WARN and decision.payload is not None:
                    started_from = _describe(kernel_id, notebook_path, terminal)
                    payload = dict(
                        decision.payload,
                        surface="process",
                        pid=candidate.pid,
                        command_line=_excerpt(candidate.command_line),
                        started_from=started_from,
                        judged=judgement.what,
                    )
                    if stop:
                        payload["action"] = "block"
                        payload.pop("confirm", None)
                    self._notify(kernel_id, terminal, payload)
                if stop:
                    return
        except Exception:
            self.log.exception("tos-guard: deciding on process %s failed", candidate.pid)

    def _started_by(self, candidate: Candidate) -> tuple[str | None, str | None]:
        """The kernel or terminal it came from: its nearest such ancestor, else the session it
        belongs to (a process whose parent exited is re-parented, but keeps its session)."""
        for pid in candidate.ancestors:
            if pid in self._kernels:
                return self._kernels[pid], None
            if pid in self._terminals:
                return None, self._terminals[pid]
        if candidate.sid in self._kernels:
            return self._kernels[candidate.sid], None
        if candidate.sid in self._terminals:
            return None, self._terminals[candidate.sid]
        return None, None

    async def _kernel_for_path(self, path: str) -> str | None:
        """A kernel child that lost its parent still carries its notebook's path in its environment."""
        manager = getattr(self.serverapp, "session_manager", None)
        if manager is None:
            return None
        try:
            sessions = await manager.list_sessions()
        except Exception:
            return None
        # JPY_SESSION_NAME is the session's path, or the kernel's directory joined with its name
        for session in sessions:
            kernel = session.get("kernel") or {}
            here = str(session.get("path") or "")
            named = os.path.join(os.path.dirname(here), str(session.get("name") or ""))
            if (
                kernel.get("id") in self._kernels.values()
                and here
                and (path == here or path.endswith("/" + here) or path.endswith("/" + named))
            ):
                return str(kernel["id"])
        return None

    async def _notebook_path(self, kernel_id: str) -> str | None:
        if kernel_id in self._paths:
            return self._paths[kernel_id]
        manager = getattr(self.serverapp, "session_manager", None)
        path = None
        if manager is not None:
            try:
                session = await manager.get_session(kernel_id=kernel_id)
                path = session.get("path") or session.get("notebook", {}).get("path")
            except Exception:  # a kernel without a session (started bare): no path to tell
                path = None
        if len(self._paths) > 256:
            self._paths.clear()
        self._paths[kernel_id] = path
        return path

    def _identity(self, kernel_id: str | None) -> tuple[str | None, tuple[str, ...]]:
        """The student, as the kernel websocket knows them (hub groups included), for exemptions."""
        from .connection import GuardedZMQChannelsWebsocketConnection as Connection

        conns = Connection.connections(kernel_id) if kernel_id else []
        for conn in conns or Connection.connections():
            try:
                name = conn._user_name()
                if name:
                    return name, conn._user_groups()
            except Exception:
                continue
        return self.guard.identity, ()

    def _notify(self, kernel_id: str | None, terminal: str | None, payload: dict[str, Any]) -> None:
        if kernel_id:
            from .connection import GuardedZMQChannelsWebsocketConnection as Connection

            Connection.notify_kernel(kernel_id, payload)
        if terminal:
            from .terminals import notify_terminal

            notify_terminal(self.serverapp, terminal, payload)
        # the JupyterLab banner hears of it through the event the guard emitted

    def _order_stop(self, candidate: Candidate) -> None:
        self._being_stopped[(candidate.pid, candidate.start)] = time.monotonic() + self.grace + 4 * self.interval
        # a kernel judged on its own argv goes; kernels around it stay
        protected = self._protected - {candidate.pid}
        self._orders.append(_StopOrder(candidate.pid, candidate.start, protected, self.grace))
        self._wake.set()

    # --- stopping (watcher thread) -------------------------------------------------------------------

    def _work_orders(self) -> None:
        while self._orders:
            order = self._orders.popleft()
            if self._begin_stop(order):
                self._active.append(order)
        now = time.monotonic()
        for order in list(self._active):
            if order.deadline is not None and now >= order.deadline:
                self._signal_all(order, signal.SIGKILL)
                self._active.remove(order)

    def _begin_stop(self, order: _StopOrder) -> bool:
        """SIGTERM the process and everything below it; SIGKILL follows after the grace."""
        stat = processes.read_stat(order.pid)
        if stat is None or stat.start != order.start or order.pid in order.protected:
            return False
        table = processes.table()
        below = processes.descendants({order.pid}, table)
        protected_groups = {s.pgid for s in table if s.pid in order.protected}
        order.targets = [(order.pid, order.start)]
        order.targets += [(s.pid, s.start) for s in below.values() if s.pid not in order.protected]
        # its own group (a shell job): the group, which also holds what it started in it
        if stat.pgid == order.pid and stat.pgid not in protected_groups:
            order.group = stat.pgid
            order.targets += [
                (s.pid, s.start)
                for s in table
                if s.pgid == stat.pgid and s.pid not in order.protected and (s.pid, s.start) not in order.targets
            ]
        self._signal_all(order, signal.SIGTERM)
        order.deadline = time.monotonic() + max(0.0, order.grace)
        return True

    def _signal_all(self, order: _StopOrder, sig: int) -> None:
        if order.group is not None:
            leader = processes.read_stat(order.pid)
            if leader is not None and leader.start == order.start:  # still the group we judged
                processes.send_group(order.group, sig)
        for pid, start in order.targets:
            processes.send(pid, start, sig)
            if sig == signal.SIGTERM:
                processes.send(pid, start, signal.SIGCONT)  # a stopped process must wake to die


def _matches(engine: Any, code: str, language: str) -> bool:
    """The prefilter: does any rule match? An engine failure counts as a match, so that the
    guard's own failure handling (fail_open or fail_closed) decides."""
    try:
        return bool(engine.evaluate(code, EvaluationContext(language=language)).action != Action.ALLOW)
    except Exception:
        return True


def _kernel_pid(km: Any, kernel_id: str) -> int | None:
    try:
        kernel = km.get_kernel(kernel_id)
    except KeyError:
        return None
    provisioner = getattr(kernel, "provisioner", None)
    pid = getattr(provisioner, "pid", None) or getattr(getattr(provisioner, "process", None), "pid", None)
    return int(pid) if pid else None


def _excerpt(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(kernel_id: str | None, notebook_path: str | None, terminal: str | None) -> str | None:
    if notebook_path:
        return f"notebook {notebook_path}"
    if kernel_id:
        return f"kernel {kernel_id[:8]}"
    if terminal:
        return f"terminal {terminal}"
    return None


def attach_watcher(serverapp: Any, guard: Guard) -> ProcessWatcher:
    """Create and start the watcher for a server (the extension calls this once it has a guard)."""
    watcher = ProcessWatcher(guard, serverapp, parent=serverapp)
    serverapp.web_app.settings["tos_guard_watcher"] = watcher
    watcher.start()
    return watcher
