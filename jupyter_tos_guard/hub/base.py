"""The service's two kinds of handler: `BaseHandler` (JSON answers and errors) and `AdminHandler`
(operators: hub OAuth or a hub API token holding one of `admin_scopes`)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from jupyterhub.services.auth import HubOAuthenticated, check_scopes
from tornado import web

from .. import __version__
from .db import Filters, iso, now
from .state import ServiceContext

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


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
            surface=arg("surface"),
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


async def clear_strikes(handler: AdminHandler, name: str, note: str, lift: bool) -> str | None:
    await handler.ctx.write(handler.ctx.store.clear_strikes, name, handler.admin_name, note)
    if not lift:
        return None
    outcome = await handler.ctx.strikes.lift_restriction(name)
    await handler.ctx.write(
        handler.ctx.store.audit, handler.admin_name, "restriction_lifted", name, {"outcome": outcome}
    )
    return outcome
