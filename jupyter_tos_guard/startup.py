"""Code a kernel runs before any cell: IPython startup files and config, and the user's own
site customisation (`usercustomize.py`, `.pth` files). A cell can write one with `open()`,
and the next kernel start runs it inside the kernel, where no cell and no new process shows.

Before the server starts or restarts a kernel, these files are judged like a cell; a start is
refused, with the file named, while one of them holds code a block rule covers. The files
themselves are never changed: the student fixes or removes them.
"""

from __future__ import annotations

import os
import site
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tornado import web

from .guard import Guard, Request
from .messages import startup_refusal
from .policy import Action

MAX_FILES = 64


def startup_files(home: str | None = None) -> list[Path]:
    """The files a new IPython kernel of this user runs or reads as code, in the default profile."""
    ipython = Path(os.environ.get("IPYTHONDIR") or Path(home or Path.home()) / ".ipython") / "profile_default"
    found = sorted((ipython / "startup").glob("*.py")) + sorted((ipython / "startup").glob("*.ipy"))
    found += [ipython / "ipython_config.py", ipython / "ipython_kernel_config.py"]
    try:
        user_site = Path(site.getusersitepackages())
    except Exception:  # a Python built without user site packages
        user_site = None
    if user_site is not None:
        found += [user_site / "usercustomize.py", user_site / "sitecustomize.py", *sorted(user_site.glob("*.pth"))]
    return [p for p in found if p.is_file()][:MAX_FILES]


class StartupCheck:
    """Judges the startup files before a kernel starts; each file version is judged once."""

    def __init__(self, guard: Guard, max_bytes: int, files: Callable[[], list[Path]] = startup_files) -> None:
        self.guard = guard
        self.max_bytes = max_bytes
        self.files = files
        self._seen: dict[tuple[str, int, int, str], tuple[Action, dict[str, Any] | None]] = {}

    def refusal(self, kernel_id: str | None = None, path: str | None = None) -> str | None:
        """Why a kernel may not start now, or None. `kernel_id` / `path` (the notebook) let the
        decision's event reach that notebook's banner."""
        notebook = path
        for file in self.files():
            try:
                stat = file.stat()
                if stat.st_size > self.max_bytes:
                    continue
                key = (str(file), stat.st_mtime_ns, stat.st_size, self.guard.engine.policy.digest)
                if key not in self._seen:
                    text = file.read_text(encoding="utf-8", errors="replace")
                    request = Request(
                        code=text, surface="file", origin=str(file), kernel_id=kernel_id, notebook_path=notebook
                    )
                    decision = self.guard.check(request)
                    self._seen[key] = (decision.action, decision.payload)
            except OSError:
                continue
            action, payload = self._seen[key]
            if action >= Action.CONFIRM and payload is not None:
                return startup_refusal(str(file), payload)
        return None


def install_startup_check(kernel_manager: Any, check: StartupCheck) -> Callable[[], None]:
    """Wrap the server's kernel manager so starts and restarts ask `check` first; returns
    the function that takes the wrapping off again (at server shutdown)."""
    original_start = kernel_manager.start_kernel
    original_restart = kernel_manager.restart_kernel

    async def start_kernel(*args: Any, **kwargs: Any) -> Any:
        _refuse_if(check, path=kwargs.get("path"))
        return await original_start(*args, **kwargs)

    async def restart_kernel(kernel_id: str, *args: Any, **kwargs: Any) -> Any:
        # (the server answers a failed restart with a 500 and no reason; the refusal reaches
        # the student through the decision's event, shown in that notebook's banner)
        _refuse_if(check, kernel_id=kernel_id)
        check.guard.forget(kernel_id)  # a new namespace: earlier cells' names are gone
        return await original_restart(kernel_id, *args, **kwargs)

    kernel_manager.start_kernel = start_kernel
    kernel_manager.restart_kernel = restart_kernel

    def uninstall() -> None:
        if kernel_manager.start_kernel is start_kernel:
            del kernel_manager.start_kernel  # back to the class's own method
        if kernel_manager.restart_kernel is restart_kernel:
            del kernel_manager.restart_kernel

    return uninstall


def _refuse_if(check: StartupCheck, kernel_id: str | None = None, path: str | None = None) -> None:
    why = check.refusal(kernel_id, path)
    if why is not None:
        raise web.HTTPError(403, why, reason="Refused by the terms of use")
