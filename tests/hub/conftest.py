"""Fixtures of the hub tests: one real JupyterHub for the session (see hubharness.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/kernel_client.py

from hubharness import USERS, Hub, _kill_leftovers, _required, find_chp, wait_for, write_config  # noqa: E402


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    missing = []
    try:
        import jupyterhub  # noqa: F401
        import requests  # noqa: F401
    except ImportError as exc:
        missing.append(f"python package: {exc.name}")
    chp = find_chp()
    if chp is None:
        missing.append("configurable-http-proxy (npm install --prefix .ci/node configurable-http-proxy)")
    if shutil.which("jupyterhub-singleuser") is None:
        missing.append("jupyterhub-singleuser on PATH")
    if missing:
        message = "the hub tests need " + "; ".join(missing)
        if _required():
            pytest.fail(message)
        pytest.skip(message)
    assert chp is not None
    root = tmp_path_factory.mktemp("hub")
    ports = write_config(root, chp)
    log_path = root / "jupyterhub.log"
    env = dict(os.environ)
    env.pop("JUPYTERHUB_API_TOKEN", None)
    log = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(root / "jupyterhub_config.py")],
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    hub = Hub(
        root=root,
        proxy_url=f"http://127.0.0.1:{ports['proxy_port']}",
        hub_api=f"http://127.0.0.1:{ports['proxy_port']}/hub/api",
        service_port=ports["service_port"],
        service_url=ports["service_url"],
        driver_token=ports["driver_token"],
        proc=proc,
        log_path=log_path,
    )
    try:
        import requests

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited with {proc.returncode}:\n{hub.log_tail()}")
            return requests.get(hub.hub_api, timeout=5).status_code == 200

        wait_for(up, timeout=90, what="the hub")
        wait_for(lambda: requests.get(hub.service_url + "api/health", timeout=5).ok, timeout=60, what="the service")
        yield hub
    except BaseException:
        print(hub.log_tail(400), file=sys.stderr)
        raise
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=40)
            except (OSError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                proc.wait(timeout=10)
        _kill_leftovers(str(root))
        log.close()
        if os.environ.get("JUPYTER_TOS_GUARD_HUB_LOG"):
            shutil.copy(log_path, os.environ["JUPYTER_TOS_GUARD_HUB_LOG"])


@pytest.fixture(scope="session")
def servers(hub: Hub) -> Hub:
    """Every user's server, started together."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(len(USERS)) as pool:
        list(pool.map(hub.start_server, [u for u in USERS if u != "admin"]))
    return hub
