"""docs/hub.md's one-machine recipe, as an operator follows it: the two config files are read from
the page (the blocks after `<!-- docs-test: NAME -->`), written to a temporary folder, and started
with `jupyterhub -f`; then its five-step smoke test, with the page's own cell.

The test changes only what must differ on a shared test machine: free ports instead of 8000 and
10101, `--allow-root` when run as root, and a token for its own driver (to start the student's
server and read the service's API); all of it appended, the documented text is unchanged.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hubharness import REPO, Hub, _kill_leftovers, _processes, _required, find_chp, free_port, wait_for
from test_hub_integration import run_cells, status_of

pytestmark = pytest.mark.timeout(300)

DOC = REPO / "docs" / "hub.md"


def doc_block(name: str) -> str:
    m = re.search(rf"<!-- docs-test: {re.escape(name)} -->\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert m, f"docs/hub.md has no python block marked docs-test: {name}"
    return m.group(1)


def doc_text(pattern: str) -> str:
    m = re.search(pattern, DOC.read_text())
    assert m, f"docs/hub.md no longer says {pattern!r}"
    return m.group(1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    chp = find_chp()
    if chp is None:
        if _required():
            pytest.fail("configurable-http-proxy is missing")
        pytest.skip("configurable-http-proxy is missing")
    here = tmp_path_factory.mktemp("tos-demo")
    (here / "home").mkdir()  # step 2's mkdir
    (here / "chp" / "node_modules" / ".bin").mkdir(parents=True)  # step 2's npm install --prefix
    (here / "chp" / "node_modules" / ".bin" / "configurable-http-proxy").symlink_to(chp)
    proxy, api, hub_port, service = (free_port() for _ in range(4))
    driver = secrets.token_hex(32)
    config = doc_block("jupyterhub_config.py")
    assert "127.0.0.1:8000" in config and "127.0.0.1:10101" in config
    config = config.replace("127.0.0.1:8000", f"127.0.0.1:{proxy}").replace("127.0.0.1:10101", f"127.0.0.1:{service}")
    config += f"""
# --- appended by the test ---
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api}"
c.Spawner.args = {["--allow-root"] if os.geteuid() == 0 else []!r}
c.JupyterHub.services.append({{"name": "test-driver", "api_token": {driver!r}}})
c.JupyterHub.load_roles.append(
    {{"name": "test-driver", "services": ["test-driver"], "scopes": ["admin:users", "admin:servers", "tokens", "access:services"]}}
)
"""
    (here / "jupyterhub_config.py").write_text(config)
    (here / "jupyter_tos_guard_hub_config.py").write_text(doc_block("jupyter_tos_guard_hub_config.py"))
    env = dict(os.environ)
    env.pop("JUPYTERHUB_API_TOKEN", None)
    log_path = here / "jupyterhub.log"
    with open(log_path, "wb") as log:
        # step 5's command (`env/bin/jupyterhub -f jupyterhub_config.py`, from the folder)
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", "jupyterhub_config.py"],
            cwd=here,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    hub = Hub(
        root=here,
        proxy_url=f"http://127.0.0.1:{proxy}",
        hub_api=f"http://127.0.0.1:{proxy}/hub/api",
        service_port=service,
        service_url=f"http://127.0.0.1:{service}/services/tos-guard/",
        driver_token=driver,
        proc=proc,
        log_path=log_path,
    )
    try:
        wait_for(lambda: requests.get(hub.hub_api, timeout=5).ok, timeout=90, what="the hub")
        health = wait_for(
            lambda: requests.get(hub.service_url + "api/health", timeout=5).json(), timeout=60, what="the service"
        )
        assert health["ok"] is True
        yield hub
    except BaseException:
        print(hub.log_tail(300), file=sys.stderr)
        raise
    finally:
        for pid in service_pids(hub):  # never leave it paused
            os.kill(pid, signal.SIGCONT)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        _kill_leftovers(str(here))


def service_pids(hub: Hub) -> list[int]:
    """`pgrep -f jupyter-tos-guard-hub`, for this demo only."""
    return [pid for pid, cmd, _ in _processes() if "jupyter-tos-guard-hub" in cmd and str(hub.root) in cmd]


def log_in(hub: Hub, user: str, password: str) -> requests.Session:
    s = requests.Session()
    page = s.get(f"{hub.proxy_url}/hub/login", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    r = s.post(
        f"{hub.proxy_url}/hub/login",
        data={"username": user, "password": password, "_xsrf": xsrf.group(1) if xsrf else ""},
        timeout=60,
        allow_redirects=False,
    )
    assert r.status_code == 302, r.text[:500]  # a wrong password stays on the form with 403
    return s


def test_the_one_machine_recipe_starts_and_its_smoke_test_passes(demo: Hub) -> None:
    hub = demo
    password = doc_text(r'c\.DummyAuthenticator\.password = "([^"]+)"')
    assert f"password `{password}`" in DOC.read_text()
    cell = doc_text(r"\n   `(!wget [^`]+)`")

    # 1. log in as the student; their server starts (as the hub's home page would)
    log_in(hub, "student", password)
    hub.start_server("student")
    # 2. the blocked cell
    [msgs] = run_cells(hub, "student", [cell])
    assert status_of(msgs) == "error"
    assert any(m["content"].get("ename") == "TermsOfUseViolation" for m in msgs)
    # 3. on the service page, as the admin
    [first] = wait_for(lambda: hub.verdicts(user="student", action="block"), timeout=60, what="the verdict")
    admin = log_in(hub, "admin", password)
    page = admin.get(f"{hub.proxy_url}/services/tos-guard/", timeout=60)
    assert page.status_code == 200 and first["rules"][0] in page.text
    assert '<figure class="chart" id="chart-action">' in page.text and ": 1 block</title>" in page.text
    student = log_in(hub, "student", password)
    assert student.get(f"{hub.proxy_url}/services/tos-guard/", timeout=60).status_code == 403
    # 4. pause the service: the cell is blocked all the same, and its record is queued on disk
    pids = service_pids(hub)
    assert len(pids) == 1, pids
    queue = Path(doc_text(r"tail -n1 ~/tos-demo/(home/student/\S+queue\.jsonl)`"))
    queue = hub.root / queue
    queued_before = len(queue.read_text().splitlines())
    os.kill(pids[0], signal.SIGSTOP)
    try:
        started = time.monotonic()
        [again] = run_cells(hub, "student", [cell])
        assert status_of(again) == "error" and time.monotonic() - started < 30
        lines = queue.read_text().splitlines()
        assert len(lines) > queued_before and "xmrig" in json.dumps(json.loads(lines[-1]))
    finally:
        os.kill(pids[0], signal.SIGCONT)
    # 5. delivered, once, in order
    blocks = wait_for(
        lambda: (v := hub.verdicts(user="student", action="block")) and len(v) == 2 and v, timeout=120, what="delivery"
    )
    assert blocks[0]["seq"] > first["seq"] and blocks[1]["id"] == first["id"]  # newest first
    seqs = [v["seq"] for v in hub.verdicts(user="student")]
    assert len(seqs) == len(set(seqs))
