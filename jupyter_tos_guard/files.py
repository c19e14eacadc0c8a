"""Notebooks and scripts as they are opened or saved: read with the policy, never refused or altered.

A notebook can arrive with prohibited code already in it (downloaded, uploaded, shared by a
classmate). Before anything runs, the labextension asks `GET /tos-guard/file?path=...` and tells the
student which cells these terms prohibit; every save is read again in the background. Either way
the file is only read: saving, uploading and opening always go ahead unchanged, and the finding is
audited once per file content (surface `file`). Reading happens in a worker thread, size-capped,
so a large notebook never holds up the server.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from traitlets import Bool, Int
from traitlets.config import Configurable

from .guard import Guard, Request
from .messages import file_payload
from .policy.model import Action
from .scan import SCANNED_SUFFIXES, ScanReport, scan_file

# a few hundred distinct file contents seen per server; older ones are read (and audited) again
_REMEMBERED = 512


class FileScanner:
    """Reads files under the server's root with the guard's policy, one at a time, off the event loop."""

    def __init__(self, guard: Guard, root_dir: str, max_bytes: int):
        self.guard = guard
        self.root = Path(root_dir).resolve()
        self.max_bytes = max_bytes
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tos-guard-files")
        self._seen: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def resolve(self, api_path: str) -> Path | None:
        """The file behind a contents-API path, or None when it is outside the root or not a file."""
        path = (self.root / api_path.lstrip("/")).resolve()
        if path != self.root and self.root not in path.parents:
            return None
        return path if path.is_file() and path.name.endswith(SCANNED_SUFFIXES) else None

    async def scan(self, api_path: str) -> dict[str, Any] | None:
        path = self.resolve(api_path)
        if path is None:
            return None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._scan, api_path, path)

    def _scan(self, api_path: str, path: Path) -> dict[str, Any]:
        try:
            size = path.stat().st_size
        except OSError as exc:
            return {"path": api_path, "findings": [], "error": f"cannot read: {exc.strerror or exc}"}
        if size > self.max_bytes:
            return {"path": api_path, "findings": [], "error": f"larger than {self.max_bytes} bytes; not read"}
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            return {"path": api_path, "findings": [], "error": f"cannot read: {exc.strerror or exc}"}
        known = self._seen.get(digest)
        if known is not None and known["path"] == api_path:
            self._seen.move_to_end(digest)
            return known
        report = ScanReport()
        scan_file(self.guard.engine, path, report)
        result = self._result(api_path, report)
        self._audit(api_path, digest, result)
        self._seen[digest] = result
        while len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        return result

    def _result(self, api_path: str, report: ScanReport) -> dict[str, Any]:
        rules = {r.id: r for r in self.guard.engine.policy.rules}
        findings = []
        for f in report.findings:
            rule = rules.get(f.rule)
            if rule is None or Action.parse(f.action) < Action.WARN:
                continue
            item = asdict(f)  # cells, lines and columns from 1, cells over every cell (scan.py)
            del item["path"]
            item["title"] = rule.title
            item["message"] = rule.message_for(Action.parse(f.action))
            findings.append(item)
        error = report.errors[0]["error"] if report.errors else None
        verdict = None
        if findings:
            guard = self.guard
            verdict = file_payload(
                findings,
                is_notebook=any(f["cell"] is not None for f in findings),
                info_url=guard.info_url,
                appeal_url=guard.appeal_url,
                policy_name=guard.engine.policy.name,
            )
        return {"path": api_path, "findings": findings, "error": error, "verdict": verdict}

    def _audit(self, api_path: str, digest: str, result: dict[str, Any]) -> None:
        if not result["findings"]:
            return
        guard = self.guard
        record = guard._base_record(
            "decision", Request(code="", surface="file", origin=api_path, notebook_path=api_path)
        )
        record.update(
            action="log",  # a file is read, never refused: the notice is the frontend's, the record is ours
            policy_action=max(Action.parse(f["action"]) for f in result["findings"]).label,
            rules=sorted({f["rule"] for f in result["findings"]}),
            categories=sorted({f["category"] for f in result["findings"]}),
            excerpt=result["findings"][0]["excerpt"],
            code_sha256=digest,
        )
        guard._record(record, None)

    def post_save(self, model: dict[str, Any], os_path: str = "", contents_manager: Any = None, **_: Any) -> None:
        """Contents-manager post-save hook: read the saved file again, in the background.

        It must never raise: jupyter_server answers a save whose post-save hook raised with a 500.
        """
        try:
            api_path = model.get("path")
            if model.get("type") not in ("notebook", "file") or not isinstance(api_path, str):
                return
            task = asyncio.get_running_loop().create_task(self.scan(api_path))
            task.add_done_callback(self._done)
        except Exception:
            self.guard.log.warning("tos-guard: could not read a saved file", exc_info=True)

    def _done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.guard.log.warning("tos-guard: reading a saved file failed", exc_info=task.exception())

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class FileCheck(Configurable):
    """Reading notebooks and scripts as they are opened and saved (never refusing or changing them)."""

    enabled = Bool(
        True,
        config=True,
        help="""Read notebooks and scripts when JupyterLab opens them and after every save, and tell
        the student which cells these terms prohibit before anything runs. Files are only read:
        opening, saving and uploading always go ahead unchanged. Findings are audited once per
        file content (surface `file`).""",
    )

    max_bytes = Int(
        20 * 1024 * 1024,
        config=True,
        help="""Files larger than this are not read (the answer says so). Reading happens in a
        worker thread, so even large notebooks do not hold up the server.""",
    )
