"""The few JupyterHub REST calls the service makes with its own token.

Scopes the service's role needs (see docs/hub.md): `list:users`, `read:users:name`,
`read:users:groups`, `read:servers` (who runs what, for flags), `delete:servers` (the `stop`
response), `groups!group=<restricted group>` (the `restrict` response).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .db import parse_time

PAGINATION = "application/jupyterhub-pagination+json"


class HubAPIError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"hub API {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class RunningServer:
    user: str
    name: str
    started: float | None
    ready: bool
    groups: tuple[str, ...]


class HubAPI:
    def __init__(self, api_url: str, token: str, log: logging.Logger, timeout: float = 20.0):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.log = log
        self.timeout = timeout

    async def request(self, method: str, path: str, body: Any = None, accept: str | None = None) -> Any:
        headers = {"Authorization": f"token {self.token}"}
        if accept:
            headers["Accept"] = accept
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        req = HTTPRequest(
            self.api_url + path,
            method=method,
            headers=headers,
            body=data,
            request_timeout=self.timeout,
            connect_timeout=self.timeout,
            allow_nonstandard_methods=True,
        )
        try:
            resp = await AsyncHTTPClient().fetch(req)
        except HTTPClientError as exc:
            text = exc.response.body.decode("utf8", "replace")[:500] if exc.response is not None else str(exc)
            raise HubAPIError(exc.code, text) from None
        except OSError as exc:
            raise HubAPIError(0, f"cannot reach the hub at {self.api_url}: {exc}") from None
        if not resp.body:
            return None
        return json.loads(resp.body)

    async def running_servers(self) -> list[RunningServer]:
        """Every ready server of every active user (all pages)."""
        out: list[RunningServer] = []
        offset = 0
        while True:
            query = urlencode({"state": "active", "offset": offset, "limit": 200})
            page = await self.request("GET", f"/users?{query}", accept=PAGINATION)
            items = page["items"] if isinstance(page, dict) else page
            for user in items:
                groups = tuple(user.get("groups") or ())
                for name, server in (user.get("servers") or {}).items():
                    started = parse_time(server.get("started"), 0.0) or None
                    out.append(RunningServer(user["name"], name or "", started, bool(server.get("ready")), groups))
            nxt = page.get("_pagination", {}).get("next") if isinstance(page, dict) else None
            if not nxt or not items:
                return out
            offset = int(nxt.get("offset", offset + len(items)))

    async def user(self, name: str) -> dict[str, Any]:
        return dict(await self.request("GET", f"/users/{quote(name, safe='')}"))

    async def stop_server(self, user: str, server_name: str = "") -> None:
        if server_name:
            path = f"/users/{quote(user, safe='')}/servers/{quote(server_name, safe='')}"
        else:
            path = f"/users/{quote(user, safe='')}/server"
        await self.request("DELETE", path)

    async def add_to_group(self, group: str, users: list[str]) -> None:
        path = f"/groups/{quote(group, safe='')}/users"
        try:
            await self.request("POST", path, {"users": users})
        except HubAPIError as exc:
            if exc.status != 404:
                raise
            # no such group yet: create it (needs admin:groups), then add
            await self.request("POST", f"/groups/{quote(group, safe='')}", {"users": users})

    async def remove_from_group(self, group: str, users: list[str]) -> None:
        await self.request("DELETE", f"/groups/{quote(group, safe='')}/users", {"users": users})
