"""Rollout modes, engine failure handling, metrics, sessions and exemptions on a real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from guard_fixtures import POLICIES, connect, enable_guard, read_audit, start_kernel, start_session
from jupyter_client.asynchronous.client import AsyncKernelClient
from kernel_client import KernelWS, kinds, reply_of, stdout_of
from traitlets.config import Config

pytest_plugins = ["pytest_jupyter.jupyter_server"]


def base_config(jp_server_config: Config, audit_path: Path, **traits: Any) -> Config:
    return enable_guard(
        jp_server_config,
        policy_file=POLICIES / "warn_block.yaml",
        audit_path=audit_path,
        use_default_policy=False,
        **traits,
    )


async def open_kernel(jp_fetch: Any, jp_ws_fetch: Any, path: str = "") -> tuple[str, KernelWS]:
    """A kernel (of notebook `path`'s session when given) and a v1 client on its websocket."""
    kid = await (start_session(jp_fetch, path) if path else start_kernel(jp_fetch))
    return kid, await connect(jp_ws_fetch, kid)


class TestMonitorMode:
    @pytest.fixture
    def jp_server_config(self, jp_server_config: Config, audit_path: Path) -> Config:
        return base_config(jp_server_config, audit_path, mode="monitor")

    async def test_monitor_shows_nothing_and_audits(self, jp_fetch: Any, jp_ws_fetch: Any, audit_path: Path) -> None:
        _, ws = await open_kernel(jp_fetch, jp_ws_fetch)
        msgs = await ws.execute("!blockme-tool\nprint('ran')")
        assert reply_of(msgs)["content"]["status"] == "ok"
        assert "ran" in stdout_of(msgs)
        assert all("jupyter_tos_guard" not in m["metadata"] for m in msgs)
        records = read_audit(audit_path, event="decision")
        assert records[-1]["action"] == "log" and records[-1]["policy_action"] == "block"


class TestWarnMode:
    @pytest.fixture
    def jp_server_config(self, jp_server_config: Config, audit_path: Path) -> Config:
        return base_config(jp_server_config, audit_path, mode="warn")

    async def test_blocks_become_warnings(self, jp_fetch: Any, jp_ws_fetch: Any, audit_path: Path) -> None:
        _, ws = await open_kernel(jp_fetch, jp_ws_fetch)
        msgs = await ws.execute("!blockme-tool\nprint('ran')")
        assert msgs[0]["header"]["msg_type"] == "display_data"
        assert "ran" in stdout_of(msgs)
        assert read_audit(audit_path, event="decision")[-1]["action"] == "warn"


def _break_engine(jp_serverapp: Any) -> None:
    guard = jp_serverapp.web_app.settings["tos_guard"]

    def explode(code: str, context: Any = None, **options: Any) -> Any:
        raise RuntimeError("simulated engine bug")

    guard.engine.evaluate = explode


class TestFailOpen:
    @pytest.fixture
    def jp_server_config(self, jp_server_config: Config, audit_path: Path) -> Config:
        return base_config(jp_server_config, audit_path)

    async def test_engine_failure_forwards_and_audits(
        self, jp_fetch: Any, jp_ws_fetch: Any, jp_serverapp: Any, audit_path: Path
    ) -> None:
        _, ws = await open_kernel(jp_fetch, jp_ws_fetch)
        _break_engine(jp_serverapp)
        msgs = await ws.execute("print('forwarded')")
        assert stdout_of(msgs) == "forwarded\n"
        failure = read_audit(audit_path, event="engine_error")[-1]
        assert failure["action"] == "allow" and "simulated engine bug" in failure["error"]


class TestFailClosed:
    @pytest.fixture
    def jp_server_config(self, jp_server_config: Config, audit_path: Path) -> Config:
        return base_config(jp_server_config, audit_path, on_engine_error="fail_closed")

    async def test_engine_failure_blocks(
        self, jp_fetch: Any, jp_ws_fetch: Any, jp_serverapp: Any, audit_path: Path
    ) -> None:
        _, ws = await open_kernel(jp_fetch, jp_ws_fetch)
        _break_engine(jp_serverapp)
        msgs = await ws.execute("print('forwarded')")
        assert reply_of(msgs)["content"]["status"] == "error"
        assert stdout_of(msgs) == ""
        error = next(m for m in msgs if m["header"]["msg_type"] == "error")
        assert "could not be completed" in error["content"]["evalue"]
        assert read_audit(audit_path, event="engine_error")[-1]["action"] == "block"


class TestSessionsMetricsAndSilent:
    @pytest.fixture
    def jp_server_config(self, jp_server_config: Config, audit_path: Path) -> Config:
        return base_config(jp_server_config, audit_path, max_scan_bytes=4096)

    async def test_audit_names_notebook_user_and_kernel(
        self, jp_fetch: Any, jp_ws_fetch: Any, audit_path: Path
    ) -> None:
        kid, ws = await open_kernel(jp_fetch, jp_ws_fetch, path="course/lab1.ipynb")
        await ws.execute("!warnme-tool")
        record = read_audit(audit_path, event="decision")[-1]
        assert record["notebook_path"] == "course/lab1.ipynb"
        assert record["kernel_id"] == kid and record["kernel_name"] == "python3"
        assert record["user"] and record["msg_id"] and record["policy_digest"]

    async def test_metrics_count_checks_and_blocks(self, jp_fetch: Any, jp_ws_fetch: Any) -> None:
        def value(text: str, name: str) -> float:
            return sum(
                float(line.split()[-1])
                for line in text.splitlines()
                if line.startswith(name) and not line.startswith("#")
            )

        before = (await jp_fetch("metrics")).body.decode()
        _, ws = await open_kernel(jp_fetch, jp_ws_fetch)
        await ws.execute("!blockme-tool")
        await ws.execute("x = 1")
        after = (await jp_fetch("metrics")).body.decode()
        assert value(after, "jupyter_tos_guard_checked_total") - value(before, "jupyter_tos_guard_checked_total") == 2
        assert value(after, "jupyter_tos_guard_blocked_total") - value(before, "jupyter_tos_guard_blocked_total") == 1
        assert 'jupyter_tos_guard_matched_total{action="block",category="testing",surface="cell"}' in after
        assert "jupyter_tos_guard_check_seconds_bucket" in after

    async def test_silent_request_is_screened_without_notice(
        self, jp_fetch: Any, jp_ws_fetch: Any, audit_path: Path
    ) -> None:
        _, ws = await open_kernel(jp_fetch, jp_ws_fetch)
        msgs = await ws.execute("!warnme-tool", silent=True)
        # the process watcher may also catch the short-lived `sh -c warnme-tool` and say so:
        # that is its own route; the cell's check must show nothing for a silent request
        cell_notices = [
            m
            for m in msgs
            if m["header"]["msg_type"] == "display_data"
            and m["metadata"].get("jupyter_tos_guard", {}).get("surface") != "process"
        ]
        assert cell_notices == []
        assert read_audit(audit_path, event="decision")[-1]["rules"] == ["test.warnme"]
        blocked = await ws.execute("!blockme-tool", silent=True)
        assert reply_of(blocked)["content"]["status"] == "error"

    async def test_huge_cell_is_truncated_and_audited(self, jp_fetch: Any, jp_ws_fetch: Any, audit_path: Path) -> None:
        _, ws = await open_kernel(jp_fetch, jp_ws_fetch)
        code = "!warnme-tool\n" + "x = 1\n" * 2000
        msgs = await ws.execute(code)
        # the unread rest could hide anything: on_unreadable's default blocks the cell, saying why
        reply = reply_of(msgs)["content"]
        assert reply["status"] == "error" and "could not be checked" in reply["evalue"]
        record = read_audit(audit_path, event="decision")[-1]
        assert record["truncated"] is True and record["action"] == "block" and record["rules"] == ["test.warnme"]


class TestAllowIsIdentical:
    @pytest.fixture
    def jp_server_config(self, jp_server_config: Config, audit_path: Path) -> Config:
        return base_config(jp_server_config, audit_path)

    async def test_same_messages_as_talking_to_the_kernel_directly(
        self, jp_fetch: Any, jp_ws_fetch: Any, jp_serverapp: Any
    ) -> None:
        kid, ws = await open_kernel(jp_fetch, jp_ws_fetch)
        code = "print('a'); import sys; print('b', file=sys.stderr); 6 * 7"
        through_guard = await ws.execute(code)
        km = jp_serverapp.kernel_manager.get_kernel(kid)
        client = AsyncKernelClient(session=km.session)
        client.load_connection_info(km.get_connection_info())
        client.start_channels()
        try:
            msg_id = client.execute(code)
            direct: list[dict[str, Any]] = []
            while True:
                m = await client.get_iopub_msg(timeout=30)
                if m["parent_header"].get("msg_id") == msg_id:
                    direct.append({"channel": "iopub", **m})
                    if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                        break
            reply = await client.get_shell_msg(timeout=30)
            direct.append({"channel": "shell", **reply})
        finally:
            client.stop_channels()

        def shape(msgs: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
            out = []
            for m in msgs:
                content = dict(m["content"])
                content.pop("execution_count", None)
                for key in ("started",):
                    m["metadata"].pop(key, None)
                out.append((m["channel"], m["header"]["msg_type"], json.dumps(content, sort_keys=True, default=str)))
            return sorted(out)

        assert shape(through_guard) == shape(direct)
        assert kinds(through_guard)  # and nothing of ours was added
        assert all("jupyter_tos_guard" not in m["metadata"] for m in through_guard)
