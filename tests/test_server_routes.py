"""Routes into the kernel besides execute_request, on a real server and ipykernel: the
debugger, input() answers and comms are judged by the same rules as a cell."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from guard_fixtures import connect, enable_guard, policy_text, read_audit, start_kernel
from kernel_client import KernelWS, execute_content, make_msg, reply_of, stdout_of
from traitlets.config import Config

from jupyter_tos_guard.message_routes import COVERAGE, code_of

pytest_plugins = ["pytest_jupyter.jupyter_server"]

BLOCKED = "__import__('os').system('blockme-tool --go')"


@pytest.fixture
def jp_server_config(jp_server_config: Config, tmp_path: Path, audit_path: Path) -> Config:
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text("warn_block"))
    return enable_guard(
        jp_server_config, policy_file=policy, audit_path=audit_path, use_default_policy=False, reload_interval=0
    )


async def until(ws: KernelWS, want: Any, timeout: float = 30) -> dict[str, Any]:
    return await ws.wait_for(want, timeout)


def debug_msg(ws: KernelWS, command: str, arguments: dict[str, Any], seq: int) -> dict[str, Any]:
    return make_msg(
        "debug_request", {"type": "request", "seq": seq, "command": command, "arguments": arguments}, ws.session
    )


async def test_debugger_evaluate_of_a_blocked_command_is_refused(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path
) -> None:
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch))
    marker = jp_root_dir / "debugged.txt"
    msg = debug_msg(ws, "evaluate", {"expression": f"open({str(marker)!r}, 'w') and {BLOCKED}", "context": "repl"}, 7)
    await ws.send(msg, "control")
    reply = await until(ws, lambda m: m["parent_header"].get("msg_id") == msg["header"]["msg_id"])
    assert reply["header"]["msg_type"] == "debug_reply" and reply["channel"] == "control"
    content = reply["content"]
    assert content["success"] is False and content["request_seq"] == 7 and content["command"] == "evaluate"
    assert "block-me is not allowed" in content["message"]
    assert not marker.exists()
    [record] = read_audit(audit_path, event="decision")
    assert record["surface"] == "debugger" and record["origin"] == "debug_request" and record["action"] == "block"


async def test_debugger_commands_that_run_nothing_pass(jp_fetch: Any, jp_ws_fetch: Any, audit_path: Path) -> None:
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch))
    msg = debug_msg(ws, "debugInfo", {}, 1)
    await ws.send(msg, "control")
    reply = await until(
        ws,
        lambda m: (
            m["parent_header"].get("msg_id") == msg["header"]["msg_id"] and m["header"]["msg_type"] == "debug_reply"
        ),
    )
    assert reply["content"].get("success") is True  # the kernel's own answer
    assert read_audit(audit_path, event="decision") == []


async def test_input_feeding_exec_is_refused_and_the_cell_interrupted(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path
) -> None:
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch))
    marker = jp_root_dir / "typed.txt"
    cell = make_msg("execute_request", execute_content("exec(input('code? '))", allow_stdin=True), ws.session)
    await ws.send(cell)
    prompt = await until(ws, lambda m: m["header"]["msg_type"] == "input_request")
    answer = make_msg("input_reply", {"value": f"open({str(marker)!r}, 'w'); {BLOCKED}"}, ws.session)
    answer["parent_header"] = prompt["header"]
    await ws.send(answer, "stdin")
    msgs = await ws.collect(cell["header"]["msg_id"])
    notice = next(m for m in msgs if m["header"]["msg_type"] == "display_data")
    assert "This input was not passed to the running cell" in notice["content"]["data"]["text/plain"]
    reply = reply_of(msgs)["content"]
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    assert not marker.exists()
    [record] = read_audit(audit_path, event="decision")
    assert record["origin"] == "input_reply" and record["channel"] == "stdin"
    # an ordinary answer goes through
    cell = make_msg("execute_request", execute_content("print(input('name? ').upper())", allow_stdin=True), ws.session)
    await ws.send(cell)
    prompt = await until(
        ws,
        lambda m: (
            m["header"]["msg_type"] == "input_request" and m["parent_header"].get("msg_id") == cell["header"]["msg_id"]
        ),
    )
    answer = make_msg("input_reply", {"value": "ada"}, ws.session)
    answer["parent_header"] = prompt["header"]
    await ws.send(answer, "stdin")
    assert stdout_of(await ws.collect(cell["header"]["msg_id"])) == "ADA\n"


async def test_comm_payloads_that_a_target_would_exec_are_judged(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path
) -> None:
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch))
    register = (
        "def target(comm, msg):\n"
        "    exec(msg['content']['data']['code'])\n"
        "    comm.on_msg(lambda m: exec(m['content']['data']['code']))\n"
        "get_ipython().kernel.comm_manager.register_target('runner', target)\n"
    )
    assert reply_of(await ws.execute(register))["content"]["status"] == "ok"
    bad, good = jp_root_dir / "bad.txt", jp_root_dir / "good.txt"
    comm_id = uuid.uuid4().hex
    opened = make_msg(
        "comm_open",
        {"comm_id": comm_id, "target_name": "runner", "data": {"code": f"open({str(bad)!r}, 'w'); {BLOCKED}"}},
        ws.session,
    )
    await ws.send(opened)
    comm_id2 = uuid.uuid4().hex
    harmless = make_msg(
        "comm_open",
        {"comm_id": comm_id2, "target_name": "runner", "data": {"code": f"open({str(good)!r}, 'w').write('ok')"}},
        ws.session,
    )
    await ws.send(harmless)
    # the kernel runs what it is sent in order: once the harmless one ran, the other would have too
    for _ in range(100):
        if good.exists():
            break
        await asyncio.sleep(0.1)
    assert good.exists() and not bad.exists()
    [record] = read_audit(audit_path, event="decision")
    assert record["origin"] == "comm_open" and record["rules"] == ["test.blockme"]
    msg = make_msg("comm_msg", {"comm_id": comm_id2, "data": {"code": BLOCKED}}, ws.session)
    await ws.send(msg)
    await asyncio.sleep(0.5)
    assert [r["origin"] for r in read_audit(audit_path, event="decision")] == ["comm_open", "comm_msg"]


def test_every_message_a_frontend_sends_is_listed() -> None:
    """README's table comes from here: each client->kernel message type says what is read."""
    from jupyter_client.session import Session  # noqa: F401  (the protocol's own module is present)

    for msg_type in (
        "execute_request",
        "debug_request",
        "input_reply",
        "comm_open",
        "comm_msg",
        "complete_request",
        "inspect_request",
        "kernel_info_request",
        "shutdown_request",
        "interrupt_request",
        "history_request",
        "is_complete_request",
        "comm_info_request",
        "comm_close",
    ):
        assert msg_type in COVERAGE, msg_type
    assert code_of("debug_request", {"command": "evaluate", "arguments": {"expression": "1+1"}}) == "1+1"
    assert code_of("debug_request", {"command": "stackTrace", "arguments": {}}) is None
    assert code_of("comm_msg", {"data": {"a": ["x", {"b": "y"}], "n": 3}}) == "x\ny"
    assert code_of("input_reply", {"value": ""}) is None


