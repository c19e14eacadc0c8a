"""The service's storage (SQLite files, real migrations) and the guard's on-disk queue, without a hub."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import alembic  # noqa: E402,F401  (the hub extra: a missing install must fail, not skip)
import pytest
import sqlalchemy  # noqa: E402,F401  (installed by the hub extra)
from hubharness import STORE_KINDS, migrated_engine

from jupyter_tos_guard.hub import db as dbm  # noqa: E402
from jupyter_tos_guard.hub.db import Filters, IngestItem, Store, ensure_schema, make_engine, parse_ladder  # noqa: E402
from jupyter_tos_guard.hub.models import Base, Verdict  # noqa: E402
from jupyter_tos_guard.reporter import DiskQueue  # noqa: E402


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated database: a SQLite file, and also $JUPYTER_TOS_GUARD_HUB_TEST_DB_URL when set."""
    engine = migrated_engine(request.param, tmp_path)
    yield Store(engine, [{"name": "blocks", "actions": ["block"], "count": 2, "window": 3600, "response": "notify"}])
    engine.dispose()


def record(action: str = "block", rule: str = "mining.xmrig", category: str = "mining", **extra: Any) -> dict[str, Any]:
    return dict(
        {
            "event": "decision",
            "time": dbm.iso(time.time()),
            "action": action,
            "rules": [rule],
            "categories": [category],
            "excerpt": "!xmrig",
            "user": "alice",
        },
        **extra,
    )


def test_migrations_create_exactly_the_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite'}")
    before, head = ensure_schema(engine, allow_upgrade=True)
    assert before is None and head == dbm.current_revision(engine)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"version_table": dbm.VERSION_TABLE}), Base.metadata
        )
    assert diff == []
    # a second start is a no-op; an old schema is refused unless upgrades are allowed
    assert ensure_schema(engine, allow_upgrade=False) == (head, head)


def test_ingest_is_idempotent_and_ordered(store: Store) -> None:
    item = IngestItem("alice", ("course1",), "client-aaaa", "", [(1, record()), (2, record(action="warn"))])
    [r] = store.ingest([item])
    assert (r.acked, r.inserted, r.duplicates, r.gap) == (2, 2, 0, None)
    [r] = store.ingest([item])  # resent after a lost acknowledgement
    assert (r.acked, r.inserted, r.duplicates) == (2, 0, 2)
    rows = store.verdicts(Filters(user="alice"), oldest_first=True)
    assert [(v["seq"], v["action"]) for v in rows] == [(1, "block"), (2, "warn")]
    assert rows[0]["groups"] == ["course1"] and rows[0]["acting_user"] is None


def test_ingest_stores_the_hub_identity_not_the_claim(store: Store) -> None:
    store.ingest([IngestItem("bob", (), "client-bbbb", "gpu", [(1, record(user="alice"))])])
    [v] = store.verdicts(Filters(rule="mining.xmrig"))
    assert v["user"] == "bob" and v["acting_user"] == "alice" and v["server_name"] == "gpu"
    with pytest.raises(PermissionError):
        store.ingest([IngestItem("alice", (), "client-bbbb", "", [(2, record())])])


def test_a_hole_in_the_numbering_is_flagged(store: Store) -> None:
    store.ingest([IngestItem("alice", (), "client-cccc", "", [(1, record())])])
    [r] = store.ingest([IngestItem("alice", (), "client-cccc", "", [(5, record())])])
    assert r.gap == (2, 4)
    [flag] = store.flags()
    assert flag["reason"] == "report-gap" and "2..4" in flag["detail"]
    assert any(e["action"] == "flag_raised" for e in store.audit_events())


def test_a_future_time_is_clamped_and_garbage_is_kept(store: Store) -> None:
    store.ingest(
        [
            IngestItem(
                "alice",
                (),
                "client-dddd",
                "",
                [
                    (1, record(time="2999-01-01T00:00:00Z")),
                    (2, {"event": "malformed", "raw": [1, 2]}),
                    (3, {"time": "nonsense"}),
                ],
            )
        ]
    )
    rows = store.verdicts(Filters(user="alice"), oldest_first=True)
    assert rows[0]["time"] <= rows[0]["received"]
    assert rows[1]["event"] == "malformed" and rows[2]["event"] == "unknown"


