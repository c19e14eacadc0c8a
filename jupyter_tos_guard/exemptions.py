"""Exemptions live with the pure policy model; re-exported here for the server and hub code."""

from __future__ import annotations

from .policy.exemptions import Exemption

__all__ = ["Exemption"]
