"""The per-hour rollup of stored verdicts (`tos_verdict_hours`), for the dashboard's charts.

A chart over 90 days of a large fleet is a GROUP BY over millions of rows; the same numbers per
whole hour are a few hundred rows an hour. The rollup is changed in the same transaction as the
verdicts (ingest adds, the purge subtracts), so it always equals a count of the raw table, and
replicas need nothing more: each adds its own transaction's counts (an upsert; keys taken in
order, so two replicas' transactions wait for each other rather than deadlock).

A verdict of time `t` counts in hour `h` with `h * 3600 <= t < (h + 1) * 3600`, exactly (the
same comparison the raw query's time window makes), so whole hours from here and the partial
hours at a window's edges from the raw table never count a verdict twice nor miss one.

A second rollup, per day and user (`tos_verdict_user_days`: verdicts, blocks), gives the top
users of a window without filters for its whole days, kept the same way.

What the hourly one can answer: the time window, `action`, `event`, `surface`, and `category` / `rule` (a
whitespace-separated token of the stored strings, which is the tag: ingest keeps whitespace out
of rule ids and categories). Not `user`, `group` or `server`: those read the raw table.

Two more answer the group and category filters over long windows, from a verdict's tags (what
the raw table's filters join): `tos_verdict_group_spans`, the days and weeks of the hourly one
per hub group (a verdict counts under each of its groups; the chart's partial days read the raw
table), and `tos_verdict_user_tag_spans`, the per-user days and weeks per category and per group
(the top users filtered by one of them). Kept in the same transactions, the same way.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, Table, and_, bindparam, case, delete, func, literal_column, or_, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.sql.elements import ColumnElement

from . import bulk
from .models import Verdict, VerdictGroupSpan, VerdictHour, VerdictSpan, VerdictTag, VerdictUserDay, VerdictUserTagSpan

HOUR = 3600
DAY = 86400
TABLE: Table = VerdictHour.__table__  # type: ignore[assignment]
USERS: Table = VerdictUserDay.__table__  # type: ignore[assignment]
SPANS: Table = VerdictSpan.__table__  # type: ignore[assignment]
GROUPS: Table = VerdictGroupSpan.__table__  # type: ignore[assignment]
USER_TAGS: Table = VerdictUserTagSpan.__table__  # type: ignore[assignment]
TAGS: Table = VerdictTag.__table__  # type: ignore[assignment]
WEEK = 7 * DAY
SIZES = (WEEK, DAY, HOUR)  # what the charts read, largest first (epoch weeks: what pick_bucket cuts)
GROUP_SIZES = (WEEK, DAY)  # what the per-group rollup holds
USER_TAG_KINDS = ("category", "group")  # the tags the per-user days and weeks are kept for
USER_TAG_SIZES = (WEEK, DAY)  # what the per-user tag rollup holds
# (action, event, surface, categories, rules): what a rollup row counts
Combo = tuple[str | None, str, str | None, str, str]


def hour_of(t: float, size: int = HOUR) -> int:
    """The hour (or day) holding `t`: `h * 3600 <= t < (h + 1) * 3600` exactly (float division
    alone can round a time a hair before an hour into it)."""
    h = math.floor(t / size)
    if h * size > t:
        h -= 1
    elif (h + 1) * size <= t:
        h += 1
    return h


def hour_sql(column: str = "time", size: int = HOUR) -> str:
    """`hour_of` in SQL (PostgreSQL rounds in CAST, SQLite truncates: one step either way is
    corrected by the comparisons, as in Python)."""
    h = f"CAST({column} / {size} AS BIGINT)"
    return (
        f"(CASE WHEN {h} * {size} > {column} THEN {h} - 1 "
        f"WHEN ({h} + 1) * {size} <= {column} THEN {h} + 1 ELSE {h} END)"
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


# the upsert statements, built once per dialect and table: building one (its `excluded` alias
# above all) cost about 0.5 ms of CPU, five of them per ingest transaction
_UPSERTS: dict[tuple[str, str], Any] = {}


def _upsert(conn: Any, table: Table, rows: list[dict[str, Any]], keys: Sequence[str], sums: Sequence[str]) -> None:
    if conn.dialect.name == "postgresql":
        bulk.upsert(conn, table, rows, keys, sums)  # one statement, not one rendering per row
        return
    key = (conn.dialect.name, table.name)
    stmt = _UPSERTS.get(key)
    if stmt is None:
        from sqlalchemy.dialects import postgresql, sqlite

        dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(table)
        stmt = _UPSERTS[key] = insert.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys], set_={s: table.c[s] + insert.excluded[s] for s in sums}
        )
    conn.execute(stmt, rows)


def _combo_columns(combo: Combo, key: str) -> dict[str, Any]:
    """A rollup row's columns for one kind of verdict (`key`: its `combo_key`)."""
    action, event, surface, categories, rules = combo
    return {
        "combo": key,
        "action": action,
        "event": event,
        "surface": surface,
        "categories": categories,
        "rules": rules,
    }


