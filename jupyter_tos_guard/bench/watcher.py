"""What the process watcher costs, and how fast it stops a miner.

`python -m jupyter_tos_guard.bench.watcher` spawns 50, 200 and 1,000 idle processes of the
user (`sleep 600` children), runs the watcher at its default interval for `--seconds` with
each, and prints the scan thread's CPU share of one core (its own thread CPU time) and the
whole process's (thread plus the event loop's side). Then, with 200 idle processes around,
it starts a stand-in miner (a sleeping script named `xmrig`) `--runs` times and prints the
time from exec to the moment it is gone, p50 and p99. Targets: at most 1 % of a core at 200
processes, p99 at most twice the interval. It measures; it does not gate.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..config import TosGuard
from ..guard import Guard
from ..watcher import SETTLE_SECONDS, ProcessWatcher

STANDIN = """#!{python}
import time
time.sleep(60)
"""


def _spawn_idle(count: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL) for _ in range(count)]


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        child.kill()
    for child in children:
        child.wait()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _cpu_share(guard: Guard, interval: float, count: int, seconds: float) -> tuple[float, float, int]:
    idle = _spawn_idle(count)
    watcher = ProcessWatcher(guard, interval=interval)
    try:
        watcher.start()
        await asyncio.sleep(SETTLE_SECONDS + 2 * interval)  # the first sight of every process is a one-off
        thread0, process0, wall0, scans0 = watcher.cpu_seconds, time.process_time(), time.monotonic(), watcher.scans
        await asyncio.sleep(seconds)
        wall = time.monotonic() - wall0
        thread = (watcher.cpu_seconds - thread0) / wall
        process = (time.process_time() - process0) / wall
        return thread, process, watcher.scans - scans0
    finally:
        watcher.stop()
        _stop(idle)


async def _time_to_kill(guard: Guard, interval: float, runs: int, background: int, folder: Path) -> list[float]:
    miner = folder / "xmrig"
    miner.write_text(STANDIN.format(python=sys.executable))
    miner.chmod(0o755)
    idle = _spawn_idle(background)
    watcher = ProcessWatcher(guard, interval=interval)
    times: list[float] = []
    phases = random.Random(0)  # fixed seed: the same spread of start phases on every run
    try:
        watcher.start()
        await asyncio.sleep(SETTLE_SECONDS + 2 * interval)
        for _ in range(runs):
            began = time.monotonic()
            proc = subprocess.Popen([str(miner), "-o", "pool.example.org:3333"], cwd=folder)
            while proc.poll() is None:
                if time.monotonic() - began > 30:
                    proc.kill()
                    raise RuntimeError("the stand-in miner was not stopped within 30 s")
                await asyncio.sleep(0.002)
            times.append(time.monotonic() - began)
            await asyncio.sleep(phases.uniform(0, interval))  # start each at another point of the tick
    finally:
        watcher.stop()
        _stop(idle)
    return times


async def _main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="tos-guard-bench-"))
    guard = Guard(TosGuard(audit_log=str(folder / "audit.jsonl")), logging.getLogger("tos-guard-bench"))
    interval = args.interval or ProcessWatcher.interval.default_value
    visible = len(os.listdir("/proc"))
    print(f"process watcher, interval {interval:.2f} s, {os.cpu_count()} cores, {visible} /proc entries before")
    print(f"{'idle processes':>15} {'scan thread':>12} {'whole process':>14} {'scans':>6}   target")
    for count in args.sizes:
        thread, process, scans = await _cpu_share(guard, interval, count, args.seconds)
        verdict = ("PASS" if thread <= 0.01 else "MISS") if count == 200 else ""
        print(
            f"{count:>15} {thread:>11.3%} {process:>13.3%} {scans:>6}   {'<= 1 % at 200 ' + verdict if verdict else ''}"
        )
    times = await _time_to_kill(guard, interval, args.runs, 200, folder)
    p50, p99 = statistics.median(times), _percentile(times, 0.99)
    verdict = "PASS" if p99 <= 2 * interval else "MISS"
    print(
        f"exec to kill, {len(times)} runs with 200 idle processes: p50 {p50 * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {max(times) * 1000:.0f} ms   target p99 <= {2 * interval * 1000:.0f} ms {verdict}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000], help="idle process counts")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per count")
    parser.add_argument("--runs", type=int, default=30, help="stand-in miner starts")
    parser.add_argument("--interval", type=float, default=0.0, help="scan interval (default: the watcher's)")
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
