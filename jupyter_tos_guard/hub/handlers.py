"""HTTP handlers of the hub service.

Two audiences, two authentications:

- **Guards** (`api/guard/...`): a single-user server presents its own hub token. The service
  asks the hub whose token it is (`HubAuth.user_for_token`, cached) and takes the user and
  their groups from that answer only, never from the body: a server can report, fetch
  exemptions and pull the policy only as its own user.
- **Operators** (the pages and `api/admin/...`): hub OAuth (`HubOAuthenticated`) or a hub
  API token; the token must hold one of `admin_scopes` (by default
  `access:services!service=<name>`, which hub admins hold).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

from jupyterhub.services.auth import HubAuth, HubOAuthCallbackHandler, HubOAuthenticated, check_scopes
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from .. import __version__
from .config import TosGuardHubService
from .db import VERDICT_COLUMNS, Filters, IngestItem, IngestResult, Store, iso, now
from .heartbeats import FlagChecker
from .hubapi import HubAPI
from .strikes import Strikes, ladder_json

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


# --- shared state ---------------------------------------------------------------------------------


class CentralPolicy:
    """The policy file served to guards: reread when it changes, refused when broken."""

    def __init__(self, path: str, log: Any, audit: Callable[..., Any]):
        self.path = path
        self.log = log
        self.audit = audit
        self.text: str | None = None
        self.sha256: str | None = None
        self.changed = 0.0
        self.error: str | None = None
        self._stamp: tuple[float, int] | None = None
        self._checked = 0.0

    def current(self) -> tuple[str | None, str | None]:
        if not self.path:
            return None, None
        t = now()
        if t - self._checked >= 1.0:
            self._checked = t
            self._refresh()
        return self.text, self.sha256

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            if self.error != str(exc):
                self.error = str(exc)
                self.log.error("tos-guard-hub: cannot read the central policy %s: %s", self.path, exc)
            return
        stamp = (st.st_mtime, st.st_size)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        with open(self.path, encoding="utf-8") as f:
            text = f.read()
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if sha == self.sha256:
            return
        from ..policy import PolicyError
        from ..policy.loader import default_policy_texts, load_texts

        try:
            policy = load_texts(default_policy_texts() + [(self.path, text)])
        except PolicyError as err:
            self.error = str(err)
            self.log.error(
                "tos-guard-hub: the central policy %s has problems; still serving %s:\n%s",
                self.path,
                (self.sha256 or "nothing")[:12],
                err,
            )
            self.audit("service", "central_policy_refused", self.path, {"sha256": sha, "error": str(err)})
            return
        self.text, self.sha256, self.changed, self.error = text, sha, now(), None
        self.log.info(
            "tos-guard-hub: serving central policy %s (%d rules with the default)", sha[:12], len(policy.rules)
        )
        self.audit("service", "central_policy_loaded", self.path, {"sha256": sha})

    def state(self) -> tuple[str | None, float]:
        self.current()
        return self.sha256, self.changed


class GroupCommit:
    """Report requests that arrive while a write is running are stored together in the next
    transaction: one commit (and one fsync) for many requests."""

    def __init__(self, ctx: ServiceContext):
        self.ctx = ctx
        self.pending: list[tuple[IngestItem, asyncio.Future[IngestResult]]] = []
        self._running = False

    async def submit(self, item: IngestItem) -> IngestResult:
        fut: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self.pending.append((item, fut))
        if not self._running:
            self._running = True
            asyncio.ensure_future(self._drain())
        return await fut

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                try:
                    results = await self.ctx.write(self.ctx.store.ingest, [item for item, _ in batch])
                except Exception:
                    # isolate the request that failed; store the others
                    for item, fut in batch:
                        try:
                            fut.set_result((await self.ctx.write(self.ctx.store.ingest, [item]))[0])
                        except Exception as exc:
                            fut.set_exception(exc)
                    continue
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)
        finally:
            self._running = False


class ServiceContext:
    def __init__(
        self,
        config: TosGuardHubService,
        store: Store,
        log: Any,
        hub_auth: HubAuth,
        hub_api: HubAPI | None,
        service_name: str,
    ):
        self.config = config
        self.store = store
        self.log = log
        self.hub_auth = hub_auth
        self.hub_api = hub_api
        self.service_name = service_name
        self.write_pool = ThreadPoolExecutor(1, thread_name_prefix="tos-db-write")
        self.read_pool = ThreadPoolExecutor(4, thread_name_prefix="tos-db-read")
        self.ingestor = GroupCommit(self)
        self.policy = CentralPolicy(config.policy_file, log, self._audit_sync)
        self.strikes = Strikes(store, self.write, self.read, hub_api, config.restricted_group, self.notify, log)
        self.flags: FlagChecker | None = None
        if hub_api is not None:
            self.flags = FlagChecker(
                store, hub_api, config.heartbeat_grace, self.read, self.write, self.policy.state, self.notify, log
            )

    async def write(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.write_pool, partial(fn, *args, **kwargs))

    async def read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.read_pool, partial(fn, *args, **kwargs))

    def _audit_sync(self, actor: str, action: str, subject: str, detail: dict[str, Any]) -> None:
        try:
            self.store.audit(actor, action, subject, detail)
        except Exception:
            self.log.warning("tos-guard-hub: audit write failed", exc_info=True)

    async def notify(self, payload: dict[str, Any]) -> None:
        url = self.config.notify_webhook_url
        if not url:
            return
        body = json.dumps(dict(payload, service=self.service_name, time=iso(now())))
        req = HTTPRequest(
            url,
            method="POST",
            body=body,
            headers={"Content-Type": "application/json"},
            request_timeout=10,
            connect_timeout=10,
        )
        resp = await AsyncHTTPClient().fetch(req, raise_error=False)
        if resp.code >= 400 or resp.code == 599:
            self.log.error("tos-guard-hub: webhook %s answered %s", url, resp.code)

    def close(self) -> None:
        self.write_pool.shutdown(wait=True)
        self.read_pool.shutdown(wait=False)


# --- base handlers ------------------------------------------------------------------------------------


class BaseHandler(web.RequestHandler):
    @property
    def ctx(self) -> ServiceContext:
        return self.settings["tos_ctx"]  # type: ignore[no-any-return]

    def write_json(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(obj, default=str))

    def guard_report(self) -> tuple[dict[str, Any], str]:
        """The JSON object a guard sent, and its validated client_id."""
        body = self.json_body()
        if not isinstance(body, dict):
            raise web.HTTPError(400, "expected an object")
        client_id = body.get("client_id")
        if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
            raise web.HTTPError(400, "client_id: 8-64 letters, digits, '-' or '_'")
        return body, client_id

    def json_body(self) -> Any:
        try:
            return json.loads(self.request.body or b"null")
        except ValueError:
            raise web.HTTPError(400, "the body is not JSON") from None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "log_message", None) or self._reason
        if self.request.path.startswith(self.settings["tos_base_url"] + "api/"):
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(json.dumps({"status": status_code, "message": message}))
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            self.settings["tos_templates"]
            .get_template("error.html")
            .render(status=status_code, message=message, base=self.settings["tos_base_url"], user=None)
        )


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
            model = await self.ctx.hub_auth.user_for_token(m.group(1), sync=False)
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


class HeartbeatHandler(GuardHandler):
    async def post(self) -> None:
        body, client_id = self.guard_report()
        try:
            await self.ctx.write(self.ctx.store.heartbeat, self.user_name, client_id, body)
        except PermissionError as exc:
            raise web.HTTPError(403, str(exc)) from None
        self.write_json({"ok": True, "heartbeat_grace": self.ctx.config.heartbeat_grace})


class GuardExemptionsHandler(GuardHandler):
    async def get(self) -> None:
        items = await self.ctx.read(self.ctx.store.exemptions_for, self.user_name, self.user_groups)
        keep = ("id", "subject_kind", "subject", "rule", "category", "reason", "expires")
        self.write_json({"user": self.user_name, "exemptions": [{k: e[k] for k in keep} for e in items]})


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


# --- operators -----------------------------------------------------------------------------------------


def _parse_when(value: str | None) -> float | None:
    """`2024-05-01`, `2024-05-01T10:00`, an epoch, or relative `90m` / `24h` / `7d` (ago)."""
    if not value:
        return None
    value = value.strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", value)
    if m:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
        return now() - float(m.group(1)) * unit
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise web.HTTPError(400, f"cannot read the time {value!r} (use 2024-05-01, 2024-05-01T10:00 or 24h)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


class AdminHandler(HubOAuthenticated, BaseHandler):
    """Pages and API for operators: hub OAuth or a hub token holding one of `admin_scopes`."""

    api = False

    def initialize(self) -> None:
        self.hub_auth = self.ctx.hub_auth

    @property
    def hub_scopes(self) -> set[str]:  # type: ignore[override]
        return set(self.ctx.config.admin_scopes)

    async def prepare(self) -> None:
        model = await self.hub_auth.get_user(self, sync=False)
        if not model:
            self._hub_auth_user_cache = None
            if self.api or self.request.method != "GET" or not hasattr(self.hub_auth, "oauth_client_id"):
                raise web.HTTPError(403, "log in through the hub, or present a hub token")
            self.redirect(self.get_login_url())
            return
        model.setdefault("kind", "user")
        if not check_scopes(self.hub_scopes, set(model.get("scopes") or ())):
            self._hub_auth_user_cache = None
            raise web.HTTPError(
                403,
                f"{model['kind']} {model['name']} may not use the terms-of-use service "
                f"(needs one of {sorted(self.hub_scopes)})",
            )
        self._hub_auth_user_cache = model
        self.current_user = model

    @property
    def admin_name(self) -> str:
        user = self.current_user
        return str(user["name"]) if user else "?"

    def filters(self) -> Filters:
        arg = lambda name: (self.get_argument(name, "") or "").strip() or None  # noqa: E731
        return Filters(
            user=arg("user"),
            group=arg("group"),
            category=arg("category"),
            rule=arg("rule"),
            action=arg("action"),
            event=arg("event"),
            server_name=arg("server"),
            since=_parse_when(arg("since")),
            until=_parse_when(arg("until")),
        )

    def render_page(self, template: str, **ns: Any) -> None:
        env = self.settings["tos_templates"]
        base = self.settings["tos_base_url"]
        html = env.get_template(template).render(
            base=base,
            user=self.current_user,
            xsrf=self.xsrf_token.decode() if isinstance(self.xsrf_token, bytes) else self.xsrf_token,
            iso=iso,
            args={k: self.get_argument(k) for k in self.request.arguments},
            urlencode=urlencode,
            version=__version__,
            **ns,
        )
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(html)

    def back(self, default: str = "") -> None:
        self.redirect(self.settings["tos_base_url"] + default)


class DashboardHandler(AdminHandler):
    async def get(self) -> None:
        filters = self.filters()
        before = self.get_argument("before", None)
        limit = self.ctx.config.page_size
        rows, summary, known, flags = await asyncio.gather(
            self.ctx.read(self.ctx.store.verdicts, filters, limit, int(before) if before else None),
            self.ctx.read(self.ctx.store.summary, filters, self.ctx.config.summary_cap),
            self.ctx.read(self.ctx.store.known_values),
            self.ctx.read(self.ctx.store.flags),
        )
        query = {k: self.get_argument(k) for k in self.request.arguments if k != "before"}
        self.render_page(
            "dashboard.html",
            rows=rows,
            summary=summary,
            known=known,
            flags=flags,
            filters=filters,
            query=query,
            page_size=limit,
            next_before=rows[-1]["id"] if len(rows) == limit else None,
        )


class TimelineHandler(AdminHandler):
    async def get(self, name: str) -> None:
        before = self.get_argument("before", None)
        limit = self.ctx.config.page_size
        groups: tuple[str, ...] = ()
        hub_error = None
        if self.ctx.hub_api is not None:
            try:
                groups = tuple((await self.ctx.hub_api.user(name)).get("groups") or ())
            except Exception as exc:
                hub_error = str(exc)
        rows = await self.ctx.read(self.ctx.store.verdicts, Filters(user=name), limit, int(before) if before else None)
        if not groups and rows:
            groups = tuple(rows[0]["groups"])
        status, events, exemptions = await asyncio.gather(
            self.ctx.read(self.ctx.store.strike_status, name, groups),
            self.ctx.read(self.ctx.store.strike_events, name),
            self.ctx.read(self.ctx.store.exemptions_for, name, groups),
        )
        self.render_page(
            "timeline.html",
            name=name,
            rows=rows,
            groups=groups,
            status=status,
            events=events,
            exemptions=exemptions,
            hub_error=hub_error,
            next_before=rows[-1]["id"] if len(rows) == limit else None,
        )


class ExemptionsPage(AdminHandler):
    async def get(self) -> None:
        show_all = self.get_argument("all", "") == "1"
        items = await self.ctx.read(self.ctx.store.exemptions, show_all)
        known = await self.ctx.read(self.ctx.store.known_values)
        self.render_page("exemptions.html", items=items, show_all=show_all, known=known, now=now())

    async def post(self) -> None:
        expires_raw = self.get_argument("expires", "").strip()
        try:
            await self.ctx.write(
                self.ctx.store.add_exemption,
                self.get_argument("subject_kind", "user"),
                self.get_argument("subject", ""),
                self.get_argument("rule", ""),
                self.get_argument("category", ""),
                self.get_argument("reason", ""),
                _parse_expiry(expires_raw),
                self.admin_name,
            )
        except ValueError as exc:
            raise web.HTTPError(400, str(exc)) from None
        self.back("exemptions")


class RevokeExemptionPage(AdminHandler):
    async def post(self, grant_id: str) -> None:
        await self.ctx.write(self.ctx.store.revoke_exemption, int(grant_id), self.admin_name)
        self.back("exemptions")


class StrikesPage(AdminHandler):
    async def get(self) -> None:
        ladder = await self.ctx.read(self.ctx.store.ladder)
        events = await self.ctx.read(self.ctx.store.strike_events)
        self.render_page(
            "strikes.html", ladder=ladder_json(ladder), events=events, restricted_group=self.ctx.config.restricted_group
        )

    async def post(self) -> None:
        try:
            raw = json.loads(self.get_argument("ladder", ""))
            await self.ctx.write(self.ctx.store.set_ladder, raw, self.admin_name)
        except ValueError as exc:
            raise web.HTTPError(400, f"the ladder was not changed: {exc}") from None
        self.back("strikes")


class ClearStrikesPage(AdminHandler):
    async def post(self, name: str) -> None:
        await _clear_strikes(self, name, self.get_argument("note", ""), self.get_argument("lift", "") == "1")
        self.redirect(self.settings["tos_base_url"] + "users/" + name)


async def _clear_strikes(handler: AdminHandler, name: str, note: str, lift: bool) -> str | None:
    await handler.ctx.write(handler.ctx.store.clear_strikes, name, handler.admin_name, note)
    if not lift:
        return None
    outcome = await handler.ctx.strikes.lift_restriction(name)
    await handler.ctx.write(
        handler.ctx.store.audit, handler.admin_name, "restriction_lifted", name, {"outcome": outcome}
    )
    return outcome


class ServersPage(AdminHandler):
    async def get(self) -> None:
        clients, flags = await asyncio.gather(
            self.ctx.read(self.ctx.store.clients),
            self.ctx.read(self.ctx.store.flags, self.get_argument("all", "") != "1"),
        )
        served, _ = self.ctx.policy.state()
        self.render_page(
            "servers.html",
            clients=clients,
            flags=flags,
            served=served,
            policy_error=self.ctx.policy.error,
            checker=self.ctx.flags,
            grace=self.ctx.config.heartbeat_grace,
            now=now(),
        )


class ResolveFlagPage(AdminHandler):
    async def post(self, flag_id: str) -> None:
        await self.ctx.write(self.ctx.store.resolve_flag, int(flag_id), self.admin_name)
        self.back("servers")


class AuditPage(AdminHandler):
    async def get(self) -> None:
        events = await self.ctx.read(self.ctx.store.audit_events, 500, self.get_argument("subject", None) or None)
        self.render_page("audit.html", events=events)


def _parse_expiry(raw: Any) -> float | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, (int, float)):
        return float(raw)
    value = str(raw).strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([hdw])", value)
    if m:  # relative: in 12h / 30d / 2w
        return now() + float(m.group(1)) * {"h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    when = _parse_when(value)
    return when


# --- admin JSON API ---------------------------------------------------------------------------------------


class AdminAPI(AdminHandler):
    api = True


class VerdictsAPI(AdminAPI):
    async def get(self) -> None:
        limit = max(1, min(int(self.get_argument("limit", "100")), 5000))
        before = self.get_argument("before", None)
        order = self.get_argument("order", "desc")
        rows = await self.ctx.read(
            self.ctx.store.verdicts, self.filters(), limit, int(before) if before else None, order == "asc"
        )
        self.write_json({"verdicts": rows, "next": rows[-1]["id"] if len(rows) == limit else None})


class SummaryAPI(AdminAPI):
    async def get(self) -> None:
        summary = await self.ctx.read(self.ctx.store.summary, self.filters(), self.ctx.config.summary_cap)
        self.write_json(summary.__dict__)


class ExportAPI(AdminAPI):
    async def get(self) -> None:
        fmt = self.get_argument("format", "csv")
        if fmt not in ("csv", "json"):
            raise web.HTTPError(400, "format: csv or json")
        filters = self.filters()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.set_header("Content-Type", "text/csv; charset=utf-8" if fmt == "csv" else "application/json")
        self.set_header("Content-Disposition", f'attachment; filename="tos-verdicts-{stamp}.{fmt}"')
        columns = ["time_iso", "received_iso", *[c for c in VERDICT_COLUMNS if c not in ("time", "received")]]
        queue: asyncio.Queue[list[dict[str, Any]] | None] = asyncio.Queue(maxsize=4)
        loop = asyncio.get_running_loop()
        cancelled = threading.Event()

        def put(item: list[dict[str, Any]] | None) -> None:
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

        def produce() -> None:  # on a reader thread, a chunk at a time, never the whole export in memory
            chunk: list[dict[str, Any]] = []
            try:
                for row in self.ctx.store.iter_verdicts(filters, self.ctx.config.export_limit):
                    if cancelled.is_set():
                        return
                    chunk.append(row)
                    if len(chunk) >= 2000:
                        put(chunk)
                        chunk = []
                if chunk:
                    put(chunk)
            finally:
                put(None)

        producer = loop.run_in_executor(self.ctx.read_pool, produce)
        finished = False
        try:
            buf = io.StringIO()
            writer = csv.writer(buf)
            if fmt == "csv":
                writer.writerow(columns)
            else:
                buf.write("[")
            first = True
            while (chunk := await queue.get()) is not None:
                for row in chunk:
                    if fmt == "csv":
                        writer.writerow(
                            [
                                " ".join(v) if isinstance(v := row.get(c), list) else ("" if v is None else v)
                                for c in columns
                            ]
                        )
                    else:
                        buf.write(
                            ("\n" if first else ",\n") + json.dumps({c: row.get(c) for c in columns}, default=str)
                        )
                        first = False
                self.write(buf.getvalue())
                buf.seek(0)
                buf.truncate()
                await self.flush()
            finished = True
            await producer
            if fmt == "json":
                buf.write("\n]\n")
            self.write(buf.getvalue())
            self.finish()
        finally:
            if not finished:  # the client went away: stop the producer and let it finish
                cancelled.set()
                while await queue.get() is not None:
                    pass


class ExemptionsAPI(AdminAPI):
    async def get(self) -> None:
        items = await self.ctx.read(self.ctx.store.exemptions, self.get_argument("all", "") == "1")
        self.write_json({"exemptions": items})

    async def post(self) -> None:
        body = self.json_body()
        if not isinstance(body, dict):
            raise web.HTTPError(400, "expected an object")
        try:
            item = await self.ctx.write(
                self.ctx.store.add_exemption,
                str(body.get("subject_kind", "user")),
                str(body.get("subject", "")),
                body.get("rule"),
                body.get("category"),
                str(body.get("reason", "")),
                _parse_expiry(body.get("expires")),
                self.admin_name,
            )
        except ValueError as exc:
            raise web.HTTPError(400, str(exc)) from None
        self.write_json(item, 201)


class ExemptionAPI(AdminAPI):
    async def delete(self, grant_id: str) -> None:
        if not await self.ctx.write(self.ctx.store.revoke_exemption, int(grant_id), self.admin_name):
            raise web.HTTPError(404, "no such active exemption")
        self.set_status(204)
        self.finish()


class LadderAPI(AdminAPI):
    async def get(self) -> None:
        ladder = await self.ctx.read(self.ctx.store.ladder)
        self.write_json({"ladder": [s.as_dict() for s in ladder]})

    async def put(self) -> None:
        body = self.json_body()
        raw = body.get("ladder") if isinstance(body, dict) else body
        try:
            steps = await self.ctx.write(self.ctx.store.set_ladder, raw, self.admin_name)
        except ValueError as exc:
            raise web.HTTPError(400, str(exc)) from None
        self.write_json({"ladder": [s.as_dict() for s in steps]})


class StrikeEventsAPI(AdminAPI):
    async def get(self) -> None:
        events = await self.ctx.read(self.ctx.store.strike_events, self.get_argument("user", None) or None)
        self.write_json({"events": events})


class ClearStrikesAPI(AdminAPI):
    async def post(self, name: str) -> None:
        body = self.json_body() or {}
        outcome = await _clear_strikes(self, name, str(body.get("note", "")), bool(body.get("lift_restriction")))
        self.write_json({"cleared": name, "lift_restriction": outcome})


class ServersAPI(AdminAPI):
    async def get(self) -> None:
        clients, flags = await asyncio.gather(
            self.ctx.read(self.ctx.store.clients),
            self.ctx.read(self.ctx.store.flags, self.get_argument("all", "") != "1"),
        )
        self.write_json({"clients": clients, "flags": flags})


class FlagCheckAPI(AdminAPI):
    async def post(self) -> None:
        if self.ctx.flags is None:
            raise web.HTTPError(409, "no hub API: flags are off")
        result = await self.ctx.flags.check()
        self.write_json({k: [list(x) for x in v] for k, v in result.items()} | {"error": self.ctx.flags.last_error})


class AuditAPI(AdminAPI):
    async def get(self) -> None:
        events = await self.ctx.read(
            self.ctx.store.audit_events,
            int(self.get_argument("limit", "200")),
            self.get_argument("subject", None) or None,
        )
        self.write_json({"events": events})


def handlers(base_url: str) -> list[tuple[str, type[web.RequestHandler]]]:
    b = base_url
    return [
        (b + r"api/health", HealthHandler),
        (b + r"api/guard/reports", ReportsHandler),
        (b + r"api/guard/heartbeat", HeartbeatHandler),
        (b + r"api/guard/exemptions", GuardExemptionsHandler),
        (b + r"api/guard/policy", GuardPolicyHandler),
        (b + r"api/admin/verdicts", VerdictsAPI),
        (b + r"api/admin/summary", SummaryAPI),
        (b + r"api/admin/export", ExportAPI),
        (b + r"api/admin/exemptions", ExemptionsAPI),
        (b + r"api/admin/exemptions/(\d+)", ExemptionAPI),
        (b + r"api/admin/strikes/ladder", LadderAPI),
        (b + r"api/admin/strikes/events", StrikeEventsAPI),
        (b + r"api/admin/strikes/([^/]+)/clear", ClearStrikesAPI),
        (b + r"api/admin/servers", ServersAPI),
        (b + r"api/admin/flags/check", FlagCheckAPI),
        (b + r"api/admin/audit", AuditAPI),
        (b + r"oauth_callback", HubOAuthCallbackHandler),
        (b + r"users/([^/]+)/clear-strikes", ClearStrikesPage),
        (b + r"users/([^/]+)", TimelineHandler),
        (b + r"exemptions", ExemptionsPage),
        (b + r"exemptions/(\d+)/revoke", RevokeExemptionPage),
        (b + r"strikes", StrikesPage),
        (b + r"servers", ServersPage),
        (b + r"flags/(\d+)/resolve", ResolveFlagPage),
        (b + r"audit", AuditPage),
        (b + r"?", DashboardHandler),
    ]
