"""The guard on a real jupyter_server with a real ipykernel, over both websocket protocols."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from guard_fixtures import connect, enable_guard, policy_text, read_audit, start_kernel
from kernel_client import kinds, make_msg, reply_of, stdout_of
from traitlets.config import Config

pytest_plugins = ["pytest_jupyter.jupyter_server"]

PROTOCOLS = ["v1", "legacy"]
POLICY = policy_text("server")


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


@pytest.fixture
def jp_server_config(jp_server_config: Config, policy_file: Path, audit_path: Path) -> Config:
    return enable_guard(
        jp_server_config, policy_file=policy_file, audit_path=audit_path, reload_interval=0.2, check_api=True
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_allow_is_untouched(jp_fetch: Any, jp_ws_fetch: Any, protocol: str) -> None:
    kernel = await start_kernel(jp_fetch)
    ws = await connect(jp_ws_fetch, kernel, protocol)
    msgs = await ws.execute("print('hello')")
    assert reply_of(msgs)["content"]["status"] == "ok"
    assert stdout_of(msgs) == "hello\n"
    assert all("jupyter_tos_guard" not in m["metadata"] for m in msgs)
    assert [k for k in kinds(msgs) if k[1] not in ("status",)] == [
        ("iopub", "execute_input"),
        ("iopub", "stream"),
        ("shell", "execute_reply"),
    ] or ("iopub", "execute_input") in kinds(msgs)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_warn_shows_notice_first_and_code_runs(
    jp_fetch: Any, jp_ws_fetch: Any, protocol: str, jp_root_dir: Path, audit_path: Path
) -> None:
    kernel = await start_kernel(jp_fetch)
    ws = await connect(jp_ws_fetch, kernel, protocol)
    marker = jp_root_dir / f"ran-{protocol}.txt"
    code = f"import subprocess\n#!warnme-tool --flag\nopen({str(marker)!r}, 'w').write('x')\nx = '!warnme-tool'\n"
    code = f"!warnme-tool --version\nopen({str(marker)!r}, 'w').write('x')\n"
    msgs = await ws.execute(code)
    first = msgs[0]
    assert first["header"]["msg_type"] == "display_data"
    data = first["content"]["data"]
    assert data["application/vnd.jupyter.tos-guard+json"]["rules"][0]["id"] == "test.warnme"
    assert "warn-me is discouraged" in data["text/plain"]
    assert "https://example.org/appeal" in data["text/plain"]
    assert "jupyter_tos_guard" in first["metadata"]
    assert first["header"]["session"] != ws.session  # the kernel's session, not ours
    assert reply_of(msgs)["content"]["status"] == "ok"
    assert marker.exists()
    records = read_audit(audit_path, event="decision")
    assert records[-1]["action"] == "warn" and records[-1]["rules"] == ["test.warnme"]
    assert records[-1]["kernel_id"] == kernel and len(records[-1]["code_sha256"]) == 64


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_block_never_runs_and_kernel_stays_usable(
    jp_fetch: Any, jp_ws_fetch: Any, protocol: str, jp_root_dir: Path, audit_path: Path
) -> None:
    kernel = await start_kernel(jp_fetch)
    ws = await connect(jp_ws_fetch, kernel, protocol)
    marker = jp_root_dir / f"blocked-{protocol}.txt"
    msgs = await ws.execute(f"open({str(marker)!r}, 'w').write('x')\n!blockme-tool --go\n")
    assert kinds(msgs) == [
        ("iopub", "display_data"),  # the notice: the full reason, once
        ("iopub", "status"),
        ("iopub", "error"),
        ("shell", "execute_reply"),
        ("iopub", "status"),
    ]
    assert "block-me is not allowed here." in msgs[0]["content"]["data"]["text/plain"]
    error = msgs[2]["content"]
    assert error["ename"] == "TermsOfUseViolation"
    assert "block-me is not allowed" in error["evalue"]
    assert any("https://example.org/terms" in line for line in error["traceback"])
    assert not any("block-me is not allowed" in line for line in error["traceback"])  # said once, in the notice
    reply = reply_of(msgs)["content"]
    assert reply["status"] == "error" and reply["execution_count"] is None
    assert all("jupyter_tos_guard" in m["metadata"] for m in msgs)
    assert msgs[-1]["content"]["execution_state"] == "idle"
    assert not marker.exists()
    after = await ws.execute("print(40 + 2)")
    assert stdout_of(after) == "42\n"
    records = read_audit(audit_path, event="decision")
    assert records[-1]["action"] == "block" and records[-1]["channel"] == "shell"


async def test_block_on_control_channel(jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path) -> None:
    kernel = await start_kernel(jp_fetch)
    ws = await connect(jp_ws_fetch, kernel, "v1")
    marker = jp_root_dir / "control.txt"
    msgs = await ws.execute(f"import blockme_pkg\nopen({str(marker)!r}, 'w')", channel="control")
    assert ("control", "execute_reply") in kinds(msgs)
    assert reply_of(msgs)["content"]["status"] == "error"
    assert not marker.exists()


async def test_user_expressions_are_checked(jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path) -> None:
    kernel = await start_kernel(jp_fetch)
    ws = await connect(jp_ws_fetch, kernel, "v1")
    marker = jp_root_dir / "ue.txt"
    expr = f"[open({str(marker)!r}, 'w'), __import__('os').system('blockme-tool')]"
    msgs = await ws.execute("pass", user_expressions={"a": expr})
    assert reply_of(msgs)["content"]["status"] == "error"
    assert not marker.exists()


async def test_stop_on_error_aborts_queued_cells(jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path) -> None:
    kernel = await start_kernel(jp_fetch)
    """Run All: [slow ok cell, blocked cell, next cell] -> ok, error, aborted, as after any error."""
    ws = await connect(jp_ws_fetch, kernel, "v1")
    marker = jp_root_dir / "after.txt"
    cells = ["import time; time.sleep(0.5); print('first')", "!blockme-tool", f"open({str(marker)!r}, 'w')"]
    msgs = [
        make_msg(
            "execute_request",
            {
                "code": c,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
            ws.session,
        )
        for c in cells
    ]
    for m in msgs:
        await ws.send(m)
    results = [await ws.collect(m["header"]["msg_id"]) for m in msgs]
    statuses = [reply_of(r)["content"]["status"] for r in results]
    assert statuses == ["ok", "error", "aborted"]
    assert not marker.exists()
    later = await ws.execute("print('later')")  # once the queue drained, cells run again
    assert stdout_of(later) == "later\n"


async def test_without_stop_on_error_next_cell_runs(jp_fetch: Any, jp_ws_fetch: Any) -> None:
    kernel = await start_kernel(jp_fetch)
    ws = await connect(jp_ws_fetch, kernel, "v1")
    blocked = make_msg(
        "execute_request",
        {
            "code": "!blockme-tool",
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": False,
        },
        ws.session,
    )
    nxt = make_msg(
        "execute_request",
        {
            "code": "print('next')",
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        ws.session,
    )
    await ws.send(blocked)
    await ws.send(nxt)
    assert reply_of(await ws.collect(blocked["header"]["msg_id"]))["content"]["status"] == "error"
    assert stdout_of(await ws.collect(nxt["header"]["msg_id"])) == "next\n"


@pytest.mark.parametrize(
    "frame,binary",
    [
        (b"\x05\x00\x00\x00\x00\x00\x00\x00\x01", True),  # truncated v1 offsets
        (b"not json at all", True),
        ("{not json", False),
        (json.dumps({"channel": "shell", "header": "nope", "content": {}}), False),
        (
            json.dumps({"channel": "nochannel", "header": {"msg_type": "execute_request"}, "content": {"code": "1"}}),
            False,
        ),
        (
            json.dumps(
                {"channel": "shell", "header": {"msg_type": "execute_request", "msg_id": "x"}, "content": {"code": 12}}
            ),
            False,
        ),
    ],
)
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_malformed_frames_are_dropped_and_next_execution_works(
    jp_fetch: Any, jp_ws_fetch: Any, protocol: str, frame: Any, binary: bool
) -> None:
    kernel = await start_kernel(jp_fetch)
    ws = await connect(jp_ws_fetch, kernel, protocol)
    if protocol == "v1" and not binary:
        frame = frame.encode()
    await ws.send_raw(frame, binary=isinstance(frame, bytes))
    msgs = await ws.execute("print('still fine')")
    assert stdout_of(msgs) == "still fine\n"


async def test_invalid_utf8_header_in_v1(jp_fetch: Any, jp_ws_fetch: Any) -> None:
    kernel = await start_kernel(jp_fetch)
    from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

    ws = await connect(jp_ws_fetch, kernel, "v1")
    frame = serialize_msg_to_ws_v1([b"\xff\xfe{", b"{}", b"{}", b"{}"], "shell")
    await ws.send_raw(frame, binary=True)
    msgs = await ws.execute("print('ok')")
    assert stdout_of(msgs) == "ok\n"


async def test_events_delivered_on_subscribe(jp_fetch: Any, jp_ws_fetch: Any) -> None:
    kernel = await start_kernel(jp_fetch)
    events = await jp_ws_fetch("api", "events", "subscribe")
    ws = await connect(jp_ws_fetch, kernel, "v1")
    await ws.execute("!warnme-tool")
    while True:
        event = json.loads(await asyncio.wait_for(events.read_message(), 30))
        if event.get("schema_id", "").endswith("/decision/v1"):
            break
    assert event["action"] == "warn" and event["rules"] == ["test.warnme"]
    assert event["verdict"]["rules"][0]["title"] == "The warn-me test tool"
    assert event["kernel_id"] == kernel


async def test_rest_policy_hides_private_patterns(jp_fetch: Any) -> None:
    r = await jp_fetch("tos-guard", "policy")
    body = json.loads(r.body)
    rules = {rule["id"]: rule for cat in body["categories"] for rule in cat["rules"]}
    assert "zzsecretpatternzz" not in r.body.decode()
    assert rules["test.secret"]["private"] is True and "matchers" not in rules["test.secret"]
    assert rules["test.blockme"]["matchers"][0] == {"kind": "command", "pattern": "blockme-tool"}
    assert body["appeal_url"] == "https://example.org/appeal"


async def test_rest_requires_auth(jp_fetch: Any) -> None:
    from tornado.httpclient import HTTPClientError

    for path in (("tos-guard", "policy"), ("tos-guard", "verdicts")):
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch(*path, headers={"Authorization": ""})
        assert err.value.code in (401, 403)


async def test_rest_check_and_recent_verdicts(jp_fetch: Any, jp_ws_fetch: Any) -> None:
    kernel = await start_kernel(jp_fetch)
    r = await jp_fetch("tos-guard", "check", method="POST", body=json.dumps({"code": "!blockme-tool -x"}))
    body = json.loads(r.body)
    assert body["action"] == "block" and body["rules"][0]["id"] == "test.blockme"
    ws = await connect(jp_ws_fetch, kernel, "v1")
    await ws.execute("!warnme-tool")
    r = await jp_fetch("tos-guard", "verdicts", params={"kernel_id": kernel})
    verdicts = json.loads(r.body)["verdicts"]
    assert verdicts[-1]["verdict"]["rules"][0]["id"] == "test.warnme"


async def test_broken_policy_edit_keeps_last_good(
    jp_fetch: Any, jp_ws_fetch: Any, policy_file: Path, audit_path: Path, jp_serverapp: Any
) -> None:
    kernel = await start_kernel(jp_fetch)
    guard = jp_serverapp.web_app.settings["tos_guard"]
    policy_file.write_text(POLICY + "\n  - id: broken\n    action: explode\n")
    for _ in range(50):
        await asyncio.sleep(0.1)
        if guard.policy_error:
            break
    assert guard.policy_error and "explode" in guard.policy_error
    ws = await connect(jp_ws_fetch, kernel, "v1")
    msgs = await ws.execute("!blockme-tool")
    assert reply_of(msgs)["content"]["status"] == "error"  # last good policy still in force
    assert read_audit(audit_path, event="policy_error")
    policy_file.write_text(POLICY.replace("action: block", "action: warn"))
    for _ in range(50):
        await asyncio.sleep(0.1)
        if not guard.policy_error:
            break
    msgs = await ws.execute("!blockme-tool")
    assert reply_of(msgs)["content"]["status"] == "ok"


async def test_run_all_burst_on_idle_kernel_stops_at_blocked_cell(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path
) -> None:
    kernel = await start_kernel(jp_fetch)
    ws = await connect(jp_ws_fetch, kernel, "v1")
    marker = jp_root_dir / "burst.txt"
    cells = ["!blockme-tool", f"open({str(marker)!r}, 'w')", "print('third')"]
    msgs = [
        make_msg(
            "execute_request",
            {
                "code": c,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
            ws.session,
        )
        for c in cells
    ]
    from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

    frames = [serialize_msg_to_ws_v1(m, "shell", lambda o: json.dumps(o).encode()) for m in msgs]
    await asyncio.gather(*(ws.ws.write_message(f, binary=True) for f in frames))  # one burst, as Run All sends
    results = [await ws.collect(m["header"]["msg_id"]) for m in msgs]
    assert [reply_of(r)["content"]["status"] for r in results] == ["error", "aborted", "aborted"]
    assert not marker.exists()


CONFIRM_POLICY = (
    POLICY
    + """
  - id: test.confirmme
    category: testing
    title: The confirm-me test tool
    action: confirm
    message: confirm-me needs your acknowledgement.
    match:
      - command: confirmme-tool
