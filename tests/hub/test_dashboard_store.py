"""The dashboard's numbers: the store's GROUP BY queries (SQLite, and PostgreSQL when
$JUPYTER_TOS_GUARD_HUB_TEST_DB_URL names one) and the charts' layout, without a hub."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubharness import STORE_KINDS, migrated_engine

from jupyter_tos_guard.hub import db as dbm
from jupyter_tos_guard.hub.charts import ACTION_COLOURS, nice_ceiling, pick_bucket, stacked_bars
from jupyter_tos_guard.hub.db import Filters, IngestItem, Store

DAY = 86400.0
# Monday 2 November 2026, 00:00 UTC: in the past (a verdict's time is never later than its arrival), on a day boundary
T0 = 1_793_577_600.0


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated database: a SQLite file, and also $JUPYTER_TOS_GUARD_HUB_TEST_DB_URL when set."""
    engine = migrated_engine(request.param, tmp_path)
    yield Store(engine)
    engine.dispose()


def rec(t: float, action: str | None, rules: list[str], categories: list[str], **extra: Any) -> dict[str, Any]:
    return dict({"event": "decision", "time": t, "action": action, "rules": rules, "categories": categories}, **extra)


def fill(store: Store) -> None:
    """Three days of verdicts from three users (times in the past, as a guard replaying its queue)."""
    alice = [
        rec(T0 + 1 * 3600, "block", ["mining.xmrig"], ["mining"]),
        rec(T0 + 2 * 3600, "block", ["mining.xmrig"], ["mining"], surface="terminal"),
        rec(T0 + DAY + 60, "warn", ["deepfake.faceswap"], ["deepfake"]),
        # two categories: counted once in each category's series, once in its action's
        rec(T0 + DAY + 120, "block", ["mining.xmrig", "tunnel.ngrok"], ["mining", "tunnels"]),
    ]
    bob = [
        rec(T0 + 5, "warn", ["deepfake.faceswap"], ["deepfake"]),
        rec(T0 + 2 * DAY + 7, None, [], [], event="engine_error", error="boom"),
    ]
    # 20:00: a rounding (not floor) bucket expression would put it in the next day
    carol = [rec(T0 + 2 * DAY + 20 * 3600, "block", ["cracking.hashcat"], ["cracking"])]
    store.ingest(
        [
            IngestItem("alice", ("course1",), "client-alice", "", list(enumerate(alice, 1))),
            IngestItem("bob", ("course1", "tas"), "client-bob0", "", list(enumerate(bob, 1))),
            IngestItem("carol", (), "client-carol", "gpu", list(enumerate(carol, 1))),
        ]
    )


WINDOW = Filters(since=T0, until=T0 + 3 * DAY)


def test_activity_counts_per_day_by_action_and_category(store: Store) -> None:
    fill(store)
    a = store.activity(WINDOW, T0, DAY)
    assert a.total == 7
    assert a.by_action == {"block": {0: 2, 1: 1, 2: 1}, "warn": {0: 1, 1: 1}, "engine_error": {2: 1}}
    assert a.by_category == {
        "mining": {0: 2, 1: 1},
        "deepfake": {0: 1, 1: 1},
        "tunnels": {1: 1},
        "cracking": {2: 1},
        "(none)": {2: 1},
    }
    assert a.top_rules == [("mining.xmrig", 3), ("deepfake.faceswap", 2), ("cracking.hashcat", 1), ("tunnel.ngrok", 1)]
    # hourly buckets from the same origin
    hourly = store.activity(WINDOW, T0, 3600)
    assert hourly.by_action["block"][1] == 1 and hourly.by_action["block"][2] == 1 and hourly.by_action["warn"][0] == 1


def test_activity_respects_every_filter(store: Store) -> None:
    fill(store)

    def total(**kw: Any) -> int:
        return store.activity(Filters(**dict({"since": T0, "until": T0 + 3 * DAY}, **kw)), T0, DAY).total

    assert total(user="alice") == 4
    assert total(group="tas") == 2 and total(group="course1") == 6
    assert total(category="mining") == 3
    assert total(rule="deepfake.faceswap", user="bob") == 1
    assert total(surface="terminal") == 1
    assert total(action="block") == 4
    assert total(server_name="gpu") == 1
    assert total(since=T0 + DAY) == 4  # only alice's two of day 1, bob's error and carol's block
    assert total(until=T0 + DAY) == 3  # until is exclusive
    only_mining = store.activity(Filters(category="mining", since=T0, until=T0 + 3 * DAY), T0, DAY)
    assert set(only_mining.by_action) == {"block"} and set(only_mining.by_category) == {"mining", "tunnels"}


def test_activity_needs_a_window(store: Store) -> None:
    with pytest.raises(ValueError, match="time window"):
        store.activity(Filters(), T0, DAY)


def test_top_users(store: Store) -> None:
    fill(store)
    users = store.top_users(WINDOW)
    assert [(u["user"], u["verdicts"], u["blocks"]) for u in users] == [("alice", 4, 3), ("bob", 2, 0), ("carol", 1, 1)]
    assert users[0]["last"] == T0 + DAY + 120 and users[0]["last_iso"].startswith("2026-11-03T00:02")
    assert [u["user"] for u in store.top_users(WINDOW, limit=1)] == ["alice"]
    assert [u["user"] for u in store.top_users(Filters(action="block", since=T0, until=T0 + 3 * DAY))] == [
        "alice",
        "carol",
    ]
    assert store.top_users(Filters(since=T0 + 3 * DAY, until=T0 + 4 * DAY)) == []


