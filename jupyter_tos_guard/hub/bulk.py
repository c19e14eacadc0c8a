"""Many rows in one statement on PostgreSQL: each column sent as one array, `unnest` in SQL.

The ingest transaction writes a few hundred rows into seven tables. Written as executemany,
psycopg2 renders the whole statement once per row (`execute_batch`: 0.2-0.3 ms of CPU per
report, most of what a transaction costs the service); as arrays, psycopg2 adapts one list
per column and the statement is one string, built once per table. SQLite keeps SQLAlchemy's
executemany (`rollup._upsert`, `Store.ingest`), which its driver runs natively.

Rows keep their order (`unnest` yields the arrays' elements in order, and an INSERT ... SELECT
takes them so): the rollups' upserts still take their keys' locks in key order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql

_SQL: dict[tuple[Any, ...], str] = {}
_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _array_type(table: Table, column: str) -> str:
    return f"{table.c[column].type.compile(dialect=_DIALECT)}[]"


def _unnest(table: Table, columns: Sequence[str], prefix: str = "") -> str:
    """`unnest(%(c1)s::T1[], ...) AS u(c1, ...)`: the rows of `columns`' arrays."""
    arrays = ", ".join(f"%({prefix}{c})s::{_array_type(table, c)}" for c in columns)
    return f"unnest({arrays}) AS u({', '.join(_q(c) for c in columns)})"


def _arrays(rows: Sequence[dict[str, Any]], columns: Sequence[str], prefix: str = "") -> dict[str, list[Any]]:
    return {prefix + c: [r[c] for r in rows] for c in columns}


def upsert(conn: Any, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str], sums: Sequence[str]) -> None:
    """`INSERT ... ON CONFLICT (keys) DO UPDATE SET s = s + excluded.s` for every row, in one
    statement. No two rows may share a key (PostgreSQL refuses to update a row twice in one
    statement): the rollups sum their rows per key before."""
    if not rows:
        return
    columns = tuple(rows[0])
    cache = ("upsert", table.name, columns, tuple(keys), tuple(sums))
    sql = _SQL.get(cache)
    if sql is None:
        names = ", ".join(_q(c) for c in columns)
        sets = ", ".join(f"{_q(s)} = t.{_q(s)} + EXCLUDED.{_q(s)}" for s in sums)
        sql = _SQL[cache] = (
            f"INSERT INTO {_q(table.name)} AS t ({names}) SELECT {names} FROM {_unnest(table, columns)} "
            f"ON CONFLICT ({', '.join(_q(k) for k in keys)}) DO UPDATE SET {sets}"
        )
    conn.exec_driver_sql(sql, _arrays(rows, columns))


def insert_verdicts(
    conn: Any,
    verdicts: Table,
    tags: Table,
    rows: Sequence[dict[str, Any]],
    row_tags: Sequence[Sequence[tuple[str, str]]],
) -> None:
    """The verdict rows and their tags in one statement: the tags find their verdict's new id
    by its (client_id, seq), which is unique among the rows of one transaction (a guard's
    records each stored once, see `Store.ingest`)."""
    if not rows:
        return
    columns = tuple(rows[0])
    cache = ("verdicts", verdicts.name, tags.name, columns)
    sql = _SQL.get(cache)
    if sql is None:
        names = ", ".join(_q(c) for c in columns)
        tag_arrays = (
            f"unnest(%(t_client_id)s::{_array_type(verdicts, 'client_id')}, %(t_seq)s::{_array_type(verdicts, 'seq')},"
            f" %(t_kind)s::{_array_type(tags, 'kind')}, %(t_value)s::{_array_type(tags, 'value')})"
            " AS g(client_id, seq, kind, value)"
        )
        sql = _SQL[cache] = (
            f"WITH v AS (INSERT INTO {_q(verdicts.name)} ({names}) SELECT {names} FROM {_unnest(verdicts, columns)}"
            " RETURNING id, client_id, seq) "
            f"INSERT INTO {_q(tags.name)} (verdict_id, kind, value) SELECT v.id, g.kind, g.value FROM {tag_arrays}"
            " JOIN v ON v.client_id = g.client_id AND v.seq = g.seq"
        )
    params = _arrays(rows, columns)
    pairs = [(row["client_id"], row["seq"], k, v) for row, vtags in zip(rows, row_tags, strict=True) for k, v in vtags]
    params["t_client_id"] = [p[0] for p in pairs]
    params["t_seq"] = [p[1] for p in pairs]
    params["t_kind"] = [p[2] for p in pairs]
    params["t_value"] = [p[3] for p in pairs]
    conn.exec_driver_sql(sql, params)


def update_clients(conn: Any, table: Table, rows: Sequence[dict[str, Any]], received: float) -> None:
    """Each known guard's new `max_seq` and `server_name` (`cid`, `ms`, `sn` of `rows`), and
    `last_report`, in one statement (their rows are locked already, by the transaction's
    SELECT ... FOR UPDATE)."""
    if not rows:
        return
    cache = ("clients", table.name)
    sql = _SQL.get(cache)
    if sql is None:
        sql = _SQL[cache] = (
            f"UPDATE {_q(table.name)} AS c SET max_seq = u.ms, server_name = u.sn, last_report = %(received)s "
            f"FROM unnest(%(cid)s::{_array_type(table, 'client_id')}, %(ms)s::{_array_type(table, 'max_seq')},"
            f" %(sn)s::{_array_type(table, 'server_name')}) AS u(cid, ms, sn) WHERE c.client_id = u.cid"
        )
    conn.exec_driver_sql(
        sql,
        {
            "received": received,
            "cid": [r["cid"] for r in rows],
            "ms": [r["ms"] for r in rows],
            "sn": [r["sn"] for r in rows],
        },
    )


def count_since(conn: Any, users: Sequence[str], since: Sequence[float], actions: Sequence[str]) -> dict[str, int]:
    """user -> their verdicts of `actions` later than their own `since` (what a strikes step
    counts), for many users in one query (an index range of `(user, action, time)` each).
    Users without one are left out."""
    sql = _SQL.get(("count_since",))
    if sql is None:
        sql = _SQL[("count_since",)] = (
            'SELECT u."user", count(*) FROM unnest(%(users)s::VARCHAR(255)[], %(since)s::FLOAT[]) AS u("user", since) '
            'JOIN tos_verdicts AS v ON v."user" = u."user" AND v.action = ANY(%(actions)s::VARCHAR(32)[]) '
            'AND v.time > u.since GROUP BY u."user"'
        )
    found = conn.exec_driver_sql(sql, {"users": list(users), "since": list(since), "actions": list(actions)})
    return {str(u): int(n) for u, n in found}
