"""The per-hour rollup (`tos_verdict_hours`) gives the dashboard's charts exactly the numbers of
the raw table: for every filter the dashboard offers, windows on and off the hour, after a purge,
and when the migration fills it from verdicts already stored. SQLite, and PostgreSQL when
$JUPYTER_TOS_GUARD_HUB_TEST_DB_URL names one."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubharness import STORE_KINDS, migrated_engine
from sqlalchemy import select

from jupyter_tos_guard.hub import rollup
from jupyter_tos_guard.hub.charts import pick_bucket
from jupyter_tos_guard.hub.db import Filters, IngestItem, Store, Summary
from jupyter_tos_guard.hub.models import VerdictHour

HOUR = 3600.0
DAY = 86400.0
T0 = 1_793_577_600.0  # Monday 2 November 2026, 00:00 UTC
RULES = {
    "mining": ["mining.xmrig", "mining.pool-url"],
    "deepfake": ["deepfake.roop"],
    "password_cracking": ["password-cracking.hashcat", "password-cracking.john"],
    "remote_access": ["remote-access.ngrok"],
}
ACTIONS = ["block", "warn", "log", "exempted", "confirm", None]


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    engine = migrated_engine(request.param, tmp_path)
    yield Store(engine)
    engine.dispose()


def verdicts(rng: random.Random, n: int, days: float) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        if i % 10 == 0:  # on an hour, and a hair before one: the edges of whole hours
            h = T0 + HOUR * rng.randrange(int(days * 24))
            t = h if i % 20 == 0 else math.nextafter(h, 0.0)
        else:
            t = T0 + rng.uniform(0, days * DAY)
        cats = rng.sample(sorted(RULES), rng.choice((0, 1, 1, 1, 2)))
        rules = [rng.choice(RULES[c]) for c in cats]
        action = rng.choice(ACTIONS)
        record: dict[str, Any] = {
            "event": "decision" if action else rng.choice(("engine_error", "policy_error")),
            "time": t,
            "action": action,
            "rules": rules,
            "categories": cats,
        }
        if rng.random() < 0.3:
            record["surface"] = rng.choice(("cell", "terminal", "process"))
        out.append(record)
    return out


def ingest(store: Store, records: list[dict[str, Any]], users: int = 5, clients: str = "client") -> None:
    """Through the service's own ingest, a few requests per transaction, as group commit does
    (`clients`: the guards' id prefix; new guards number their reports from 1 again)."""
    per_user: dict[int, list[dict[str, Any]]] = {}
    for i, r in enumerate(records):
        per_user.setdefault(i % users, []).append(r)
    seqs = dict.fromkeys(per_user, 0)
    for start in range(0, max(len(v) for v in per_user.values()), 50):
        items = []
        for u, recs in per_user.items():
            chunk = recs[start : start + 50]
            if chunk:
                items.append(
                    IngestItem(
                        f"user{u}",
                        # some in two groups, one in none: a verdict counts under each of its groups
                        (f"course{u % 2}", "tutors")[: 2 if u % 3 == 0 else 1] if u != 4 else (),
                        f"{clients}-{u:04d}",
                        "gpu" if u == 3 else "",
                        [(seqs[u] + k, r) for k, r in enumerate(chunk, 1)],
                    )
                )
                seqs[u] += len(chunk)
        store.ingest(items)


FILTERS = [
    Filters(),
    Filters(action="block"),
    Filters(action="warn", category="mining"),
    Filters(event="engine_error"),
    Filters(surface="terminal"),
    Filters(category="password_cracking"),
    Filters(rule="mining.xmrig"),
    Filters(rule="remote-access.ngrok", surface="cell"),
    Filters(category="mining", rule="deepfake.roop"),  # verdicts with both
    Filters(rule="mining"),  # a category's name is no rule: nothing
    # the per-group rollup (days and weeks; the partial days from the raw table)
    Filters(group="course0"),
    Filters(group="tutors", action="block"),
    Filters(group="course1", category="mining", surface="cell"),
    Filters(group="course0", rule="password-cracking.john", event="decision"),
    Filters(group="nobody"),
    # not served by the rollups (the raw table answers): these must agree trivially, and still do
    Filters(user="user1"),
    Filters(group="course0", user="user0"),
    Filters(server_name="gpu"),
]
# the top users' filters the per-user rollups answer, and ones they leave to the raw table
TOP_FILTERS: list[dict[str, str]] = [
    {},
    {"category": "mining"},
    {"category": "password_cracking"},
    {"group": "course1"},
    {"group": "tutors"},
    {"category": "nothing"},
    {"action": "block"},  # the rollups' blocks
    {"action": "block", "category": "deepfake"},
    {"action": "block", "group": "tutors"},
    {"action": "warn"},  # the raw table
    {"group": "course0", "category": "mining"},
]
WINDOWS = [
    (T0, T0 + 14 * DAY),  # on the hour at both ends
    (T0 + 1234.5, T0 + 9 * DAY + 77.25),  # partial first and last hours
    (T0 + 5 * HOUR + 0.5, T0 + 5 * HOUR + 1800),  # inside one hour: raw only
    (T0 - 3 * DAY, T0 + 20 * DAY),  # past both ends of the data
    (T0 + 3 * DAY + 59, T0 + 4 * DAY - 1),  # hours, buckets of hours
    (T0 - 40 * DAY + 7.5, T0 + 50 * DAY),  # 90 days: weekly buckets, from weeks, days and hours
]


def both(store: Store, filters: Filters, since: float, until: float) -> tuple[Any, Any]:
    start, bucket, _ = pick_bucket(since, until)
    window = dataclasses.replace(filters, since=since, until=until)
    return store.activity(window, start, bucket), store.activity(window, start, bucket, use_rollup=False)


def rollup_rows(store: Store) -> list[tuple[Any, ...]]:
    """The hourly rollup's rows (count last)."""
    t = VerdictHour.__table__.c
    with store.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(t.hour, t.combo, t.action, t.event, t.surface, t.categories, t.rules, t.verdicts).order_by(
                    t.hour, t.combo
                )
            )
        ]


