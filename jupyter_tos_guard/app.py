"""The server extension, as a table of contents: what it configures, sets up, serves and stops.

Timing matters (README, "How it hooks in"): the kernel websocket connection class is assigned
when the extension is *linked*, before jupyter_server copies it into the tornado settings, and
is not read then (its default needs the gateway config, created later). Everything else is set
up when the extension is *loaded*, and shut down in `stop_extension`, which jupyter_server
awaits when the server stops.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import IOLoop, PeriodicCallback

from .config import TosGuard, TosGuardHub
from .connection import GuardedZMQChannelsWebsocketConnection
from .files import FileCheck, FileScanner
from .guard import EVENT_SCHEMA_ID, Guard
from .handlers import routes
from .reporter import Reporter, make_reporter
from .startup import StartupCheck, install_startup_check
from .terminals import TerminalGuard, install_terminal_hook, uninstall_terminal_hook
from .watcher import ProcessWatcher, attach_watcher

SCHEMA_PATH = pathlib.Path(__file__).parent / "events" / "decision.yaml"


def gateway_in_use(serverapp: Any) -> bool:
    """Kernels on a gateway use the gateway's own websocket, which this extension does not guard."""
    gateway = serverapp.config.get("GatewayClient", {})
    return bool(gateway.get("url") or os.environ.get("JUPYTER_GATEWAY_URL"))


def install_connection_class(serverapp: Any) -> bool:
    """Put the guarded kernel connection in place (at link time). False when it cannot guard here."""
    if gateway_in_use(serverapp):
        serverapp.log.error(
            "tos-guard: kernels run on a gateway here, and the gateway's websocket is NOT guarded. "
            "The terms-of-use guard is inactive on this server."
        )
        return False
    configured = serverapp.config.get("ServerApp", {}).get("kernel_websocket_connection_class")
    if configured is not None:
        serverapp.log.warning("tos-guard: replacing the configured kernel_websocket_connection_class %s", configured)
    serverapp.kernel_websocket_connection_class = GuardedZMQChannelsWebsocketConnection
    return True


def _local_identity() -> str | None:
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return None


class TosGuardApp(ExtensionApp):
    """Terms-of-use guard: checks every kernel execution against the operator's policy."""

    name = "jupyter_tos_guard"
    description = __doc__ or ""
    load_other_extensions = True
    # every configurable, so `jupyter tos-guard config` lists every option
    classes = [TosGuard, TosGuardHub, FileCheck, ProcessWatcher, TerminalGuard]

    guard: Guard | None = None
    reporter: Reporter | None = None
    files: FileScanner | None = None
    watcher: ProcessWatcher | None = None
    _active = False
    _reloader: PeriodicCallback | None = None
    _uninstall_startup_check: Callable[[], None] | None = None

    # --- link: before the tornado application exists ------------------------------------------

    def _link_jupyter_server_extension(self, serverapp: Any) -> None:
        super()._link_jupyter_server_extension(serverapp)
        self._active = install_connection_class(serverapp)

    # --- load: settings and handlers ----------------------------------------------------------

    def initialize_settings(self) -> None:
        if not self._active:
            return
        serverapp = self.serverapp
        assert serverapp is not None
        # keep the tornado settings in step with the trait (they were copied from it at init)
        self.settings["kernel_websocket_connection_class"] = GuardedZMQChannelsWebsocketConnection
        config = TosGuard(parent=self)
        event_logger = serverapp.event_logger
        assert event_logger is not None  # jupyter_server >= 2 always has one
        if EVENT_SCHEMA_ID not in event_logger.schemas:
            event_logger.register_event_schema(SCHEMA_PATH)

        def emit(record: dict[str, Any]) -> None:
            event_logger.emit(schema_id=EVENT_SCHEMA_ID, data=record)

        identity = os.environ.get("JUPYTERHUB_USER") or _local_identity()
        self.guard = guard = Guard(config, self.log, emit=emit, identity=identity)
        self.settings["tos_guard"] = guard
        self.reporter = make_reporter(TosGuardHub(parent=self), guard, self.log)
        self._start_background_work(guard)
        self._start_file_checks(guard)
        self.log.info(
            "tos-guard: guarding kernel executions (mode %s, %d rules, audit log %s)",
            config.mode,
            len(guard.engine.policy.rules),
            config.audit_log or "off",
        )

    def _start_background_work(self, guard: Guard) -> None:
        # Scheduled on the server's loop now rather than in `_start_jupyter_server_extension`, which
        # only a server started with `start()` runs (embedding servers and test harnesses do not).
        if guard.config.reload_interval > 0 and guard.config.policy_files:
            self._reloader = PeriodicCallback(
                lambda: None if guard.reload_if_changed() else None, guard.config.reload_interval * 1000
            )
            self._reloader.start()
        if self.reporter is not None:
            IOLoop.current().add_callback(self.reporter.start)
        # what runs outside cells: processes, and lines typed into terminals (README, "Terminals and processes")
        install_terminal_hook(self.serverapp)
        self.watcher = attach_watcher(self.serverapp, guard)

    def _start_file_checks(self, guard: Guard) -> None:
        serverapp = self.serverapp
        assert serverapp is not None
        if guard.config.check_startup_files:  # what a kernel runs before any cell
            check = StartupCheck(guard, guard.config.max_scan_bytes or 1024 * 1024)
            self._uninstall_startup_check = install_startup_check(serverapp.kernel_manager, check)
        config = FileCheck(parent=self)
        if not config.enabled:
            return
        self.files = FileScanner(guard, serverapp.root_dir, config.max_bytes)
        self.settings["tos_guard_files"] = self.files
        serverapp.contents_manager.register_post_save_hook(self.files.post_save)

    def initialize_handlers(self) -> None:
        if self._active:
            self.handlers.extend(routes())

    # --- stop: leave no task, timer or open file behind -------------------------------------------

    async def stop_extension(self) -> None:
        if self._uninstall_startup_check is not None:
            self._uninstall_startup_check()
            self._uninstall_startup_check = None
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        uninstall_terminal_hook()
        if self.files is not None:
            hooks = getattr(self.serverapp.contents_manager, "_post_save_hooks", []) if self.serverapp else []
            if self.files.post_save in hooks:
                hooks.remove(self.files.post_save)
            self.files.close()
            self.files = None
        if self._reloader is not None:
            self._reloader.stop()
            self._reloader = None
        if self.reporter is not None:
            await self.reporter.aclose()
            self.reporter = None
        if self.guard is not None:
            await self.guard.worker.aclose()  # the process that checks large cells
            self.guard.close()
            self.settings.pop("tos_guard", None)
            if self.serverapp is not None and self.serverapp.web_app is not None:
                self.serverapp.web_app.settings.pop("tos_guard", None)
            self.guard = None
