"""jupyter-tos-guard: a Jupyter server extension that enforces an operator's terms of use."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> str:
    # `__version__` on first use: importing importlib.metadata costs `scan` ~60 ms at start
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:  # one version source: labextension/package.json, through the package's metadata
        value = version("jupyter-tos-guard")
    except PackageNotFoundError:  # run from a checkout that was never installed
        value = "0.0.0+unknown"
    globals()["__version__"] = value
    return value


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import TosGuardApp

    return [{"module": "jupyter_tos_guard", "app": TosGuardApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built JupyterLab extension lives (for `jupyter labextension develop`)."""
    return [{"src": "labextension", "dest": "jupyter-tos-guard"}]