"""
)


async def test_confirm_blocks_then_runs_once_with_token(
    jp_fetch: Any, jp_ws_fetch: Any, policy_file: Path, jp_serverapp: Any, jp_root_dir: Path, audit_path: Path
) -> None:
    policy_file.write_text(CONFIRM_POLICY)
    guard = jp_serverapp.web_app.settings["tos_guard"]
    for _ in range(50):
        if guard.reload_if_changed() or guard.engine.policy.rule("test.confirmme"):
            break
        await asyncio.sleep(0.1)
    kernel = await start_kernel(jp_fetch)
    ws = await connect(jp_ws_fetch, kernel, "v1")
    marker = jp_root_dir / "confirmed.txt"
    code = f"!confirmme-tool\nopen({str(marker)!r}, 'a').write('x')\n"
    first = await ws.execute(code)
    notice = first[0]
    assert notice["header"]["msg_type"] == "display_data"
    payload = notice["content"]["data"]["application/vnd.jupyter.tos-guard+json"]
    assert payload["action"] == "confirm"
    token = payload["confirm"]["token"]
    assert reply_of(first)["content"]["status"] == "error" and not marker.exists()

    async def run(code: str, token: Any) -> list[dict[str, Any]]:
        msg = make_msg(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": False,
            },
            ws.session,
        )
        msg["metadata"] = {"jupyter_tos_guard": {"acknowledge": token}}
        await ws.send(msg)
        return await ws.collect(msg["header"]["msg_id"])

    forged = token.rsplit(".", 1)[0] + ".AAAA"
    assert reply_of(await run(code, forged))["content"]["status"] == "error"
    assert reply_of(await run(code + "# other code\n", token))["content"]["status"] == "error"
    assert not marker.exists()
    assert reply_of(await run(code, token))["content"]["status"] == "ok"
    assert marker.read_text() == "x"
    assert reply_of(await run(code, token))["content"]["status"] == "error"  # single use
    actions = [r["action"] for r in read_audit(audit_path, event="decision")]
    assert "acknowledged" in actions


async def test_acknowledged_confirm_is_marked_in_recent_verdicts(
    jp_fetch: Any, jp_ws_fetch: Any, policy_file: Path, jp_serverapp: Any
) -> None:
    policy_file.write_text(CONFIRM_POLICY)
    guard = jp_serverapp.web_app.settings["tos_guard"]
    guard.reload_if_changed()
    kernel = await start_kernel(jp_fetch)
    ws = await connect(jp_ws_fetch, kernel, "v1")
    first = await ws.execute("!confirmme-tool")
    token = first[0]["content"]["data"]["application/vnd.jupyter.tos-guard+json"]["confirm"]["token"]
    msg = make_msg(
        "execute_request",
        {
            "code": "!confirmme-tool",
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": False,
        },
        ws.session,
    )
    msg["metadata"] = {"jupyter_tos_guard": {"acknowledge": token}}
    await ws.send(msg)
    await ws.collect(msg["header"]["msg_id"])
    verdicts = json.loads((await jp_fetch("tos-guard", "verdicts", params={"kernel_id": kernel})).body)["verdicts"]
    assert verdicts[-1]["acknowledged"] is True and verdicts[-1]["verdict"]["confirm"] is None
