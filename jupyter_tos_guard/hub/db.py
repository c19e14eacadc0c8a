"""Storage of the hub service: engine, schema migrations, and every query the service makes.

All methods of `Store` are synchronous and run on worker threads (one writer thread, a few
reader threads; see `handlers.ServiceContext`), never on the event loop.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sqlite3
import time as _time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Engine,
    Table,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker
from sqlalchemy.pool import StaticPool

from . import bulk, rollup
from .models import (
    AuditEvent,
    ExemptionGrant,
    Flag,
    GuardClient,
    PeriodicRun,
    Setting,
    StrikeClear,
    StrikeEvent,
    Verdict,
    VerdictTag,
)

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "tos_guard_alembic_version"
TAG_KINDS = ("rule", "category", "group", "surface")
VERDICT_COLUMNS = (
    "id",
    "received",
    "time",
    "user",
    "acting_user",
    "server_name",
    "event",
    "action",
    "policy_action",
    "mode",
    "rules",
    "categories",
    "groups",
    "excerpt",
    "code_sha256",
    "notebook_path",
    "kernel_id",
    "kernel_name",
    "msg_id",
    "channel",
    "surface",
    "policy_name",
    "policy_digest",
    "truncated",
    "error",
    "client_id",
    "seq",
)


# --- engine and migrations -----------------------------------------------------------------


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine; SQLite gets WAL, full sync (a commit the guard saw acknowledged survives a
    power cut) and a busy timeout, so readers never block the writer."""
    if url.startswith("sqlite"):
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("check_same_thread", False)
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs.setdefault("poolclass", StaticPool)
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if url.startswith("postgresql+psycopg2"):
        # the many-row UPDATEs of ingest and heartbeats in pages per round trip, not one each
        kwargs.setdefault("executemany_mode", "values_plus_batch")
        # JIT compiling costs 40-100 ms per dashboard query that then runs in a few hundred
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("options", "-c jit=off")
        kwargs["connect_args"] = connect_args
    return create_engine(url, **kwargs)


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def head_revision(engine: Engine) -> str:
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(_alembic_config(engine)).get_current_head())


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return ctx.get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or migrate the schema to `revision` (alembic, in one transaction)."""
    from alembic import command

    cfg = _alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def lock_key(name: str) -> int:
    """A PostgreSQL advisory lock key (signed 64 bits) for a name."""
    return int.from_bytes(hashlib.sha256(f"tos-guard:{name}".encode()).digest()[:8], "big", signed=True)


def advisory_xact_lock(conn: Any, name: str) -> None:
    """On PostgreSQL, wait for the lock `name`, held until the transaction ends: what several
    service processes must not do at once. Elsewhere nothing: SQLite serves one process."""
    if conn.dialect.name == "postgresql":
        conn.execute(sql_text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(name)})


@contextmanager
def schema_lock(engine: Engine) -> Iterator[None]:
    """Replicas started together on a new database: one creates the schema, the others wait."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(sql_text("SELECT pg_advisory_lock(:k)"), {"k": lock_key("schema")})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sql_text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key("schema")})
            conn.commit()


def ensure_schema(engine: Engine, allow_upgrade: bool) -> tuple[str | None, str]:
    """Bring the schema to head (or refuse). Returns (revision before, head). A new database
    is created at head; an existing one is migrated only when allowed, and a SQLite file is
    copied aside first (`<file>.<revision>.bak`), as JupyterHub does with its own database.
    Service processes on one PostgreSQL do this one at a time."""
    with schema_lock(engine):
        return _ensure_schema(engine, allow_upgrade)


def _ensure_schema(engine: Engine, allow_upgrade: bool) -> tuple[str | None, str]:
    before, head = current_revision(engine), head_revision(engine)
    if before != head:
        if not allow_upgrade and before is not None:
            raise RuntimeError(
                f"the database schema is at {before}, this version needs {head}: "
                "run `jupyter-tos-guard-hub upgrade-db` (back up the database first)"
            )
        if before is not None:
            backup_sqlite(engine, before)
        upgrade(engine)
    return before, head


def backup_sqlite(engine: Engine, revision: str) -> str | None:
    """Copy a SQLite database file aside before a migration; the copy's path, or None."""
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or not os.path.exists(database):
        return None
    target = f"{database}.{revision}.bak"
    # SQLite's own backup: consistent, and includes what the write-ahead log still holds
    source, copy = sqlite3.connect(database), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    return target


# --- helpers ---------------------------------------------------------------------------------


def now() -> float:
    return _time.time()


def parse_time(value: Any, fallback: float) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return fallback
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    return fallback


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _str_list(value: Any) -> list[str]:
    """Rule ids, categories: whitespace inside an item becomes `_` (a policy's ids have none), so
    that the space-separated strings stored split back into exactly the item's tags."""
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value if v is not None]
    elif isinstance(value, str) and value:
        items = [value]
    else:
        return []
    return ["_".join(v.split())[:255] for v in items]


def _opt_str(value: Any, limit: int | None = None) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:limit] if limit else text


@dataclass
class IngestItem:
    """One report request: records of one guard, for the user the hub identified."""

    user: str
    groups: tuple[str, ...]
    client_id: str
    server_name: str
    records: list[tuple[int, dict[str, Any]]]


@dataclass
class IngestResult:
    acked: int
    inserted: int
    duplicates: int
    gap: tuple[int, int] | None = None  # missing seq range (first, last), when records were lost


@dataclass
class Filters:
    user: str | None = None
    group: str | None = None
    category: str | None = None
    rule: str | None = None
    surface: str | None = None  # cell, debugger, process, terminal, file
    action: str | None = None
    event: str | None = None
    server_name: str | None = None
    since: float | None = None
    until: float | None = None

    @property
    def tags(self) -> list[tuple[str, str]]:
        pairs = (("rule", self.rule), ("category", self.category), ("group", self.group), ("surface", self.surface))
        return [(k, v) for k, v in pairs if v]

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}


@dataclass
class LadderStep:
    name: str
    actions: tuple[str, ...]
    count: int
    window: float
    response: str
    groups: tuple[str, ...] = ()

    RESPONSES = ("notify", "restrict", "stop")

    @classmethod
    def parse(cls, raw: Any) -> LadderStep:
        if not isinstance(raw, dict):
            raise ValueError(f"a ladder step must be a mapping, not {raw!r}")
        unknown = set(raw) - {"name", "actions", "count", "window", "response", "groups"}
        if unknown:
            raise ValueError(f"unknown ladder step keys: {sorted(unknown)}")
        name = str(raw.get("name") or "").strip()
        actions = tuple(str(a) for a in raw.get("actions") or ())
        response = str(raw.get("response") or "")
        try:
            count, window = int(raw.get("count", 0)), float(raw.get("window", 0))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"step {name!r}: count and window must be numbers") from exc
        if not name:
            raise ValueError("every ladder step needs a name")
        if not actions:
            raise ValueError(f"step {name!r}: list the audit actions it counts")
        if count < 1 or window <= 0:
            raise ValueError(f"step {name!r}: count must be >= 1 and window > 0 seconds")
        if response not in cls.RESPONSES:
            raise ValueError(f"step {name!r}: response must be one of {', '.join(cls.RESPONSES)}")
        return cls(name, actions, count, window, response, tuple(str(g) for g in raw.get("groups") or ()))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "actions": list(self.actions),
            "count": self.count,
            "window": self.window,
            "response": self.response,
        }
        if self.groups:
            out["groups"] = list(self.groups)
        return out


