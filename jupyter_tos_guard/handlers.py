"""REST API under /tos-guard/: the policy summary, recent verdicts, and a dry-run check."""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .guard import Guard
from .identity import user_of
from .messages import verdict_payload
from .policy import EvaluationContext

AUTH_RESOURCE = "tos_guard"
MAX_CHECK_CHARS = 1024 * 1024


class _GuardHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def guard(self) -> Guard:
        guard = self.settings.get("tos_guard")
        if guard is None:
            raise web.HTTPError(503, "the terms-of-use guard is not active on this server")
        return guard  # type: ignore[no-any-return]


class PolicyHandler(_GuardHandler):
    """GET: what the policy prohibits and why (no patterns of private rules)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(json.dumps(self.guard.summary()))


class VerdictsHandler(_GuardHandler):
    """GET: this server's recent warn/block verdicts, newest last; ?kernel_id= filters."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        kernel_id = self.get_argument("kernel_id", None)
        items: list[dict[str, Any]] = [
            v for v in self.guard.recent if kernel_id is None or v.get("kernel_id") == kernel_id
        ]
        self.finish(json.dumps({"verdicts": items}))


class CheckHandler(_GuardHandler):
    """POST {"code": "...", "language": "python"}: the verdict, without running anything.

    Off unless `TosGuard.check_api`; every call is audited and rate-limited per user, so the
    check cannot serve as a silent oracle for trying evasions.
    """

    @web.authenticated
    @authorized
    async def post(self) -> None:
        guard = self.guard
        if not guard.config.check_api:
            raise web.HTTPError(403, "the check API is off on this server (TosGuard.check_api)")
        user = user_of(self)
        if not guard.check_calls.allow(user or guard.identity or "", guard.config.check_rate):
            raise web.HTTPError(429, f"at most {guard.config.check_rate} checks a minute")
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError as exc:
            raise web.HTTPError(400, f"the body is not JSON: {exc}") from exc
        code = body.get("code") if isinstance(body, dict) else None
        if not isinstance(code, str):
            raise web.HTTPError(400, 'send {"code": "<the code to check>"}')
        if len(code) > MAX_CHECK_CHARS:
            raise web.HTTPError(413, f"code longer than {MAX_CHECK_CHARS} characters")
        language = body.get("language", "python") if isinstance(body.get("language", "python"), str) else "python"
        verdict = guard.engine.evaluate(code, EvaluationContext(language=language))
        guard.audit_check(user, code, verdict)
        payload = verdict_payload(
            verdict,
            code,
            action=verdict.action,
            info_url=guard.info_url,
            appeal_url=guard.appeal_url,
            contact=guard.engine.policy.contact,
            policy_name=guard.engine.policy.name,
            mode=guard.config.mode,
        )
        payload["elapsed_ms"] = round(verdict.elapsed_ms, 3)
        self.finish(json.dumps(payload))


class FileHandler(_GuardHandler):
    """GET ?path=: what the policy finds in a notebook or script under the root (read only, audited once)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        scanner = self.settings.get("tos_guard_files")
        if scanner is None:
            raise web.HTTPError(404, "reading files is turned off on this server")
        path = self.get_argument("path")
        result = await scanner.scan(path)
        if result is None:
            raise web.HTTPError(404, "no notebook or script at that path")
        self.finish(json.dumps(result))


def routes() -> list[tuple[str, type[APIHandler]]]:
    """The REST API, relative to the server's base URL (the extension app prefixes it)."""
    return [
        (r"/tos-guard/policy", PolicyHandler),
        (r"/tos-guard/verdicts", VerdictsHandler),
        (r"/tos-guard/check", CheckHandler),
        (r"/tos-guard/file", FileHandler),
    ]
