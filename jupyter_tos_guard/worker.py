"""Checks of large cells in a child process, so the server's event loop never runs them.

The engine is linear in the cell, but a megabyte of adversarial code still takes seconds, and
on the event loop those seconds freeze every notebook, terminal and API call of the server.
Cells above `TosGuard.worker_chars` are sent to one child process instead; the connection that
sent the cell waits (its later messages queue behind it), the rest of the server keeps serving.

A process rather than a thread: a check that passes its deadline must be stopped, and only a
process can be. It is killed and replaced, and the cell counts as unreadable (`on_unreadable`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import struct
import sys
import time
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from .policy import Action, Engine, EvaluationContext, Match, Policy, RuleHit, Verdict, load_texts

TIMED_OUT = "the check ran out of time"


@dataclass(frozen=True)
class Job:
    digest: str
    texts: tuple[tuple[str, str], ...]  # the policy, for a child that has not built it yet
    max_chars: int | None
    parts: tuple[str, ...]  # the code, then each user_expression, then each file it runs
    context: EvaluationContext
    languages: tuple[str, ...] = ()  # per part, where it differs from the context's (a shell script)
    prelude: str = ""  # earlier cells' assignments, read with the first part (policy/memory.py)
    signs: str = ""  # ... and lines of theirs holding signs of rules that need several (signs.py)


# What crosses back: per part, the rules that fired (by id) with their matches, and the flags.
# Rules are looked up again in the parent's own policy (same digest), so nothing compiled is pickled.
PartResult = tuple[tuple[tuple[str, tuple[Match, ...]], ...], float, bool, str | None]


def _serve(inp: BinaryIO, out: BinaryIO) -> None:
    """The child's loop: one job in, one result out, until its input closes."""
    engines: dict[str, Engine] = {}
    while True:
        job = _read(inp)
        if job is None:
            return
        try:
            engine = engines.get(job.digest)
            if engine is None:
                engines.clear()  # one policy at a time
                engine = engines[job.digest] = Engine(load_texts(list(job.texts)), max_chars=job.max_chars)
            results: list[PartResult] = []
            languages = job.languages or (job.context.language,) * len(job.parts)
            for n, (part, language) in enumerate(zip(job.parts, languages, strict=False)):
                context = job.context if language == job.context.language else replace(job.context, language=language)
                v = (
                    engine.evaluate(part, context, prelude=job.prelude, signs=job.signs)
                    if n == 0
                    else engine.evaluate(part, context)
                )
                hits = tuple((h.rule.id, h.matches) for h in v.hits)
                results.append((hits, v.elapsed_ms, v.truncated, v.unreadable))
            reply: tuple[str, Any] = ("ok", results)
        except Exception as exc:  # an engine bug: the parent audits it like any engine failure
            reply = ("error", f"{type(exc).__name__}: {exc}")
        _write(out, reply)


def _frame(obj: Any) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return struct.pack("!Q", len(data)) + data


def _write(out: BinaryIO, obj: Any) -> None:
    out.write(_frame(obj))
    out.flush()


def _read(inp: BinaryIO) -> Any:
    head = inp.read(8)
    if len(head) < 8:
        return None
    (size,) = struct.unpack("!Q", head)
    return pickle.loads(inp.read(size))


def main() -> None:
    """`python -m jupyter_tos_guard.worker`: serve jobs on stdin/stdout (started by CheckWorker)."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr  # nothing else may write into the reply stream
    _serve(sys.stdin.buffer, out)


def rebuild(policy: Policy, result: PartResult) -> Verdict:
    """The parent's Verdict for one part, with the parent's own Rule objects."""
    hit_ids, elapsed, truncated, unreadable = result
    rules = {r.id: r for r in policy.rules}
    hits = tuple(RuleHit(rules[rule_id], matches) for rule_id, matches in hit_ids if rule_id in rules)
    action = max((h.rule.action for h in hits), default=Action.ALLOW)
    return Verdict(action, hits, elapsed, truncated, unreadable)


class WorkerError(RuntimeError):
    """The engine failed inside the worker (a bug, not a deadline)."""


class CheckWorker:
    """One child process, started on first use, one job at a time, killed at the deadline.

    The child is a fresh interpreter (`python -m jupyter_tos_guard.worker`), not a fork:
    forking a server that holds ZMQ sockets and an event loop is not safe. Jobs and results
    are pickled over its stdin and stdout; only the server writes its stdin.
    """

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self.kills = 0  # checks stopped at their deadline, for tests and the log
        self.jobs = 0  # checks sent to the child

    async def _started(self) -> asyncio.subprocess.Process:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            return proc
        self._proc = proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "jupyter_tos_guard.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**20,
        )
        return proc

    async def run(self, job: Job, timeout: float) -> list[PartResult] | None:
        """The results of `job`, or None when it did not finish within `timeout` seconds
        (waiting for an earlier job included): the child is then killed and replaced. A child
        that dies under a job (killed from outside, out of memory) is replaced and the job
        tried once more; WorkerError if that fails too or the engine raised."""
        deadline = time.monotonic() + timeout
        self.jobs += 1
        try:
            await asyncio.wait_for(self._lock.acquire(), timeout)
        except TimeoutError:
            return None
        try:
            for attempt in (1, 2):
                try:
                    reply = await asyncio.wait_for(self._exchange(job), max(0.0, deadline - time.monotonic()))
                    break
                except TimeoutError:
                    self.kills += 1
                    self.log.warning("tos-guard: a check ran past its %.1f s deadline; its worker was stopped", timeout)
                    await self._kill()
                    return None
                except (EOFError, OSError, asyncio.IncompleteReadError) as exc:
                    await self._kill()
                    if attempt == 2:
                        raise WorkerError(f"the check worker died twice ({type(exc).__name__})") from exc
                    self.log.warning("tos-guard: the check worker died (%s); starting another", type(exc).__name__)
        finally:
            self._lock.release()
        status, value = reply
        if status != "ok":
            raise WorkerError(value)
        return list(value)

    async def _exchange(self, job: Job) -> Any:
        proc = await self._started()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(_frame(job))
        await proc.stdin.drain()
        (size,) = struct.unpack("!Q", await proc.stdout.readexactly(8))
        return pickle.loads(await proc.stdout.readexactly(size))

    async def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()

    async def aclose(self) -> None:
        """Stop the child and reap it (at server shutdown)."""
        await self._kill()

    def close(self) -> None:
        """Stop the child without waiting for it, where no event loop can be awaited."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass


if __name__ == "__main__":
    main()
