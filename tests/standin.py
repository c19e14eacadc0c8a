"""Harmless stand-ins for a miner, a terminal client, and waiting on real processes."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

# Sleeps, and records its pid and argv next to itself: harmless, but named and called like a miner.
STANDIN = """#!{python}
import json, os, sys, time
with open(os.path.abspath(__file__) + ".log", "a") as f:
    f.write(json.dumps({{"pid": os.getpid(), "argv": sys.argv}}) + "\\n")
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 30)
"""
POOL_ARGS = "-o stratum+tcp://pool.supportxmr.com:3333 -u 4ABCWalletPlaceholder -k"


def write_standin(directory: Path, name: str = "xmrig") -> Path:
    path = directory / name
    path.write_text(STANDIN.format(python=sys.executable))
    path.chmod(0o755)
    return path


async def started(standin: Path, timeout: float = 20) -> dict[str, Any]:
    """The first run of a stand-in, once it has recorded itself."""
    log = Path(str(standin) + ".log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and log.read_text().strip():
            return dict(json.loads(log.read_text().splitlines()[0]), seen=time.monotonic())
        await asyncio.sleep(0.02)
    raise AssertionError(f"{standin.name} never started")


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


async def wait_dead(pid: int, timeout: float) -> float:
    """Seconds until the process died; fails if it outlives `timeout`."""
    began = time.monotonic()
    while alive(pid):
        if time.monotonic() - began > timeout:
            raise AssertionError(f"process {pid} still alive after {timeout}s")
        await asyncio.sleep(0.02)
    return time.monotonic() - began


class Terminal:
    """A terminal websocket client: sends keys, collects what the terminal shows."""

    def __init__(self, ws: Any, name: str):
        self.ws = ws
        self.name = name
        self.output = ""

    async def send(self, text: str) -> None:
        await self.ws.write_message(json.dumps(["stdin", text]))

    async def expect(self, needle: str, timeout: float = 20) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while needle not in self.output:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"{needle!r} not shown; terminal shows:\n{self.output[-2000:]}")
            try:
                raw = await asyncio.wait_for(self.ws.read_message(), remaining)
            except TimeoutError:
                continue
            if raw is None:
                raise ConnectionError("terminal websocket closed")
            message = json.loads(raw)
            if message[0] == "stdout":
                self.output += message[1]
        return self.output

    async def settle(self, seconds: float) -> None:
        """Read whatever arrives for a while."""
        try:
            await self.expect("\0never\0", seconds)
        except AssertionError:
            pass


async def open_terminal(jp_fetch: Any, jp_ws_fetch: Any, cwd: Path) -> Terminal:
    r = await jp_fetch("api", "terminals", method="POST", body=json.dumps({"cwd": str(cwd)}))
    name = json.loads(r.body)["name"]
    ws = await jp_ws_fetch("terminals", "websocket", name)
    term = Terminal(ws, name)
    await term.send("PS1='$ '; echo READY-$((40+2))\r")
    await term.expect("READY-42")
    return term
