"""The operators' pages (HTML behind hub OAuth): dashboard, timelines, exemptions, strikes,
servers and flags, the service's own audit."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from typing import Any

from tornado import web

from .base import AdminHandler, _parse_when, clear_strikes
from .charts import ACTION_COLOURS, pick_bucket, stacked_bars
from .db import Filters, iso, now
from .strikes import ladder_json


class DashboardHandler(AdminHandler):
    async def get(self) -> None:
        filters = self.filters()
        before = self.get_argument("before", None)
        limit = self.ctx.config.page_size
        # the charts cover the filter's window, or the last CHART_DAYS days up to `until` (or now)
        until = filters.until if filters.until is not None else now()
        since = filters.since if filters.since is not None else until - CHART_DAYS * 86400
        start, bucket, bars = pick_bucket(since, until)
        window = dataclasses.replace(filters, since=since, until=until)
        rows, summary, known, flags, activity, users = await asyncio.gather(
            self.ctx.read(self.ctx.store.verdicts, filters, limit, int(before) if before else None),
            self.ctx.read(self.ctx.store.summary, filters, self.ctx.config.summary_cap),
            self.ctx.read(self.ctx.store.known_values),
            self.ctx.read(self.ctx.store.flags),
            self.ctx.read(self.ctx.store.activity, window, start, bucket),
            self.ctx.read(self.ctx.store.top_users, window),
        )
        charts = [
            stacked_bars("by action", activity.by_action, start, bucket, bars, ACTION_COLOURS),
            stacked_bars("by category", activity.by_category, start, bucket, bars),
        ]
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
            activity=activity,
            charts=charts,
            top_users=users,
            window=(iso(since), iso(until), bucket_name(bucket)),
            chart_days=CHART_DAYS,
        )


CHART_DAYS = 14


def bucket_name(seconds: float) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return unit if n == 1 else f"{n} {unit}s"
    return f"{seconds:g} s"


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
        await clear_strikes(self, name, self.get_argument("note", ""), self.get_argument("lift", "") == "1")
        self.redirect(self.settings["tos_base_url"] + "users/" + name)


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
