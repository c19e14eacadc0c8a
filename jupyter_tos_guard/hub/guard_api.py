"""The guards' API (`api/guard/...`) and the health probe.

A single-user server presents its own hub token. The service asks the hub whose token it is
(`HubAuth.user_for_token`, through its bounded cache, see `state.TokenCheck`) and takes the
user and their groups from that answer only, never from the body: a server can report, sync,
fetch exemptions and pull the policy only as its own user.

`api/guard/sync` is what guards call once per interval; `heartbeat`, `exemptions` and `policy`
are the three calls it replaced, kept for guards of the previous version.
"""

from __future__ import annotations

import os
from typing import Any

from jupyterhub.services.auth import HubAuth, check_scopes
from tornado import web

from .. import __version__
from ..reporter import NO_POLICY
from .base import BaseHandler
from .db import IngestItem


class GuardHandler(BaseHandler):
    """Requests from guards, authenticated with their server's hub token."""

    hub_user: dict[str, Any]

    def check_xsrf_cookie(self) -> None:  # token-authenticated API
        return

    async def prepare(self) -> None:
        m = HubAuth.auth_header_pat.match(self.request.headers.get("Authorization", ""))
        if not m:
            raise web.HTTPError(401, "present the server's hub token: Authorization: token <token>")
        try:
            model = await self.ctx.tokens.user_for_token(m.group(1))
        except web.HTTPError as exc:
            raise web.HTTPError(503, f"cannot check the token with the hub: {exc.log_message}") from None
        if not model:
            raise web.HTTPError(403, "the hub does not know this token")
        if model.get("kind", "user") != "user":
            raise web.HTTPError(403, "only users' tokens may report")
        required = self.ctx.config.report_scopes
        if required and not check_scopes(set(required), set(model.get("scopes") or ())):
            raise web.HTTPError(403, f"the token lacks one of the scopes {sorted(required)}")
        self.hub_user = model

    @property
    def user_name(self) -> str:
        return str(self.hub_user["name"])

    @property
    def user_groups(self) -> tuple[str, ...]:
        return tuple(str(g) for g in self.hub_user.get("groups") or ())


class ReportsHandler(GuardHandler):
    async def post(self) -> None:
        body, client_id = self.guard_report()
        raw = body.get("records")
        if not isinstance(raw, list):
            raise web.HTTPError(400, "records: a list")
        if len(raw) > self.ctx.config.max_batch:
            raise web.HTTPError(413, f"at most {self.ctx.config.max_batch} records per request")
        records: list[tuple[int, dict[str, Any]]] = []
        for entry in raw:
            seq = entry.get("seq") if isinstance(entry, dict) else None
            record = entry.get("record") if isinstance(entry, dict) else None
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
                raise web.HTTPError(400, "each record needs a positive integer seq")
            records.append((seq, record if isinstance(record, dict) else {"event": "malformed", "raw": record}))
        server_name = body.get("server_name") or ""
        item = IngestItem(self.user_name, self.user_groups, client_id, str(server_name)[:255], records)
        try:
            result = await self.ctx.ingestor.submit(item)
        except PermissionError as exc:
            raise web.HTTPError(403, str(exc)) from None
        if result.inserted and self.ctx.store.counted_actions() & {r.get("action") for _, r in records}:
            self.ctx.strikes.schedule([(self.user_name, self.user_groups)])
        self.write_json({"acked": result.acked, "inserted": result.inserted, "duplicates": result.duplicates})


class SyncHandler(GuardHandler):
    """The heartbeat, and what the guard lacks: `{client_id, server_name, <heartbeat fields>,
    exemptions_etag?, policy_etag?}` -> `{user, groups, heartbeat_grace, exemptions?, policy?}`.

    An ETag key in the body asks for that kind; the kind is in the answer only when the guard's
    ETag is not the current one, so an idle guard gets a few dozen bytes."""

    async def post(self) -> None:
        body, client_id = self.guard_report()
        for key in ("exemptions_etag", "policy_etag"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise web.HTTPError(400, f"{key}: a string or null")
        try:
            await self.ctx.heartbeats.submit((self.user_name, client_id, body))
        except PermissionError as exc:
            raise web.HTTPError(403, str(exc)) from None
        groups = await self.ctx.restrictions.groups_of(self.user_name, self.user_groups)
        answer: dict[str, Any] = {
            "user": self.user_name,
            "groups": list(groups),
            "heartbeat_grace": self.ctx.config.heartbeat_grace,
        }
        if "exemptions_etag" in body:
            items, etag = await self.ctx.exemptions.for_user(self.user_name, groups)
            if body["exemptions_etag"] != etag:
                answer["exemptions"] = {"etag": etag, "items": items}
        if "policy_etag" in body:
            text, sha = self.ctx.policy.current()
            etag = sha or NO_POLICY
            if body["policy_etag"] != etag:
                answer["policy"] = (
                    {"etag": etag, "sha256": sha, "text": text, "source": os.path.basename(self.ctx.policy.path)}
                    if text is not None
                    else {"etag": etag, "text": None}
                )
        self.write_json(answer)


class HeartbeatHandler(GuardHandler):
    async def post(self) -> None:
        body, client_id = self.guard_report()
        try:
            await self.ctx.heartbeats.submit((self.user_name, client_id, body))
        except PermissionError as exc:
            raise web.HTTPError(403, str(exc)) from None
        self.write_json({"ok": True, "heartbeat_grace": self.ctx.config.heartbeat_grace})


class GuardExemptionsHandler(GuardHandler):
    async def get(self) -> None:
        items, _ = await self.ctx.exemptions.for_user(self.user_name, self.user_groups)
        self.write_json({"user": self.user_name, "exemptions": items})


class GuardPolicyHandler(GuardHandler):
    async def get(self) -> None:
        text, sha = self.ctx.policy.current()
        if text is None or sha is None:
            self.set_status(204)
            self.finish()
            return
        etag = f'"{sha}"'
        self.set_header("Etag", etag)
        if self.request.headers.get("If-None-Match") == etag:
            self.set_status(304)
            self.finish()
            return
        self.write_json({"sha256": sha, "text": text, "source": os.path.basename(self.ctx.policy.path)})


class HealthHandler(BaseHandler):
    def get(self) -> None:
        self.write_json({"ok": True, "version": __version__})
