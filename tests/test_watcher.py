"""The process watcher on a real jupyter_server, ipykernel and terminal, with a stand-in miner.

The stand-in only sleeps; what makes it a "miner" is its name or its pool arguments, which is
all the watcher ever sees of a real one.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from guard_fixtures import connect, enable_guard, policy_text, read_audit, start_session
from kernel_client import KernelWS, execute_content, make_msg, reply_of, stdout_of
from standin import POOL_ARGS, alive, open_terminal, started, wait_dead, write_standin
from traitlets.config import Config

pytest_plugins = ["pytest_jupyter.jupyter_server"]

INTERVAL = 0.25
GRACE = 1.0
BOUND = 2 * INTERVAL + GRACE  # the target: seen within two looks, gone after SIGTERM (+ SIGKILL grace)
MIME = "application/vnd.jupyter.tos-guard+json"


@pytest.fixture
def guard_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(getattr(request, "param", {}))


@pytest.fixture
def jp_server_config(
    jp_server_config: Config, tmp_path: Path, audit_path: Path, guard_settings: dict[str, Any]
) -> Config:
    policy = tmp_path / "policy.yaml"
    policy.write_text(guard_settings.pop("policy", policy_text("empty")))
    enable_guard(jp_server_config, policy_file=policy, audit_path=audit_path, reload_interval=0, **guard_settings)
    jp_server_config["ServerApp"]["terminado_settings"] = {
        "shell_command": ["/bin/bash", "--norc", "--noprofile", "-i"]
    }
    jp_server_config["ProcessWatcher"] = Config({"interval": INTERVAL, "grace": GRACE, "rescan_interval": 1.0})
    # in this file the watcher is what acts; typed-line checks have their own tests
    jp_server_config["TerminalGuard"] = Config({"check_typed_lines": False})
    return jp_server_config


@pytest.fixture
def watcher(jp_serverapp: Any) -> Iterator[Any]:
    from jupyter_tos_guard.terminals import uninstall_terminal_hook

    found = jp_serverapp.web_app.settings["tos_guard_watcher"]
    assert found.running
    yield found
    found.stop()
    uninstall_terminal_hook()
    assert not found.running


async def notice_without_parent(ws: KernelWS, timeout: float = 20) -> dict[str, Any]:
    """A notice sent while no cell of ours runs: on iopub, answering no request."""
    return await ws.wait_for(
        lambda m: m["header"]["msg_type"] == "display_data" and MIME in m["content"]["data"], timeout
    )


async def miner_from_terminal(jp_fetch: Any, jp_ws_fetch: Any, root: Path) -> tuple[Any, dict[str, Any]]:
    """A terminal that started the stand-in miner, and the miner's first run (pid, argv)."""
    standin = write_standin(root, "xmrig")
    term = await open_terminal(jp_fetch, jp_ws_fetch, root)
    await term.send("./xmrig 30\r")
    return term, await started(standin)


def kernel_pid(serverapp: Any, kernel_id: str) -> int:
    return int(serverapp.kernel_manager.get_kernel(kernel_id).provisioner.pid)


async def test_miner_started_in_a_terminal_is_stopped_and_told_there(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path, watcher: Any, jp_serverapp: Any
) -> None:
    term, run = await miner_from_terminal(jp_fetch, jp_ws_fetch, jp_root_dir)
    shell = jp_serverapp.web_app.settings["terminal_manager"].terminals[term.name].ptyproc.pid
    assert await wait_dead(run["pid"], BOUND) <= BOUND
    shown = await term.expect("This program was stopped")
    assert "XMRig cryptocurrency miner" in shown and "./xmrig 30" in shown
    await term.send("echo STILL-$((6*7))\r")
    await term.expect("STILL-42")  # the terminal's shell lives on
    assert alive(shell) and alive(os.getpid())
    [record] = read_audit(audit_path, surface="process")
    assert record["action"] == "block" and record["rules"] == ["mining.xmrig"]
    assert record["pid"] == run["pid"] and record["origin"] == f"terminal:{term.name}"
    assert record["command_line"].endswith("/xmrig 30")  # the interpreter running the stand-in


