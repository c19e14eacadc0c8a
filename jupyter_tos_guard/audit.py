"""The audit trail: one JSON line per decision, flushed before the action takes effect."""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from typing import Any


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_from_timestamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class AuditLog:
    """Appends JSON lines to a file. Write failures are logged, never raised into the kernel path."""

    def __init__(self, path: str, log: logging.Logger):
        self.path = path
        self.log = log
        self._lock = threading.Lock()
        self._file: Any = None
        self._failed = False
        if path:
            try:
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                # line-buffered append; O_APPEND keeps concurrent writers' lines whole
                self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            except OSError as exc:
                self.log.error(
                    "tos-guard: cannot open audit log %s: %s; audit records go to the server log only", path, exc
                )

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        if self._file is None:
            self.log.warning("tos-guard audit: %s", line)
            return
        with self._lock:
            try:
                self._file.write(line + "\n")
                self._file.flush()
                self._failed = False
            except OSError as exc:
                if not self._failed:
                    self.log.error("tos-guard: writing the audit log %s failed: %s", self.path, exc)
                self._failed = True
                self.log.warning("tos-guard audit: %s", line)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
