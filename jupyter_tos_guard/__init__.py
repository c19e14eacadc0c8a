"""jupyter-tos-guard: a Jupyter server extension that enforces an operator's terms of use."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import TosGuardApp

    return [{"module": "jupyter_tos_guard", "app": TosGuardApp}]
