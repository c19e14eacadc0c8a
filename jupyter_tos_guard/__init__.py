"""jupyter-tos-guard: a Jupyter server extension that enforces an operator's terms of use."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:  # one version source: labextension/package.json, through the package's metadata
    __version__ = version("jupyter-tos-guard")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0.0.0+unknown"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import TosGuardApp

    return [{"module": "jupyter_tos_guard", "app": TosGuardApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built JupyterLab extension lives (for `jupyter labextension develop`)."""
    return [{"src": "labextension", "dest": "jupyter-tos-guard"}]
