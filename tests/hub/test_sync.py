"""One sync call per guard per interval (`POST api/guard/sync`), against the real service the
session's JupyterHub runs, with real users' hub tokens; the old three calls still answer; the
reporter's side (groups cached on disk, the callback) with a real Guard."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from hubharness import CENTRAL_POLICY, Hub
from traitlets.config import Config

from jupyter_tos_guard.config import TosGuard, TosGuardHub
from jupyter_tos_guard.guard import Guard
from jupyter_tos_guard.reporter import Reporter


def sync(hub: Hub, user: str, client_id: str, **etags: Any) -> dict[str, Any]:
    body = {"client_id": client_id, "server_name": "", "version": "test", "mode": "enforce", **etags}
    return dict(hub.service("POST", "api/guard/sync", token=hub.token_for(user), direct=True, json=body))


def test_sync_answers_groups_and_only_what_changed(hub: Hub) -> None:
    client = uuid.uuid4().hex
    first = sync(hub, "carol", client, exemptions_etag=None, policy_etag=None)
    assert first["user"] == "carol" and first["groups"] == ["vetted"]
    assert first["heartbeat_grace"] == 6
    assert first["policy"]["text"] == CENTRAL_POLICY and first["policy"]["etag"]
    assert first["exemptions"]["items"] == [] and first["exemptions"]["etag"]
    # holding the current ETags: the answer is the heartbeat's only
    etags = {"exemptions_etag": first["exemptions"]["etag"], "policy_etag": first["policy"]["etag"]}
    idle = sync(hub, "carol", client, **etags)
    assert set(idle) == {"user", "groups", "heartbeat_grace"}
    # a kind the guard does not ask for (no ETag key) never comes
    assert set(sync(hub, "carol", client)) == {"user", "groups", "heartbeat_grace"}
    grant = hub.service(
        "POST",
        "api/admin/exemptions",
        json={"subject_kind": "group", "subject": "vetted", "rule": "test.syncme", "reason": "sync test"},
    )
    try:
        changed = sync(hub, "carol", client, **etags)
        assert [e["rule"] for e in changed["exemptions"]["items"]] == ["test.syncme"]
        assert changed["exemptions"]["etag"] != etags["exemptions_etag"] and "policy" not in changed
        # bob is not in the group: his exemptions did not change
        bob = sync(hub, "bob", uuid.uuid4().hex, exemptions_etag=etags["exemptions_etag"])
        assert "exemptions" not in bob and bob["groups"] == []
    finally:
        hub.service("DELETE", f"api/admin/exemptions/{grant['id']}")
    assert sync(hub, "carol", client, **etags).keys() == {"user", "groups", "heartbeat_grace"}
    # the sync was the heartbeat
    [row] = [c for c in hub.service("GET", "api/admin/servers")["clients"] if c["client_id"] == client]
    assert row["user"] == "carol" and row["version"] == "test" and time.time() - row["last_heartbeat"] < 60


def test_sync_refuses_bad_input(hub: Hub) -> None:
    url = hub.service_url + "api/guard/sync"
    auth = {"Authorization": f"token {hub.token_for('bob')}"}
    r = requests.post(url, headers=auth, json={"client_id": "x"}, timeout=30)
    assert r.status_code == 400 and "client_id" in r.json()["message"]
    r = requests.post(url, headers=auth, json={"client_id": uuid.uuid4().hex, "policy_etag": 5}, timeout=30)
    assert r.status_code == 400 and "policy_etag" in r.json()["message"]
    r = requests.post(url, headers=auth, data=b"{", timeout=30)
    assert r.status_code == 400 and "JSON" in r.json()["message"]
    assert requests.post(url, json={}, timeout=30).status_code == 401


def test_the_previous_versions_calls_still_answer(hub: Hub) -> None:
    token = hub.token_for("carol")
    client = uuid.uuid4().hex
    beat = hub.service("POST", "api/guard/heartbeat", token=token, direct=True, json={"client_id": client})
    assert beat == {"ok": True, "heartbeat_grace": 6}
    assert hub.service("GET", "api/guard/exemptions", token=token, direct=True) == {"user": "carol", "exemptions": []}
    r = requests.get(hub.service_url + "api/guard/policy", headers={"Authorization": f"token {token}"}, timeout=30)
    assert r.status_code == 200 and r.json()["text"] == CENTRAL_POLICY
    r = requests.get(
        hub.service_url + "api/guard/policy",
        headers={"Authorization": f"token {token}", "If-None-Match": r.headers["Etag"]},
        timeout=30,
    )
    assert r.status_code == 304


def make_reporter(hub_url: str, token: str, queue: Path, **traits: Any) -> tuple[Reporter, Guard]:
    log = logging.getLogger("test-sync")
    guard = Guard(TosGuard(audit_log=""), log)
    config = TosGuardHub(config=Config({"TosGuardHub": dict({"service_url": hub_url, "api_token": token}, **traits)}))
    config.queue_dir = str(queue)
    return Reporter(guard, config, log, user="carol"), guard


def test_the_reporter_syncs_and_keeps_the_groups_across_a_restart(hub: Hub, tmp_path: Path) -> None:
    reporter, guard = make_reporter(hub.service_url, hub.token_for("carol"), tmp_path / "q")
    assert reporter.groups is None  # nothing known yet
    seen: list[tuple[str, ...]] = []
    reporter.on_groups = seen.append

    async def go() -> None:
        await reporter.sync()
        await reporter.sync()

    asyncio.run(go())
    assert reporter.groups == ("vetted",) and seen == [("vetted",)]  # called on the change only
    assert reporter.central_sha256 and guard.remote_policy is not None
    assert reporter.syncs == 2 and reporter.heartbeat_grace == 6
    reporter.queue.close()
    # restarted while the service is unreachable: the groups come from the queue directory
    again, _ = make_reporter("http://127.0.0.1:9/", "x", tmp_path / "q")
    assert again.groups == ("vetted",)
    again.queue.close()


def test_the_reporter_falls_back_to_the_old_calls_of_an_older_service(hub: Hub, tmp_path: Path) -> None:
    """An older service answers 404 to api/guard/sync; a stand-in that forwards every other path to the real one."""
    from tornado import httpclient, web

    calls: list[str] = []

    class Old(web.RequestHandler):
        async def prepare(self) -> None:
            path = self.request.path.split("/services/tos-guard/", 1)[1]
            calls.append(path)
            if path == "api/guard/sync":
                raise web.HTTPError(404)
            headers = {k: v for k, v in self.request.headers.items() if k.lower() in ("authorization", "content-type")}
            resp = await httpclient.AsyncHTTPClient().fetch(
                hub.service_url + path,
                method=self.request.method,
                body=self.request.body or None,
                headers=headers,
                raise_error=False,
                allow_nonstandard_methods=True,
            )
            self.set_status(resp.code)
            self.finish(resp.body)

    async def go() -> Reporter:
        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        server = web.Application([(r"/.*", Old)]).listen(port, "127.0.0.1")
        reporter, _ = make_reporter(f"http://127.0.0.1:{port}/services/tos-guard/", hub.token_for("carol"), tmp_path)
        try:
            await reporter.sync()
        finally:
            server.stop()
        return reporter

    reporter = asyncio.run(go())
    assert calls == ["api/guard/sync", "api/guard/heartbeat", "api/guard/exemptions", "api/guard/policy"]
    assert reporter.central_sha256 is not None
    reporter.queue.close()


@pytest.mark.parametrize(
    ("traits", "expected"),
    [
        ({}, (60.0, True, True)),
        ({"sync_interval": 30}, (30.0, True, True)),
        ({"heartbeat_interval": 20, "exemption_interval": 45}, (20.0, True, True)),
        ({"exemption_interval": 0, "policy_interval": 15}, (15.0, False, True)),
        ({"heartbeat_interval": 0, "exemption_interval": 0, "policy_interval": 0}, (0.0, False, False)),
        ({"sync_interval": 30, "heartbeat_interval": 5}, (30.0, True, True)),
    ],
)
def test_old_interval_traits_map_onto_sync_interval(traits: dict[str, float], expected: tuple[Any, ...]) -> None:
    config = TosGuardHub(config=Config({"TosGuardHub": traits}))
    interval, exemptions, policy, notes = config.effective_sync()
    assert (interval, exemptions, policy) == expected
    old = [k for k in traits if k != "sync_interval"]
    # every old trait that was set is named in a message; none when only the new one is used
    assert all(any(k in n for n in notes) for k in old) and (bool(notes) == bool(old))
    assert all("deprecated" in n or "off" in n for n in notes)


@pytest.mark.parametrize(
    ("value", "error"),
    [("not hex", "hex digits"), ("ab" * 10, "10 bytes"), ("", None), ("ab" * 32, None)],
)
def test_the_shared_cookie_secret_is_checked(value: str, error: str | None) -> None:
    from traitlets import TraitError

    from jupyter_tos_guard.hub.config import TosGuardHubService

    config = Config({"TosGuardHubService": {"cookie_secret": value}})
    if error is None:
        assert TosGuardHubService(config=config).cookie_secret == value
    else:
        with pytest.raises(TraitError, match=error):
            TosGuardHubService(config=config)