ROLLUP_TABLES = (
    "tos_verdict_hours",
    "tos_verdict_spans",
    "tos_verdict_user_days",
    "tos_verdict_group_spans",
    "tos_verdict_user_tag_spans",
)


def all_rollups(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with store.engine.connect() as conn:
        for table in ROLLUP_TABLES:
            out[table] = sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table}"))
    return out


def top_both(store: Store, since: float, until: float, **kw: Any) -> tuple[Any, Any]:
    f = Filters(since=since, until=until, **kw)
    return store.top_users(f, limit=4), store.top_users(f, limit=4, use_rollup=False)


def test_the_rollup_gives_the_raw_numbers_for_every_filter_and_window(store: Store) -> None:
    rng = random.Random(13)
    ingest(store, verdicts(rng, 3000, 15))
    assert sum(r[-1] for r in rollup_rows(store)) == store.verdict_count() == 3000
    served = 0
    for since, until in WINDOWS:
        for filters in FILTERS:
            fast, raw = both(store, filters, since, until)
            assert fast == raw, (filters, since, until)
            served += rollup.serves(filters) and fast.total > 0
    assert served > 20  # the comparisons were not all of empty answers
    periods, _ = rollup.cover(T0 - 40 * DAY + 7.5, T0 + 50 * DAY, rollup.SIZES)
    assert {size for size, _, _ in periods} == set(rollup.SIZES)
    for since, until in WINDOWS + [(T0 + 0.5, T0 + 3 * DAY + 0.25), (T0 + 2 * DAY, T0 + 6 * DAY + 0.5)]:
        for kw in TOP_FILTERS:
            fast_top, raw_top = top_both(store, since, until, **kw)
            assert fast_top == raw_top, (since, until, kw)
    assert len(top_both(store, T0, T0 + 14 * DAY)[0]) == 4
    assert len(top_both(store, T0, T0 + 14 * DAY, group="tutors")[0]) == 2  # user0 and user3
    source = rollup.top_users_source
    assert source(Filters(since=T0, until=T0 + DAY, category="mining")) == rollup.TopSource(("category", "mining"))
    assert source(Filters(since=T0, category="mining", action="block")) == rollup.TopSource(
        ("category", "mining"), True
    )
    assert source(Filters(since=T0, action="warn")) is None
    assert source(Filters(since=T0, category="mining", rule="mining.xmrig")) is None
    assert rollup.sizes_for(Filters(group="course0")) == rollup.GROUP_SIZES
    # a whole-hour window read from the rollup alone, against a count of raw rows in Python
    fast, _ = both(store, Filters(action="block"), T0, T0 + 2 * DAY)
    with store.engine.connect() as conn:
        n = conn.exec_driver_sql(
            f"SELECT count(*) FROM tos_verdicts WHERE action = 'block' AND time >= {T0!r} AND time < {T0 + 2 * DAY!r}"
        ).scalar_one()
    assert fast.total == n > 0
    # whole days of one group, from the per-group rollup alone, against the tags joined in SQL
    window = Filters(group="tutors", since=T0 + DAY, until=T0 + 8 * DAY)
    assert rollup.cover(T0 + DAY, T0 + 8 * DAY, rollup.GROUP_SIZES)[1] == []
    with store.engine.connect() as conn:
        n = conn.exec_driver_sql(
            "SELECT count(*) FROM tos_verdicts v JOIN tos_verdict_tags t ON t.verdict_id = v.id "
            f"WHERE t.kind = 'group' AND t.value = 'tutors' AND v.time >= {T0 + DAY!r} AND v.time < {T0 + 8 * DAY!r}"
        ).scalar_one()
    assert store.activity(window, T0 + DAY, DAY).total == n > 0


