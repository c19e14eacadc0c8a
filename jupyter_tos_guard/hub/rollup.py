"""The per-hour rollup of stored verdicts (`tos_verdict_hours`), for the dashboard's charts.

A chart over 90 days of a large fleet is a GROUP BY over millions of rows; the same numbers per
whole hour are a few hundred rows an hour. The rollup is changed in the same transaction as the
verdicts (ingest adds, the purge subtracts), so it always equals a count of the raw table, and
replicas need nothing more: each adds its own transaction's counts (an upsert; keys taken in
order, so two replicas' transactions wait for each other rather than deadlock).

A verdict of time `t` counts in hour `h` with `h * 3600 <= t < (h + 1) * 3600`, exactly (the
same comparison the raw query's time window makes), so whole hours from here and the partial
hours at a window's edges from the raw table never count a verdict twice nor miss one.

What it can answer: the time window, `action`, `event`, `surface`, and `category` / `rule` (a
whitespace-separated token of the stored strings, which is the tag: ingest keeps whitespace out
of rule ids and categories). Not `user`, `group` or `server`: those read the raw table.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import String, Table, bindparam, delete, func, literal_column, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.sql.elements import ColumnElement

from .models import Verdict, VerdictHour

HOUR = 3600
TABLE: Table = VerdictHour.__table__  # type: ignore[assignment]
# (action, event, surface, categories, rules): what a rollup row counts
Combo = tuple[str | None, str, str | None, str, str]


def hour_of(t: float) -> int:
    """The hour holding `t`: `h * 3600 <= t < (h + 1) * 3600` exactly (float division alone can
    round a time a hair before an hour into it)."""
    h = math.floor(t / HOUR)
    if h * HOUR > t:
        h -= 1
    elif (h + 1) * HOUR <= t:
        h += 1
    return h


def hour_sql(column: str = "time") -> str:
    """`hour_of` in SQL (PostgreSQL rounds in CAST, SQLite truncates: one step either way is
    corrected by the comparisons, as in Python)."""
    h = f"CAST({column} / {HOUR} AS BIGINT)"
    return (
        f"(CASE WHEN {h} * {HOUR} > {column} THEN {h} - 1 "
        f"WHEN ({h} + 1) * {HOUR} <= {column} THEN {h} + 1 ELSE {h} END)"
    )


def _field(value: str | None) -> str:
    return "-" if value is None else f"{len(value)}:{value}"


def combo_key(combo: Combo) -> str:
    """The row's key: md5 of its fields, each with its length (so no two combos share one)."""
    return hashlib.md5("|".join(_field(v) for v in combo).encode("utf-8")).hexdigest()


def _combo_key_sql() -> str:
    """`combo_key` in SQL, over the columns of a grouped select (md5 is registered on SQLite)."""
    parts = [
        f"COALESCE(CAST(length({c}) AS TEXT) || ':' || {c}, '-')"
        for c in ("action", "event", "surface", "categories", "rules")
    ]
    return "md5(" + " || '|' || ".join(parts) + ")"


def register_md5(dbapi_conn: Any) -> None:
    """PostgreSQL has md5(); give SQLite the same function (hex of the UTF-8 bytes)."""
    dbapi_conn.create_function(
        "md5", 1, lambda s: None if s is None else hashlib.md5(s.encode("utf-8")).hexdigest(), deterministic=True
    )


def _upsert(conn: Any, rows: list[dict[str, Any]]) -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(TABLE)
    stmt = stmt.on_conflict_do_update(
        index_elements=[TABLE.c.hour, TABLE.c.combo], set_={"verdicts": TABLE.c.verdicts + stmt.excluded.verdicts}
    )
    conn.execute(stmt, rows)


def _rows(counts: dict[tuple[int, Combo], int]) -> list[dict[str, Any]]:
    out = []
    for (hour, combo), n in sorted(counts.items(), key=lambda kv: (kv[0][0], combo_key(kv[0][1]))):
        action, event, surface, categories, rules = combo
        out.append(
            {
                "hour": hour,
                "combo": combo_key(combo),
                "action": action,
                "event": event,
                "surface": surface,
                "categories": categories,
                "rules": rules,
                "verdicts": n,
            }
        )
    return out


