"""A student who tries, on a real server and kernel: every request gets an answer, an abort
ends when the kernel's would, what cannot be read is acted on, private values stay private."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from guard_fixtures import connect, enable_guard, policy_text, read_audit, start_kernel
from kernel_client import execute_content, make_msg, reply_of, stdout_of
from traitlets.config import Config

pytest_plugins = ["pytest_jupyter.jupyter_server"]

PROTOCOLS = ["v1", "legacy"]
CAP = 4096
PRIVATE = """\
  - id: test.private
    category: testing
    title: A private rule
    action: warn
    private: true
    message: Something private.
    match:
      - literal: zzsecretpatternzz
"""


@pytest.fixture
def guard_traits() -> dict[str, Any]:
    return {}


@pytest.fixture
def jp_server_config(
    jp_server_config: Config, tmp_path: Path, audit_path: Path, guard_traits: dict[str, Any]
) -> Config:
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text("warn_block") + PRIVATE)
    traits = {"use_default_policy": False, "reload_interval": 0, "max_scan_bytes": CAP, **guard_traits}
    return enable_guard(jp_server_config, policy_file=policy, audit_path=audit_path, **traits)


async def request(ws: Any, content: dict[str, Any], timeout: float = 20) -> list[dict[str, Any]]:
    msg = make_msg("execute_request", content, ws.session)
    await ws.send(msg)
    return list(await ws.collect(msg["header"]["msg_id"], timeout=timeout))


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("content", "why"),
    [
        ({"silent": False, "user_expressions": {}}, "missing"),
        (execute_content(["print(1)"]), "not a string"),
        (execute_content("x = '\ud800'\nprint(x)"), "surrogates"),
        (execute_content("1", user_expressions=[1, 2]), "user_expressions"),
    ],
    ids=["no code", "code as a list", "lone surrogate", "expressions as a list"],
)
async def test_every_execute_request_gets_an_answer(
    jp_fetch: Any, jp_ws_fetch: Any, audit_path: Path, protocol: str, content: dict[str, Any], why: str
) -> None:
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch), protocol)
    msgs = await request(ws, content)
    reply = reply_of(msgs)["content"]
    assert reply["status"] == "error" and reply["ename"] == "UnreadableRequest"
    assert why in reply["evalue"]
    [record] = read_audit(audit_path, event="malformed_request")
    assert why in record["error"] and record["action"] == "block"
    # the kernel and the connection are fine, and nothing is aborted after it
    assert stdout_of(await ws.execute("print(6 * 7)")) == "42\n"


def _connections(kernel_id: str) -> list[Any]:
    from jupyter_tos_guard.connection import GuardedZMQChannelsWebsocketConnection

    return GuardedZMQChannelsWebsocketConnection.connections(kernel_id)


async def test_idle_without_reply_ends_the_wait(jp_fetch: Any, jp_ws_fetch: Any) -> None:
    """What the kernel never answers (it goes idle) cannot hold the abort open."""
    kernel = await start_kernel(jp_fetch)
    ws = await connect(jp_ws_fetch, kernel)
    [conn] = _connections(kernel)
    # a request id the kernel is told about only through an idle status: as for a request
    # ipykernel drops without an execute_reply
    ghost = "ghost-request"
    conn._pending[ghost] = 0.0
    blocked = await ws.execute("!blockme-tool")
    assert reply_of(blocked)["content"]["status"] == "error"
    assert conn._aborting()  # waiting for the ghost, as for any request forwarded earlier
    msg = conn._make_msg("status", {"execution_state": "idle"}, {"msg_id": ghost, "msg_type": "execute_request"}, {})
    parts = conn.session.serialize(msg)
    conn.handle_outgoing_message("iopub", parts)
    await asyncio.sleep(0.05)
    assert not conn._aborting()
    assert stdout_of(await ws.execute("print('runs')")) == "runs\n"


async def test_blocked_reply_then_next_cell_runs(jp_fetch: Any, jp_ws_fetch: Any) -> None:
    """A client that sends the next cell as soon as the blocked reply arrives is not aborted."""
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch))
    results = []
    for _ in range(10):
        blocked = await ws.execute("!blockme-tool")
        assert reply_of(blocked)["content"]["status"] == "error"
        results.append(reply_of(await ws.execute("x = 1"))["content"]["status"])
    assert results == ["ok"] * 10


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_payload_past_the_scan_cap_is_blocked(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path, protocol: str
) -> None:
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch), protocol)
    marker = jp_root_dir / "ran.txt"
    code = "# padding\n" * (CAP // 5) + f"open({str(marker)!r}, 'w').write('x')\n!blockme-tool\n"
    msgs = await ws.execute(code)
    reply = reply_of(msgs)["content"]
    assert reply["status"] == "error" and "could not be checked" in reply["evalue"]
    assert not marker.exists()
    [record] = read_audit(audit_path, event="decision")
    assert record["truncated"] is True and record["unreadable"] and record["action"] == "block"


@pytest.mark.parametrize("guard_traits", [{"on_unreadable": "warn"}])
async def test_on_unreadable_warn_runs_with_a_notice(jp_fetch: Any, jp_ws_fetch: Any, audit_path: Path) -> None:
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch))
    msgs = await ws.execute("# padding\n" * (CAP // 5) + "print('ran')\n")
    assert stdout_of(msgs) == "ran\n"
    notice = next(m for m in msgs if m["header"]["msg_type"] == "display_data")
    assert "could not be checked" in notice["content"]["data"]["text/plain"]
    assert read_audit(audit_path, event="decision")[-1]["action"] == "warn"


async def test_payload_in_a_user_expression_is_blocked(jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path) -> None:
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch))
    marker = jp_root_dir / "expr.txt"
    content = execute_content(
        ")",  # once glued to the expressions, this hid them from the Python reader
        user_expressions={"a": f"open({str(marker)!r}, 'w').write('x') or __import__('os').system('blockme-tool')"},
    )
    msgs = await request(ws, content)
    assert reply_of(msgs)["content"]["status"] == "error"
    assert not marker.exists()


async def test_private_values_never_leave_the_server(jp_fetch: Any, jp_ws_fetch: Any) -> None:
    kernel = await start_kernel(jp_fetch)
    ws = await connect(jp_ws_fetch, kernel)
    msgs = await ws.execute("note = 'zzsecretpatternzz'")
    notice = next(m for m in msgs if m["header"]["msg_type"] == "display_data")
    payload = notice["content"]["data"]["application/vnd.jupyter.tos-guard+json"]
    assert payload["rules"][0]["id"] == "test.private"
    assert payload["rules"][0]["matches"][0]["matched"] == ""
    recent = json.loads((await jp_fetch("tos-guard", "verdicts")).body)["verdicts"]
    matches = [m for r in recent for rule in r["verdict"]["rules"] for m in rule["matches"]]
    assert matches and all(m["matched"] == "" for m in matches)  # the excerpt is the student's own line
    assert "zzsecretpatternzz" not in (await jp_fetch("tos-guard", "policy")).body.decode()


async def test_check_api_is_off_by_default(jp_fetch: Any) -> None:
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("tos-guard", "check", method="POST", body=json.dumps({"code": "!blockme-tool"}))
    assert err.value.code == 403


@pytest.mark.parametrize("guard_traits", [{"check_api": True, "check_rate": 3}])
async def test_check_api_is_audited_and_rate_limited(jp_fetch: Any, audit_path: Path) -> None:
    from tornado.httpclient import HTTPClientError

    for code in ("!blockme-tool", "!block''me-tool", "print(1)"):
        r = await jp_fetch("tos-guard", "check", method="POST", body=json.dumps({"code": code}))
        assert json.loads(r.body)["action"] in ("block", "allow")
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("tos-guard", "check", method="POST", body=json.dumps({"code": "!blockme-tool"}))
    assert err.value.code == 429
    records = read_audit(audit_path, event="check")
    assert [r["policy_action"] for r in records] == ["block", "block", "allow"]
    assert all(r["action"] == "log" and len(r["code_sha256"]) == 64 for r in records)


SLOW = "exec(x)\n" * 60_000  # ~0.5 MB of lines the engine reads in seconds, not milliseconds


@pytest.mark.parametrize("guard_traits", [{"worker_chars": 1024, "max_scan_bytes": 0}])
async def test_large_cells_are_checked_off_the_event_loop_in_order(
    jp_fetch: Any, jp_ws_fetch: Any, jp_serverapp: Any
) -> None:
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch))
    big = make_msg("execute_request", execute_content("x = 'pass'\n" + SLOW + "print('big')\n"), ws.session)
    after = make_msg("execute_request", execute_content("print('after')"), ws.session)
    blocked = make_msg("execute_request", execute_content("y = 1\n" * 400 + "!blockme-tool\n"), ws.session)
    await ws.send(big)
    await ws.send(after)
    # while the worker reads the big cell, the server answers at once
    started = asyncio.get_running_loop().time()
    await jp_fetch("api", "status")
    assert asyncio.get_running_loop().time() - started < 0.5
    first = await ws.collect(big["header"]["msg_id"], timeout=60)
    second = await ws.collect(after["header"]["msg_id"])
    assert stdout_of(first) == "big\n" and stdout_of(second) == "after\n"
    # the order held: the cell sent second ran second
    executed = [m["parent_header"]["msg_id"] for m in ws.received if m["header"]["msg_type"] == "execute_input"]
    assert executed.index(big["header"]["msg_id"]) < executed.index(after["header"]["msg_id"])
    await ws.send(blocked)
    assert reply_of(await ws.collect(blocked["header"]["msg_id"]))["content"]["ename"] == "TermsOfUseViolation"
    assert jp_serverapp.web_app.settings["tos_guard"].worker.kills == 0


@pytest.mark.parametrize("guard_traits", [{"worker_chars": 1024, "check_timeout": 0.3, "max_scan_bytes": 0}])
async def test_a_check_past_its_deadline_is_stopped_and_the_cell_blocked(
    jp_fetch: Any, jp_ws_fetch: Any, jp_serverapp: Any, jp_root_dir: Path, audit_path: Path
) -> None:
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch))
    marker = jp_root_dir / "slow.txt"
    msgs = await ws.execute(SLOW * 4 + f"open({str(marker)!r}, 'w').write('x')\n")
    reply = reply_of(msgs)["content"]
    assert reply["status"] == "error" and "ran out of time" in reply["evalue"]
    assert not marker.exists()
    assert jp_serverapp.web_app.settings["tos_guard"].worker.kills == 1
    [record] = read_audit(audit_path, event="decision")
    assert record["unreadable"] == "the check ran out of time" and record["action"] == "block"
    # a new worker takes the next large cell that needs reading
    worker = jp_serverapp.web_app.settings["tos_guard"].worker
    jobs = worker.jobs
    assert stdout_of(await ws.execute("z = 2\n" * 400 + "exec('print(z)')\n")) == "2\n"
    assert worker.jobs == jobs + 1


@pytest.mark.parametrize("guard_traits", [{"worker_chars": 1024, "max_scan_bytes": 0}])
async def test_a_large_cell_with_nothing_to_read_is_decided_without_the_worker(
    jp_fetch: Any, jp_ws_fetch: Any, jp_serverapp: Any
) -> None:
    """Pasted data is settled by the engine's first pass on the event loop; only cells that need
    deep reading cross to the worker (pickled, piped, copied)."""
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch))
    worker = jp_serverapp.web_app.settings["tos_guard"].worker
    rows = "\n".join(f"{i},{i * 7 % 13},north" for i in range(20_000))
    assert stdout_of(await ws.execute(f'DATA = """{rows}"""\nprint(len(DATA) > 1024)\n')) == "True\n"
    assert worker.jobs == 0
    msgs = await ws.execute(f'DATA = """{rows}"""\n!blockme-tool\n')
    assert reply_of(msgs)["content"]["ename"] == "TermsOfUseViolation"
    assert worker.jobs == 1


async def test_a_request_without_code_then_a_block_does_not_abort_what_follows(jp_fetch: Any, jp_ws_fetch: Any) -> None:
    """The reduced case from the fuzz run: once, every later cell was answered "aborted" for an
    hour, because the abort waited for a reply ipykernel never sends to a request without code."""
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch))
    codeless = await request(ws, {"silent": False, "stop_on_error": True})
    assert reply_of(codeless)["content"]["ename"] == "UnreadableRequest"
    blocked = await ws.execute("!blockme-tool")
    assert reply_of(blocked)["content"]["status"] == "error"
    statuses = [reply_of(await ws.execute(f"x = {i}"))["content"]["status"] for i in range(5)]
    assert statuses == ["ok"] * 5