def test_the_summary_counts_every_match_from_the_rollups(store: Store) -> None:
    """The verdicts page's counts by action and category: from the rollups for every filter
    they serve, with and without a time window, equal to a count of every raw match."""
    rng = random.Random(7)
    ingest(store, verdicts(rng, 2000, 15))
    windows: list[tuple[float | None, float | None]] = [(None, None), (T0 + DAY + 0.5, None), (None, T0 + 5 * DAY)]
    checked = 0
    for since, until in windows + WINDOWS[:4]:
        for filters in FILTERS:
            window = dataclasses.replace(filters, since=since, until=until)
            fast = store.summary(window, cap=10)
            raw = store.summary(window, cap=10**9, use_rollup=False)
            if rollup.serves(filters):
                assert fast == raw, (filters, since, until)
                checked += fast.total > 10  # more than the cap, counted all the same
            else:
                assert fast.capped == (raw.total > 10)
    assert checked > 20
    assert store.summary(Filters(since=T0 + 30 * DAY)) == store.summary(Filters(user="nobody")) == Summary(0)


def test_hours_are_exact_at_their_edges() -> None:
    h = 498_216  # an hour of T0's era
    assert rollup.hour_of(h * HOUR) == h
    assert rollup.hour_of(math.nextafter(h * HOUR, 0.0)) == h - 1
    assert rollup.hour_of(math.nextafter((h + 1) * HOUR, 0.0)) == h
    assert rollup.hour_of(-0.5) == -1


def test_the_purge_takes_its_verdicts_out_of_the_rollup(store: Store) -> None:
    rng = random.Random(7)
    ingest(store, verdicts(rng, 1500, 6))
    with store.engine.begin() as conn:  # a third received long ago: the purge takes rows of every hour
        conn.exec_driver_sql("UPDATE tos_verdicts SET received = 1.0 WHERE mod(id, 3) = 0")
    assert store.purge(2.0, batch=200) == 500
    assert store.purge_before(T0 + 3 * DAY + 1800.25) > 0
    for since, until in WINDOWS:
        for filters in FILTERS[:8]:
            fast, raw = both(store, filters, since, until)
            assert fast == raw
    for since, until in WINDOWS:
        for kw in TOP_FILTERS:
            assert top_both(store, since, until, **kw)[0] == top_both(store, since, until, **kw)[1]
    for since, until in WINDOWS:
        for filters in FILTERS[10:14]:  # the groups
            fast, raw = both(store, filters, since, until)
            assert fast == raw
    kept = all_rollups(store)
    assert sum(r[-1] for r in kept["tos_verdict_hours"]) == store.verdict_count()
    assert all(r[-1] > 0 for r in kept["tos_verdict_hours"])  # emptied rows are deleted
    with store.engine.begin() as conn:  # what the purges left is what a fill from scratch gives
        rollup.rebuild(conn)
    assert all_rollups(store) == kept