def test_filters_and_summary(store: Store) -> None:
    store.ingest(
        [
            IngestItem(
                "alice", ("course1",), "client-a1a1", "", [(1, record()), (2, record("warn", "p2p.aria", "p2p"))]
            ),
            IngestItem("bob", ("course2",), "client-b1b1", "", [(1, record("exempted"))]),
        ]
    )
    assert len(store.verdicts(Filters())) == 3
    assert [v["user"] for v in store.verdicts(Filters(group="course2"))] == ["bob"]
    assert [v["action"] for v in store.verdicts(Filters(category="p2p"))] == ["warn"]
    assert len(store.verdicts(Filters(rule="mining.xmrig", group="course1"))) == 1
    assert store.verdicts(Filters(since=time.time() + 60)) == []
    summary = store.summary(Filters())
    assert summary.total == 3 and summary.by_action == {"block": 1, "warn": 1, "exempted": 1}
    assert summary.by_category == {"mining": 2, "p2p": 1}
    assert store.summary(Filters(user="alice")).by_category == {"mining": 1, "p2p": 1}
    # a filter the rollups cannot answer reads the raw table: the newest `cap` only, and it says so
    capped = store.summary(Filters(user="alice"), cap=1)
    assert capped.capped and capped.total == 1 and capped.by_action == {"warn": 1}
    assert not store.summary(Filters(user="alice"), cap=2).capped
    assert store.summary(Filters(), cap=2) == summary  # from the rollups: every match, uncapped
    assert [v["id"] for v in store.iter_verdicts(Filters(), 10, chunk=1)] == sorted(
        v["id"] for v in store.verdicts(Filters())
    )
    assert {"course1", "course2"} <= set(store.known_values()["group"])


def test_exemptions(store: Store) -> None:
    group = store.add_exemption("group", "vetted", "mining.*", None, "research", time.time() + 3600, "admin")
    store.add_exemption("user", "alice", None, "p2p", "course project", None, "admin")
    soon = store.add_exemption("user", "carol", "x", None, "short", time.time() + 0.2, "admin")
    for bad in [
        ("user", "", "x", None, "r", None),
        ("user", "a", None, None, "r", None),
        ("user", "a", "x", None, " ", None),
        ("team", "a", "x", None, "r", None),
        ("user", "a", "x", None, "r", time.time() - 1),
    ]:
        with pytest.raises(ValueError):
            store.add_exemption(*bad, by="admin")  # type: ignore[misc]
    assert {e["subject"] for e in store.exemptions_for("bob", ["vetted"])} == {"vetted"}
    assert {e["subject"] for e in store.exemptions_for("alice", [])} == {"alice"}
    assert store.exemptions_for("bob", []) == []
    time.sleep(0.3)
    assert store.exemptions_for("carol", []) == []  # expired
    assert soon["id"] in {e["id"] for e in store.exemptions(include_inactive=True)}
    assert store.revoke_exemption(group["id"], "admin") and not store.revoke_exemption(group["id"], "admin")
    assert store.exemptions_for("bob", ["vetted"]) == []
    actions = [e["action"] for e in store.audit_events()]
    assert actions.count("exemption_granted") == 3 and actions.count("exemption_revoked") == 1


def test_strikes_count_clear_and_refire(store: Store) -> None:
    ladder = store.ladder()
    [s] = store.strike_status("alice", (), ladder)
    assert (s.count, s.fires) == (0, False)
    store.ingest([IngestItem("alice", (), "client-e1e1", "", [(1, record()), (2, record()), (3, record("warn"))])])
    [s] = store.strike_status("alice", (), ladder)
    assert (s.count, s.fires) == (2, True)
    store.record_strike("alice", s.step, s.count, "done", "notified")
    [s] = store.strike_status("alice", (), ladder)
    assert s.count == 0  # counting restarts after the step fired
    time.sleep(0.01)
    store.ingest([IngestItem("alice", (), "client-e1e1", "", [(4, record())])])
    assert store.strike_status("alice", (), ladder)[0].count == 1
    store.clear_strikes("alice", "admin", "talked")
    assert store.strike_status("alice", (), ladder)[0].count == 0
    assert [e["step"] for e in store.strike_events("alice")] == ["blocks"]


