"""What the tests share, as a pytest plugin (registered in conftest.py): the policy files in
tests/policies/, the audit log, a guarded server's config, kernels over the websocket, and the
default policy's engine."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from kernel_client import V1, KernelWS
from traitlets.config import Config

from jupyter_tos_guard.policy import Engine, load_policy

POLICIES = Path(__file__).parent / "policies"


def policy_text(name: str) -> str:
    """The text of the test policy tests/policies/<name>.yaml."""
    return (POLICIES / f"{name}.yaml").read_text()


@pytest.fixture
def audit_path(tmp_path: Path) -> Path:
    """Where the test's guard writes its audit log."""
    return tmp_path / "audit.jsonl"


def read_audit(path: Path, *, event: str | None = None, surface: str | None = None) -> list[dict[str, Any]]:
    """The audit log's records in order, only those of `event` and `surface` when given ([] before the first)."""
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [
        r
        for r in records
        if (event is None or r.get("event") == event) and (surface is None or r.get("surface") == surface)
    ]


def enable_guard(config: Config, *, policy_file: Path, audit_path: Path, **traits: Any) -> Config:
    """Turn the extension on in pytest-jupyter's `jp_server_config`, with this policy, audit log and TosGuard traits."""
    config["ServerApp"]["jpserver_extensions"]["jupyter_tos_guard"] = True
    config["TosGuard"] = Config({"policy_files": [str(policy_file)], "audit_log": str(audit_path), **traits})
    return config


async def start_kernel(jp_fetch: Any, path: str = "") -> str:
    """Start a python3 kernel through the REST API (POST /api/kernels); its id."""
    r = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3", "path": path}))
    return str(json.loads(r.body)["id"])


async def start_session(jp_fetch: Any, path: str) -> str:
    """Open notebook `path` with a python3 kernel, as JupyterLab does (POST /api/sessions); the kernel's id."""
    body = {"path": path, "type": "notebook", "name": path, "kernel": {"name": "python3"}}
    r = await jp_fetch("api", "sessions", method="POST", body=json.dumps(body))
    return str(json.loads(r.body)["kernel"]["id"])


async def connect(jp_ws_fetch: Any, kernel_id: str, protocol: str = "v1") -> KernelWS:
    """A client on the kernel's websocket in `protocol` ("v1" or "legacy"), once the kernel answered kernel_info."""
    kwargs: dict[str, Any] = {"subprotocols": [V1]} if protocol == "v1" else {}
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels", params={"session_id": uuid.uuid4().hex}, **kwargs)
    client = KernelWS(ws, protocol)
    await client.kernel_info()
    return client


@pytest.fixture(scope="session")
def default_engine() -> Engine:
    """The engine of the embedded default policy, built once for the whole run."""
    return Engine(load_policy())
