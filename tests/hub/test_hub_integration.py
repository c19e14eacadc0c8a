"""The hub service and the guard's client, on a real JupyterHub with its real proxy.

Cells go through the proxy's websocket to each user's server, authenticated with a user API
token, as a browser's would; every check reads the service's answers (or the hub's), never
its internals. The tests share one hub and run in file order; each uses its own user.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
import socket
import time
import uuid
from typing import Any

import pytest
import requests
from hubharness import CENTRAL_POLICY, PASSWORD, SERVICE, Hub, wait_for
from kernel_client import V1, KernelWS, reply_of
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from jupyter_tos_guard import __version__

pytestmark = pytest.mark.timeout(240)


# --- helpers ------------------------------------------------------------------------------------------


def run_cells(hub: Hub, user: str, cells: list[str]) -> list[list[dict[str, Any]]]:
    """Start a kernel on the user's server and run cells through the proxy's websocket."""
    token = hub.token_for(user)
    auth = {"Authorization": f"token {token}"}
    r = requests.post(
        f"{hub.proxy_url}/user/{user}/api/kernels", headers=auth, json={"name": "python3", "path": ""}, timeout=60
    )
    r.raise_for_status()
    kernel_id = r.json()["id"]

    async def go() -> list[list[dict[str, Any]]]:
        url = hub.proxy_url.replace("http://", "ws://")
        req = HTTPRequest(
            f"{url}/user/{user}/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}",
            headers=auth,
            request_timeout=60,
            connect_timeout=60,
        )
        ws = await websocket_connect(req, subprotocols=[V1])
        client = KernelWS(ws, "v1")
        await client.kernel_info()
        out = [await client.execute(code) for code in cells]
        ws.close()
        return out

    try:
        return asyncio.run(go())
    finally:
        requests.delete(f"{hub.proxy_url}/user/{user}/api/kernels/{kernel_id}", headers=auth, timeout=30)


def status_of(msgs: list[dict[str, Any]]) -> str:
    return str(reply_of(msgs)["content"]["status"])


def login(hub: Hub, user: str) -> requests.Session:
    s = requests.Session()
    page = s.get(f"{hub.proxy_url}/hub/login", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    data = {"username": user, "password": PASSWORD}
    if xsrf:
        data["_xsrf"] = xsrf.group(1)
    r = s.post(f"{hub.proxy_url}/hub/login", data=data, timeout=60)
    assert r.status_code == 200, r.text[:500]
    return s


def clients_by_user(hub: Hub) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for c in hub.service("GET", "api/admin/servers")["clients"]:
        if c["last_heartbeat"] and (c["user"] not in out or c["last_heartbeat"] > out[c["user"]]["last_heartbeat"]):
            out[c["user"]] = c
    return out


# --- tests ----------------------------------------------------------------------------------------------


def test_prohibited_cell_reaches_the_service(servers: Hub) -> None:
    hub = servers
    [msgs] = run_cells(hub, "alice", ["!blockme-tool --go"])
    assert status_of(msgs) == "error"
    assert any(m["content"].get("ename") == "TermsOfUseViolation" for m in msgs)

    rows = wait_for(lambda: hub.verdicts(user="alice", rule="test.blockme"), timeout=60, what="alice's verdict")
    v = rows[0]
    assert v["action"] == "block" and v["event"] == "decision"
    assert v["rules"] == ["test.blockme"] and v["categories"] == ["testing"]
    assert "blockme-tool" in v["excerpt"]
    assert v["acting_user"] is None and v["server_name"] == ""
    assert len(v["policy_digest"]) == 64 and len(v["code_sha256"]) == 64
    # filters: category, action, group (alice is in none), time
    assert hub.verdicts(category="testing", action="block", user="alice")
    assert not hub.verdicts(user="alice", group="vetted")
    assert hub.verdicts(user="alice", since="1h") and not hub.verdicts(user="alice", until="2000-01-01")


def test_a_server_reports_only_as_its_own_user(servers: Hub) -> None:
    hub = servers
    bob = hub.token_for("bob")
    client_id = uuid.uuid4().hex
    record = {
        "event": "decision",
        "user": "alice",
        "action": "warn",
        "rules": ["forged.rule"],
        "categories": ["forged"],
        "time": "2020-01-01T00:00:00Z",
    }
    answer = hub.service(
        "POST",
        "api/guard/reports",
        token=bob,
        direct=True,
        json={"client_id": client_id, "records": [{"seq": 1, "record": record}]},
    )
    assert answer == {"acked": 1, "inserted": 1, "duplicates": 0}
    # the same batch again (a lost acknowledgement) is stored once
    again = hub.service(
        "POST",
        "api/guard/reports",
        token=bob,
        direct=True,
        json={"client_id": client_id, "records": [{"seq": 1, "record": record}]},
    )
    assert again == {"acked": 1, "inserted": 0, "duplicates": 1}
    [row] = hub.verdicts(rule="forged.rule")
    assert row["user"] == "bob" and row["acting_user"] == "alice"
    # the client id is bob's now: alice cannot write into its sequence
    r = requests.post(
        hub.service_url + "api/guard/reports",
        headers={"Authorization": f"token {hub.token_for('alice')}"},
        json={"client_id": client_id, "records": [{"seq": 2, "record": record}]},
        timeout=30,
    )
    assert r.status_code == 403
    # a token the hub does not know, and no token
    r = requests.post(
        hub.service_url + "api/guard/reports",
        headers={"Authorization": "token not-a-token"},
        json={"client_id": client_id, "records": []},
        timeout=30,
    )
    assert r.status_code == 403
    assert requests.get(hub.service_url + "api/guard/exemptions", timeout=30).status_code == 401
    # a user's token does not open the admin API
    r = requests.get(hub.service_url + "api/admin/verdicts", headers={"Authorization": f"token {bob}"}, timeout=30)
    assert r.status_code == 403


def test_admin_page_shows_verdicts_and_non_admin_is_refused(servers: Hub) -> None:
    hub = servers
    wait_for(lambda: hub.verdicts(user="alice", rule="test.blockme"), timeout=60, what="alice's verdict")
    admin = login(hub, "admin")
    page = admin.get(f"{hub.proxy_url}/services/{SERVICE}/?user=alice", timeout=60)
    assert page.status_code == 200, page.text[:1000]
    assert page.url.startswith(f"{hub.proxy_url}/services/{SERVICE}/")  # came back through hub OAuth
    assert "test.blockme" in page.text and "blockme-tool" in page.text and "alice" in page.text
    timeline = admin.get(f"{hub.proxy_url}/services/{SERVICE}/users/alice", timeout=60)
    assert timeline.status_code == 200 and "Timeline of alice" in timeline.text and "test.blockme" in timeline.text
    csv_text = admin.get(
        f"{hub.proxy_url}/services/{SERVICE}/api/admin/export", params={"user": "alice", "format": "csv"}, timeout=60
    ).text
    header, *lines = csv_text.strip().splitlines()
    assert header.startswith("time_iso,received_iso,id,user") and any("test.blockme" in line for line in lines)
    exported = admin.get(
        f"{hub.proxy_url}/services/{SERVICE}/api/admin/export", params={"user": "alice", "format": "json"}, timeout=60
    ).json()
    assert any(r["rules"] == ["test.blockme"] for r in exported)

    # a form post with the page's xsrf token (cookie-authenticated)
    page = admin.get(f"{hub.proxy_url}/services/{SERVICE}/exemptions", timeout=60)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert xsrf
    r = admin.post(
        f"{hub.proxy_url}/services/{SERVICE}/exemptions",
        timeout=60,
        data={
            "_xsrf": xsrf.group(1),
            "subject_kind": "user",
            "subject": "nobody",
            "rule": "x.*",
            "reason": "form test",
            "expires": "1d",
        },
    )
    assert r.status_code == 200 and "form test" in r.text
    # ... and without it, refused
    r = admin.post(
        f"{hub.proxy_url}/services/{SERVICE}/exemptions",
        timeout=60,
        allow_redirects=False,
        data={"subject_kind": "user", "subject": "nobody", "rule": "y.*", "reason": "no xsrf"},
    )
    assert r.status_code == 403
    grant = next(e for e in hub.service("GET", "api/admin/exemptions")["exemptions"] if e["reason"] == "form test")
    assert grant["created_by"] == "admin"
    hub.service("DELETE", f"api/admin/exemptions/{grant['id']}")

    bob = login(hub, "bob")
    refused = bob.get(f"{hub.proxy_url}/services/{SERVICE}/?user=alice", timeout=60)
    assert refused.status_code == 403
    assert "blockme-tool" not in refused.text


def test_heartbeats_and_central_policy(servers: Hub) -> None:
    hub = servers
    sha = hashlib.sha256(CENTRAL_POLICY.encode()).hexdigest()
    alice = wait_for(
        lambda: (c := clients_by_user(hub).get("alice")) and c["central_policy_sha256"] == sha and c,
        timeout=60,
        what="alice's guard running the central policy",
    )
    assert alice["version"] == __version__ and alice["mode"] == "enforce" and len(alice["policy_digest"]) == 64
    [msgs] = run_cells(hub, "alice", ["x = 'zzcentralzz'"])
    assert status_of(msgs) == "error"
    assert wait_for(lambda: hub.verdicts(user="alice", rule="test.central"), timeout=60, what="central verdict")


def test_service_down_then_everything_arrives_in_order(servers: Hub) -> None:
    hub = servers
    queue = hub.home("alice") / ".local/share/jupyter/runtime/tos-guard-hub/alice"
    assert (queue / "queue.jsonl").exists()
    before = {v["id"] for v in hub.verdicts(user="alice")}

    # stop the service, and keep its port taken so that the hub's automatic restart cannot bind it yet
    # (listening, as a bound-only socket would not stop another SO_REUSEADDR bind; guards' requests
    # then time out instead of being refused, which the guard treats the same way)
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    pids = hub.service_pids()
    assert pids, "the managed service process was not found"

    def stopped_and_held() -> bool:
        for pid in hub.service_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            holder.bind(("127.0.0.1", hub.service_port))
            holder.listen(1)
        except OSError:
            return False
        return True

    wait_for(stopped_and_held, timeout=30, what="the service to stop")
    try:
        tags = [f"outage-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
        t0 = time.time()
        results = run_cells(hub, "alice", [f"!warnme-tool {tag}" for tag in tags])
        assert time.time() - t0 < 60  # the cells did not wait for the service
        assert all(status_of(m) == "ok" for m in results)  # warned, and run
        lines = (queue / "queue.jsonl").read_text().splitlines()
        cursor = json.loads((queue / "cursor.json").read_text())["acked"]
        pending = [json.loads(line) for line in lines if json.loads(line)["seq"] > cursor]
        assert [p["record"]["rules"] for p in pending if p["record"]["event"] == "decision"][-3:] == [
            ["test.warnme"]
        ] * 3
    finally:
        holder.close()

    # the hub restarts the service (it polls its managed services); the guard replays the queue
    wait_for(lambda: requests.get(hub.service_url + "api/health", timeout=5).ok, timeout=120, what="the service back")
    rows = wait_for(
        lambda: (
            # the cells' own verdicts (the process watcher may also judge the shell a `!` line starts)
            (
                r := [
                    v
                    for v in hub.verdicts(user="alice", rule="test.warnme", order="asc")
                    if v["id"] not in before and v.get("surface") in (None, "cell")
                ]
            )
            and len(r) >= 3
            and r
        ),
        timeout=90,
        what="the queued verdicts",
    )
    assert [next(t for t in tags if t in v["excerpt"]) for v in rows] == tags
    assert [v["seq"] for v in rows] == sorted(v["seq"] for v in rows)
    assert [v["time"] for v in rows] == sorted(v["time"] for v in rows)
    assert all(v["received"] > rows[0]["time"] for v in rows)
    # three warnings within the window: the ladder's first step notified the admins
    events = wait_for(
        lambda: [
            e
            for e in hub.service("GET", "api/admin/strikes/events", params={"user": "alice"})["events"]
            if e["step"] == "warnings"
        ],
        timeout=30,
        what="the warnings strike",
    )
    assert events[0]["response"] == "notify" and events[0]["outcome"] == "done"


def test_strike_limit_restricts_then_stops_the_server(servers: Hub) -> None:
    hub = servers
    results = run_cells(hub, "dave", ["!blockme-tool 1", "!blockme-tool 2", "!blockme-tool 3"])
    assert [status_of(m) for m in results] == ["error"] * 3
    wait_for(lambda: not hub.server_ready("dave"), timeout=90, what="dave's server to be stopped")
    model = hub.api("GET", "/users/dave")
    assert "tos-restricted" in model["groups"]
    expected = {("probation restrict", "restrict", "done"), ("probation stop", "stop", "done")}
    wait_for(
        lambda: (
            {
                (e["step"], e["response"], e["outcome"])
                for e in hub.service("GET", "api/admin/strikes/events", params={"user": "dave"})["events"]
            }
            >= expected
        ),
        timeout=30,
        what="dave's strike events",
    )
    audit = hub.service("GET", "api/admin/audit", params={"subject": "dave"})["events"]
    assert {"strike_restrict", "strike_stop"} <= {e["action"] for e in audit}
    # an admin clears the strikes and lifts the restriction; both audited
    hub.service("POST", "api/admin/strikes/dave/clear", json={"note": "talked to dave", "lift_restriction": True})
    assert "tos-restricted" not in hub.api("GET", "/users/dave")["groups"]
    audit = hub.service("GET", "api/admin/audit", params={"subject": "dave"})["events"]
    assert {"strikes_cleared", "restriction_lifted"} <= {e["action"] for e in audit}


def test_a_restricted_student_is_blocked_where_others_are_warned(servers: Hub) -> None:
    hub = servers
    # erin is on probation: two blocked cells and the ladder restricts her
    assert [status_of(m) for m in run_cells(hub, "erin", ["!blockme-tool 1", "!blockme-tool 2"])] == ["error"] * 2
    wait_for(lambda: "tos-restricted" in hub.api("GET", "/users/erin")["groups"], timeout=60, what="the restriction")
    # the hub's cached answer for her server's token still lacks the group; the service says it
    # in the next sync, which her guard makes soon after reporting a block
    time.sleep(4)
    [erin] = run_cells(hub, "erin", ["!warnme-tool --go"])
    [alice] = run_cells(hub, "alice", ["!warnme-tool --go"])
    assert status_of(alice) == "ok"  # warned, and it ran
    assert status_of(erin) == "error"
    error = next(m for m in erin if m["header"]["msg_type"] == "error")["content"]
    assert error["ename"] == "TermsOfUseViolation"
    rows = wait_for(
        lambda: [v for v in hub.verdicts(user="erin", rule="test.warnme")] or None, timeout=30, what="erin's verdict"
    )
    assert rows[0]["action"] == "block"
    assert [v["action"] for v in hub.verdicts(user="alice", rule="test.warnme")][0] == "warn"


def test_group_exemption_quiets_a_rule_for_its_members_only(servers: Hub) -> None:
    hub = servers
    grant = hub.service(
        "POST",
        "api/admin/exemptions",
        json={
            "subject_kind": "group",
            "subject": "vetted",
            "rule": "test.blockme",
            "reason": "vetted security course",
            "expires": "1d",
        },
    )
    assert grant["id"] and grant["expires"] > time.time()
    # an expired grant is refused; a grant without a reason too
    r = requests.post(
        f"{hub.proxy_url}/services/{SERVICE}/api/admin/exemptions",
        timeout=30,
        headers={"Authorization": f"token {hub.driver_token}"},
        json={"subject_kind": "user", "subject": "bob", "rule": "test.blockme", "reason": "x", "expires": "2000-01-01"},
    )
    assert r.status_code == 400
    wait_for(
        lambda: json.loads(clients_by_user(hub)["carol"]["info"])["exemptions"] >= 1,
        timeout=60,
        what="carol's guard to fetch the exemption",
    )
    wait_for(lambda: json.loads(clients_by_user(hub)["bob"]["info"])["exemptions"] == 0, timeout=30, what="bob's guard")
    [carol] = run_cells(hub, "carol", ["!blockme-tool --research"])
    [bob] = run_cells(hub, "bob", ["!blockme-tool --research"])
    assert status_of(carol) == "ok"
    assert not any("jupyter_tos_guard" in m["metadata"] for m in carol)  # nothing shown
    assert status_of(bob) == "error"
    assert wait_for(
        lambda: hub.verdicts(user="carol", action="exempted", rule="test.blockme"),
        timeout=60,
        what="carol's exempted verdict",
    )
    assert wait_for(lambda: hub.verdicts(user="bob", action="block", rule="test.blockme"), timeout=60)
    assert not hub.verdicts(user="carol", action="block")
    # revoked: carol is blocked again once her guard has the news
    hub.service("DELETE", f"api/admin/exemptions/{grant['id']}")
    wait_for(lambda: json.loads(clients_by_user(hub)["carol"]["info"])["exemptions"] == 0, timeout=60)
    [again] = run_cells(hub, "carol", ["!blockme-tool --again"])
    assert status_of(again) == "error"


def test_server_without_the_guard_is_flagged(servers: Hub) -> None:
    hub = servers
    flags = wait_for(
        lambda: [
            f
            for f in hub.service("GET", "api/admin/servers")["flags"]
            if f["user"] == "rogue" and f["reason"] == "no-heartbeat"
        ],
        timeout=60,
        what="rogue's flag",
    )
    assert "no guard heartbeat" in flags[0]["detail"]
    result = hub.service("POST", "api/admin/flags/check")
    assert result["error"] is None
    open_flags = hub.service("GET", "api/admin/servers")["flags"]
    assert {(f["user"], f["reason"]) for f in open_flags} & {
        ("alice", "no-heartbeat"),
        ("bob", "no-heartbeat"),
        ("carol", "no-heartbeat"),
    } == set()
    admin = login(hub, "admin")
    page = admin.get(f"{hub.proxy_url}/services/{SERVICE}/servers", timeout=60)
    assert page.status_code == 200 and "rogue" in page.text and "no-heartbeat" in page.text
    # the rogue server is stopped: the flag resolves itself
    hub.api("DELETE", "/users/rogue/server")
    wait_for(lambda: not hub.server_ready("rogue"), timeout=60)
    wait_for(
        lambda: (
            not [
                f
                for f in hub.service("POST", "api/admin/flags/check")
                and hub.service("GET", "api/admin/servers")["flags"]
                if f["user"] == "rogue"
            ]
        ),
        timeout=30,
        what="rogue's flag to resolve",
    )