def test_strikes_of_many_users_at_once(store: Store) -> None:
    """One evaluation of many users (what the service does every `Strikes.delay`) answers as
    each alone; their claims are one transaction, each firing claimed once and audited once."""
    store.set_ladder(
        [
            {"name": "blocks", "actions": ["block"], "count": 2, "window": 3600, "response": "notify"},
            {"name": "warns", "actions": ["warn"], "count": 1, "window": 3600, "response": "notify"},
            {"name": "lab", "actions": ["block"], "count": 1, "window": 60, "response": "stop", "groups": ["lab"]},
        ],
        "admin",
    )
    reports = {"alice": ["block", "block"], "bob": ["warn"], "carol": ["block"], "dave": []}
    for n, (user, actions) in enumerate(reports.items()):
        records = [(seq, record(a)) for seq, a in enumerate(actions, 1)]
        if records:
            store.ingest([IngestItem(user, (), f"client-m{n}m{n}", "", records)])
    store.clear_strikes("bob", "admin")  # bob's warning is before the clear
    users = [("alice", ()), ("bob", ()), ("carol", ("lab",)), ("dave", ("lab",)), ("erin", ())]
    many = store.strike_statuses(users)

    def seen(statuses: list[Any]) -> list[tuple[str, int, bool]]:  # `since` moves with the clock
        return [(s.step.name, s.count, s.fires) for s in statuses]

    assert {u: seen(s) for u, s in many.items()} == {u: seen(store.strike_status(u, g)) for u, g in users}
    fires = {user: [s.step.name for s in statuses if s.fires] for user, statuses in many.items()}
    assert fires == {"alice": ["blocks"], "bob": [], "carol": ["lab"], "dave": [], "erin": []}
    claimed = store.claim_strikes_of(users)
    assert {u: [s.step.name for _, s in events] for u, events in claimed.items()} == fires
    assert store.claim_strikes_of(users) == {user: [] for user, _ in users}  # claimed: the windows restart
    events = [(event_id, "done", f"{user} notified") for user, mine in claimed.items() for event_id, _ in mine]
    assert store.finish_strikes(events + [(10**9, "done", "cleared meanwhile")]) == [None] * 3
    assert {(e["user"], e["step"], e["outcome"]) for e in store.strike_events()} == {
        ("alice", "blocks", "done"),
        ("carol", "lab", "done"),
    }
    audited = [e for e in store.audit_events() if e["action"].startswith("strike_")]
    assert sorted((e["action"], e["subject"]) for e in audited) == [
        ("strike_notify", "alice"),
        ("strike_stop", "carol"),
    ]


def test_ladder_validation_and_group_steps(store: Store) -> None:
    with pytest.raises(ValueError):
        parse_ladder([{"name": "x", "actions": ["block"], "count": 0, "window": 10, "response": "notify"}])
    with pytest.raises(ValueError):
        parse_ladder([{"name": "x", "actions": ["block"], "count": 1, "window": 10, "response": "ban"}])
    with pytest.raises(ValueError):
        parse_ladder([{"name": "x", "actions": ["block"], "count": 1, "window": 10, "response": "stop", "typo": 1}])
    with pytest.raises(ValueError):
        store.set_ladder({"not": "a list"}, "admin")
    steps = store.set_ladder(
        [
            {
                "name": "probation",
                "actions": ["block"],
                "count": 1,
                "window": 60,
                "response": "stop",
                "groups": ["probation"],
            }
        ],
        "admin",
    )
    assert store.ladder() == steps
    assert store.strike_status("alice", ()) == []
    assert len(store.strike_status("alice", ("probation",))) == 1
    assert store.audit_events()[0]["action"] == "ladder_changed"


def test_flags_sync(store: Store) -> None:
    raised, resolved = store.sync_flags("no-heartbeat", {("rogue", ""): "no heartbeat"})
    assert raised == [("rogue", "")] and resolved == []
    assert store.sync_flags("no-heartbeat", {("rogue", ""): "still"}) == ([], [])
    raised, resolved = store.sync_flags("no-heartbeat", {})
    assert resolved == [("rogue", "")] and store.flags() == []
    assert len(store.flags(open_only=False)) == 1


def test_heartbeat_upsert(store: Store) -> None:
    store.heartbeat(
        "alice", "client-f1f1", {"server_name": "", "version": "1.0", "policy_digest": "d" * 64, "queue_pending": 3}
    )
    store.heartbeat("alice", "client-f1f1", {"server_name": "", "version": "1.1", "policy_digest": "d" * 64})
    [c] = store.clients()
    assert c["version"] == "1.1" and c["queue_pending"] is None
    assert ("alice", "") in store.latest_heartbeats()
    with pytest.raises(PermissionError):
        store.heartbeat("bob", "client-f1f1", {})


# --- the guard's queue ------------------------------------------------------------------------------------