async def upload(jp_fetch: Any, path: str, text: str) -> None:
    """Through the contents API, as JupyterLab's upload does."""
    body = {"type": "file", "format": "text", "content": text}
    await jp_fetch("api", "contents", path, method="PUT", body=json.dumps(body))


async def test_files_a_cell_runs_in_the_kernel_are_judged_with_it(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path
) -> None:
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch))
    marker = jp_root_dir / "ran.txt"
    payload = f"open({str(marker)!r}, 'w').write('x')\n{BLOCKED}\n"
    await upload(jp_fetch, "notes.py", payload)
    (jp_root_dir / "sub").mkdir()
    (jp_root_dir / "sub" / "tools.py").write_text(payload)
    (jp_root_dir / "fine.py").write_text("VALUE = 42\n")
    for cell in ("%run notes.py", "import notes", "exec(open('notes.py').read())", "%cd sub\nimport tools"):
        msgs = await ws.execute(cell)
        reply = reply_of(msgs)["content"]
        assert reply["status"] == "error", cell
        assert "block-me is not allowed" in reply["evalue"]
        assert ("tools.py" if "tools" in cell else "notes.py") in reply["evalue"]
        assert not marker.exists()
    records = read_audit(audit_path, event="decision", surface="cell")  # (the upload has its own, surface file)
    assert [Path(r["origin"]).name for r in records] == ["notes.py", "notes.py", "notes.py", "tools.py"]
    # ordinary imports and harmless local modules pass without a record
    assert (
        stdout_of(await ws.execute("import os, json\nimport fine\nprint(fine.VALUE)")) == "42\n"
    )  # (the %cd cell was blocked)
    assert len(read_audit(audit_path, event="decision", surface="cell")) == 4


