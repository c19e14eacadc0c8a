"""Harness for the hub tests: a real JupyterHub, its configurable-http-proxy (npm), SimpleLocalProcessSpawner,
DummyAuthenticator with a password, the tos-guard service managed by the hub, all on 127.0.0.1.

The hub runs as a subprocess from a generated jupyterhub_config.py in a temporary directory.
Single-user servers are `jupyterhub-singleuser` with the guard enabled (except user `rogue`,
whose own config disables it). Teardown stops the hub, then kills every process that still
carries the temporary directory in its command line or environment, by process group.

configurable-http-proxy is found in $JUPYTER_TOS_GUARD_CHP, on PATH, or in node_modules/.bin of
the repository or of .ci/node. Without it (or without jupyterhub) the tests are skipped,
unless $JUPYTER_TOS_GUARD_REQUIRE_HUB=1 (CI), where that is an error.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/kernel_client.py
from guard_fixtures import policy_text  # noqa: E402 (tests/ is on the path above)

REPO = Path(__file__).resolve().parents[2]
SERVICE = "tos-guard"
PASSWORD = "guard-test-password"
USERS = ["admin", "alice", "bob", "carol", "dave", "erin", "rogue"]
T = TypeVar("T")

LOCAL_POLICY = policy_text("warn_block")
CENTRAL_POLICY = policy_text("central")

LADDER = [
    {"name": "warnings", "actions": ["warn"], "count": 3, "window": 3600, "response": "notify"},
    {
        "name": "probation restrict",
        "actions": ["block"],
        "count": 2,
        "window": 3600,
        "response": "restrict",
        "groups": ["probation"],
    },
    {
        "name": "probation stop",
        "actions": ["block"],
        "count": 3,
        "window": 3600,
        "response": "stop",
        "groups": ["probation"],
    },
]


def _required() -> bool:
    return os.environ.get("JUPYTER_TOS_GUARD_REQUIRE_HUB", "") not in ("", "0")


def find_chp() -> str | None:
    candidates = [os.environ.get("JUPYTER_TOS_GUARD_CHP", ""), shutil.which("configurable-http-proxy") or ""]
    for base in (REPO, REPO / ".ci" / "node"):
        candidates.append(str(base / "node_modules" / ".bin" / "configurable-http-proxy"))
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(fn: Callable[[], T], timeout: float = 60, interval: float = 0.3, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = fn()
        except Exception as exc:  # noqa: BLE001 - keep polling; report the last error
            last_exc = exc
            value = None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f": {last_exc!r}" if last_exc else ""))


@dataclass
class Hub:
    root: Path
    proxy_url: str
    hub_api: str
    service_port: int
    service_url: str  # direct, with prefix
    driver_token: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    # --- hub REST API as the test driver (an admin-ish service) ---------------------------

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        import requests

        r = requests.request(
            method,
            self.hub_api + path,
            headers={"Authorization": f"token {token or self.driver_token}"},
            timeout=30,
            **kwargs,
        )
        r.raise_for_status()
        return r.json() if r.content else None

    def token_for(self, user: str) -> str:
        if user not in self.tokens:
            self.tokens[user] = self.api("POST", f"/users/{user}/tokens", json={"note": "test"})["token"]
        return self.tokens[user]

    def start_server(self, user: str) -> None:
        import requests

        r = requests.post(
            f"{self.hub_api}/users/{user}/server", headers={"Authorization": f"token {self.driver_token}"}, timeout=30
        )
        assert r.status_code in (201, 202, 400), r.text  # 400: already running
        wait_for(lambda: self.server_ready(user), timeout=120, what=f"{user}'s server")

    def server_ready(self, user: str) -> bool:
        model = self.api("GET", f"/users/{user}")
        server = (model.get("servers") or {}).get("")
        return bool(server and server.get("ready"))

    # --- the service ----------------------------------------------------------------------

    def service(self, method: str, path: str, token: str | None = None, direct: bool = False, **kwargs: Any) -> Any:
        import requests

        base = self.service_url if direct else f"{self.proxy_url}/services/{SERVICE}/"
        r = requests.request(
            method, base + path, headers={"Authorization": f"token {token or self.driver_token}"}, timeout=30, **kwargs
        )
        r.raise_for_status()
        return r.json() if r.content else None

    def verdicts(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self.service("GET", "api/admin/verdicts", params=dict(filters, limit=500))["verdicts"])

    def service_pids(self) -> list[int]:
        return [pid for pid, cmd, _ in _processes() if "jupyter_tos_guard.hub" in cmd and str(self.root) in cmd]

    def home(self, user: str) -> Path:
        return self.root / "home" / user

    def log_tail(self, n: int = 200) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _processes() -> Iterator[tuple[int, str, str]]:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            env = Path(f"/proc/{entry}/environ").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        yield int(entry), cmd, env


def _kill_leftovers(marker: str) -> None:
    me = os.getpid()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        found = False
        for pid, cmd, env in _processes():
            if pid == me or (marker not in cmd and marker not in env):
                continue
            found = True
            try:
                pgid = os.getpgid(pid)
                if pgid != os.getpgid(me):
                    os.killpg(pgid, sig)
                else:
                    os.kill(pid, sig)
            except OSError:
                pass
        if not found:
            return
        time.sleep(2)


def service_db_url(root: Path) -> str:
    """The service's database: SQLite in the test directory, or $JUPYTER_TOS_GUARD_HUB_SERVICE_DB_URL
    (e.g. a PostgreSQL database; its tos_* tables are dropped first). Not the store tests'
    database: those empty theirs while this service may still be running."""
    url = os.environ.get("JUPYTER_TOS_GUARD_HUB_SERVICE_DB_URL", "")
    if not url:
        return f"sqlite:///{root}/tos_guard_hub.sqlite"
    from sqlalchemy import create_engine

    from jupyter_tos_guard.hub.db import VERSION_TABLE
    from jupyter_tos_guard.hub.models import Base

    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {VERSION_TABLE}")
    engine.dispose()
    return url


def write_config(root: Path, chp: str) -> dict[str, Any]:
    proxy_port, api_port, hub_port, service_port = (free_port() for _ in range(4))
    driver_token = secrets.token_hex(32)
    (root / "home").mkdir()
    policy = root / "policy.yaml"
    policy.write_text(LOCAL_POLICY)
    central = root / "central.yaml"
    central.write_text(CENTRAL_POLICY)
    service_url = f"http://127.0.0.1:{service_port}/services/{SERVICE}/"

    # every single-user server: the guard and its hub client, with fast intervals
    su = root / "singleuser-config"
    su.mkdir()
    (su / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {"jpserver_extensions": {"jupyter_tos_guard": True}},
                "TosGuard": {"policy_files": [str(policy)], "reload_interval": 0},
                "TosGuardHub": {
                    "sync_interval": 1,
                    "retry_initial": 0.5,
                    "retry_max": 2,
                    "request_timeout": 3,
                },
            },
            indent=1,
        )
    )
    # rogue: the user's own config turns the extension off
    rogue = root / "rogue-config"
    rogue.mkdir()
    (rogue / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_tos_guard": False}}})
    )

    (root / "jupyter_tos_guard_hub_config.py").write_text(f"""
