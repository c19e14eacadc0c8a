"""Under a kernel gateway the websocket is not ours: the guard says loudly that it is inactive."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from traitlets.config import Config

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture(autouse=True)
def _forget_the_gateway() -> Any:
    """GatewayClient is a process-wide singleton: leave none behind for the next tests."""
    yield
    from jupyter_server.gateway.gateway_client import GatewayClient

    GatewayClient.clear_instance()


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config["ServerApp"]["jpserver_extensions"]["jupyter_tos_guard"] = True
    jp_server_config["GatewayClient"] = Config({"url": "http://127.0.0.1:9"})
    return jp_server_config


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_gateway_mode_is_reported_inactive(jp_serverapp: Any) -> None:
    from jupyter_tos_guard.app import install_connection_class
    from jupyter_tos_guard.connection import GuardedZMQChannelsWebsocketConnection

    assert jp_serverapp.web_app.settings.get("tos_guard") is None
    assert (
        jp_serverapp.web_app.settings["kernel_websocket_connection_class"] is not GuardedZMQChannelsWebsocketConnection
    )
    handler = _Collect()
    jp_serverapp.log.addHandler(handler)
    try:
        install_connection_class(jp_serverapp)
    finally:
        jp_serverapp.log.removeHandler(handler)
    text = "\n".join(handler.lines)
    assert "NOT guarded" in text and "inactive" in text
