"""Reading the process table from /proc: pids, their identity, command lines and scripts.

Why /proc and not something else:
- The netlink process connector (exec events as they happen) needs CAP_NET_ADMIN, which a
  single-user server never has; eBPF needs even more. Both are for the operator's side
  (cryptnono), not for a process running as the student.
- psutil reads the same files, but builds a Python object per process and reads several
  files for each; we need the list of pids every tick and the details of *new* pids only.
  `os.listdir("/proc")` plus a set difference costs a few hundred microseconds for a
  thousand processes, and a new process costs three small reads.

A pid alone does not name a process (pids are reused), so a process is (pid, start time in
clock ticks since boot), both from /proc/PID/stat. Every function here returns None or an
empty value for a process that vanished or that we may not read: a process can exit between
any two reads, and that is the normal case, not an error.
"""

from __future__ import annotations

import os
import shlex
import signal
import stat as stat_module
from dataclasses import dataclass

PROC = "/proc"


@dataclass(frozen=True)
class Stat:
    """The fields of /proc/PID/stat we use."""

    pid: int
    comm: str  # the kernel's name for the process: basename of what was exec'd (15 chars), or set by prctl
    state: str
    ppid: int
    pgid: int
    sid: int
    start: int  # start time, clock ticks since boot: with the pid, it names one process


def pids() -> set[int]:
    """Every pid the OS lets us see (threads are not listed at the top of /proc)."""
    try:
        names = os.listdir(PROC)
    except OSError:
        return set()
    return {int(name) for name in names if name.isdigit()}


def read_stat(pid: int) -> Stat | None:
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # comm may hold spaces and parentheses: it runs from the first "(" to the last ")"
    left, right = raw.find(b"("), raw.rfind(b")")
    if left < 0 or right < left:
        return None
    fields = raw[right + 2 :].split()
    if len(fields) < 20:
        return None
    try:
        return Stat(
            pid=pid,
            comm=raw[left + 1 : right].decode("utf-8", "replace"),
            state=fields[0].decode("ascii", "replace"),
            ppid=int(fields[1]),
            pgid=int(fields[2]),
            sid=int(fields[3]),
            start=int(fields[19]),
        )
    except ValueError:
        return None


def owner(pid: int) -> int | None:
    """The uid that owns /proc/PID (the process's effective uid)."""
    try:
        return os.stat(f"{PROC}/{pid}").st_uid
    except OSError:
        return None