def test_the_migration_fills_the_rollup_as_ingest_keeps_it(store: Store) -> None:
    """Downgrade to 0003 (the rollups go), upgrade again (created and filled from the stored
    verdicts in the database): the same rows, key for key, as ingest kept them one by one."""
    from alembic import command

    from jupyter_tos_guard.hub import db as dbm

    rng = random.Random(3)
    ingest(store, verdicts(rng, 1200, 4))
    kept = all_rollups(store)
    assert all(kept.values())
    cfg = dbm._alembic_config(store.engine)
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    assert dbm.current_revision(store.engine) == "0003"
    dbm.upgrade(store.engine)
    assert all_rollups(store) == kept
    # ingest after the fill adds to its rows (the same days; new users among them)
    ingest(store, verdicts(rng, 900, 5), users=7, clients="later")
    for since, until in WINDOWS[:2] + [(T0 + 0.75 * DAY, T0 + 4 * DAY + 3 * HOUR)]:
        for filters in FILTERS[10:15]:
            window = dataclasses.replace(filters, since=since, until=until)
            start = math.floor(since / DAY) * DAY
            assert store.activity(window, start, DAY) == store.activity(window, start, DAY, use_rollup=False)
        for kw in TOP_FILTERS + [{"group": "course0"}]:
            fast_top, raw_top = top_both(store, since, until, **kw)
            assert fast_top == raw_top, (since, until, kw)
    kept = all_rollups(store)
    with store.engine.begin() as conn:
        rollup.rebuild(conn)
    assert all_rollups(store) == kept


def test_random_windows_with_partial_days_agree_with_the_raw_table(store: Store) -> None:
    """Windows cut anywhere (partial first and last days, a hair before midnight), daily and
    weekly buckets: the group charts and the filtered top users equal the raw table's answers."""
    rng = random.Random(2026)
    ingest(store, verdicts(rng, 2500, 21), users=6)
    checked = 0
    for _ in range(12):
        since = T0 + rng.choice((rng.uniform(-DAY, 20 * DAY), DAY * rng.randrange(20), math.nextafter(DAY * 3, 0)))
        until = since + rng.choice((rng.uniform(0.5 * DAY, 21 * DAY), DAY * rng.randrange(1, 15)))
        for bucket in (DAY, 7 * DAY):
            start = math.floor(since / bucket) * bucket
            for filters in FILTERS[10:15] + [Filters(group="course1", action="warn", rule="mining.xmrig")]:
                window = dataclasses.replace(filters, since=since, until=until)
                fast = store.activity(window, start, bucket)
                assert fast == store.activity(window, start, bucket, use_rollup=False), (filters, since, until)
                checked += fast.total > 0
        for kw in TOP_FILTERS + [{"group": "course0"}, {"category": "deepfake"}]:
            fast_top, raw_top = top_both(store, since, until, **kw)
            assert fast_top == raw_top, (since, until, kw)
    assert checked > 50


def test_whitespace_inside_a_reported_rule_cannot_split_it(store: Store) -> None:
    """A tampered guard's rule id holding a space is stored as one token (`_`), so the tag and the
    rollup's token agree."""
    record = {"event": "decision", "time": T0 + 10, "action": "block", "rules": ["a b"], "categories": ["x\ty"]}
    store.ingest([IngestItem("eve", (), "client-eve0", "", [(1, record)])])
    row = store.verdicts(Filters(), 1)[0]
    assert row["rules"] == ["a_b"] and row["categories"] == ["x_y"]
    for filters in (Filters(rule="a_b"), Filters(rule="a"), Filters(category="x_y")):
        fast, raw = both(store, filters, T0, T0 + DAY)
        assert fast == raw
    assert both(store, Filters(rule="a_b"), T0, T0 + DAY)[0].total == 1