def _rows(counts: dict[tuple[int, Combo], int]) -> list[dict[str, Any]]:
    return [
        {"hour": hour, **_combo_columns(combo, combo_key(combo)), "verdicts": n}
        for (hour, combo), n in sorted(counts.items(), key=lambda kv: (kv[0][0], combo_key(kv[0][1])))
    ]


def _span_rows(hours: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hour rows summed into days and weeks (a day or week is a whole number of hours)."""
    out: dict[tuple[int, int, str], dict[str, Any]] = {}
    for r in hours:
        for span in (DAY, WEEK):
            period = r["hour"] // (span // HOUR)
            row = out.get((span, period, r["combo"]))
            if row is None:
                out[(span, period, r["combo"])] = {k: v for k, v in r.items() if k != "hour"} | {
                    "span": span,
                    "period": period,
                }
            else:
                row["verdicts"] += r["verdicts"]
    return [out[k] for k in sorted(out)]


def add(conn: Any, verdicts: Sequence[dict[str, Any]], tags: Sequence[Sequence[tuple[str, str]]]) -> None:
    """Count newly stored verdict rows (dicts of `tos_verdicts` columns) and their tags (each
    verdict's `(kind, value)` pairs, as stored in `tos_verdict_tags`), in their transaction."""
    counts: dict[tuple[int, Combo], int] = {}
    users: dict[tuple[int, str], list[int]] = {}
    groups: dict[tuple[str, int, int, Combo], int] = {}
    user_tags: dict[tuple[str, str, int, int, str], list[int]] = {}
    for v, vtags in zip(verdicts, tags, strict=True):
        combo: Combo = (v["action"], v["event"], v["surface"], v["categories"], v["rules"])
        hour = hour_of(v["time"])
        counts[(hour, combo)] = counts.get((hour, combo), 0) + 1
        day = hour // 24  # exact: a day is a whole number of hours
        block = v["action"] == "block"
        u = users.setdefault((day, v["user"]), [0, 0])
        u[0] += 1
        u[1] += block
        periods = ((DAY, day), (WEEK, hour // (WEEK // HOUR)))
        for kind, value in vtags:
            if kind == "group":
                for span, period in periods:
                    key = (value, span, period, combo)
                    groups[key] = groups.get(key, 0) + 1
            if kind in USER_TAG_KINDS:
                for span, period in periods:
                    t = user_tags.setdefault((kind, value, span, period, v["user"]), [0, 0])
                    t[0] += 1
                    t[1] += block
    if not counts:
        return
    # every table in one order, each table's rows in key order: see the module's docstring
    hours = _rows(counts)
    _upsert(conn, TABLE, hours, ("hour", "combo"), ("verdicts",))
    _upsert(conn, SPANS, _span_rows(hours), ("span", "period", "combo"), ("verdicts",))
    _upsert(
        conn,
        USERS,
        [{"day": d, "user": u, "verdicts": n, "blocks": b} for (d, u), (n, b) in sorted(users.items())],
        ("day", "user"),
        ("verdicts", "blocks"),
    )
    if groups:
        _upsert(conn, GROUPS, _group_rows(groups), ("group_name", "span", "period", "combo"), ("verdicts",))
    if user_tags:
        _upsert(
            conn,
            USER_TAGS,
            _user_tag_rows(user_tags),
            ("kind", "value", "span", "period", "user"),
            ("verdicts", "blocks"),
        )


def _user_tag_rows(counts: dict[tuple[str, str, int, int, str], list[int]]) -> list[dict[str, Any]]:
    return [
        {"kind": k, "value": val, "span": s, "period": p, "user": u, "verdicts": n, "blocks": b}
        for (k, val, s, p, u), (n, b) in sorted(counts.items())
    ]


def _group_rows(counts: dict[tuple[str, int, int, Combo], int]) -> list[dict[str, Any]]:
    keys = {combo: combo_key(combo) for _, _, _, combo in counts}
    return [
        {"group_name": group, "span": span, "period": period, **_combo_columns(combo, keys[combo]), "verdicts": n}
        for (group, span, period, combo), n in sorted(counts.items(), key=lambda kv: (*kv[0][:3], keys[kv[0][3]]))
    ]


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
    spans = _span_rows(rows)
    conn.execute(
        update(SPANS)
        .where(SPANS.c.span == bindparam("s"), SPANS.c.period == bindparam("p"), SPANS.c.combo == bindparam("k"))
        .values(verdicts=SPANS.c.verdicts - bindparam("n")),
        [{"s": r["span"], "p": r["period"], "k": r["combo"], "n": r["verdicts"]} for r in spans],
    )
    for span in (DAY, WEEK):
        periods = sorted({r["period"] for r in spans if r["span"] == span})
        conn.execute(delete(SPANS).where(SPANS.c.span == span, SPANS.c.period.in_(periods), SPANS.c.verdicts <= 0))
    day: ColumnElement[Any] = literal_column(hour_sql("tos_verdicts.time", DAY))
    blocks = func.sum(case((vt.action == "block", 1), else_=0))
    q = select(day, vt.user, func.count(), blocks).select_from(Verdict.__table__).where(where).group_by(day, vt.user)
    gone = sorted((int(d), u, int(n), int(b or 0)) for d, u, n, b in conn.execute(q))
    conn.execute(
        update(USERS)
        .where(USERS.c.day == bindparam("d"), USERS.c.user == bindparam("u"))
        .values(verdicts=USERS.c.verdicts - bindparam("n"), blocks=USERS.c.blocks - bindparam("b")),
        [{"d": d, "u": u, "n": n, "b": b} for d, u, n, b in gone],
    )
    days = sorted({d for d, _, _, _ in gone})
    conn.execute(delete(USERS).where(USERS.c.day.in_(days), USERS.c.verdicts <= 0))
    _subtract_tags(conn, where)


def _subtract_tags(conn: Any, where: ColumnElement[bool]) -> None:
    """`subtract` for the rollups of tags: the verdicts matching `where` joined to their tags."""
    vt, tt = Verdict.__table__.c, TAGS.c
    hour: ColumnElement[Any] = literal_column(hour_sql("tos_verdicts.time"))
    joined = Verdict.__table__.join(TAGS, tt.verdict_id == vt.id)
    q = (
        select(tt.value, hour, vt.action, vt.event, vt.surface, vt.categories, vt.rules, func.count())
        .select_from(joined)
        .where(where, tt.kind == "group")
        .group_by(tt.value, hour, vt.action, vt.event, vt.surface, vt.categories, vt.rules)
    )
    groups: dict[tuple[str, int, int, Combo], int] = {}
    for g, h, a, e, su, c, r, n in conn.execute(q):
        for span in GROUP_SIZES:
            key = (g, span, int(h) // (span // HOUR), (a, e, su, c, r))
            groups[key] = groups.get(key, 0) + int(n)
    if groups:
        gc = GROUPS.c
        rows = _group_rows(groups)
        conn.execute(
            update(GROUPS)
            .where(
                gc.group_name == bindparam("g"),
                gc.span == bindparam("s"),
                gc.period == bindparam("p"),
                gc.combo == bindparam("k"),
            )
            .values(verdicts=gc.verdicts - bindparam("n")),
            [
                {"g": r["group_name"], "s": r["span"], "p": r["period"], "k": r["combo"], "n": r["verdicts"]}
                for r in rows
            ],
        )
        # only the periods touched: a group's rows of every day since its first report are many
        for (name, span), periods in _grouped(((r["group_name"], r["span"]), r["period"]) for r in rows):
            conn.execute(
                delete(GROUPS).where(gc.group_name == name, gc.span == span, gc.period.in_(periods), gc.verdicts <= 0)
            )
    day: ColumnElement[Any] = literal_column(hour_sql("tos_verdicts.time", DAY))
    blocks = func.sum(case((vt.action == "block", 1), else_=0))
    q = (
        select(tt.kind, tt.value, day, vt.user, func.count(), blocks)
        .select_from(joined)
        .where(where, tt.kind.in_(USER_TAG_KINDS))
        .group_by(tt.kind, tt.value, day, vt.user)
    )
    gone: dict[tuple[str, str, int, int, str], list[int]] = {}
    for k, v, d, u, n, b in conn.execute(q):
        for span, period in ((DAY, int(d)), (WEEK, int(d) // (WEEK // DAY))):
            t = gone.setdefault((k, v, span, period, u), [0, 0])
            t[0] += int(n)
            t[1] += int(b or 0)
    if not gone:
        return
    uc = USER_TAGS.c
    rows = _user_tag_rows(gone)
    conn.execute(
        update(USER_TAGS)
        .where(
            uc.kind == bindparam("k"),
            uc.value == bindparam("v"),
            uc.span == bindparam("s"),
            uc.period == bindparam("p"),
            uc.user == bindparam("u"),
        )
        .values(verdicts=uc.verdicts - bindparam("n"), blocks=uc.blocks - bindparam("b")),
        [
            {
                "k": r["kind"],
                "v": r["value"],
                "s": r["span"],
                "p": r["period"],
                "u": r["user"],
                "n": r["verdicts"],
                "b": r["blocks"],
            }
            for r in rows
        ],
    )
    for (kind, value, span), periods in _grouped(((r["kind"], r["value"], r["span"]), r["period"]) for r in rows):
        conn.execute(
            delete(USER_TAGS).where(
                uc.kind == kind, uc.value == value, uc.span == span, uc.period.in_(periods), uc.verdicts <= 0
            )
        )


def _grouped(pairs: Iterable[tuple[tuple[Any, ...], int]]) -> list[tuple[tuple[Any, ...], list[int]]]:
    """(key, its periods) from (key, period) pairs, both sorted (the order locks are taken in)."""
    out: dict[tuple[Any, ...], set[int]] = {}
    for key, period in pairs:
        out.setdefault(key, set()).add(period)
    return [(key, sorted(out[key])) for key in sorted(out)]


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


def backfill_users(conn: Any) -> None:
    """Fill the per-user days from every stored verdict (their migration)."""
    conn.execute(
        sql_text(
            'INSERT INTO tos_verdict_user_days (day, "user", verdicts, blocks) '
            f'SELECT {hour_sql("time", DAY)}, "user", count(*), '
            "sum(CASE WHEN action = 'block' THEN 1 ELSE 0 END) FROM tos_verdicts GROUP BY 1, \"user\""
        )
    )


def backfill_spans(conn: Any) -> None:
    """Fill the days and weeks from the hourly rollup (their migration)."""
    for span in (DAY, WEEK):
        k = span // HOUR
        period = f"(CASE WHEN hour >= 0 THEN hour / {k} ELSE -((-hour + {k - 1}) / {k}) END)"  # floor
        conn.execute(
            sql_text(
                "INSERT INTO tos_verdict_spans (span, period, combo, action, event, surface, categories, rules, "
                f"verdicts) SELECT {span}, {period}, combo, min(action), min(event), min(surface), "
                "min(categories), min(rules), sum(verdicts) FROM tos_verdict_hours GROUP BY 2, combo"
            )
        )


def backfill_tags(conn: Any) -> None:
    """Fill the per-group and the per-user days and weeks of tags from every stored verdict and
    its tags (their migration): days in one GROUP BY over the join each, weeks from the days.
    Rows are written in key order: a GROUP BY's own order scatters one tag's rows of a few
    days over most of the table's pages (67,808 rows on 34,930 of 51,770 pages, 1.6 s to read
    from disk for a category's 14 days), key order puts them on a few hundred."""
    if conn.dialect.name == "sqlite":
        register_md5(conn.connection.driver_connection)
    conn.execute(
        sql_text(
            "INSERT INTO tos_verdict_group_spans (group_name, span, period, combo, action, event, surface, "
            f"categories, rules, verdicts) SELECT g, {DAY}, period, {_combo_key_sql()}, action, event, surface, "
            "categories, rules, n FROM ("
            f" SELECT t.value AS g, {hour_sql('v.time', DAY)} AS period, v.action AS action, v.event AS event,"
            " v.surface AS surface, v.categories AS categories, v.rules AS rules, count(*) AS n"
            " FROM tos_verdicts v JOIN tos_verdict_tags t ON t.verdict_id = v.id AND t.kind = 'group'"
            " GROUP BY t.value, 2, v.action, v.event, v.surface, v.categories, v.rules) AS d ORDER BY 1, 3, 4"
        )
    )
    k = WEEK // DAY
    week = f"(CASE WHEN period >= 0 THEN period / {k} ELSE -((-period + {k - 1}) / {k}) END)"  # floor
    conn.execute(
        sql_text(
            "INSERT INTO tos_verdict_group_spans (group_name, span, period, combo, action, event, surface, "
            f"categories, rules, verdicts) SELECT group_name, {WEEK}, {week}, combo, min(action), min(event), "
            f"min(surface), min(categories), min(rules), sum(verdicts) FROM tos_verdict_group_spans WHERE span = {DAY}"
            f" GROUP BY group_name, {week}, combo ORDER BY 1, 3, 4"
        )
    )
    kinds = ", ".join(f"'{kind}'" for kind in USER_TAG_KINDS)
    conn.execute(
        sql_text(
            'INSERT INTO tos_verdict_user_tag_spans (kind, value, span, period, "user", verdicts, blocks) '
            f'SELECT t.kind, t.value, {DAY}, {hour_sql("v.time", DAY)}, v."user", count(*), '
            "sum(CASE WHEN v.action = 'block' THEN 1 ELSE 0 END)"
            f" FROM tos_verdicts v JOIN tos_verdict_tags t ON t.verdict_id = v.id AND t.kind IN ({kinds})"
            ' GROUP BY t.kind, t.value, 4, v."user" ORDER BY 1, 2, 4, 5'
        )
    )
    conn.execute(
        sql_text(
            'INSERT INTO tos_verdict_user_tag_spans (kind, value, span, period, "user", verdicts, blocks) '
            f'SELECT kind, value, {WEEK}, {week}, "user", sum(verdicts), sum(blocks) FROM tos_verdict_user_tag_spans'
            f' WHERE span = {DAY} GROUP BY kind, value, {week}, "user" ORDER BY 1, 2, 4, 5'
        )
    )


def rebuild(conn: Any) -> None:
    """Empty and refill every rollup from the raw table (after a bulk load that bypassed ingest)."""
    for table in (TABLE, USERS, SPANS, GROUPS, USER_TAGS):
        conn.execute(delete(table))
    backfill(conn)
    backfill_users(conn)
    backfill_spans(conn)
    backfill_tags(conn)


def _user_days(tag: tuple[str, str] | None) -> tuple[Any, Any, list[ColumnElement[bool]]]:
    """The per-user days: the table's columns, its day column and what selects the day rows of
    `tag`'s verdicts (of every verdict without one)."""
    if tag is None:
        return USERS.c, USERS.c.day, []
    c = USER_TAGS.c
    return c, c.period, [c.kind == tag[0], c.value == tag[1], c.span == DAY]


@dataclass(frozen=True)
class TopSource:
    """What the per-user rollups read for the top users of a filter: the verdicts with `tag`
    (a kind of `USER_TAG_KINDS` and its value; None: every verdict), and only their blocks
    (`action=block`: a user's verdicts and blocks are both the rows' blocks)."""

    tag: tuple[str, str] | None = None
    blocks_only: bool = False


def top_users_source(filters: Any) -> TopSource | None:
    """The `TopSource` of a window with no other filter than one category or group and
    `action=block`; None for any other filter (the raw table answers)."""
    rest = dict(filters.as_dict())
    rest.pop("since", None)
    rest.pop("until", None)
    blocks_only = rest.pop("action", None) == "block"
    if "action" in filters.as_dict() and not blocks_only:
        return None
    if not rest:
        return TopSource(None, blocks_only)
    if len(rest) == 1:
        kind, value = next(iter(rest.items()))
        if kind in USER_TAG_KINDS:
            return TopSource((kind, str(value)), blocks_only)
    return None


def top_users(conn: Any, first_day: int, end_day: int, source: TopSource = TopSource()) -> dict[str, list[int]]:
    """user -> [verdicts, blocks] over the whole days [first_day, end_day), of the verdicts of
    `source`; with a tag its whole weeks from the weeks and the days around them from the days
    (7 times fewer rows to sum). Users without a matching verdict are left out."""
    if source.tag is None:
        c = USERS.c
        where: list[ColumnElement[bool]] = [c.day >= first_day, c.day < end_day]
    else:
        periods, _ = cover(first_day * DAY, end_day * DAY, USER_TAG_SIZES)  # day-aligned: nothing left over
        if not periods:
            return {}
        c = USER_TAGS.c
        spans = (and_(c.span == size, c.period >= first, c.period < end) for size, first, end in periods)
        where = [c.kind == source.tag[0], c.value == source.tag[1], or_(*spans)]
    blocks = func.sum(c.blocks)
    q = select(c.user, blocks if source.blocks_only else func.sum(c.verdicts), blocks).where(*where)
    q = q.group_by(c.user)
    if source.blocks_only:
        q = q.having(blocks > 0)
    return {u: [int(n), int(b)] for u, n, b in conn.execute(q)}


def last_days(conn: Any, first_day: int, end_day: int, source: TopSource, users: Sequence[str]) -> dict[str, int]:
    """user -> the last of the whole days [first_day, end_day) holding one of their verdicts of
    `source`: where their latest such verdict of those days is, so that finding it reads one
    day of the raw table, not their whole window (a row exists only while it counts one).
    The days are read backwards, 1, 8, 64 ... at a time: a top user is nearly always in the
    last one, and the user is the last column of the keys."""
    found: dict[str, int] = {}
    left = sorted(set(users))
    hi, width = end_day, 1
    while left and hi > first_day:
        lo = max(first_day, hi - width)
        c, day, where = _user_days(source.tag)
        if source.blocks_only:
            where.append(c.blocks > 0)
        q = select(c.user, func.max(day)).where(*where, day >= lo, day < hi, c.user.in_(left)).group_by(c.user)
        found.update((u, int(d)) for u, d in conn.execute(q))
        left = [u for u in left if u not in found]
        hi, width = lo, width * 8
    return found


def token_match(conn: Any, column: Any, value: str) -> ColumnElement[bool]:
    """`value` is one of the whitespace-separated tokens of `column` (exact, case-sensitive)."""
    space: ColumnElement[str] = literal_column("' '", String)
    padded = space + column + space
    needle = space + bindparam(None, value) + space
    fn = func.strpos(padded, needle) if conn.dialect.name == "postgresql" else func.instr(padded, needle)
    return fn > 0  # type: ignore[no-any-return]


def counts(
    conn: Any, filters: Any, size: int, first: int, end: int, start: int, bucket: int
) -> Sequence[tuple[int, str | None, str, str, str, int]]:
    """(bucket index, action, event, categories, rules, count) over the whole periods of `size`
    seconds [first, end): what `Store.activity` reads from the raw table, grouped in the database."""
    if filters.group:
        c, period = GROUPS.c, GROUPS.c.period
        q = select().where(c.group_name == filters.group, c.span == size, period >= first, period < end)
    elif size == HOUR:
        c, period = TABLE.c, TABLE.c.hour
        q = select().where(period >= first, period < end)
    else:
        c, period = SPANS.c, SPANS.c.period
        q = select().where(c.span == size, period >= first, period < end)
    index = (period * size - start) // bucket  # integers: period-aligned buckets, never negative
    q = q.add_columns(index, c.action, c.event, c.categories, c.rules, func.sum(c.verdicts))
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


def cover(
    since: float, until: float, sizes: Sequence[int]
) -> tuple[list[tuple[int, int, int]], list[tuple[float, float]]]:
    """[since, until) as whole periods, largest `sizes` first — (size, first, end) — and the
    pieces left for the raw table, (since, until), at most one at each end."""
    if not sizes or since >= until:
        return [], [(since, until)] if since < until else []
    size = sizes[0]
    first, end = hour_of(since, size), hour_of(until, size)
    if first * size < since:
        first += 1
    if first >= end:
        return cover(since, until, sizes[1:])
    head, head_raw = cover(since, first * size, sizes[1:])
    tail, tail_raw = cover(end * size, until, sizes[1:])
    return head + [(size, first, end)] + tail, head_raw + tail_raw


def sizes_for(filters: Any) -> Sequence[int]:
    """The periods the rollups hold for this filter, largest first: the hourly rollup's without a
    group, the per-group one's with one, none when they cannot answer it (the raw table does)."""
    if filters.user or (filters.server_name is not None and filters.server_name != ""):
        return ()
    # a value holding whitespace is no single token (older verdicts' tags may hold one)
    if any(v and "".join(v.split()) != v for v in (filters.category, filters.rule)):
        return ()
    return GROUP_SIZES if filters.group else SIZES


def serves(filters: Any) -> bool:
    """Whether the rollups can answer this filter (else the raw table does)."""
    return bool(sizes_for(filters))