async def test_a_script_an_earlier_cell_wrote_is_judged_when_a_shell_runs_it(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path, audit_path: Path
) -> None:
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch))
    marker = jp_root_dir / "ran.txt"
    # written under an innocent name by a cell that itself runs nothing prohibited
    write = f"open('setup.sh', 'w').write('touch {marker}\\nblockme-tool --go\\n')"
    assert reply_of(await ws.execute(write))["content"]["status"] == "ok"
    for cell in (
        "!bash setup.sh",
        "!chmod +x setup.sh && ./setup.sh",
        "import subprocess\nsubprocess.run(['sh', 'setup.sh'])",
    ):
        reply = reply_of(await ws.execute(cell))["content"]
        assert reply["status"] == "error", cell
        assert "setup.sh" in reply["evalue"]
        assert not marker.exists()
    records = read_audit(audit_path, event="decision", surface="cell")
    assert [Path(r["origin"]).name for r in records] == ["setup.sh"] * 3
    # a script that runs nothing prohibited runs; a binary is left to the process watcher
    (jp_root_dir / "fine.sh").write_text("echo fine\n")
    assert stdout_of(await ws.execute("!bash fine.sh")).strip() == "fine"
    assert len(read_audit(audit_path, event="decision", surface="cell")) == 3


async def test_a_command_split_over_cells_is_judged_whole_until_the_kernel_restarts(
    jp_fetch: Any, jp_ws_fetch: Any, jp_root_dir: Path
) -> None:
    kernel_id = await start_kernel(jp_fetch)
    ws = await connect(jp_ws_fetch, kernel_id)
    marker = jp_root_dir / "split.txt"
    for cell in ("a = 'blockme'", f"b = a + '-tool --go'\nmark = 'touch {marker}; '"):
        assert reply_of(await ws.execute(cell))["content"]["status"] == "ok"
    reply = reply_of(await ws.execute("!{mark}{b}"))["content"]
    assert reply["status"] == "error" and "block-me is not allowed" in reply["evalue"]
    assert not marker.exists()
    await jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="{}")
    ws = await connect(jp_ws_fetch, kernel_id)
    # a new namespace: `b` is gone, and so is what the guard knew of it
    assert reply_of(await ws.execute("!{b}"))["content"]["status"] == "ok"


async def test_dumped_cell_holding_blocked_code_is_refused(jp_fetch: Any, jp_ws_fetch: Any, audit_path: Path) -> None:
    ws = await connect(jp_ws_fetch, await start_kernel(jp_fetch))
    msg = debug_msg(ws, "dumpCell", {"code": BLOCKED}, 3)
    await ws.send(msg, "control")
    reply = await until(ws, lambda m: m["parent_header"].get("msg_id") == msg["header"]["msg_id"])
    assert reply["content"]["success"] is False
    assert read_audit(audit_path, event="decision")[-1]["surface"] == "debugger"