def add(conn: Any, verdicts: Iterable[dict[str, Any]]) -> None:
    """Count newly stored verdict rows (dicts of `tos_verdicts` columns), in their transaction."""
    counts: dict[tuple[int, Combo], int] = {}
    for v in verdicts:
        key = (hour_of(v["time"]), (v["action"], v["event"], v["surface"], v["categories"], v["rules"]))
        counts[key] = counts.get(key, 0) + 1
    if counts:
        _upsert(conn, _rows(counts))  # in key order: see the module's docstring


def subtract(conn: Any, where: ColumnElement[bool]) -> None:
    """Before verdicts matching `where` are deleted (same transaction): take them out."""
    vt = Verdict.__table__.c
    hour: ColumnElement[Any] = literal_column(hour_sql("tos_verdicts.time"))
    q = (
        select(hour, vt.action, vt.event, vt.surface, vt.categories, vt.rules, func.count())
        .select_from(Verdict.__table__)
        .where(where)
        .group_by(hour, vt.action, vt.event, vt.surface, vt.categories, vt.rules)
    )
    counts = {(int(h), (a, e, s, c, r)): int(n) for h, a, e, s, c, r, n in conn.execute(q)}
    if not counts:
        return
    rows = _rows(counts)
    conn.execute(
        update(TABLE)
        .where(TABLE.c.hour == bindparam("h"), TABLE.c.combo == bindparam("k"))
        .values(verdicts=TABLE.c.verdicts - bindparam("n")),
        [{"h": r["hour"], "k": r["combo"], "n": r["verdicts"]} for r in rows],
    )
    hours = sorted({r["hour"] for r in rows})
    conn.execute(delete(TABLE).where(TABLE.c.hour.in_(hours), TABLE.c.verdicts <= 0))


def backfill(conn: Any) -> None:
    """Fill the rollup from every stored verdict (the migration that creates it): one GROUP BY
    in the database, whatever the size of the table."""
    if conn.dialect.name == "sqlite":
        register_md5(conn.connection.driver_connection)
    conn.execute(
        sql_text(
            "INSERT INTO tos_verdict_hours (hour, combo, action, event, surface, categories, rules, verdicts) "
            f"SELECT hour, {_combo_key_sql()}, action, event, surface, categories, rules, n FROM ("
            f" SELECT {hour_sql()} AS hour, action, event, surface, categories, rules, count(*) AS n"
            " FROM tos_verdicts GROUP BY 1, action, event, surface, categories, rules) AS g"
        )
    )


def rebuild(conn: Any) -> None:
    """Empty and refill the rollup from the raw table (after a bulk load that bypassed ingest)."""
    conn.execute(delete(TABLE))
    backfill(conn)


def token_match(conn: Any, column: Any, value: str) -> ColumnElement[bool]:
    """`value` is one of the whitespace-separated tokens of `column` (exact, case-sensitive)."""
    space: ColumnElement[str] = literal_column("' '", String)
    padded = space + column + space
    needle = space + bindparam(None, value) + space
    fn = func.strpos(padded, needle) if conn.dialect.name == "postgresql" else func.instr(padded, needle)
    return fn > 0  # type: ignore[no-any-return]


def counts(
    conn: Any, filters: Any, first_hour: int, end_hour: int, start: int, bucket: int
) -> Sequence[tuple[int, str | None, str, str, str, int]]:
    """(bucket index, action, event, categories, rules, count) over the whole hours
    [first_hour, end_hour): what `Store.activity` reads from the raw table, grouped in the database."""
    c = TABLE.c
    index = (c.hour * HOUR - start) // bucket  # integers: hour-aligned buckets, never negative
    q = select(index, c.action, c.event, c.categories, c.rules, func.sum(c.verdicts)).where(
        c.hour >= first_hour, c.hour < end_hour
    )
    if filters.action:
        q = q.where(c.action == filters.action)
    if filters.event:
        q = q.where(c.event == filters.event)
    if filters.surface:
        q = q.where(c.surface == filters.surface)
    if filters.category:
        q = q.where(token_match(conn, c.categories, filters.category))
    if filters.rule:
        q = q.where(token_match(conn, c.rules, filters.rule))
    q = q.group_by(index, c.action, c.event, c.categories, c.rules)
    return [(int(i), a, e, cats, r, int(n)) for i, a, e, cats, r, n in conn.execute(q)]


def serves(filters: Any) -> bool:
    """Whether the rollup can answer this filter (else the raw table does)."""
    if filters.user or filters.group or (filters.server_name is not None and filters.server_name != ""):
        return False
    # a value holding whitespace is no single token (older verdicts' tags may hold one)
    return not any(v and "".join(v.split()) != v for v in (filters.category, filters.rule))