def parse_ladder(raw: Any) -> list[LadderStep]:
    if not isinstance(raw, list):
        raise ValueError("the ladder must be a list of steps")
    steps = [LadderStep.parse(s) for s in raw]
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise ValueError("ladder step names must be unique")
    return steps


@dataclass
class StrikeStatus:
    step: LadderStep
    count: int
    since: float
    fires: bool


@dataclass
class Summary:
    total: int
    by_action: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    capped: bool = False  # counted over the newest `total` matches only


@dataclass
class _Counts:
    """A `Summary` being counted: a verdict's action, and each of its space-separated categories."""

    total: int = 0
    by_action: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)

    def add(self, action: str | None, categories: str | None, n: int) -> None:
        self.total += n
        key = str(action)
        self.by_action[key] = self.by_action.get(key, 0) + n
        for c in (categories or "").split():
            self.by_category[c] = self.by_category.get(c, 0) + n

    def summary(self, capped: bool = False) -> Summary:
        def ranked(d: dict[str, int]) -> dict[str, int]:
            return dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))

        return Summary(self.total, ranked(self.by_action), ranked(self.by_category), capped=capped)


# --- the store ---------------------------------------------------------------------------------


def _outcome(detail: str) -> str | None:
    try:
        value = json.loads(detail)
    except ValueError:
        return None
    return value.get("outcome") if isinstance(value, dict) else None


