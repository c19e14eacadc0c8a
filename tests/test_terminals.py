"""Typed terminal lines, judged at Enter on a real server and a real bash in a real terminal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from guard_fixtures import POLICIES, enable_guard, read_audit
from standin import POOL_ARGS, open_terminal, write_standin
from traitlets.config import Config

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def jp_server_config(jp_server_config: Config, audit_path: Path) -> Config:
    enable_guard(jp_server_config, policy_file=POLICIES / "empty.yaml", audit_path=audit_path)
    jp_server_config["ServerApp"]["terminado_settings"] = {
        "shell_command": ["/bin/bash", "--norc", "--noprofile", "-i"]
    }
    return jp_server_config


@pytest.fixture(autouse=True)
def runtime(jp_serverapp: Any) -> Iterator[None]:
    from jupyter_tos_guard.terminals import uninstall_terminal_hook

    yield
    jp_serverapp.web_app.settings["tos_guard_watcher"].stop()
    uninstall_terminal_hook()


@pytest.mark.parametrize(
    "keys",
    [
        ["./xmrig 30\r"],
        # one frame per key, as xterm.js sends them, with a typo fixed by backspace
        [*"./xmrigg", "\x7f", *" 30", "\r"],
        # a paste (bracketed), then Enter
        ["\x1b[200~./xmrig 30 " + POOL_ARGS + "\x1b[201~", "\r"],
    ],
    ids=["line", "keystrokes", "paste"],
)
async def test_a_blocked_line_is_not_sent_and_the_terminal_says_why(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path, keys: list[str]
) -> None:
    standin = write_standin(jp_root_dir, "xmrig")
    term = await open_terminal(jp_fetch, jp_ws_fetch, jp_root_dir)
    for key in keys:
        await term.send(key)
    shown = await term.expect("This command was not run")
    assert "XMRig cryptocurrency miner" in shown and "the shell did not receive it" in shown
    # the shell's line was cleared: what is typed next runs alone
    await term.send("echo NEXT-$((40+2))\r")
    await term.expect("NEXT-42")
    assert not Path(str(standin) + ".log").exists()
    [record] = read_audit(audit_path, surface="terminal")
    assert record["action"] == "block" and "mining.xmrig" in record["rules"]
    assert record["origin"] == f"terminal:{term.name}" and record["command_line"].startswith("./xmrig 30")


async def test_ordinary_lines_pass_untouched(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path
) -> None:
    term = await open_terminal(jp_fetch, jp_ws_fetch, jp_root_dir)
    await term.ws.write_message(json.dumps(["set_size", 30, 100, 600, 800]))
    await term.send("echo mining data is fine; echo OK-$((2*21))\r")
    await term.expect("OK-42")
    assert read_audit(audit_path, surface="terminal") == []
    assert "terms of use" not in term.output


async def test_unreadable_frames_do_not_break_the_terminal(jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path) -> None:
    term = await open_terminal(jp_fetch, jp_ws_fetch, jp_root_dir)
    await term.ws.write_message(json.dumps({"not": "a list"}))
    await term.ws.write_message(json.dumps(["stdin"]))
    await term.send("echo ALIVE-$((3*3))\r")
    await term.expect("ALIVE-9")
