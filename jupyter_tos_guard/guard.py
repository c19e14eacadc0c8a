"""The guard: one policy engine per server, a rollout mode, and an audit of every decision.

It knows nothing about websockets: the connection hands it a `Request` and acts on the
`Decision` it returns. Reloads swap the engine in one assignment, so a check always runs
against one whole policy, old or new.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import metrics
from .acknowledge import Acknowledgements
from .audit import AuditLog, utc_from_timestamp, utc_now
from .config import TosGuard
from .exemptions import Exemption
from .includes import language_of
from .messages import failure_payload, included_reason, unreadable_reason, verdict_payload
from .policy import Action, Engine, EvaluationContext, PolicyError, Verdict
from .policy.loader import default_policy_texts, load_texts, read_sources
from .policy.memory import Memory
from .policy.model import Policy
from .ratelimit import RateLimit
from .worker import TIMED_OUT, CheckWorker, Job, rebuild

MAX_REMEMBERED_KERNELS = 64  # kernels whose cells' assignments are kept (the least recent forgotten)
EVENT_SCHEMA_ID = "https://events.jupyter-tos-guard.org/decision/v1"
# cells up to this size get the engine's first pass on the event loop before any goes to the
# worker process (see Guard._prefiltered): at most ~10 ms of the loop
INLINE_PREFILTER_CHARS = 2 * 1024 * 1024


@dataclass(frozen=True)
class Request:
    """One execute request, as the connection saw it."""

    code: str
    user_expressions: tuple[str, ...] = ()
    msg_id: str | None = None
    channel: str = "shell"
    kernel_id: str | None = None
    kernel_name: str | None = None
    notebook_path: str | None = None
    user: str | None = None
    groups: tuple[str, ...] = ()
    language: str = "python"
    acknowledge: object = None  # token from execute_request metadata, for `confirm` rules
    # Which route the code took: cell, debugger, process, terminal or file.
    surface: str = "cell"
    pid: int | None = None  # processes: the process judged
    command_line: str | None = None  # processes: its argv joined (the record keeps an excerpt)
    origin: str | None = None  # what started it: a kernel, a terminal name, a file path
    # files the cell runs in the kernel (`%run x.py`, a local import), as (path, text)
    included: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Decision:
    # after the rollout mode: ALLOW and LOG forward, WARN forwards with a notice, CONFIRM answers
    # with a notice carrying an acknowledgement token plus an error, BLOCK answers with an error
    action: Action
    verdict: Verdict | None = None
    payload: dict[str, Any] | None = None  # what the student sees (warn/block)
    record: dict[str, Any] | None = None  # the audit record (non-allow decisions and failures)
    elapsed_ms: float = 0.0


ALLOW = Decision(Action.ALLOW)


def apply_mode(action: Action, mode: str) -> Action:
    if action == Action.ALLOW:
        return action
    if mode == "monitor":
        return Action.LOG
    if mode == "warn" and action >= Action.CONFIRM:
        return Action.WARN
    return action


@dataclass
class _Watched:
    paths: tuple[str, ...]
    stamps: dict[str, tuple[float, int] | None] = field(default_factory=dict)

    def snapshot(self) -> dict[str, tuple[float, int] | None]:
        out: dict[str, tuple[float, int] | None] = {}
        for p in self.paths:
            try:
                st = os.stat(p)
                out[p] = (st.st_mtime, st.st_size)
            except OSError:
                out[p] = None
        return out


class Guard:
    def __init__(
        self,
        config: TosGuard,
        log: logging.Logger,
        emit: Callable[[dict[str, Any]], None] | None = None,
        identity: str | None = None,
    ):
        self.config = config
        self.log = log
        self.emit = emit or (lambda record: None)
        self.identity = identity
        self.audit = AuditLog(config.audit_log, log)
        self.recent: deque[dict[str, Any]] = deque(maxlen=max(1, config.recent_verdicts))
        self.policy_error: str | None = None
        self.remote_policy: tuple[str, str] | None = None
        self.acknowledgements = Acknowledgements()
        self.check_calls = RateLimit()  # POST /tos-guard/check, per user
        self.worker = CheckWorker(log)  # large cells (see check_async); started on first use
        self._texts: dict[str, tuple[tuple[str, str], ...]] = {}  # policy digest -> its texts, for the worker
        self.memories: OrderedDict[str, Memory] = OrderedDict()  # kernel id -> what its cells assigned
        self._pending: list[Request] = []  # cells that ran, not yet remembered
        # Other consumers of every audit record (e.g. the hub reporter); each must return fast.
        self.sinks: list[Callable[[dict[str, Any]], None]] = []
        # Where exemptions come from besides the policy (e.g. the hub service); must be fast.
        self.exemption_providers: list[Callable[[str | None, tuple[str, ...]], Iterable[Exemption]]] = []
        # Where a user's groups come from besides the request (the hub service knows a group the
        # strike ladder added since the server started); must be fast.
        self.group_providers: list[Callable[[str | None], Iterable[str]]] = []
        self._watched = _Watched(tuple(config.policy_files))
        self._watched.stamps = self._watched.snapshot()
        self.engine = self._initial_engine()

    # --- policy -------------------------------------------------------------------------

    def _engine_for(self, policy: Policy) -> Engine:
        cap = self.config.max_scan_bytes
        return Engine(policy, max_chars=cap if cap > 0 else None)

    def _load(self) -> Policy:
        """Default (unless off), then the operator's files, then a centrally served policy."""
        texts = default_policy_texts() if self.config.use_default_policy else []
        files, problems = read_sources(self.config.policy_files)
        if problems:
            raise PolicyError(problems)
        return self._loaded(texts + files + ([self.remote_policy] if self.remote_policy else []))

    def _loaded(self, texts: list[tuple[str, str]]) -> Policy:
        policy = load_texts(texts)
        if hasattr(self, "engine"):  # keep the texts of the policy in force and of the new one
            self._texts = {k: v for k, v in self._texts.items() if k == self.engine.policy.digest}
        self._texts[policy.digest] = tuple(texts)
        return policy

    def set_remote_policy(self, source: str, text: str) -> bool:
        """Layer a policy served centrally (e.g. by the hub service) over the local files.

        A policy with problems is refused and the last good one stays in force.
        """
        previous = self.remote_policy
        self.remote_policy = (source, text)
        try:
            policy = self._load()
        except PolicyError as err:
            self.remote_policy = previous
            self._policy_failed(err)
            return False
        self._install(policy)
        return True

    def _install(self, policy: Policy) -> None:
        self.engine = self._engine_for(policy)  # one assignment: checks see old or new, never half
        self.policy_error = None
        self.log.info("tos-guard: policy in force: %d rules, digest %s", len(policy.rules), policy.digest[:12])
        self._record(self._base_record("policy_loaded"), None)

    def _initial_engine(self) -> Engine:
        try:
            policy = self._load()
        except PolicyError as err:
            self._policy_failed(err)
            fallback = default_policy_texts() if self.config.use_default_policy else [("<empty>", "version: 1\n")]
            policy = self._loaded(fallback)
            self.log.error(
                "tos-guard: starting with %s until the policy files are fixed",
                "the default policy" if self.config.use_default_policy else "no rules",
            )
        self.log.info(
            "tos-guard: policy %r in force: %d rules (%s)",
            policy.name,
            len(policy.rules),
            ", ".join(policy.sources) or "none",
        )
        return self._engine_for(policy)

    def _policy_failed(self, err: PolicyError) -> None:
        self.policy_error = str(err)
        metrics.POLICY_RELOAD_FAILURES.inc()
        self.log.error("tos-guard: the policy has problems; the last good policy stays in force:\n%s", err)
        record = self._base_record("policy_error")
        record["error"] = str(err)
        self._record(record, None)

    def reload_if_changed(self) -> bool:
        """Reload when a policy file changed. Returns True when a new policy is in force."""
        stamps = self._watched.snapshot()
        if stamps == self._watched.stamps:
            return False
        self._watched.stamps = stamps
        try:
            policy = self._load()
        except PolicyError as err:
            self._policy_failed(err)
            return False
        self._install(policy)
        return True

    @property
    def info_url(self) -> str | None:
        return self.config.info_url or self.engine.policy.info_url

    @property
    def appeal_url(self) -> str | None:
        return self.config.appeal_url or self.engine.policy.appeal_url

    # --- decisions ----------------------------------------------------------------------

    def _base_record(self, event: str, request: Request | None = None) -> dict[str, Any]:
        policy = self.engine.policy if hasattr(self, "engine") else None
        return {
            "event": event,
            "time": utc_now(),
            "user": (request.user if request else None) or self.identity,
            "kernel_id": request.kernel_id if request else None,
            "kernel_name": request.kernel_name if request else None,
            "notebook_path": request.notebook_path if request else None,
            "msg_id": request.msg_id if request else None,
            "channel": request.channel if request else None,
            "surface": request.surface if request else None,
            "pid": request.pid if request else None,
            "command_line": request.command_line[:400] if request and request.command_line else None,
            "origin": request.origin if request else None,
            "mode": self.config.mode,
            "policy_name": policy.name if policy else None,
            "policy_digest": policy.digest if policy else None,
            "rules": [],
            "categories": [],
            "truncated": False,
        }

    def _emit(self, record: dict[str, Any]) -> None:
        try:
            self.emit(record)
        except Exception:  # an event sink must never break the kernel path
            self.log.warning("tos-guard: emitting an event failed", exc_info=True)

    def check(self, request: Request) -> Decision:
        """The decision on one request, judged here (on the caller's thread)."""
        metrics.CHECKED.labels(surface=request.surface).inc()
        engine = self.engine
        prelude, signs = self._prelude(request)
        try:
            # each user_expression is read on its own: glued to the code, an expression like
            # `)` would turn the whole cell into one the Python reader cannot parse
            verdicts = [
                engine.evaluate(part, context, prelude=prelude, signs=signs)
                if n == 0
                else engine.evaluate(part, context)
                for n, (part, context) in enumerate(zip(_parts(request), _contexts(request), strict=True))
            ]
        except Exception as exc:  # a bug in the engine: audit it, then fail open or closed
            return self._engine_failed(request, _whole(request), exc)
        return self._remember(request, self._decide(request, engine, verdicts))

    # --- what earlier cells assigned (policy/memory.py) ------------------------------------

    def _memory(self, request: Request, create: bool = False) -> Memory | None:
        if not self.config.remember_cells or request.surface != "cell" or request.kernel_id is None:
            return None
        memory = self.memories.get(request.kernel_id)
        if memory is None and create:
            memory = self.memories[request.kernel_id] = Memory()
            while len(self.memories) > MAX_REMEMBERED_KERNELS:
                self.memories.popitem(last=False)
        if memory is not None:
            self.memories.move_to_end(request.kernel_id)
        return memory

    def _prelude(self, request: Request) -> tuple[str, str]:
        """What the kernel's earlier cells left that this one needs: (the assignments it uses,
        the lines holding other signs of rules it holds a sign of); see `Engine.evaluate`."""
        self.remember_pending()
        memory = self._memory(request)
        if memory is None:
            return "", ""
        signs = ""
        if memory.has_signs:  # a rule with a sign here and others in cells that ran
            rules = self.engine.compiled.signs.rules_in(request.code)
            if rules:
                signs = memory.sign_prelude(rules)
        return memory.prelude(request.code), signs

    def _remember(self, request: Request, decision: Decision) -> Decision:
        """A cell that runs leaves its assignments for the next ones; a refused one left nothing.
        Read after the cell is on its way to the kernel (the loop's next turn), not before:
        the next check reads whatever is still pending first."""
        remembers = self.config.remember_cells and request.surface == "cell" and request.kernel_id is not None
        if remembers and decision.action <= Action.WARN:
            self._pending.append(request)
            if len(self._pending) == 1:
                try:
                    asyncio.get_running_loop().call_soon(self.remember_pending)
                except RuntimeError:  # no loop (the CLI, tests): at the next check
                    pass
        return decision

    def remember_pending(self) -> None:
        pending, self._pending = self._pending, []
        for request in pending:
            memory = self._memory(request, create=True)
            if memory is not None:
                memory.remember(request.code)
                memory.remember_signs(self.engine.compiled.signs.lines(request.code))

    def forget(self, kernel_id: str) -> None:
        """The kernel restarted: its namespace is empty again."""
        self.remember_pending()
        self.memories.pop(kernel_id, None)

    def offloads(self, request: Request) -> bool:
        """Whether `check_async` sends this request to the worker process (a large cell)."""
        limit = self.config.worker_chars
        return limit > 0 and sum(map(len, _parts(request))) > limit

    async def check_async(self, request: Request) -> Decision:
        """The decision, with large cells judged in the worker process under the deadline, so
        the event loop keeps serving everyone else; small ones as `check` does."""
        if not self.offloads(request):
            return self.check(request)
        metrics.CHECKED.labels(surface=request.surface).inc()
        engine = self.engine
        parts = _parts(request)
        prelude, signs = self._prelude(request)
        quick = self._prefiltered(request, engine, parts, prelude, signs)
        if quick is not None:  # nothing to read deeply (pasted data, a long plain module)
            return self._remember(request, self._decide(request, engine, quick))
        job = Job(
            engine.policy.digest,
            self._texts.get(engine.policy.digest, ()),
            engine.max_chars,
            parts,
            _context(request),
            _languages(request),
            prelude,
            signs,
        )
        try:
            results = await self.worker.run(job, self.config.check_timeout)
        except Exception as exc:  # a bug in the engine, or a worker that died
            return self._engine_failed(request, _whole(request), exc)
        if results is None:  # past the deadline: what was not read is unreadable
            verdicts = [Verdict(Action.ALLOW, (), self.config.check_timeout * 1000, False, TIMED_OUT)]
        else:
            verdicts = [rebuild(engine.policy, r) for r in results]
        return self._remember(request, self._decide(request, engine, verdicts))

    def _prefiltered(
        self, request: Request, engine: Engine, parts: tuple[str, ...], prelude: str, signs: str
    ) -> list[Verdict] | None:
        """The verdicts when the engine's first pass settles every part here, else None. Up to
        INLINE_PREFILTER_CHARS the pass runs on the event loop (a few ms per MB): handing a cell
        that needs no deep reading to the worker costs more (pickling, the pipe, its copy)."""
        if sum(map(len, parts)) > INLINE_PREFILTER_CHARS:
            return None
        verdicts = []
        for n, (part, context) in enumerate(zip(parts, _contexts(request), strict=True)):
            verdict = (
                engine.prefiltered(part, context, prelude=prelude, signs=signs)
                if n == 0
                else engine.prefiltered(part, context)
            )
            if verdict is None:
                return None
            verdicts.append(verdict)
        return verdicts

    def _decide(self, request: Request, engine: Engine, verdicts: list[Verdict]) -> Decision:
        code, verdict, rule_ids = _combine(request, verdicts)
        metrics.CHECK_SECONDS.observe(verdict.elapsed_ms / 1000)
        unreadable = verdict.unreadable or (
            f"it is longer than the {engine.max_chars:,} characters the check reads"
            if verdict.truncated and engine.max_chars
            else None
        )
        if verdict.action == Action.ALLOW and unreadable is None:
            return ALLOW
        request = self._with_groups(request)
        verdict = self._apply_exemptions(request, code, verdict)
        verdict = self._effective(verdict, request.groups, engine.policy)
        # what could not be read is acted on by the operator's setting, never waved through
        floor = (
            Action.ALLOW
            if unreadable is None
            else Action.BLOCK
            if self.config.on_unreadable == "block"
            else Action.WARN
        )
        policy_action = max(verdict.action, floor)
        if policy_action == Action.ALLOW:
            return ALLOW
        action = apply_mode(policy_action, self.config.mode)
        payload = verdict_payload(
            verdict,
            code,
            action=action,
            info_url=self.info_url,
            appeal_url=self.appeal_url,
            contact=engine.policy.contact,
            policy_name=engine.policy.name,
            mode=self.config.mode,
        )
        if unreadable is not None:
            payload["reason"] = unreadable_reason(unreadable, stopped=action >= Action.CONFIRM)
        record = self._base_record("decision", request)
        included = next((path for path, text in request.included if text is code), None)
        if included is not None:  # the cell itself only names the file
            record["origin"] = included
            payload["reason"] = payload.get("reason") or included_reason(included)
        first = verdict.hits[0].matches[0] if verdict.hits and verdict.hits[0].matches else None
        whole = "\n".join((request.code, *request.user_expressions))
        code_sha256 = hashlib.sha256(whole.encode("utf-8", "surrogatepass")).hexdigest()
        action_label = action.label
        if action == Action.CONFIRM:
            confirm_rules = [h.rule.id for h in verdict.hits if h.rule.action == Action.CONFIRM]
            if request.acknowledge is not None:
                refused = self.acknowledgements.redeem(request.acknowledge, request.user, code_sha256, confirm_rules)
                if refused is None:
                    action, action_label = Action.LOG, "acknowledged"
                    self._mark_acknowledged(request.acknowledge)
                else:
                    record["error"] = f"acknowledgement refused: {refused}"
            if action == Action.CONFIRM:
                token, expires = self.acknowledgements.issue(request.user, code_sha256, confirm_rules)
                payload["confirm"] = {"token": token, "expires": utc_from_timestamp(expires)}
            payload["action"] = action_label if action_label == "acknowledged" else action.label
        record.update(
            action=action_label,
            policy_action=policy_action.label,
            rules=rule_ids,
            categories=sorted({h.rule.category for h in verdict.hits}),
            excerpt=payload["rules"][0]["matches"][0]["excerpt"] if first else None,
            code_sha256=code_sha256,
            truncated=verdict.truncated,
            unreadable=unreadable,
            elapsed_ms=round(verdict.elapsed_ms, 3),
        )
        self._record(record, payload if action >= Action.WARN else None)  # before the action takes effect
        for category in record["categories"]:
            metrics.MATCHED.labels(category=category, action=action_label, surface=request.surface).inc()
        if action >= Action.CONFIRM:
            metrics.BLOCKED.labels(surface=request.surface).inc()
        if action >= Action.WARN:
            self.recent.append(
                {
                    "time": record["time"],
                    "kernel_id": request.kernel_id,
                    "msg_id": request.msg_id,
                    "notebook_path": request.notebook_path,
                    "user": record["user"],
                    "verdict": payload,
                }
            )
        return Decision(action, verdict, payload, record, verdict.elapsed_ms)

    def _mark_acknowledged(self, token: object) -> None:
        """A page reloaded after acknowledging must not offer the spent token again."""
        for entry in self.recent:
            confirm = entry["verdict"].get("confirm")
            if isinstance(confirm, dict) and confirm.get("token") == token:
                entry["verdict"] = dict(entry["verdict"], action="acknowledged", confirm=None)
                entry["acknowledged"] = True

    def exemptions_for(self, user: str | None, groups: tuple[str, ...]) -> list[Exemption]:
        found: list[Exemption] = list(self.engine.policy.exemptions)
        for provider in self.exemption_providers:
            try:
                found.extend(provider(user, groups))
            except Exception:
                self.log.warning("tos-guard: an exemption provider failed", exc_info=True)
        return found

    def _apply_exemptions(self, request: Request, code: str, verdict: Verdict) -> Verdict:
        """Drop exempted rules from a verdict; audit them as `exempted` (neither shown nor blocked)."""
        exemptions = self.exemptions_for(request.user, request.groups)
        if not exemptions:
            return verdict
        spared = [h for h in verdict.hits if any(e.applies(h.rule, request.user, request.groups) for e in exemptions)]
        if not spared:
            return verdict
        record = self._base_record("decision", request)
        record.update(
            action="exempted",
            policy_action=max(h.rule.action for h in spared).label,
            rules=[h.rule.id for h in spared],
            categories=sorted({h.rule.category for h in spared}),
            code_sha256=hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest(),
        )
        self._record(record, None)
        kept = tuple(h for h in verdict.hits if h not in spared)
        return dataclasses.replace(verdict, action=max((h.rule.action for h in kept), default=Action.ALLOW), hits=kept)

    def _record(self, record: dict[str, Any], payload: dict[str, Any] | None) -> None:
        """Audit first (before the action takes effect), then events and other sinks."""
        self.audit.write(record)
        event = dict(record, verdict=payload)
        event.pop("elapsed_ms", None)
        self._emit(event)
        for sink in self.sinks:
            try:
                sink(record)
            except Exception:
                self.log.warning("tos-guard: an audit sink failed", exc_info=True)

    def audit_check(self, user: str | None, code: str, verdict: Verdict) -> None:
        """Audit a dry-run check (POST /tos-guard/check): what was asked and what it would do."""
        record = self._base_record("check", Request(code="", user=user))
        record.update(
            action="log",
            policy_action=verdict.action.label,
            rules=list(verdict.rule_ids),
            categories=sorted({h.rule.category for h in verdict.hits}),
            code_sha256=hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest(),
            unreadable=verdict.unreadable,
            truncated=verdict.truncated,
        )
        self._record(record, None)

    def _with_groups(self, request: Request) -> Request:
        extra: list[str] = []
        for provider in self.group_providers:
            try:
                extra.extend(provider(request.user))
            except Exception:
                self.log.warning("tos-guard: a group provider failed", exc_info=True)
        if not extra or set(extra) <= set(request.groups):
            return request
        return dataclasses.replace(request, groups=tuple(dict.fromkeys((*request.groups, *extra))))

    def _effective(self, verdict: Verdict, groups: tuple[str, ...], policy: Policy) -> Verdict:
        """Each hit's rule with the action it takes here: the policy's `groups:` conditions for
        this user's groups, then at most what `confidence_actions` allows its confidence (e.g.
        low -> log). The hit carries that action, so the student reads the text written for it."""
        caps = self.config.confidence_actions
        if not verdict.hits or (not policy.groups and not any(h.rule.confidence in caps for h in verdict.hits)):
            return verdict
        hits = []
        for h in verdict.hits:
            action = policy.action_for_groups(h.rule, groups) if groups else h.rule.action
            cap = caps.get(h.rule.confidence)
            if cap:
                action = min(action, Action.parse(cap))
            if action != h.rule.action:
                rule = dataclasses.replace(h.rule, action=action, message=h.rule.message_for(action))
                h = dataclasses.replace(h, rule=rule)
            hits.append(h)
        return dataclasses.replace(verdict, hits=tuple(hits), action=max(h.rule.action for h in hits))

    def refused(self, request: Request, reason: str) -> None:
        """Audit an execute request answered with an error because it could not be read: a
        client that sends such requests is either broken or probing the guard."""
        record = self._base_record("malformed_request", request)
        record.update(action="block", error=reason)
        self._record(record, None)

    def _engine_failed(self, request: Request, code: str, exc: Exception) -> Decision:
        metrics.ENGINE_FAILURES.inc()
        self.log.error("tos-guard: the policy engine failed on a cell (%s)", self.config.on_engine_error, exc_info=exc)
        record = self._base_record("engine_error", request)
        closed = self.config.on_engine_error == "fail_closed"
        record.update(
            action="block" if closed else "allow",
            error=f"{type(exc).__name__}: {exc}",
            code_sha256=hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest(),
        )
        if not closed:
            self._record(record, None)
            return Decision(Action.ALLOW, record=record)
        metrics.BLOCKED.labels(surface=request.surface).inc()
        # the event carries the payload, so every frontend shows the same words
        payload = failure_payload(info_url=self.info_url, appeal_url=self.appeal_url)
        self._record(record, payload)
        return Decision(Action.BLOCK, None, payload, record)

    # --- public summary -------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """What students may see of the policy: never the patterns of private rules."""
        policy = self.engine.policy
        categories: dict[str, list[dict[str, Any]]] = {}
        for rule in policy.rules:
            entry: dict[str, Any] = {
                "id": rule.id,
                "title": rule.title,
                "severity": rule.severity.label,
                "action": apply_mode(rule.action, self.config.mode).label,
                "message": rule.message_for(apply_mode(rule.action, self.config.mode)),
                "private": rule.private,
            }
            if not rule.private:
                entry["references"] = list(rule.references)
                entry["matchers"] = [{"kind": m.kind, "pattern": m.pattern} for m in rule.matchers]
            categories.setdefault(rule.category, []).append(entry)
        return {
            "name": policy.name,
            "digest": policy.digest,
            "mode": self.config.mode,
            "info_url": self.info_url,
            "appeal_url": self.appeal_url,
            "contact": policy.contact,
            "rule_count": len(policy.rules),
            "categories": [{"name": name, "rules": rules} for name, rules in sorted(categories.items())],
            "policy_error": self.policy_error,
        }

    def close(self) -> None:
        self.worker.close()
        self.audit.close()


