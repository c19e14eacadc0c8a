"""The operators' JSON API (`api/admin/...`): the same data as the pages, for scripts and exports."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
from datetime import UTC, datetime
from typing import Any

from tornado import web

from .base import AdminHandler, clear_strikes
from .db import VERDICT_COLUMNS
from .pages import _parse_expiry

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
        self.ctx.exemptions.invalidate()  # this replica's guards get it at their next sync
        self.write_json(item, 201)


class ExemptionAPI(AdminAPI):
    async def delete(self, grant_id: str) -> None:
        if not await self.ctx.write(self.ctx.store.revoke_exemption, int(grant_id), self.admin_name):
            raise web.HTTPError(404, "no such active exemption")
        self.ctx.exemptions.invalidate()
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
        outcome = await clear_strikes(self, name, str(body.get("note", "")), bool(body.get("lift_restriction")))
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