async def test_script_a_cell_writes_and_runs_is_stopped_with_the_notice_in_that_cell(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path, watcher: Any, jp_serverapp: Any
) -> None:
    standin = write_standin(jp_root_dir, "xmrig")
    kernel = await start_session(jp_fetch, "lab.ipynb")
    ws = await connect(jp_ws_fetch, kernel)
    # the name is assembled at run time and the script does not exist before the cell runs, so
    # the cell reads as harmless (a script an earlier cell wrote is read before it runs:
    # test_server_routes); only what runs shows what it is
    cell = (
        "name = ''.join(map(chr, (120, 109, 114, 105, 103)))\nopen('start.sh', 'w').write(f'./{name} 30\\n')\n"
        "get_ipython().system('bash start.sh')\n"
    )
    msg = make_msg("execute_request", execute_content(cell), ws.session)
    await ws.send(msg)
    # the script is stopped for what it says, usually before its miner even starts
    cell = await ws.collect(msg["header"]["msg_id"])
    log = Path(str(standin) + ".log")
    if log.exists():
        assert not alive(json.loads(log.read_text().splitlines()[0])["pid"])
    notices = [m for m in cell if m["header"]["msg_type"] == "display_data"]
    assert len(notices) == 1, "the notice lands in the output of the cell that is running"
    payload = notices[0]["content"]["data"][MIME]
    assert payload["surface"] == "process" and payload["action"] == "block"
    assert payload["rules"][0]["id"] == "mining.xmrig" and payload["started_from"] == "notebook lab.ipynb"
    assert "This program was stopped" in notices[0]["content"]["data"]["text/plain"]
    [record] = read_audit(audit_path, surface="process")
    assert record["origin"] == f"kernel:{kernel}" and record["notebook_path"] == "lab.ipynb"
    assert record["command_line"] == "bash start.sh"  # the script, judged by its content
    assert stdout_of(await ws.execute("print(6 * 7)")) == "42\n"  # the kernel lives on
    assert alive(kernel_pid(jp_serverapp, kernel))


async def test_renamed_copy_with_pool_arguments_detached_from_the_kernel(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path, watcher: Any, jp_serverapp: Any
) -> None:
    standin = write_standin(jp_root_dir, "notes")  # `mv xmrig notes`: only its arguments give it away
    (jp_root_dir / "args.txt").write_text(POOL_ARGS)
    kernel = await start_session(jp_fetch, "renamed.ipynb")
    ws = await connect(jp_ws_fetch, kernel)
    # setsid in a subshell that exits at once: the program leaves the kernel's process tree and
    # session, and runs on after the cell has finished (only its environment still tells)
    code = "import subprocess\nsubprocess.Popen('(setsid ./notes 30 $(cat args.txt) > /dev/null 2>&1 &)', shell=True)\n"
    msgs = await ws.execute(code)
    assert reply_of(msgs)["content"]["status"] == "ok"
    run = await started(standin)
    assert await wait_dead(run["pid"], BOUND) <= BOUND
    notice = await notice_without_parent(ws)
    assert notice["parent_header"] == {}
    payload = notice["content"]["data"][MIME]
    assert {r["id"] for r in payload["rules"]} == {"mining.stratum-url", "mining.pool-domains"}
    [record] = read_audit(audit_path, surface="process")
    assert record["pid"] == run["pid"] and record["origin"] == f"kernel:{kernel}"
    assert "stratum+tcp://pool.supportxmr.com:3333" in record["command_line"]
    assert alive(kernel_pid(jp_serverapp, kernel))


async def test_benign_long_running_processes_are_never_touched(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path, watcher: Any
) -> None:
    kernel = await start_session(jp_fetch, "train.ipynb")
    ws = await connect(jp_ws_fetch, kernel)
    code = (
        "import subprocess, sys\n"
        "sleeper = subprocess.Popen(['sleep', '30'])\n"
        "loop = subprocess.Popen([sys.executable, '-c', 'while True: sum(i * i for i in range(10000))'])\n"
        "print(sleeper.pid, loop.pid)\n"
    )
    pids = [int(p) for p in stdout_of(await ws.execute(code)).split()]
    term = await open_terminal(jp_fetch, jp_ws_fetch, jp_root_dir)
    await term.send("python3 -c 'import time; time.sleep(30)' &\r")
    await term.settle(6 * INTERVAL + watcher.rescan_interval)
    assert all(alive(pid) for pid in pids)
    assert read_audit(audit_path, surface="process") == []
    for pid in pids:
        os.kill(pid, 9)