# --- layout ---------------------------------------------------------------------------------------


def test_pick_bucket_keeps_bars_few_and_days_aligned() -> None:
    start, bucket, bars = pick_bucket(T0 + 3 * 3600, T0 + 3 * 3600 + 14 * DAY)
    assert (start, bucket, bars) == (T0, DAY, 15)  # a day starts at midnight UTC; the last one is partial
    assert pick_bucket(T0, T0 + DAY)[1:] == (3600, 24)
    assert pick_bucket(T0, T0 + 365 * DAY)[1] == 30 * DAY
    for span in (60, 3600, 7 * DAY, 90 * DAY, 400 * DAY):
        assert pick_bucket(T0, T0 + span)[2] <= 31


def test_nice_ceiling() -> None:
    assert [nice_ceiling(v) for v in (0, 1, 3, 10, 11, 48, 51, 999, 1001)] == [1, 1, 5, 10, 20, 50, 100, 1000, 2000]


def test_stacked_bars_geometry_matches_the_counts() -> None:
    counts = {"warn": {0: 2, 2: 1}, "block": {0: 8, 1: 4}}
    c = stacked_bars("by action", counts, T0, DAY, 3, ACTION_COLOURS)
    assert [s.name for s in c.series] == ["block", "warn"]  # in the order of the colours: block on the axis
    assert c.total == 15 and [r[2] for r in c.rows] == [10, 4, 1]
    assert c.rows[0] == ("Nov 02", [8, 2], 10)
    left, top, w, h = c.plot
    # ymax is 10: the first bar fills the plot, block's 8 from the axis up
    first = [s for s in c.segments if s.x == c.segments[0].x]
    assert [(s.colour, round(s.height, 3)) for s in first] == [
        (ACTION_COLOURS["block"], round(h * 0.8, 3)),
        (ACTION_COLOURS["warn"], round(h * 0.2, 3)),
    ]
    assert first[0].y + first[0].height == pytest.approx(top + h) and first[1].y == pytest.approx(top)
    assert first[1].title == "Nov 02: 2 warn"
    assert len(c.segments) == 4  # no rectangle for a zero
    assert [label for _, label in c.y_ticks] == ["0", "5", "10"]  # 2.5 and 7.5 are not labelled


def test_stacked_bars_sums_the_smallest_series_as_other() -> None:
    counts = {f"c{i}": {0: 10 - i} for i in range(10)}
    c = stacked_bars("by category", counts, T0, DAY, 1, max_series=3)
    assert [(s.name, s.total) for s in c.series] == [("c0", 10), ("c1", 9), ("c2", 8), ("other", sum(range(1, 8)))]
    assert len({s.colour for s in c.series}) == 4 and c.total == 55


def test_empty_chart() -> None:
    c = stacked_bars("by action", {}, T0, DAY, 14, ACTION_COLOURS)
    assert c.total == 0 and c.segments == [] and len(c.rows) == 14


def test_actions_stack_by_severity_not_by_size() -> None:
    c = stacked_bars("by action", {"log": {0: 9}, "block": {0: 1}, "engine_error": {0: 3}}, T0, DAY, 1, ACTION_COLOURS)
    assert [s.name for s in c.series] == ["block", "log", "engine_error"]
    assert c.segments[0].colour == ACTION_COLOURS["block"] and c.segments[0].y + c.segments[0].height == pytest.approx(
        c.plot[1] + c.plot[3]
    )


def test_first_id_received_bounds_a_tag_filtered_window(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three deliveries a day apart; the middle one partly purged (holes in the ids)."""
    for day in range(3):
        monkeypatch.setattr(dbm, "now", lambda day=day: T0 + day * DAY)
        records = [(k, rec(T0 + day * DAY, "block", ["mining.xmrig"], ["mining"])) for k in range(1, 5)]
        store.ingest([IngestItem("alice", (), f"client-day{day}", "", records)])
    rows = store.verdicts(Filters(), limit=100, oldest_first=True)
    ids = [r["id"] for r in rows]
    with store.engine.begin() as conn:  # purged through the store, so that the hourly rollup follows
        conn.exec_driver_sql(f"UPDATE tos_verdicts SET received = 1.0 WHERE id IN ({ids[4]}, {ids[5]})")
    assert store.purge(2.0) == 2
    with store.engine.connect() as conn:
        assert store._first_id_received(conn, T0 - 1) == ids[0]
        assert store._first_id_received(conn, T0 + 1) == ids[6]  # the first of day 1 that is left
        assert store._first_id_received(conn, T0 + DAY) == ids[6]
        assert store._first_id_received(conn, T0 + 1.5 * DAY) == ids[8]
        assert store._first_id_received(conn, T0 + 3 * DAY) is None
    # the bound changes no count: a tag filter over a window that starts on day 2
    monkeypatch.setattr(store, "ID_MARGIN", 0.0)
    window = Filters(category="mining", since=T0 + 2 * DAY, until=T0 + 3 * DAY)
    assert store.activity(window, T0, DAY).by_action == {"block": {2: 4}}
    assert [(u["user"], u["verdicts"]) for u in store.top_users(window)] == [("alice", 4)]
    assert store.activity(dataclasses.replace(window, since=T0), T0, DAY).by_action == {"block": {0: 4, 1: 2, 2: 4}}
