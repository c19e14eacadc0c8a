"""jupyter-tos-guard: a Jupyter server extension that enforces an operator's terms of use."""

from __future__ import annotations

__version__ = "0.1.0"