def _context(request: Request) -> EvaluationContext:
    return EvaluationContext(language=request.language, user=request.user, groups=request.groups)


def _languages(request: Request) -> tuple[str, ...]:
    """Per part: the cell's language for the code and its expressions, each file's own."""
    own = (request.language,) * (1 + len(request.user_expressions))
    return own + tuple(language_of(path, text) for path, text in request.included)


def _contexts(request: Request) -> list[EvaluationContext]:
    context = _context(request)
    return [
        context if lang == context.language else dataclasses.replace(context, language=lang)
        for lang in _languages(request)
    ]


def _whole(request: Request) -> str:
    return "\n".join((request.code, *request.user_expressions))


def _parts(request: Request) -> tuple[str, ...]:
    """What is judged apart: the code, each user_expression, each file the cell runs."""
    return (request.code, *request.user_expressions, *(text for _, text in request.included))


def _combine(request: Request, verdicts: list[Verdict]) -> tuple[str, Verdict, list[str]]:
    """The verdicts on the code, each user_expression and each included file, as one: the part
    whose verdict is shown (the strongest; the code on a tie), that verdict, and every rule
    that fired in any part (all of them are audited). A deadline verdict covers the whole."""
    parts = _parts(request)
    shown_code, shown = parts[0], verdicts[0]
    rule_ids = list(shown.rule_ids)
    unreadable, truncated = shown.unreadable, shown.truncated
    for part, verdict in zip(parts[1:], verdicts[1:], strict=False):
        rule_ids += [r for r in verdict.rule_ids if r not in rule_ids]
        unreadable = unreadable or verdict.unreadable
        truncated = truncated or verdict.truncated
        if verdict.action > shown.action:
            shown_code, shown = part, verdict
    if (unreadable, truncated) != (shown.unreadable, shown.truncated):
        shown = dataclasses.replace(shown, unreadable=unreadable, truncated=truncated)
    return shown_code, shown, rule_ids
