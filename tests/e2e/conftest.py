"""End-to-end fixtures: a real `jupyter-lab` with the guard, driven by Debian's headless Chromium.

One JupyterLab server for the e2e package (its own config, data, runtime and root
directories, a test policy layered over the default), one Chromium, and a fresh browser
context per test. Nothing here downloads a browser: Playwright only drives /usr/bin/chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from guard_fixtures import policy_text

CHROMIUM = os.environ.get("TOS_GUARD_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - reported by the skip below
    sync_playwright = None  # type: ignore[assignment]


def _missing() -> str | None:
    if sync_playwright is None:
        return "playwright is not installed (pip install playwright; never `playwright install`)"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if shutil.which("jupyter-lab") is None:
        return "jupyter-lab is not on PATH"
    return None


def _require_browser() -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"end-to-end tests cannot run: {reason}")  # in CI a missing browser is a broken setup
    pytest.skip(reason)


WARN_CODE = """\
FACESWAP_REPO = "https://github.com/deepfakes/faceswap"
open("warn_ran.txt", "w").write("the cell ran")
print("reading the faceswap README for the ethics seminar")"""

BLOCK_CODE = """\
!wget -q https://github.com/xmrig/xmrig/releases/download/v6.21.0/xmrig-6.21.0-linux-static-x64.tar.gz
open("block_ran.txt", "w").write("this must never run")"""

AFTER_BLOCK_CODE = """\
open("after_block_ran.txt", "w").write("the next cell ran")
print("next cell ran")"""

CONFIRM_CODE = """\
import shutil, subprocess
open("confirm_ran.txt", "w").write("acknowledged and ran")
if shutil.which("ngrok"):  # not installed here: nothing is opened
    subprocess.run(["ngrok", "tcp", "22"])
print("ran after acknowledgement")"""

XSS_WARN_CODE = """\
FACESWAP = "https://github.com/deepfakes/faceswap"  # <img src=x onerror="window.__pwned=1">
print("the warned cell ran")"""

XSS_BLOCK_CODE = """\
!wget https://github.com/xmrig/xmrig/releases/x.tar.gz  # <img src=x onerror="window.__pwned=2">"""

# the miner named by its release archive only, and its pool: the miner's rule must lead
MINER_AND_POOL_CODE = (
    '!curl -LO https://example.org/dl/xmrig-6.21.0-linux-static-x64.tar.gz\nPOOL = "pool.supportxmr.com:3333"'
)

FLOOD_CODE = "!hping3 --flood -S 10.0.0.1"

HASHCAT_CODE = "!hashcat -m 0 hashes.txt rockyou.txt"

BENIGN_CODE = """\
open("benign_ran.txt", "w").write("ok")
print("hello from a benign cell")"""

NOTEBOOKS = {
    "benign.ipynb": [BENIGN_CODE],
    "warn.ipynb": [WARN_CODE],
    "reload.ipynb": [WARN_CODE.replace("warn_ran", "reload_ran")],
    "block.ipynb": [BLOCK_CODE, AFTER_BLOCK_CODE],
    "confirm.ipynb": [CONFIRM_CODE],
    "xss.ipynb": [XSS_WARN_CODE, XSS_BLOCK_CODE],
    "other_a.ipynb": [BLOCK_CODE.replace("block_ran", "other_a_ran")],
    "other_b.ipynb": [BENIGN_CODE.replace("benign_ran", "other_b_ran")],
    "opened.ipynb": [BENIGN_CODE.replace("benign_ran", "opened_ran"), BLOCK_CODE.replace("block_ran", "opened_block")],
    "several.ipynb": [
        BLOCK_CODE.replace("block_ran", "several_ran"),
        MINER_AND_POOL_CODE,
        FLOOD_CODE,
        HASHCAT_CODE,
        WARN_CODE,
    ],
    "settings.ipynb": [HASHCAT_CODE, FLOOD_CODE],
    "nb7.ipynb": [BLOCK_CODE.replace("block_ran", "nb7_ran"), AFTER_BLOCK_CODE.replace("after_block", "nb7_after")],
}


def _write_notebook(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    base: str
    token: str
    root: Path
    log: Path
    audit: Path

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.base}{path}", data=data, method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def log_tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# pytest-jupyter's autouse fixtures drive an asyncio loop in this thread, which collides with the
# loop Playwright's sync API runs; these tests start their own server process and need neither.
@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[None]:
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> Iterator[None]:
    yield None


@pytest.fixture(scope="package")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    _require_browser()
    home = tmp_path_factory.mktemp("lab")
    root, config, data, runtime = (home / d for d in ("root", "config", "data", "runtime"))
    for d in (root, config, data, runtime):
        d.mkdir()
    for name, cells in NOTEBOOKS.items():
        _write_notebook(root / name, cells)
    policy = home / "policy.yaml"
    policy.write_text(policy_text("e2e"))
    audit = home / "audit.jsonl"
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "TosGuard": {"policy_files": [str(policy)], "audit_log": str(audit), "reload_interval": 0},
                # window.jupyterapp, only to wait until a notebook's kernel is connected (cells are run
                # with the keyboard; a cell run before that is silently not executed by JupyterLab)
                "LabApp": {"expose_app_in_browser": True},
                "JupyterNotebookApp": {"expose_app_in_browser": True},
            }
        )
    )
    # no news / update prompts in the corner of the screenshots
    settings = config / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    token = "e2e-" + os.urandom(12).hex()
    port = _free_port()
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_DATA_DIR=str(data),
        JUPYTER_RUNTIME_DIR=str(runtime),
        IPYTHONDIR=str(home / "ipython"),
        JUPYTER_TOS_GUARD_POLICY="",
        JUPYTER_TOS_GUARD_AUDIT_LOG="",
    )
    env.pop("JUPYTERHUB_USER", None)
    log = home / "jupyter-lab.log"
    exe = shutil.which("jupyter-lab") or "jupyter-lab"
    cmd = [
        exe,
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Lab(f"http://127.0.0.1:{port}", token, root, log, audit)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter-lab exited ({proc.returncode}):\n{server.log_tail()}")
            try:
                server.api("/api/status")
                server.api("/tos-guard/policy")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter-lab did not start:\n{server.log_tail()}") from None
                time.sleep(0.3)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if os.environ.get("TOS_GUARD_E2E_SHOW_LOG"):
            sys.stderr.write(server.log_tail(400))


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    _require_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser, lab: Lab, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 820}, device_scale_factor=1, color_scheme="light", locale="en-US"
    )
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"{exc}\n{exc.stack or ''}"))

    def on_dialog(dialog: Any) -> None:
        if dialog.type == "beforeunload":  # "leave with unsaved changes?" on reload: yes
            dialog.accept()
        else:
            errors.append(f"{dialog.type}: {dialog.message}")  # an alert() would be an XSS
            dialog.dismiss()

    page.on("dialog", on_dialog)
    page.errors = errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()
        for session in lab.api("/api/sessions"):  # every test starts with no kernels
            try:
                lab.api(f"/api/sessions/{session['id']}", method="DELETE")
            except Exception:
                pass


@pytest.fixture(scope="package")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests save their screenshots: a temporary folder, so that a test run leaves the
    checkout as it was; docs/screenshots/ (or another folder) when
    JUPYTER_TOS_GUARD_SCREENSHOTS names it (`=docs` for the README's)."""
    wanted = os.environ.get("JUPYTER_TOS_GUARD_SCREENSHOTS")
    folder = SCREENSHOTS if wanted == "docs" else Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
