"""Wiring: install the guarded kernel connection, the guard, its events, API and reloads.

Timing matters (see README, "How it hooks in"): the connection class must be assigned when
the extension is *linked*, before jupyter_server copies it into the tornado settings, and
must not be read then (its default needs the gateway config, created later). At *load*
time the tornado settings exist and everything else is wired.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from tornado.ioloop import PeriodicCallback

from .config import TosGuard
from .connection import GuardedZMQChannelsWebsocketConnection
from .guard import EVENT_SCHEMA_ID, Guard
from .handlers import handlers

SCHEMA_PATH = pathlib.Path(__file__).parent / "events" / "decision.yaml"


def _gateway_in_use(serverapp: Any) -> bool:
    gateway = serverapp.config.get("GatewayClient", {})
    return bool(gateway.get("url") or os.environ.get("JUPYTER_GATEWAY_URL"))


def link(serverapp: Any) -> None:
    if _gateway_in_use(serverapp):
        serverapp.log.error(
            "tos-guard: kernels run on a gateway here, and the gateway's websocket is NOT guarded. "
            "The terms-of-use guard is inactive on this server."
        )
        return
    configured = serverapp.config.get("ServerApp", {}).get("kernel_websocket_connection_class")
    if configured is not None:
        serverapp.log.warning("tos-guard: replacing the configured kernel_websocket_connection_class %s", configured)
    serverapp.kernel_websocket_connection_class = GuardedZMQChannelsWebsocketConnection


def load(serverapp: Any) -> None:
    if _gateway_in_use(serverapp):
        return
    # keep the tornado settings in step with the trait (they were copied from it at init)
    serverapp.web_app.settings["kernel_websocket_connection_class"] = GuardedZMQChannelsWebsocketConnection
    config = TosGuard(parent=serverapp)
    event_logger = serverapp.event_logger
    if EVENT_SCHEMA_ID not in event_logger.schemas:
        event_logger.register_event_schema(SCHEMA_PATH)

    def emit(record: dict[str, Any]) -> None:
        event_logger.emit(schema_id=EVENT_SCHEMA_ID, data=record)

    identity = os.environ.get("JUPYTERHUB_USER") or _local_identity()
    guard = Guard(config, serverapp.log, emit=emit, identity=identity)
    serverapp.web_app.settings["tos_guard"] = guard
    from .hub.client import attach

    attach(serverapp, guard)
    _attach_runtime(serverapp, guard)  # the process watcher and the terminal hook (issue 10)
    serverapp.web_app.add_handlers(".*$", handlers(serverapp.web_app.settings["base_url"]))
    if config.reload_interval > 0 and config.policy_files:
        reloader = PeriodicCallback(guard.reload_if_changed, config.reload_interval * 1000)
        reloader.start()
        serverapp.web_app.settings["tos_guard_reloader"] = reloader
    serverapp.log.info(
        "tos-guard: guarding kernel executions (mode %s, %d rules, audit log %s)",
        config.mode,
        len(guard.engine.policy.rules),
        config.audit_log or "off",
    )


def _attach_runtime(serverapp: Any, guard: Guard) -> None:
    from .terminals import install_terminal_hook
    from .watcher import attach_watcher

    install_terminal_hook(serverapp)
    attach_watcher(serverapp, guard)


def _local_identity() -> str | None:
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return None