c = get_config()  # noqa
c.TosGuardHubService.db_url = {service_db_url(root)!r}
c.TosGuardHubService.policy_file = {str(central)!r}
c.TosGuardHubService.strike_ladder = {LADDER!r}
c.TosGuardHubService.heartbeat_grace = 6
c.TosGuardHubService.flag_check_interval = 2
c.TosGuardHubService.bind_timeout = 120
c.Application.log_level = "DEBUG"
""")

    args = ["--allow-root"] if os.geteuid() == 0 else []
    (root / "jupyterhub_config.py").write_text(f"""
import sys
c = get_config()  # noqa
c.JupyterHub.bind_url = "http://127.0.0.1:{proxy_port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.ConfigurableHTTPProxy.should_start = True
c.JupyterHub.db_url = "sqlite:///{root}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{root}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = "{root}/jupyterhub.pid"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {PASSWORD!r}
c.Authenticator.allowed_users = {set(USERS)!r}
c.Authenticator.admin_users = {{"admin"}}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{root}/home/{{username}}"
c.Spawner.cmd = ["jupyterhub-singleuser"]
c.Spawner.args = {args!r}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {{
    "JUPYTER_TOS_GUARD_HUB_URL": {service_url!r},
    "JUPYTER_CONFIG_PATH": {str(su)!r},
    "JUPYTER_TOS_GUARD_TEST_ROOT": {str(root)!r},
}}

def pre_spawn_hook(spawner):
    if spawner.user.name == "rogue":
        # the user's own config turns the guard off (operator config via JUPYTER_CONFIG_PATH would win
        # over it, so rogue's server is started without that, as with a guard installed only in /etc/jupyter)
        env = dict(spawner.environment, JUPYTER_CONFIG_DIR={str(rogue)!r})
        env.pop("JUPYTER_CONFIG_PATH")
        spawner.environment = env

c.Spawner.pre_spawn_hook = pre_spawn_hook
c.JupyterHub.load_groups = {{
    "vetted": {{"users": ["carol"]}},
    "probation": {{"users": ["dave", "erin"]}},
    "tos-restricted": {{"users": []}},
}}
c.JupyterHub.services = [
    {{
        "name": {SERVICE!r},
        "url": "http://127.0.0.1:{service_port}",
        "command": [sys.executable, "-m", "jupyter_tos_guard.hub", "--config", "{root}/jupyter_tos_guard_hub_config.py"],
        "cwd": "{root}",
        "oauth_no_confirm": True,
    }},
    {{"name": "test-driver", "api_token": {driver_token!r}}},
]
c.JupyterHub.load_roles = [
    {{
        "name": "tos-guard-service",
        "services": [{SERVICE!r}],
        "scopes": ["list:users", "read:users:name", "read:users:groups", "read:servers", "delete:servers",
                   "groups!group=tos-restricted"],
    }},
    {{
        "name": "test-driver",
        "services": ["test-driver"],
        "scopes": ["admin:users", "admin:servers", "tokens", "admin:groups", "access:services", "access:servers"],
    }},
]
""")
    return {
        "proxy_port": proxy_port,
        "hub_port": hub_port,
        "service_port": service_port,
        "driver_token": driver_token,
        "service_url": service_url,
    }


# SQLite always; another database (e.g. PostgreSQL) too when $JUPYTER_TOS_GUARD_HUB_TEST_DB_URL names one
EXTRA_DB = os.environ.get("JUPYTER_TOS_GUARD_HUB_TEST_DB_URL", "")
STORE_KINDS = ["sqlite", "extra"] if EXTRA_DB else ["sqlite"]


def migrated_engine(kind: str, tmp_path: Path) -> Any:
    """A migrated database for the store tests: a SQLite file in `tmp_path`, or ("extra")
    $JUPYTER_TOS_GUARD_HUB_TEST_DB_URL, emptied first (the service's tables and its alembic
    version table only)."""
    from jupyter_tos_guard.hub import db as dbm
    from jupyter_tos_guard.hub.models import Base

    if kind == "sqlite":
        engine = dbm.make_engine(f"sqlite:///{tmp_path / 'svc.sqlite'}")
    else:
        engine = dbm.make_engine(EXTRA_DB)
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {dbm.VERSION_TABLE}")
    dbm.ensure_schema(engine, allow_upgrade=True)
    return engine