def test_concurrent_ingest_and_purge_keep_the_rollups_exact(store: Store) -> None:
    """Replicas on one PostgreSQL: four writers (own connections, as service processes have)
    store verdicts of the same hours, days, users and groups at once while a purge runs; no
    transaction deadlocks or loses a count, and every rollup equals a fill from scratch."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("one writer on SQLite")
    import threading

    ingest(store, verdicts(random.Random(5), 600, 4), clients="old")
    with store.engine.begin() as conn:  # these were received long ago: the purge takes them
        conn.exec_driver_sql("UPDATE tos_verdicts SET received = 1.0 WHERE mod(id, 2) = 0")
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            rng = random.Random(100 + i)
            for k in range(12):  # many small transactions, each touching rows the others touch
                ingest(store, verdicts(rng, 40, 4), users=5, clients=f"w{i}-{k}")
        except BaseException as exc:
            errors.append(exc)

    def purger() -> None:
        try:
            store.purge(2.0, batch=37)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)] + [threading.Thread(target=purger)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert store.verdict_count() == 300 + 4 * 12 * 40
    kept = all_rollups(store)
    with store.engine.begin() as conn:
        rollup.rebuild(conn)
    assert all_rollups(store) == kept


def test_top_users_by_blocks_leave_out_users_without_one(store: Store) -> None:
    """`action=block` from the rollups' blocks: a user whose verdicts of the window are all
    warnings has rows there (with no blocks) and must not be listed, as the raw table does not."""
    rng = random.Random(11)
    ingest(store, verdicts(rng, 400, 6), users=3)
    for k in range(6):  # one warning a day, in a group and a category others block in
        warn = {"event": "decision", "time": T0 + DAY * k + 600, "action": "warn", "categories": ["mining"]}
        store.ingest([IngestItem("quiet", ("tutors",), "client-quiet", "", [(k + 1, warn)])])
    for kw in ({"action": "block"}, {"action": "block", "group": "tutors"}, {"action": "block", "category": "mining"}):
        f = Filters(since=T0 + 0.5 * DAY, until=T0 + 5.5 * DAY, **kw)
        fast = store.top_users(f, limit=10)
        assert fast == store.top_users(f, limit=10, use_rollup=False), kw
        assert fast and "quiet" not in {r["user"] for r in fast}


def test_tied_users_are_cut_in_the_same_order_from_the_rollups_and_the_raw_table(store: Store) -> None:
    """Users with as many verdicts as each other, with names a database collation may sort
    differently from Python (case, accents): the rollups and the raw table list the same ones,
    in code-point order."""
    names = ["zoe", "Zed", "adam", "Émile", "Bob", "éva"]
    if store.engine.dialect.name == "postgresql":  # a hub's database in a natural-language collation
        with store.engine.begin() as conn:
            icu = conn.exec_driver_sql("SELECT 1 FROM pg_collation WHERE collname = 'en-US-x-icu'").first()
            if icu is not None:
                conn.exec_driver_sql(
                    'ALTER TABLE tos_verdicts ALTER COLUMN "user" TYPE varchar(255) COLLATE "en-US-x-icu"'
                )
    for k, name in enumerate(names):
        records = [{"event": "decision", "time": T0 + DAY + 60 * i, "action": "warn"} for i in range(3)]
        store.ingest([IngestItem(name, (), f"client-tie{k}", "", [(i + 1, r) for i, r in enumerate(records)])])
    f = Filters(since=T0, until=T0 + 3 * DAY)
    fast, raw = store.top_users(f, limit=4), store.top_users(f, limit=4, use_rollup=False)
    assert [u["user"] for u in fast] == [u["user"] for u in raw] == sorted(names)[:4]