def test_named_files() -> None:
    from jupyter_tos_guard.includes import named_files

    code = (
        "%run -i 'job.py' --fast\n%run -m pkg.mod\nexec(open(\"a.py\").read())\n"
        "import runpy; runpy.run_path('b.py')\nfrom helpers import x\nimport os, local_mod\n# %run not.py\n"
    )
    assert named_files(code) == [
        "job.py",
        "pkg/mod.py",
        "a.py",
        "b.py",
        "runpy.py",
        "helpers.py",
        "os.py",
        "local_mod.py",
    ]
    shell = (
        "!bash run.sh && ./go.sh --fast\n!sudo sh -e x\n!python3 -u train.py\n!python -m pip install y\n"
        "!python -c 'print(1)'\n!ls ./data\nsubprocess.run(['bash', 'b.sh'])\n!python3 --version\n"
    )
    assert named_files(shell) == ["run.sh", "x", "train.py", "b.sh", "./go.sh"]


@pytest.mark.parametrize(
    "code",
    [
        "%cd sub\n!sh\tsetup\n!. ./env.sh\nos.chdir('w')\nPopen([\"zsh\", 'z.sh'])\nexec(open('e.py').read())",
        "import a, b\nfrom c import d\n!source venv/bin/activate\n!python3.11 t.py\nrunpy.run_path('r.py')",
        "x = 1\nprint('the open source python sh script')\n",
        "DATA = '" + "QUJD+/" * 20_000 + "'\n!./run_me",
    ],
)
def test_named_files_reads_only_where_its_words_are_and_finds_what_every_pattern_finds(code: str) -> None:
    """The patterns are tried only when the strings they need are in the cell (one RE2 pass);
    that must change nothing: the same names as every pattern tried over the whole cell."""
    from jupyter_tos_guard import includes

    everything = frozenset(includes._WORDS)
    assert includes._words_in(code) <= everything
    # small cells look for each word on its own, large ones with the RE2 set: the same words
    assert includes._words_in(code) == includes._words_in(code + "\n" * includes._SMALL)
    gated = includes.named_files(code)
    real = includes._words_in
    try:
        includes._words_in = lambda code: everything  # type: ignore[assignment]
        assert includes.named_files(code) == gated
    finally:
        includes._words_in = real  # type: ignore[assignment]


async def test_a_kernel_does_not_start_while_a_startup_file_holds_blocked_code(
    jp_fetch: Any, jp_ws_fetch: Any, audit_path: Path
) -> None:
    from tornado.httpclient import HTTPClientError

    kernel = await start_kernel(jp_fetch)  # starts: nothing in the startup folder yet
    startup = Path(os.environ.get("IPYTHONDIR") or Path.home() / ".ipython") / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    planted = startup / "00-persist.py"
    planted.write_text(BLOCKED + "\n")  # as a cell's open(...).write(...) would
    try:
        with pytest.raises(HTTPClientError) as err:
            await start_kernel(jp_fetch)
        assert err.value.code == 403
        message = json.loads(err.value.response.body)["message"]
        assert "00-persist.py" in message and "Remove or fix that file" in message
        [record] = read_audit(audit_path, event="decision", surface="file")
        assert record["origin"] == str(planted) and record["action"] == "block"
        # a restart is refused too (the server answers a failed restart with a bare 500)
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch("api", "kernels", kernel, "restart", method="POST", body="{}")
        assert err.value.code == 500
        ws = await connect(jp_ws_fetch, kernel)  # the old kernel lives on, its startup not re-run
        assert stdout_of(await ws.execute("print('still here')")) == "still here\n"
        planted.write_text("print('hello from startup')\n")  # fixed: kernels start again
        await start_kernel(jp_fetch)
    finally:
        planted.unlink(missing_ok=True)