class Store:
    def __init__(self, engine: Engine, default_ladder: Sequence[dict[str, Any]] = ()):
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.default_ladder = list(default_ladder)
        self._ladder: list[LadderStep] | None = None
        self._ladder_read = 0.0

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    # --- ingest ------------------------------------------------------------------------

    def ingest(self, items: Sequence[IngestItem]) -> list[IngestResult]:
        """Store many report requests in ONE transaction (group commit), in order.

        A record whose seq the guard already delivered is a retry and is skipped, so a
        request that timed out on the guard's side and is sent again (to this or another
        service process) is stored once. Two processes storing a new guard's first records at
        once: one fails on the primary key, and `GroupCommit` retries it, as a duplicate.
        (Core statements, a handful per transaction whatever the number of requests.)
        """
        results: list[IngestResult] = []
        received = now()
        rows: list[dict[str, Any]] = []
        row_tags: list[list[tuple[str, str]]] = []
        ct = cast(Table, GuardClient.__table__)
        with self.session() as s:
            conn = s.connection()
            wanted = {item.client_id for item in items}
            state: dict[str, dict[str, Any]] = {
                r.client_id: {"user": r.user, "max_seq": r.max_seq, "server_name": r.server_name, "new": False}
                # FOR UPDATE (PostgreSQL; SQLite has one writer): another service process storing
                # the same guard's retry waits here and then sees these records as duplicates,
                # neither storing them twice nor taking them for a hole in the numbering
                for r in conn.execute(
                    select(ct.c.client_id, ct.c.user, ct.c.max_seq, ct.c.server_name)
                    .where(ct.c.client_id.in_(wanted))
                    .order_by(ct.c.client_id)
                    .with_for_update()
                )
            }
            for item in items:
                client = state.get(item.client_id)
                if client is None:
                    client = state[item.client_id] = {
                        "user": item.user,
                        "max_seq": 0,
                        "server_name": item.server_name,
                        "new": True,
                    }
                elif client["user"] != item.user:
                    raise PermissionError(f"client {item.client_id} belongs to another user")
                inserted = duplicates = 0
                gap = None
                acked = client["max_seq"]
                for seq, record in sorted(item.records, key=lambda r: r[0]):
                    if seq <= client["max_seq"]:
                        duplicates += 1
                        continue
                    if seq > client["max_seq"] + 1 and gap is None:
                        gap = (client["max_seq"] + 1, seq - 1)
                    client["max_seq"] = acked = seq
                    row, tags = self._verdict_row(item, seq, record, received)
                    rows.append(row)
                    row_tags.append(tags)
                    inserted += 1
                if item.server_name:
                    client["server_name"] = item.server_name
                results.append(IngestResult(acked, inserted, duplicates, gap))
            new = [
                {
                    "client_id": cid,
                    "user": c["user"],
                    "server_name": c["server_name"] or "",
                    "first_seen": received,
                    "last_report": received,
                    "max_seq": c["max_seq"],
                }
                for cid, c in state.items()
                if c["new"]
            ]
            if new:
                conn.execute(insert(ct), new)
            old = [
                {"cid": cid, "ms": c["max_seq"], "sn": c["server_name"] or ""}
                for cid, c in state.items()
                if not c["new"]
            ]
            postgres = conn.dialect.name == "postgresql"
            if old and postgres:
                bulk.update_clients(conn, ct, old, received)
            elif old:
                conn.execute(
                    update(ct)
                    .where(ct.c.client_id == bindparam("cid"))
                    .values(max_seq=bindparam("ms"), server_name=bindparam("sn"), last_report=received),
                    old,
                )
            if rows:
                vt = cast(Table, Verdict.__table__)
                tt = cast(Table, VerdictTag.__table__)
                if postgres:
                    bulk.insert_verdicts(conn, vt, tt, rows, row_tags)
                else:
                    ids = (
                        conn.execute(insert(vt).returning(vt.c.id, sort_by_parameter_order=True), rows).scalars().all()
                    )
                    tag_rows = [
                        {"verdict_id": vid, "kind": k, "value": v}
                        for vid, tags in zip(ids, row_tags, strict=True)
                        for k, v in tags
                    ]
                    if tag_rows:
                        conn.execute(insert(tt), tag_rows)
                rollup.add(conn, rows, row_tags)
            for item, result in zip(items, results, strict=True):
                if result.gap:
                    self._raise_flag(
                        s,
                        item.user,
                        item.server_name,
                        "report-gap",
                        f"reports {result.gap[0]}..{result.gap[1]} of guard {item.client_id} never arrived",
                        received,
                    )
        return results

    @staticmethod
    def _verdict_row(
        item: IngestItem, seq: int, record: dict[str, Any], received: float
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        rules = _str_list(record.get("rules"))
        categories = _str_list(record.get("categories"))
        claimed = record.get("user")
        row = {
            "received": received,
            "time": min(parse_time(record.get("time"), received), received),
            "user": item.user,
            "acting_user": str(claimed)[:255] if claimed and claimed != item.user else None,
            "server_name": item.server_name,
            "client_id": item.client_id,
            "seq": seq,
            "event": (_opt_str(record.get("event"), 32) or "unknown"),
            "action": _opt_str(record.get("action"), 32),
            "policy_action": _opt_str(record.get("policy_action"), 32),
            "mode": _opt_str(record.get("mode"), 16),
            "rules": " ".join(rules),
            "categories": " ".join(categories),
            "groups": " ".join(item.groups),
            "excerpt": _opt_str(record.get("excerpt"), 4000),
            "code_sha256": _opt_str(record.get("code_sha256"), 64),
            "notebook_path": _opt_str(record.get("notebook_path"), 4000),
            "kernel_id": _opt_str(record.get("kernel_id"), 64),
            "kernel_name": _opt_str(record.get("kernel_name"), 255),
            "msg_id": _opt_str(record.get("msg_id"), 255),
            "channel": _opt_str(record.get("channel"), 32),
            "surface": _opt_str(record.get("surface"), 16),
            "policy_name": _opt_str(record.get("policy_name"), 255),
            "policy_digest": _opt_str(record.get("policy_digest"), 64),
            "truncated": bool(record.get("truncated")),
            "error": _opt_str(record.get("error"), 8000),
            "raw": json.dumps(record, ensure_ascii=False, default=str)[:65536],
        }
        tags = [("rule", r) for r in dict.fromkeys(rules)] + [("category", c) for c in dict.fromkeys(categories)]
        tags += [("group", g[:255]) for g in dict.fromkeys(item.groups)]
        surface = row["surface"]
        if isinstance(surface, str) and surface:
            tags.append(("surface", surface))
        return row, tags

    def heartbeat(self, user: str, client_id: str, body: dict[str, Any]) -> None:
        result = self.heartbeats([(user, client_id, body)])[0]
        if result is not None:
            raise result

    def heartbeats(self, items: Sequence[tuple[str, str, dict[str, Any]]]) -> list[PermissionError | None]:
        """Store many guards' heartbeats (user, client_id, body) in one transaction; for each,
        None or the PermissionError of a client id that belongs to another user."""
        t = now()
        out: list[PermissionError | None] = []
        with self.session() as s:
            if s.get_bind().dialect.name == "postgresql":
                # a heartbeat lost to a crash is replaced by the next one: not worth a WAL flush
                s.execute(sql_text("SET LOCAL synchronous_commit = off"))
            ids = sorted({cid for _, cid, _ in items})
            clients = {
                c.client_id: c
                for c in s.execute(
                    select(GuardClient)
                    .where(GuardClient.client_id.in_(ids))
                    .order_by(GuardClient.client_id)
                    .with_for_update()
                ).scalars()
            }
            for user, client_id, body in items:
                client = clients.get(client_id)
                if client is None:
                    client = clients[client_id] = GuardClient(client_id=client_id, user=user, first_seen=t, max_seq=0)
                    s.add(client)
                elif client.user != user:
                    out.append(PermissionError(f"client {client_id} belongs to another user"))
                    continue
                client.server_name = _opt_str(body.get("server_name"), 255) or ""
                client.last_heartbeat = t
                client.version = _opt_str(body.get("version"), 64)
                client.policy_name = _opt_str(body.get("policy_name"), 255)
                client.policy_digest = _opt_str(body.get("policy_digest"), 64)
                client.central_policy_sha256 = _opt_str(body.get("central_policy_sha256"), 64)
                client.mode = _opt_str(body.get("mode"), 16)
                pending = body.get("queue_pending")
                client.queue_pending = int(pending) if isinstance(pending, int) else None
                client.info = json.dumps(body, default=str)[:65536]
                out.append(None)
        return out

    # --- verdict queries -------------------------------------------------------------------

    def _query(self, filters: Filters, columns: Sequence[Any]) -> tuple[Any, Any]:
        """The filtered select and the column it is ordered by (newest first).

        The order column picks the index that drives the query: with a tag filter (rule,
        category or group) the tag index `(kind, value, verdict_id)` walked backwards, so a
        page of the newest matches costs a page of index entries, not a sort of every match;
        otherwise the verdicts' primary key (with `(user, id)` or `(action, id)` when those
        filters are given).
        """
        tags = filters.tags
        if tags:
            t0 = aliased(VerdictTag, name="t0")
            q = (
                select(*columns)
                .select_from(t0)
                .join(Verdict, Verdict.id == t0.verdict_id)
                .where(t0.kind == tags[0][0], t0.value == tags[0][1])
            )
            for i, (kind, value) in enumerate(tags[1:], start=1):
                tag = aliased(VerdictTag, name=f"t{i}")
                q = q.join(tag, and_(tag.verdict_id == t0.verdict_id, tag.kind == kind, tag.value == value))
            order = t0.verdict_id
        else:
            q = select(*columns).select_from(Verdict)
            order = Verdict.id
        if filters.user:
            q = q.where(Verdict.user == filters.user)
        if filters.action:
            q = q.where(Verdict.action == filters.action)
        if filters.event:
            q = q.where(Verdict.event == filters.event)
        if filters.server_name is not None and filters.server_name != "":
            q = q.where(Verdict.server_name == filters.server_name)
        if filters.since is not None:
            q = q.where(Verdict.time >= filters.since)
        if filters.until is not None:
            q = q.where(Verdict.time < filters.until)
        return q, order

    def verdicts(
        self, filters: Filters, limit: int = 100, before: int | None = None, oldest_first: bool = False
    ) -> list[dict[str, Any]]:
        """The main dashboard query: a page of matching verdicts, newest first (keyset paging)."""
        q, order = self._query(filters, [getattr(Verdict, c) for c in VERDICT_COLUMNS])
        if before is not None:
            q = q.where(order > before) if oldest_first else q.where(order < before)
        q = q.order_by(order.asc() if oldest_first else order.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [self._row_dict(r) for r in conn.execute(q)]

    def iter_verdicts(self, filters: Filters, limit: int, chunk: int = 5000) -> Iterator[dict[str, Any]]:
        """All matching verdicts, oldest first, in chunks (for exports)."""
        after: int | None = 0
        sent = 0
        while sent < limit:
            page = self.verdicts(filters, min(chunk, limit - sent), before=after, oldest_first=True)
            if not page:
                return
            yield from page
            sent += len(page)
            after = page[-1]["id"]

    def summary(self, filters: Filters, cap: int = 50_000, use_rollup: bool = True) -> Summary:
        """Counts by action and by category of the matching verdicts.

        Every match is counted, from the rollups (`rollup.py`: the window's whole weeks, days and
        hours, and its partial edges from the raw table), when they can answer the filter: a
        count of raw rows would read a heap row per match, seconds for a rule or group filter
        over a large table before it is in memory. A filter they cannot answer (a user, a
        server) reads the raw table: all of its matches when there are at most `cap`, else the
        newest `cap` (`capped`), so that any filter answers in bounded time."""
        if use_rollup and rollup.serves(filters):
            return self._summary_from_rollups(filters)
        only_time = (filters.since is not None or filters.until is not None) and not (
            filters.tags or filters.user or filters.action or filters.event or filters.server_name
        )
        counts = _Counts()
        capped = False
        with self.engine.connect() as conn:
            # with a tag filter and `since`, only the window's part of the tag index (see
            # `_window_query`): not every match since the first report
            q, order = self._window(conn, filters, [Verdict.action, Verdict.categories])
            # a time window alone: walk the time index, not the whole table by id
            q = q.order_by(Verdict.time.desc() if only_time else order.desc()).limit(cap + 1)
            for action, categories in conn.execute(q):
                if counts.total == cap:
                    capped = True
                    break
                counts.add(action, categories, 1)
        return counts.summary(capped)

    def _summary_from_rollups(self, filters: Filters) -> Summary:
        counts = _Counts()
        with self.engine.connect() as conn:
            since, until = filters.since, filters.until
            if since is None or until is None:
                # the stored verdicts' first and last time (two walks of the time index)
                first = conn.execute(select(func.min(Verdict.time))).scalar()
                if first is None:
                    return counts.summary()
                last = float(conn.execute(select(func.max(Verdict.time))).scalar_one())
                since = first if since is None else since
                until = math.nextafter(last, math.inf) if until is None else until
            if since < until:
                # one bucket holding the whole window, on the edges of the rollups' weeks
                start = rollup.hour_of(since, rollup.WEEK) * rollup.WEEK
                bucket = (rollup.hour_of(until, rollup.WEEK) + 1) * rollup.WEEK - start
                window = dataclasses.replace(filters, since=since, until=until)
                for _, action, _, categories, _, n in self._activity_parts(conn, window, start, bucket, True):
                    counts.add(action, categories, n)
        return counts.summary()

    @staticmethod
    def _row_dict(row: Any) -> dict[str, Any]:
        d = dict(row._mapping)
        d["time_iso"] = iso(d["time"])
        d["received_iso"] = iso(d["received"])
        d["rules"] = d["rules"].split() if d["rules"] else []
        d["categories"] = d["categories"].split() if d["categories"] else []
        d["groups"] = d["groups"].split() if d["groups"] else []
        return d

    def verdict_count(self) -> int:
        with self.sessions() as s:
            return int(s.execute(select(func.count()).select_from(Verdict)).scalar_one())

    def known_values(self) -> dict[str, list[str]]:
        """Users, groups, categories, rules and actions seen, for the filter form's suggestions."""
        out: dict[str, list[str]] = {}
        # the distinct values by hopping along the tag index (one probe per value, a "loose
        # index scan"), not DISTINCT over every tag row: 40 groups cost 40 probes, not 16 million rows
        hop = sql_text(
            "WITH RECURSIVE v(value) AS ("
            " SELECT (SELECT min(value) FROM tos_verdict_tags WHERE kind = :kind)"
            " UNION ALL"
            " SELECT (SELECT min(t.value) FROM tos_verdict_tags t WHERE t.kind = :kind AND t.value > v.value)"
            " FROM v WHERE v.value IS NOT NULL"
            ") SELECT value FROM v WHERE value IS NOT NULL LIMIT 500"
        )
        with self.sessions() as s:
            for kind in TAG_KINDS:
                out[kind] = [str(v) for v in s.execute(hop, {"kind": kind}).scalars()]
            out["user"] = list(
                s.execute(select(GuardClient.user).distinct().order_by(GuardClient.user).limit(2000)).scalars()
            )
        out["action"] = ["log", "warn", "confirm", "acknowledged", "block", "exempted", "allow"]
        return out

    # --- guards and flags -------------------------------------------------------------------

    def clients(self) -> list[dict[str, Any]]:
        with self.sessions() as s:
            rows = (
                s.execute(
                    select(GuardClient).order_by(
                        GuardClient.user, GuardClient.server_name, GuardClient.last_heartbeat.desc()
                    )
                )
                .scalars()
                .all()
            )
            return [{c.name: getattr(r, c.name) for c in GuardClient.__table__.columns} for r in rows]

    def latest_heartbeats(self) -> dict[tuple[str, str], float]:
        with self.sessions() as s:
            q = select(GuardClient.user, GuardClient.server_name, func.max(GuardClient.last_heartbeat)).group_by(
                GuardClient.user, GuardClient.server_name
            )
            return {(u, n or ""): t for u, n, t in s.execute(q) if t is not None}

    def central_digests(self) -> dict[tuple[str, str], tuple[float, str | None]]:
        """(user, server) -> (last heartbeat, central policy sha256 reported) of the latest guard."""
        out: dict[tuple[str, str], tuple[float, str | None]] = {}
        with self.sessions() as s:
            for u, n, t, sha in s.execute(
                select(
                    GuardClient.user,
                    GuardClient.server_name,
                    GuardClient.last_heartbeat,
                    GuardClient.central_policy_sha256,
                )
            ):
                if t is None:
                    continue
                key = (u, n or "")
                if key not in out or out[key][0] < t:
                    out[key] = (t, sha)
        return out

    def _raise_flag(self, s: Session, user: str, server_name: str, reason: str, detail: str, t: float) -> bool:
        existing = (
            s.execute(
                select(Flag).where(
                    Flag.resolved.is_(None), Flag.user == user, Flag.server_name == server_name, Flag.reason == reason
                )
            )
            .scalars()
            .first()
        )
        if existing is not None:
            existing.last_seen = t
            if reason != "report-gap":
                existing.detail = detail
            else:
                existing.detail = (existing.detail + "; " + detail)[-4000:]
            return False
        s.add(Flag(user=user, server_name=server_name, reason=reason, detail=detail, raised=t, last_seen=t))
        s.add(
            AuditEvent(
                time=t,
                actor="service",
                action="flag_raised",
                subject=_server_label(user, server_name),
                detail=json.dumps({"reason": reason, "detail": detail}),
            )
        )
        return True

    def sync_flags(
        self, reason: str, current: dict[tuple[str, str], str]
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Make the open flags of `reason` exactly `current` ((user, server) -> detail).

        Returns (raised, resolved) servers. One process at a time (a manual check on one
        replica and the periodic one on another raise each flag once).
        """
        t = now()
        raised: list[tuple[str, str]] = []
        resolved: list[tuple[str, str]] = []
        with self.session() as s:
            advisory_xact_lock(s.connection(), f"flags:{reason}")
            for (user, server), detail in current.items():
                if self._raise_flag(s, user, server, reason, detail, t):
                    raised.append((user, server))
            for flag in s.execute(select(Flag).where(Flag.resolved.is_(None), Flag.reason == reason)).scalars():
                if (flag.user, flag.server_name) not in current:
                    flag.resolved = t
                    resolved.append((flag.user, flag.server_name))
                    s.add(
                        AuditEvent(
                            time=t,
                            actor="service",
                            action="flag_resolved",
                            subject=_server_label(flag.user, flag.server_name),
                            detail=json.dumps({"reason": reason}),
                        )
                    )
        return raised, resolved

    def resolve_flag(self, flag_id: int, by: str) -> bool:
        t = now()
        with self.session() as s:
            flag = s.get(Flag, flag_id)
            if flag is None or flag.resolved is not None:
                return False
            flag.resolved = t
            s.add(
                AuditEvent(
                    time=t,
                    actor=by,
                    action="flag_resolved",
                    subject=_server_label(flag.user, flag.server_name),
                    detail=json.dumps({"reason": flag.reason, "id": flag_id}),
                )
            )
            return True

    def flags(self, open_only: bool = True, limit: int = 500) -> list[dict[str, Any]]:
        with self.sessions() as s:
            q = select(Flag)
            if open_only:
                q = q.where(Flag.resolved.is_(None))
            rows = s.execute(q.order_by(Flag.id.desc()).limit(limit)).scalars().all()
            return [{c.name: getattr(r, c.name) for c in Flag.__table__.columns} for r in rows]

    # --- exemptions -------------------------------------------------------------------------

    def add_exemption(
        self,
        subject_kind: str,
        subject: str,
        rule: str | None,
        category: str | None,
        reason: str,
        expires: float | None,
        by: str,
    ) -> dict[str, Any]:
        if subject_kind not in ("user", "group"):
            raise ValueError("an exemption is for a user or a group")
        subject = subject.strip()
        if not subject:
            raise ValueError("name the user or group")
        rule = (rule or "").strip() or None
        category = (category or "").strip() or None
        if rule is None and category is None:
            raise ValueError("an exemption needs a rule (id or glob) or a category")
        if not reason or not reason.strip():
            raise ValueError("give a reason")
        t = now()
        if expires is not None and expires <= t:
            raise ValueError("the expiry is in the past")
        with self.session() as s:
            grant = ExemptionGrant(
                subject_kind=subject_kind,
                subject=subject,
                rule=rule,
                category=category,
                reason=reason.strip(),
                expires=expires,
                created=t,
                created_by=by,
            )
            s.add(grant)
            s.flush()
            d = _exemption_dict(grant)
            s.add(
                AuditEvent(
                    time=t,
                    actor=by,
                    action="exemption_granted",
                    subject=f"{subject_kind}:{subject}",
                    detail=json.dumps(d),
                )
            )
        return d

    def revoke_exemption(self, grant_id: int, by: str) -> bool:
        t = now()
        with self.session() as s:
            grant = s.get(ExemptionGrant, grant_id)
            if grant is None or grant.revoked is not None:
                return False
            grant.revoked, grant.revoked_by = t, by
            s.add(
                AuditEvent(
                    time=t,
                    actor=by,
                    action="exemption_revoked",
                    subject=f"{grant.subject_kind}:{grant.subject}",
                    detail=json.dumps(_exemption_dict(grant)),
                )
            )
            return True

    def exemptions(
        self, include_inactive: bool = False, subject: tuple[str, str] | None = None
    ) -> list[dict[str, Any]]:
        t = now()
        with self.sessions() as s:
            q = select(ExemptionGrant)
            if not include_inactive:
                q = q.where(
                    ExemptionGrant.revoked.is_(None), or_(ExemptionGrant.expires.is_(None), ExemptionGrant.expires > t)
                )
            if subject:
                q = q.where(ExemptionGrant.subject_kind == subject[0], ExemptionGrant.subject == subject[1])
            return [_exemption_dict(g) for g in s.execute(q.order_by(ExemptionGrant.id.desc())).scalars()]

    def exemptions_for(self, user: str, groups: Iterable[str]) -> list[dict[str, Any]]:
        """The active exemptions of this user and of the groups they belong to (what a guard fetches)."""
        t = now()
        groups = list(groups)
        with self.sessions() as s:
            cond = and_(ExemptionGrant.subject_kind == "user", ExemptionGrant.subject == user)
            if groups:
                cond = or_(cond, and_(ExemptionGrant.subject_kind == "group", ExemptionGrant.subject.in_(groups)))
            q = select(ExemptionGrant).where(
                cond,
                ExemptionGrant.revoked.is_(None),
                or_(ExemptionGrant.expires.is_(None), ExemptionGrant.expires > t),
            )
            return [_exemption_dict(g) for g in s.execute(q.order_by(ExemptionGrant.id)).scalars()]

    # --- settings, strikes ------------------------------------------------------------------

    ladder_max_age = 5.0  # seconds: a ladder changed through another service process applies here after this

    def ladder(self) -> list[LadderStep]:
        """The ladder in force (cached for `ladder_max_age`)."""
        cached = self._ladder
        if cached is not None and _time.monotonic() - self._ladder_read < self.ladder_max_age:
            return cached
        with self.sessions() as s:
            setting = s.get(Setting, "strike_ladder")
            raw = json.loads(setting.value) if setting else self.default_ladder
        self._ladder = parse_ladder(raw)
        self._ladder_read = _time.monotonic()
        return self._ladder

    def counted_actions(self) -> frozenset[str]:
        """Every audit action some ladder step counts (reports with none need no evaluation)."""
        return frozenset(a for step in self.ladder() for a in step.actions)

    def set_ladder(self, raw: Any, by: str) -> list[LadderStep]:
        steps = parse_ladder(raw)
        value = json.dumps([st.as_dict() for st in steps])
        t = now()
        with self.session() as s:
            setting = s.get(Setting, "strike_ladder")
            if setting is None:
                s.add(Setting(key="strike_ladder", value=value, updated=t, updated_by=by))
            else:
                setting.value, setting.updated, setting.updated_by = value, t, by
            s.add(AuditEvent(time=t, actor=by, action="ladder_changed", subject="", detail=value))
        self._ladder, self._ladder_read = steps, _time.monotonic()
        return steps

    def clear_strikes(self, user: str, by: str, note: str = "") -> None:
        t = now()
        with self.session() as s:
            s.add(StrikeClear(user=user, time=t, by=by, note=note))
            s.add(
                AuditEvent(time=t, actor=by, action="strikes_cleared", subject=user, detail=json.dumps({"note": note}))
            )

    def strike_status(
        self, user: str, groups: Iterable[str], ladder: Sequence[LadderStep] | None = None, conn: Any = None
    ) -> list[StrikeStatus]:
        """For each ladder step that applies to the user: matches counted since the window
        start, the last clear and the step's last firing (whichever is latest)."""
        return self.strike_statuses([(user, tuple(groups))], ladder, conn)[user]

    def strike_statuses(
        self,
        users: Sequence[tuple[str, tuple[str, ...]]],
        ladder: Sequence[LadderStep] | None = None,
        conn: Any = None,
    ) -> dict[str, list[StrikeStatus]]:
        """`strike_status` of many users (name, groups) at once: a handful of queries whatever
        their number (a burst of blocked cells from a class is one evaluation every
        `Strikes.delay`, not one per student)."""
        t = now()
        ladder = self.ladder() if ladder is None else ladder
        steps = {
            user: [step for step in ladder if not step.groups or set(groups) & set(step.groups)]
            for user, groups in users
        }
        out: dict[str, list[StrikeStatus]] = {user: [] for user in steps}
        names = sorted(user for user, mine in steps.items() if mine)
        if not names:
            return out
        se, sc, vt = StrikeEvent.__table__.c, StrikeClear.__table__.c, Verdict.__table__.c
        with self.engine.connect() if conn is None else nullcontext(conn) as conn:
            cleared: dict[str, float] = dict(
                conn.execute(select(sc.user, func.max(sc.time)).where(sc.user.in_(names)).group_by(sc.user)).all()
            )
            fired: dict[tuple[str, str], float] = {
                (u, step): last
                for u, step, last in conn.execute(
                    select(se.user, se.step, func.max(se.time)).where(se.user.in_(names)).group_by(se.user, se.step)
                )
            }
            # `time` is clamped to the arrival time, so late replays of old records count in
            # their own window, and nothing from before a clear or a firing counts again
            since = {
                (user, step.name): max(t - step.window, cleared.get(user) or 0.0, fired.get((user, step.name)) or 0.0)
                for user in names
                for step in steps[user]
            }
            counts: dict[tuple[str, str], int] = {}
            for step in ladder:
                who = [user for user in names if step in steps[user]]
                if not who:
                    continue
                if conn.dialect.name == "postgresql":
                    found = bulk.count_since(conn, who, [since[(u, step.name)] for u in who], step.actions)
                else:
                    found = {
                        u: int(
                            conn.execute(
                                select(func.count())
                                .select_from(Verdict.__table__)
                                .where(vt.user == u, vt.action.in_(step.actions), vt.time > since[(u, step.name)])
                            ).scalar_one()
                        )
                        for u in who
                    }
                counts.update(((u, step.name), found.get(u, 0)) for u in who)
        for user in names:
            for step in steps[user]:
                count = counts[(user, step.name)]
                out[user].append(StrikeStatus(step, count, since[(user, step.name)], count >= step.count))
        return out

    def claim_strikes(self, user: str, groups: Iterable[str]) -> list[tuple[int, StrikeStatus]]:
        """The steps the user has reached, each recorded at once as a strike event with outcome
        `pending` (its id returned), under a per-user lock: the event starts the step's next
        window, so another service process evaluating the same user after this one finds nothing
        to fire. `finish_strike` records what the response did."""
        return self.claim_strikes_of([(user, tuple(groups))])[user]

    def claim_strikes_of(
        self, users: Sequence[tuple[str, tuple[str, ...]]]
    ) -> dict[str, list[tuple[int, StrikeStatus]]]:
        """`claim_strikes` of many users (name, groups) in one transaction, their locks taken in
        the order of their names (two processes claiming for overlapping users wait, never
        deadlock)."""
        t = now()
        out: dict[str, list[tuple[int, StrikeStatus]]] = {user: [] for user, _ in users}
        table = cast(Table, StrikeEvent.__table__)
        with self.session() as s:
            conn = s.connection()
            for user in sorted(out):
                advisory_xact_lock(conn, f"strikes:{user}")
            firing = [
                (user, status)
                for user, statuses in self.strike_statuses(users, conn=conn).items()
                for status in statuses
                if status.fires
            ]
            if not firing:
                return out
            rows = [
                {
                    "time": t,
                    "user": user,
                    "step": status.step.name,
                    "response": status.step.response,
                    "count": status.count,
                    "outcome": "pending",
                    "detail": "",
                }
                for user, status in firing
            ]
            ids = conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars().all()
            for event_id, (user, status) in zip(ids, firing, strict=True):
                out[user].append((int(event_id), status))
        return out

    def finish_strike(self, event_id: int, outcome: str, detail: str) -> None:
        self.finish_strikes([(event_id, outcome, detail)])

    def finish_strikes(self, items: Sequence[tuple[int, str, str]]) -> list[None]:
        """What the responses of claimed strike events (id, outcome, detail) did, each audited,
        in one transaction (one result per item, for `GroupCommit`). An event cleared
        meanwhile is skipped."""
        t = now()
        table, audit = cast(Table, StrikeEvent.__table__), cast(Table, AuditEvent.__table__)
        with self.session() as s:
            conn = s.connection()
            ids = sorted({event_id for event_id, _, _ in items})
            events = {
                r.id: r
                for r in conn.execute(
                    select(table.c.id, table.c.user, table.c.step, table.c.count, table.c.response).where(
                        table.c.id.in_(ids)
                    )
                )
            }
            done = [(events[event_id], outcome, detail) for event_id, outcome, detail in items if event_id in events]
            if done:
                conn.execute(
                    update(table)
                    .where(table.c.id == bindparam("eid"))
                    .values(outcome=bindparam("o"), detail=bindparam("d")),
                    [{"eid": e.id, "o": outcome, "d": detail} for e, outcome, detail in done],
                )
                conn.execute(
                    insert(audit),
                    [
                        {
                            "time": t,
                            "actor": "service",
                            "action": f"strike_{e.response}",
                            "subject": e.user,
                            "detail": json.dumps(
                                {"step": e.step, "count": e.count, "outcome": outcome, "detail": detail}
                            ),
                        }
                        for e, outcome, detail in done
                    ],
                )
        return [None] * len(items)

    def claim_period(self, name: str, interval: float, holder: str) -> bool:
        """True when this process may run the periodic job `name` now: none ran it within the
        last `interval` (less 10 %, for timer drift). One atomic UPDATE (or the first INSERT), so of
        several service processes ticking at the same interval, one wins each period."""
        t = now()
        table = cast(Table, PeriodicRun.__table__)
        with self.session() as s:
            conn = s.connection()
            claimed = cast(
                CursorResult[Any],
                conn.execute(
                    update(table)
                    .where(table.c.name == name, table.c.last_run <= t - 0.9 * interval)
                    .values(last_run=t, holder=holder)
                ),
            ).rowcount
            if claimed:
                return True
            if conn.execute(select(table.c.name).where(table.c.name == name)).first() is not None:
                return False
            try:
                with s.begin_nested():
                    conn.execute(insert(table).values(name=name, last_run=t, holder=holder))
            except IntegrityError:  # another process inserted it first
                return False
            return True

    def record_strike(self, user: str, step: LadderStep, count: int, outcome: str, detail: str) -> None:
        t = now()
        with self.session() as s:
            s.add(
                StrikeEvent(
                    time=t,
                    user=user,
                    step=step.name,
                    response=step.response,
                    count=count,
                    outcome=outcome,
                    detail=detail,
                )
            )
            s.add(
                AuditEvent(
                    time=t,
                    actor="service",
                    action=f"strike_{step.response}",
                    subject=user,
                    detail=json.dumps({"step": step.name, "count": count, "outcome": outcome, "detail": detail}),
                )
            )

    def strike_events(self, user: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        with self.sessions() as s:
            q = select(StrikeEvent)
            if user:
                q = q.where(StrikeEvent.user == user)
            rows = s.execute(q.order_by(StrikeEvent.id.desc()).limit(limit)).scalars().all()
            return [{c.name: getattr(r, c.name) for c in StrikeEvent.__table__.columns} for r in rows]

    def ladder_restricted(self) -> set[str]:
        """Users the strike ladder restricted and no admin has lifted since (read from the
        audit trail, which every replica writes): the groups the hub's cached answer for a
        token may not show yet."""
        with self.sessions() as s:
            rows = s.execute(
                select(AuditEvent.subject, AuditEvent.action, AuditEvent.detail)
                .where(AuditEvent.action.in_(("strike_restrict", "restriction_lifted")))
                .order_by(AuditEvent.id)
            ).all()
        restricted: set[str] = set()
        for subject, action, detail in rows:
            if action == "restriction_lifted":
                restricted.discard(subject)
            elif _outcome(detail) == "done":
                restricted.add(subject)
        return restricted

    # --- retention ----------------------------------------------------------------------------

    def purge(self, older_than: float, batch: int = 5000) -> int:
        """Delete verdicts (their excerpts of students' code included) received before
        `older_than` (epoch seconds), in batches so no transaction holds the table for long;
        their tags go with them. Returns how many were deleted; the purge is audited."""
        deleted = self._delete_in_batches(Verdict.received < older_than, batch)
        if deleted:
            self.audit("service", "purge", "verdicts", {"deleted": deleted, "received_before": iso(older_than)})
        return deleted

    def _delete_in_batches(self, where: Any, batch: int) -> int:
        """Delete the matching verdicts, their tags and their counts in the rollups, a batch of
        ids at a time: the ids are fixed before anything is changed, so a verdict stored
        meanwhile that also matches is neither deleted uncounted nor counted out undeleted."""
        deleted = 0
        while True:
            with self.session() as s:
                ids = list(s.execute(select(Verdict.id).where(where).order_by(Verdict.id).limit(batch)).scalars().all())
                if not ids:
                    break
                rollup.subtract(s.connection(), Verdict.id.in_(ids))
                s.execute(delete(VerdictTag).where(VerdictTag.verdict_id.in_(ids)))
                s.execute(delete(Verdict).where(Verdict.id.in_(ids)))
            deleted += len(ids)
        return deleted

    # --- audit ------------------------------------------------------------------------------

    def audit(self, actor: str, action: str, subject: str = "", detail: dict[str, Any] | None = None) -> None:
        with self.session() as s:
            s.add(
                AuditEvent(
                    time=now(),
                    actor=actor,
                    action=action,
                    subject=subject,
                    detail=json.dumps(detail or {}, default=str),
                )
            )

    def audit_events(self, limit: int = 200, subject: str | None = None) -> list[dict[str, Any]]:
        with self.sessions() as s:
            q = select(AuditEvent)
            if subject:
                q = q.where(AuditEvent.subject == subject)
            rows = s.execute(q.order_by(AuditEvent.id.desc()).limit(limit)).scalars().all()
            return [{c.name: getattr(r, c.name) for c in AuditEvent.__table__.columns} for r in rows]

    # --- maintenance (benchmarks, tests) --------------------------------------------------------

    def purge_before(self, t: float, batch: int = 5000) -> int:
        """Delete verdicts (and their tags) whose own time is before `t`. Returns how many."""
        n = self._delete_in_batches(Verdict.time < t, batch)
        self.audit("service", "purged", "", {"before": t, "rows": n})
        return n

    # --- dashboard (read-only) ------------------------------------------------------------------

    def activity(
        self, filters: Filters, start: float, bucket: float, top: int = 10, use_rollup: bool = True
    ) -> Activity:
        """Counts of the matching verdicts per time bucket (`floor((time - start) / bucket)`) by
        action and by category, and the most frequent rules, for the dashboard's charts.

        Buckets of whole hours read the window's whole weeks, days and hours from the rollups
        (`rollup.py`), and only its partial first and last hour from the raw table, when the filter
        is one the rollups can answer; with a group filter, buckets of whole days read the
        group's weeks and days, and the partial first and last day from the raw table; otherwise
        (a user or server filter, shorter buckets, `use_rollup=False`) one GROUP BY over the raw
        window. Either way the database returns one row per bucket and distinct (action, event,
        categories, rules), and the categories and rules, stored space-separated, are split here."""
        if filters.since is None or filters.until is None:
            raise ValueError("activity needs a time window (since and until)")
        out = Activity(start=start, bucket=bucket, since=filters.since, until=filters.until)
        rules: dict[str, int] = {}
        # the periods whose edges are edges of the chart's buckets
        with self.engine.connect() as conn:
            for i, action, ev, categories, rule_text, count in self._activity_parts(
                conn, filters, start, bucket, use_rollup
            ):
                out.total += count
                series = str(action or ev)  # engine and policy errors have no action
                by = out.by_action.setdefault(series, {})
                by[i] = by.get(i, 0) + count
                for c in (categories or "").split() or ["(none)"]:
                    by = out.by_category.setdefault(c, {})
                    by[i] = by.get(i, 0) + count
                for r in (rule_text or "").split():
                    rules[r] = rules.get(r, 0) + count
        out.top_rules = sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return out

    def _activity_parts(
        self, conn: Any, filters: Filters, start: float, bucket: float, use_rollup: bool
    ) -> list[tuple[int, str | None, str, str, str, int]]:
        """(bucket, action, event, categories, rules, count) of a time window's matches: see
        `activity`."""
        assert filters.since is not None and filters.until is not None
        sizes = [z for z in rollup.sizes_for(filters) if bucket % z == 0 and start % z == 0 and start <= filters.since]
        if not (use_rollup and sizes):
            return self._raw_activity(conn, filters, start, bucket)
        periods, raw = rollup.cover(filters.since, filters.until, sizes)
        parts: list[tuple[int, str | None, str, str, str, int]] = []
        for size, first, end in periods:
            parts += rollup.counts(conn, filters, size, first, end, int(start), int(bucket))
        for since, until in raw:
            edge = dataclasses.replace(filters, since=float(since), until=float(until))
            parts += self._raw_activity(conn, edge, start, bucket, head=until < filters.until)
        return parts

    def _raw_activity(
        self, conn: Any, filters: Filters, start: float, bucket: float, head: bool = False
    ) -> list[tuple[int, str | None, str, str, str, int]]:
        from sqlalchemy import Integer, literal_column
        from sqlalchemy import cast as sql_cast

        # literal floats (not bound parameters): PostgreSQL matches the GROUP BY expression to the
        # selected one only when both render the same text
        offset = (Verdict.time - literal_column(repr(float(start)))) / literal_column(repr(float(bucket)))
        if self.engine.dialect.name == "sqlite":
            index = sql_cast(offset, Integer)  # truncates, and offset >= 0, so it is the floor
        else:
            index = sql_cast(func.floor(offset), Integer)  # PostgreSQL's CAST rounds
        columns = [index, Verdict.action, Verdict.event, Verdict.categories, Verdict.rules, func.count()]
        q = self._window_query(conn, filters, columns, head)
        q = q.group_by(index, Verdict.action, Verdict.event, Verdict.categories, Verdict.rules)
        return [(int(i), a, e, c, r, int(n)) for i, a, e, c, r, n in conn.execute(q)]

    # reports of replicas may commit out of order by the length of a transaction: a wide margin
    ID_MARGIN = 3600.0

    def _window_query(self, conn: Any, filters: Filters, columns: Sequence[Any], head: bool = False) -> Any:
        return self._window(conn, filters, columns, head)[0]

    def _window(self, conn: Any, filters: Filters, columns: Sequence[Any], head: bool = False) -> tuple[Any, Any]:
        """`_query` for a time window. With a tag filter the tag index `(kind, value, verdict_id)`
        drives the query, and it holds no time: the range of ids that can hold the window is
        added, so that only the window's part of the index is read, not every match since the
        first report (ids grow with arrival, and a verdict's time is never after its arrival).

        `head`: a short window at the start of a long one (its partial first day or hour, the
        rest read from the rollups). Ids from its start on would be the whole long window's part
        of the tag index; the smallest and largest id of the verdicts in its time range (read
        from the time index) bound it exactly on both sides."""
        q, order = self._query(filters, columns)
        if filters.tags and head and filters.since is not None and filters.until is not None:
            in_range = (Verdict.time >= filters.since, Verdict.time < filters.until)
            # `id + 0`: min(id) and max(id) alone are planned as walks of the primary key from
            # either end until a row's time falls in the range (2.5 s over 10M rows for a head)
            ids = Verdict.id + 0
            lo, hi = conn.execute(select(func.min(ids), func.max(ids)).where(*in_range)).one()
            if lo is None:
                return q.where(false()), order
            return q.where(order >= lo, order <= hi), order
        if filters.tags and filters.since is not None:
            first = self._first_id_received(conn, filters.since - self.ID_MARGIN)
            if first is not None:
                q = q.where(order >= first)
        return q, order

    @staticmethod
    def _first_id_received(conn: Any, t: float) -> int | None:
        """The smallest id received at `t` or later: a binary search over the primary key (about
        log2(rows) single-row lookups, no index on `received` needed). None: nothing that late."""
        lo, hi = conn.execute(select(func.min(Verdict.id), func.max(Verdict.id))).one()
        if lo is None:
            return None

        def at_or_after(i: int) -> tuple[int, float] | None:
            row = conn.execute(
                select(Verdict.id, Verdict.received).where(Verdict.id >= i).order_by(Verdict.id).limit(1)
            ).first()
            return (int(row[0]), float(row[1])) if row else None

        last = at_or_after(hi)
        if last is None or last[1] < t:
            return None
        while lo < hi:  # the smallest position whose next row arrived at t or later
            mid = (lo + hi) // 2
            found = at_or_after(mid)
            assert found is not None  # mid <= hi, the largest id
            if found[1] >= t:
                hi = mid
            else:
                lo = found[0] + 1
        first = at_or_after(lo)
        return first[0] if first else None

    def top_users(self, filters: Filters, limit: int = 10, use_rollup: bool = True) -> list[dict[str, Any]]:
        """The users with the most matching verdicts: how many, how many blocked, the latest.

        A window with no other filter, or with one category or one group filter, and either with
        `action=block` or no action, reads its whole days from the per-user rollups
        (`rollup.top_users_source`), its partial first and last day from the raw table, and the
        latest verdict of the top users only; any other filter reads the raw window."""
        from sqlalchemy import case

        n = func.count()
        blocks = func.sum(case((Verdict.action == "block", 1), else_=0))
        latest = func.max(Verdict.time)
        source = rollup.top_users_source(filters)
        first = end = 0
        if filters.since is not None and filters.until is not None:
            first, end = rollup.hour_of(filters.since, rollup.DAY), rollup.hour_of(filters.until, rollup.DAY)
            if first * rollup.DAY < filters.since:
                first += 1
        with self.engine.connect() as conn:
            if not (use_rollup and source is not None and first < end):
                q = self._window_query(conn, filters, [Verdict.user, n, blocks, latest])
                # ties by code point, as the rollup's answer below (a PostgreSQL database's own
                # collation may put "Zoe" after "adam" where Python puts it before)
                by_name = Verdict.user.collate("C") if conn.dialect.name == "postgresql" else Verdict.user
                q = q.group_by(Verdict.user).order_by(n.desc(), by_name).limit(limit)
                return [
                    {"user": u, "verdicts": int(c), "blocks": int(b or 0), "last": t, "last_iso": iso(t)}
                    for u, c, b, t in conn.execute(q)
                ]
            assert filters.since is not None and filters.until is not None and source is not None
            totals = rollup.top_users(conn, first, end, source)
            tail_last: dict[str, float] = {}  # the latest of each user in the last partial day
            for since, until in ((filters.since, first * rollup.DAY), (end * rollup.DAY, filters.until)):
                if since < until:
                    edge = dataclasses.replace(filters, since=float(since), until=float(until))
                    q = self._window_query(conn, edge, [Verdict.user, n, blocks, latest], head=until < filters.until)
                    q = q.group_by(Verdict.user)
                    for u, c, b, t in conn.execute(q):
                        total = totals.setdefault(u, [0, 0])
                        total[0] += int(c)
                        total[1] += int(b or 0)
                        if until == filters.until:
                            tail_last[u] = float(t)
            top = sorted(totals.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
            # the latest verdict of a user without one in the last partial day: in the last whole
            # day the rollup has for them, else in the first partial day
            days = rollup.last_days(conn, first, end, source, [u for u, _ in top if u not in tail_last])
            out = []
            for u, (c, b) in top:
                last = tail_last.get(u)
                if last is None:
                    d = days.get(u)
                    since, until = (
                        (d * rollup.DAY, (d + 1) * rollup.DAY) if d is not None else (filters.since, first * rollup.DAY)
                    )
                    mine = dataclasses.replace(filters, user=u, since=float(since), until=float(until))
                    last = conn.execute(self._window_query(conn, mine, [latest])).scalar()
                out.append({"user": u, "verdicts": c, "blocks": b, "last": last, "last_iso": iso(last)})
            return out


def _server_label(user: str, server_name: str) -> str:
    return f"{user}/{server_name}" if server_name else user


def _exemption_dict(g: ExemptionGrant) -> dict[str, Any]:
    return {
        "id": g.id,
        "subject_kind": g.subject_kind,
        "subject": g.subject,
        "rule": g.rule,
        "category": g.category,
        "reason": g.reason,
        "expires": g.expires,
        "expires_iso": iso(g.expires),
        "created": g.created,
        "created_by": g.created_by,
        "revoked": g.revoked,
        "revoked_by": g.revoked_by,
    }


@dataclass
class Activity:
    """What the dashboard's charts draw (see `Store.activity`): series name -> bucket index -> count."""

    start: float
    bucket: float
    since: float
    until: float
    total: int = 0
    by_action: dict[str, dict[int, int]] = field(default_factory=dict)
    by_category: dict[str, dict[int, int]] = field(default_factory=dict)
    top_rules: list[tuple[str, int]] = field(default_factory=list)
