"""A minimal kernel websocket client for tests: both protocols, real messages, no mocks."""

from __future__ import annotations

import asyncio
import datetime
import json
import uuid
from typing import Any

from jupyter_server.services.kernels.connection.base import (
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)

from jupyter_tos_guard.bench.server import execute_request_content

V1 = "v1.kernel.websocket.jupyter.org"


def make_msg(msg_type: str, content: dict[str, Any], session: str) -> dict[str, Any]:
    return {
        "header": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(),
            "session": session,
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "username": "student",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": content,
    }


def execute_content(code: str, **extra: Any) -> dict[str, Any]:
    return execute_request_content(code, **extra)


class KernelWS:
    def __init__(self, ws: Any, protocol: str):
        self.ws = ws
        self.protocol = protocol
        self.session = uuid.uuid4().hex
        self.received: list[dict[str, Any]] = []

    async def send(self, msg: dict[str, Any], channel: str = "shell") -> None:
        if self.protocol == "v1":
            await self.ws.write_message(
                serialize_msg_to_ws_v1(msg, channel, lambda o: json.dumps(o).encode()), binary=True
            )
        else:
            await self.ws.write_message(json.dumps(dict(msg, channel=channel)))

    async def send_raw(self, frame: Any, binary: bool = False) -> None:
        await self.ws.write_message(frame, binary=binary)

    async def recv(self, timeout: float = 30) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.read_message(), timeout)
        if raw is None:
            raise ConnectionError("websocket closed")
        if isinstance(raw, bytes):
            channel, parts = deserialize_msg_from_ws_v1(raw)
            header, parent, metadata, content = (json.loads(p) for p in parts[:4])
            msg = {
                "channel": channel,
                "header": header,
                "parent_header": parent,
                "metadata": metadata,
                "content": content,
            }
        else:
            msg = json.loads(raw)
        self.received.append(msg)
        return msg

    async def collect(self, msg_id: str, channel: str = "shell", timeout: float = 60) -> list[dict[str, Any]]:
        """Messages for one request until it has both its reply and an idle status (as a frontend waits).

        Messages for other requests stay buffered for their own `collect`.
        """
        out: list[dict[str, Any]] = []
        got_reply = got_idle = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = 0
        while not (got_reply and got_idle):
            if seen < len(self.received):
                msg = self.received[seen]
                seen += 1
            else:
                await self.recv(max(0.1, deadline - loop.time()))
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            out.append(msg)
            if msg["channel"] == channel and msg["header"]["msg_type"].endswith("_reply"):
                got_reply = True
            if msg["header"]["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                got_idle = True
        return out

    async def wait_for(self, want: Any, timeout: float = 30) -> dict[str, Any]:
        """The first message (received so far or later) for which `want(msg)` is true."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = 0
        while True:
            while seen < len(self.received):
                msg = self.received[seen]
                seen += 1
                if want(msg):
                    return msg
            await self.recv(max(0.1, deadline - loop.time()))

    async def execute(self, code: str, channel: str = "shell", **extra: Any) -> list[dict[str, Any]]:
        msg = make_msg("execute_request", execute_content(code, **extra), self.session)
        await self.send(msg, channel)
        return await self.collect(msg["header"]["msg_id"], channel)

    async def kernel_info(self) -> None:
        msg = make_msg("kernel_info_request", {}, self.session)
        await self.send(msg)
        await self.collect(msg["header"]["msg_id"])


def kinds(msgs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["channel"], m["header"]["msg_type"]) for m in msgs]


def reply_of(msgs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(m for m in msgs if m["header"]["msg_type"].endswith("_reply"))


def stdout_of(msgs: list[dict[str, Any]]) -> str:
    return "".join(m["content"]["text"] for m in msgs if m["header"]["msg_type"] == "stream")