def test_queue_survives_restart_and_acks_in_order(tmp_path: Path) -> None:
    q = DiskQueue(str(tmp_path / "q"))
    seqs = [q.append({"n": i}) for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert [s for s, _ in q.pending(3)] == [1, 2, 3]
    q.ack(3)
    assert [r["n"] for _, r in q.pending(10)] == [3, 4]
    client_id = q.client_id
    q.close()
    q2 = DiskQueue(str(tmp_path / "q"))  # the server restarted
    assert q2.client_id == client_id and q2.acked == 3 and q2.last_seq == 5
    assert [s for s, _ in q2.pending(10)] == [4, 5]
    assert q2.append({"n": 5}) == 6
    q2.close()


def test_queue_drops_a_torn_last_line_and_skips_garbage(tmp_path: Path) -> None:
    q = DiskQueue(str(tmp_path / "q"))
    q.append({"n": 1})
    q.close()
    with open(tmp_path / "q" / "queue.jsonl", "ab") as f:
        f.write(b"not json\n")
        f.write(b'{"seq": 3, "record": {"n": 3}}\n')
        f.write(b'{"seq": 4, "rec')  # the machine died mid-write
    q = DiskQueue(str(tmp_path / "q"))
    assert [s for s, _ in q.pending(10)] == [1, 3]
    assert q.last_seq == 3 and q.dropped == 1
    assert q.append({"n": 4}) == 4
    assert (tmp_path / "q" / "queue.jsonl").read_bytes().endswith(b"\n")
    q.close()


def test_queue_compacts_once_everything_is_acknowledged(tmp_path: Path) -> None:
    q = DiskQueue(str(tmp_path / "q"), fsync=False, compact_bytes=200)
    for i in range(20):
        q.append({"payload": "x" * 20, "i": i})
    q.ack(10)
    assert (tmp_path / "q" / "queue.jsonl").stat().st_size > 200
    q.ack(20)
    assert (tmp_path / "q" / "queue.jsonl").stat().st_size == 0
    assert q.append({"i": 20}) == 21 and [s for s, _ in q.pending(5)] == [21]
    q.close()
    assert json.loads((tmp_path / "q" / "cursor.json").read_text())["acked"] == 20
    q = DiskQueue(str(tmp_path / "q"))
    assert q.last_seq == 21 and [s for s, _ in q.pending(5)] == [21]
    q.close()


def test_verdicts_filter_by_surface(store: Store) -> None:
    store.ingest(
        [
            IngestItem(
                "alice",
                (),
                "client-s1s1",
                "",
                [
                    (1, record()),  # a record from before surfaces existed: none
                    (2, record(surface="cell")),
                    (3, record(surface="process", pid=42, command_line="xmrig -o pool")),
                    (4, record(surface="terminal")),
                ],
            )
        ]
    )
    assert [v["surface"] for v in store.verdicts(Filters(surface="process"))] == ["process"]
    assert [v["surface"] for v in store.verdicts(Filters())] == ["terminal", "process", "cell", None]
    assert store.summary(Filters(surface="terminal")).total == 1
    assert set(store.known_values()["surface"]) == {"cell", "process", "terminal"}


def test_purge_deletes_old_verdicts_and_their_tags_only(store: Store) -> None:
    store.ingest([IngestItem("alice", ("course1",), "client-p1p1", "", [(1, record()), (2, record("warn"))])])
    cutoff = time.time() + 1  # both are older than this
    store.ingest([IngestItem("bob", (), "client-p2p2", "", [(1, record())])])
    with store.session() as s:  # bob's arrives "later": move alice's back in time
        s.execute(sqlalchemy.update(Verdict).where(Verdict.user == "alice").values(received=time.time() - 86400))
    assert store.purge(cutoff - 3600, batch=1) == 2
    assert [v["user"] for v in store.verdicts(Filters())] == ["bob"]
    assert store.verdicts(Filters(group="course1")) == []  # the tags went too
    assert any(e["action"] == "purge" for e in store.audit_events())
    assert store.purge(cutoff - 3600) == 0


def test_purge_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'svc.sqlite'}"
    engine = make_engine(url)
    ensure_schema(engine, allow_upgrade=True)
    store = Store(engine, [])
    store.ingest([IngestItem("alice", (), "client-c1c1", "", [(1, record())])])
    with store.session() as s:
        s.execute(sqlalchemy.update(Verdict).values(received=time.time() - 10 * 86400))
    engine.dispose()
    command = [sys.executable, "-m", "jupyter_tos_guard.hub", "purge", f"--TosGuardHubService.db_url={url}"]
    kept = subprocess.run([*command, "--days=30"], capture_output=True, text=True, timeout=120)
    assert kept.returncode == 0 and "0 verdicts older than 30 days deleted" in kept.stderr
    gone = subprocess.run([*command, "--days=7"], capture_output=True, text=True, timeout=120)
    assert gone.returncode == 0 and "1 verdicts older than 7 days deleted" in gone.stderr


def test_an_old_schema_is_refused_then_migrated_with_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "svc.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    dbm.upgrade(engine, "0001")  # a database of the previous release
    with pytest.raises(RuntimeError, match="run `jupyter-tos-guard-hub upgrade-db`"):
        ensure_schema(engine, allow_upgrade=False)
    before, head = ensure_schema(engine, allow_upgrade=True)
    assert (before, head) == ("0001", dbm.current_revision(engine))
    backup = tmp_path / "svc.sqlite.0001.bak"
    assert backup.exists() and backup.stat().st_size > 0
    old = make_engine(f"sqlite:///{backup}")
    assert dbm.current_revision(old) == "0001"
    old.dispose()
    engine.dispose()