@pytest.mark.parametrize("guard_settings", [{"mode": "monitor"}], indirect=True)
async def test_monitor_mode_audits_and_lets_it_run(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path, watcher: Any
) -> None:
    term, run = await miner_from_terminal(jp_fetch, jp_ws_fetch, jp_root_dir)
    await term.settle(4 * INTERVAL + GRACE)
    assert alive(run["pid"])
    [record] = read_audit(audit_path, surface="process")
    assert record["action"] == "log" and record["policy_action"] == "block" and record["pid"] == run["pid"]
    assert "terms of use" not in term.output
    os.kill(run["pid"], 9)


@pytest.mark.parametrize(
    "guard_settings",
    [{"policy": f"version: 1\nexemptions:\n  - users: [{getpass.getuser()}]\n    categories: [mining]\n"}],
    indirect=True,
)
async def test_an_exemption_spares_the_process(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path, watcher: Any
) -> None:
    term, run = await miner_from_terminal(jp_fetch, jp_ws_fetch, jp_root_dir)
    await term.settle(4 * INTERVAL + GRACE)
    assert alive(run["pid"])
    [record] = read_audit(audit_path, surface="process")
    assert record["action"] == "exempted" and record["rules"] == ["mining.xmrig"]
    os.kill(run["pid"], 9)


@pytest.mark.parametrize(
    "guard_settings",
    [{"policy": "version: 1\nrules:\n  - id: mining.xmrig\n    action: warn\n"}],
    indirect=True,
)
async def test_a_warn_rule_tells_and_lets_it_run(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path, watcher: Any
) -> None:
    term, run = await miner_from_terminal(jp_fetch, jp_ws_fetch, jp_root_dir)
    await term.expect("Terms of use warning")
    await term.settle(2 * INTERVAL + GRACE)
    assert alive(run["pid"])
    [record] = read_audit(audit_path, surface="process")
    assert record["action"] == "warn"
    os.kill(run["pid"], 9)


async def test_stop_leaves_nothing_behind(jp_serverapp: Any, watcher: Any) -> None:
    watcher.stop()
    assert not watcher.running and watcher._refresher is None
    assert "JUPYTER_TOS_GUARD_SERVER" not in os.environ


async def test_a_long_lived_process_that_becomes_a_miner_is_caught_on_rescan(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path, watcher: Any
) -> None:
    write_standin(jp_root_dir, "xmrig")
    (jp_root_dir / "name.txt").write_text("xmrig")
    kernel = await start_session(jp_fetch, "later.ipynb")
    ws = await connect(jp_ws_fetch, kernel)
    # harmless for longer than a new process is watched closely, then the same pid becomes the miner
    code = "import subprocess\np = subprocess.Popen(['bash', '-c', 'sleep 3; exec ./$(cat name.txt) 30'])\nprint(p.pid)"
    pid = int(stdout_of(await ws.execute(code)))
    # (not waiting for the stand-in to log its start: on a busy machine the watcher may stop
    # it between the exec and the interpreter's first line; the record names what it became)
    await wait_dead(pid, 3 + watcher.rescan_interval + BOUND)
    [record] = read_audit(audit_path, surface="process")
    assert record["pid"] == pid and record["rules"] == ["mining.xmrig"]
    assert record["command_line"].endswith("/xmrig 30")  # the interpreter running the stand-in


async def test_a_kernelspec_whose_argv_starts_a_miner_is_stopped(
    jp_fetch: Any, jp_data_dir: Path, jp_root_dir: Path, audit_path: Path, watcher: Any
) -> None:
    """A student's own kernelspec can launch anything with POST /api/kernels: the watcher
    judges what it starts like any other process."""
    standin = write_standin(jp_root_dir)
    spec = jp_data_dir / "kernels" / "fast-python"
    spec.mkdir(parents=True)
    argv = [str(standin), "30", *POOL_ARGS.split(), "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Fast Python", "language": "python"}))
    r = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "fast-python"}))
    assert json.loads(r.body)["name"] == "fast-python"
    run = await started(standin)
    assert await wait_dead(run["pid"], BOUND) <= BOUND
    records = read_audit(audit_path, surface="process")
    assert records and records[0]["pid"] == run["pid"] and "mining.xmrig" in records[0]["rules"]