def read_cmdline_raw(pid: int) -> bytes | None:
    """The raw argv block: compared as bytes to notice a rewrite without decoding."""
    try:
        with open(f"{PROC}/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return None


def split_cmdline(raw: bytes) -> tuple[str, ...]:
    """argv from the raw block. Empty for kernel threads and zombies. A process that rewrote
    its argv in place may leave one string with spaces and no NULs: kept as one word."""
    if not raw:
        return ()
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return tuple(p.decode("utf-8", "replace") for p in parts)


def read_link(pid: int, name: str) -> str | None:
    """/proc/PID/exe or /proc/PID/cwd, without the " (deleted)" suffix of a removed file."""
    try:
        target = os.readlink(f"{PROC}/{pid}/{name}")
    except OSError:
        return None
    return target[: -len(" (deleted)")] if target.endswith(" (deleted)") else target


def _environ(pid: int) -> list[bytes]:
    try:
        with open(f"{PROC}/{pid}/environ", "rb") as f:
            return f.read(256 * 1024).split(b"\0")
    except OSError:
        return []


def environ_has(pid: int, entry: bytes) -> bool:
    """Whether the process's initial environment holds `entry` (e.g. b"NAME=value")."""
    return entry in _environ(pid)


def environ_value(pid: int, name: str) -> str | None:
    prefix = name.encode() + b"="
    for entry in _environ(pid):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode("utf-8", "replace")
    return None


def ancestors(pid: int, limit: int = 64) -> list[int]:
    """Parent, grandparent, ... up to pid 1 (excluded), read fresh."""
    chain: list[int] = []
    current = pid
    while len(chain) < limit:
        stat = read_stat(current)
        if stat is None or stat.ppid <= 1:
            break
        chain.append(stat.ppid)
        current = stat.ppid
    return chain


def table() -> list[Stat]:
    """Every readable process's stat, in one pass."""
    return [s for s in (read_stat(p) for p in pids()) if s is not None]


def descendants(roots: set[int], stats: list[Stat] | None = None) -> dict[int, Stat]:
    """Every living process below `roots`."""
    children: dict[int, list[Stat]] = {}
    for stat in table() if stats is None else stats:
        children.setdefault(stat.ppid, []).append(stat)
    found: dict[int, Stat] = {}
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child.pid not in found and child.pid not in roots:
                found[child.pid] = child
                todo.append(child.pid)
    return found


def send(pid: int, start: int, sig: int) -> bool:
    """Signal one process if it is still the one we judged (same pid *and* start time)."""
    stat = read_stat(pid)
    if stat is None or stat.start != start or stat.state == "Z":
        return False
    try:
        os.kill(pid, sig)
        return True
    except OSError:
        return False


def send_group(pgid: int, sig: int = signal.SIGTERM) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except OSError:
        return False


# --- what a command line says --------------------------------------------------------------

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox"})
_SHELL_OPTS_WITH_ARG = frozenset({"-o", "+o", "-O", "+O", "--rcfile", "--init-file"})
_PYTHON_OPTS_WITH_ARG = frozenset({"-W", "-X", "-Q", "--check-hash-based-pycs"})
_OTHER_INTERPRETERS = frozenset({"perl", "ruby", "node", "nodejs", "php", "Rscript", "lua", "tclsh"})


def interpreter_kind(name: str) -> str | None:
    """ "shell", "python", another interpreter's name, or None for a plain program."""
    if name in SHELLS:
        return "shell"
    if name.startswith(("python", "pypy")) and name.rstrip("0123456789.").rstrip("m") in ("python", "pypy"):
        return "python"
    return name if name in _OTHER_INTERPRETERS else None


@dataclass(frozen=True)
class ScriptRef:
    """What an interpreter was asked to run: a file (relative to the process's cwd) or inline code."""

    kind: str  # "shell", "python", or another interpreter's name
    path: str | None  # the script file, as written in argv
    inline: str | None  # `python -c CODE` (shell -c is read by the shell reader with the command line)
    rest: tuple[str, ...]  # the script's own arguments


def script_of(argv: tuple[str, ...]) -> ScriptRef | None:
    """The script an interpreter command line runs, if any (`bash x.sh`, `python x.py a b`)."""
    if not argv:
        return None
    kind = interpreter_kind(os.path.basename(argv[0]))
    if kind is None:
        return None
    takes_arg = _SHELL_OPTS_WITH_ARG if kind == "shell" else _PYTHON_OPTS_WITH_ARG if kind == "python" else frozenset()
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if kind == "shell" and arg.startswith("-") and not arg.startswith("--") and "c" in arg[1:]:
            return None  # sh -c CODE: the command line already carries the code
        if kind == "python" and arg.startswith("-c"):
            code = arg[2:] or (argv[i + 1] if i + 1 < len(argv) else "")
            return ScriptRef(kind, None, code, ())
        if kind == "python" and arg.startswith("-m"):
            return None  # a module: its code lives in site-packages, not in a student's file
        if arg in takes_arg:
            i += 2
            continue
        if arg.startswith(("-", "+")) and arg not in ("-", "+"):
            i += 1
            continue
        break
    if i >= len(argv) or argv[i] in ("-", ""):
        return None
    return ScriptRef(kind, argv[i], None, argv[i + 1 :])


def command_text(argv: tuple[str, ...], exe: str | None, comm: str) -> str:
    """The text judged as a shell command line: the argv, then what the argv may hide.

    - `bash x.sh a` / a `#!` script: the script as if run directly (`x.sh a`), so a file named
      like a tool is seen as that tool's command whatever interpreter runs it;
    - the executable when argv[0] does not name it (`exec -a bash ./tool`);
    - the kernel's name for the process when it names neither (a changed comm).
    """
    lines = [shlex.join(argv)]
    names = {os.path.basename(argv[0])} if argv else set()
    script = script_of(argv)
    if script is not None and script.path is not None:
        lines.append(shlex.join((script.path, *script.rest)))
        names.add(os.path.basename(script.path))
    if exe and not any(_same_program(os.path.basename(exe), n) for n in names):
        lines.append(shlex.quote(exe))
        names.add(os.path.basename(exe))
    if comm and not any(n.startswith(comm) for n in names):
        lines.append(shlex.quote(comm))
    return "\n".join(lines)


def _same_program(a: str, b: str) -> bool:
    """python3 and python3.11, sh and bash are one program for this purpose: not worth a line."""
    return a.startswith(b) or b.startswith(a) or (a in SHELLS and b in SHELLS)


def read_script(pid: int, path: str, limit: int) -> tuple[tuple[str, int, int], str] | None:
    """A script's key (real path, mtime_ns, size) and its first `limit` bytes as text.

    A relative path is read against the process's working directory (/proc/PID/cwd), which
    is where the interpreter found it unless the process has changed directory since. Only
    regular files are read, and without blocking: a FIFO named like a script must not stall us.
    """
    full = path if os.path.isabs(path) else os.path.join(f"{PROC}/{pid}/cwd", path)
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat_module.S_ISREG(st.st_mode):
            return None
        data = os.read(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)
    return (os.path.realpath(full), st.st_mtime_ns, st.st_size), data.decode("utf-8", "replace")
