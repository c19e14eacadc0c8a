"""The hook: a kernel websocket connection that checks every execute request first.

jupyter_server creates one of these per browser websocket to a kernel
(`ServerApp.kernel_websocket_connection_class`). Each frame from the browser passes through
`handle_incoming_message` before it reaches the kernel's ZMQ sockets. For an
`execute_request` (shell or control channel, `code` and `user_expressions`) we ask the guard,
then forward untouched, forward after an inline notice, or answer the request ourselves with
the same messages a kernel sends for a failed cell. Message order is never changed, and no
exception ever escapes into tornado (tornado would drop the whole websocket).
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
import typing as t
import weakref

import zmq
from jupyter_client.jsonutil import json_default
from jupyter_server.services.kernels.connection.base import (
    deserialize_binary_message,
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from tornado.websocket import WebSocketClosedError

from .guard import Decision, Guard, Request
from .identity import groups_of, user_of
from .includes import kernel_cwd, read_files
from .message_routes import CHECKED_TYPES, code_of
from .messages import METADATA_KEY, debugger_refusal, error_content, notice_content, refused_content
from .policy import Action
from .policy.engine import normalize_text

V1 = "v1.kernel.websocket.jupyter.org"
_MAX_DRAIN_SECONDS = 3600.0  # never abort for longer than this, whatever happens to replies


def _raw(part: t.Any) -> bytes:
    return part.bytes if isinstance(part, zmq.Frame) else bytes(part)


def _has_lone_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class MalformedMessage(ValueError):
    """A frame the server cannot read; it is logged and dropped, and the connection lives on."""


class _Parsed(t.NamedTuple):
    channel: str
    header: dict[str, t.Any]
    msg: dict[str, t.Any] | None  # legacy protocol: the whole message
    msg_list: list[t.Any] | None  # v1 protocol: [header, parent, metadata, content, *buffers] bytes


# a cheap first look before includes.py's own patterns (and a /proc read) run
class _Execute(t.NamedTuple):
    request: Request
    silent: bool
    stop_on_error: bool


def _check_v1_frame(frame: bytes) -> None:
    """Validate the v1 offset table before jupyter_server reads it.

    The first 8 bytes say how many offsets follow; jupyter_server trusts that number and
    builds a list that long, so 8 bytes of garbage would stall the server for good.
    """
    if len(frame) < 8:
        raise MalformedMessage("v1 frame shorter than its offset count")
    count = int.from_bytes(frame[:8], "little")
    if count < 6 or 8 * (count + 1) > len(frame):
        raise MalformedMessage(f"v1 frame announces {count} offsets but has {len(frame)} bytes")
    previous = 0
    for i in range(count):
        offset = int.from_bytes(frame[8 * (i + 1) : 8 * (i + 2)], "little")
        if offset < previous or offset > len(frame) or (i == 0 and offset != 8 * (count + 1)):
            raise MalformedMessage("v1 frame offsets are out of order or out of range")
        previous = offset


def _check_legacy_binary_frame(frame: bytes) -> None:
    """Same care for the legacy binary layout: a 4-byte buffer count, then 4-byte offsets."""
    if len(frame) < 8:
        raise MalformedMessage("binary frame shorter than its header")
    count = int.from_bytes(frame[:4], "big", signed=True)
    if count < 1 or 4 * (count + 1) > len(frame):
        raise MalformedMessage(f"binary frame announces {count} buffers but has {len(frame)} bytes")


class GuardedZMQChannelsWebsocketConnection(ZMQChannelsWebsocketConnection):
    """`ZMQChannelsWebsocketConnection` with the terms-of-use check in front of the kernel."""

    # The kernel's own session id, learned from its messages. Messages we make up must carry
    # it, or JupyterLab drops them as coming from an old session. Class-level: survives reconnects.
    _kernel_sessions: t.ClassVar[dict[str, str]] = {}
    # Live connections per kernel, for notices that come from elsewhere (the process watcher).
    _live: t.ClassVar[dict[str, weakref.WeakSet[GuardedZMQChannelsWebsocketConnection]]] = {}

    _notebook_path: str | None = None
    _language: str = "python"
    # stop-on-error emulation: see _start_aborting
    _pending: dict[str, float]
    _abort_wait: set[str] | None = None
    _abort_deadline: float | None = None
    _abort_started: float = 0.0
    _abort_burst: bool = False

    _pending_headers: dict[str, dict[str, t.Any]]
    # messages that arrived while a large cell is checked in the worker, in order (see below)
    _backlog: collections.deque[t.Any] | None = None
    _drain_task: asyncio.Future[None] | None = None

    def __init__(self, **kwargs: t.Any):
        super().__init__(**kwargs)
        self._pending = {}
        self._pending_headers = {}

    def connect(self) -> t.Any:
        connected = super().connect()
        self._live.setdefault(self.kernel_id, weakref.WeakSet()).add(self)
        return connected

    def disconnect(self) -> t.Any:
        live = self._live.get(self.kernel_id)
        if live is not None:
            live.discard(self)
            if not live:
                self._live.pop(self.kernel_id, None)
        return super().disconnect()

    @property
    def guard(self) -> Guard | None:
        return t.cast("Guard | None", self.websocket_handler.settings.get("tos_guard"))

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        try:
            spec = self.kernel_manager.kernel_spec
            self._language = (getattr(spec, "language", None) or "python").lower()
        except Exception:
            self._language = "python"
        await self._refresh_notebook_path()

    async def _refresh_notebook_path(self) -> None:
        manager = self.websocket_handler.settings.get("session_manager")
        if manager is None:
            return
        try:
            session = await manager.get_session(kernel_id=self.kernel_id)
            self._notebook_path = session.get("path") or session.get("notebook", {}).get("path")
        except Exception:  # no session for a bare kernel: that is normal
            self._notebook_path = None

    # --- incoming: browser -> kernel -------------------------------------------------------

    # Messages are handled in the order they arrive. A large cell is checked in the worker
    # process (see Guard.check_async): while it is, this connection's later messages wait in
    # `_backlog` behind it, and the event loop serves everyone else.

    def handle_incoming_message(self, incoming_msg: t.Any) -> None:
        if self._backlog is not None:
            self._backlog.append(incoming_msg)
            return
        waiting = self._handle_safely(incoming_msg)
        if waiting is not None:
            self._backlog = collections.deque()
            self._drain_task = asyncio.ensure_future(self._drain(waiting))

    def _handle_safely(self, incoming_msg: t.Any) -> t.Awaitable[None] | None:
        try:
            return self._handle_incoming(incoming_msg)
        except Exception:
            self.log.exception("tos-guard: unexpected error while handling a kernel message; it was dropped")
            return None

    async def _drain(self, waiting: t.Awaitable[None] | None) -> None:
        while True:
            if waiting is not None:
                try:
                    await waiting
                except Exception:
                    self.log.exception("tos-guard: unexpected error while checking a cell; it was dropped")
            waiting = None
            while waiting is None and self._backlog:
                waiting = self._handle_safely(self._backlog.popleft())
            if waiting is None:
                self._backlog = None
                return

    def _handle_incoming(self, ws_msg: t.Any) -> t.Awaitable[None] | None:
        """Handle one client message; an awaitable when its check went to the worker."""
        if not self.channels:
            self.log.debug("Received message on closed websocket")
            return None
        try:
            parsed = self._parse(ws_msg)
        except MalformedMessage as exc:
            self.log.warning("tos-guard: dropped a malformed kernel message from the client: %s", exc)
            return None
        if parsed.channel not in self.channels:
            self.log.warning("No such channel: %r", parsed.channel)
            return None
        allowed = self.multi_kernel_manager.allowed_message_types
        msg_type = parsed.header.get("msg_type")
        if allowed and msg_type not in allowed:
            self.log.warning('Received message of type "%s", which is not allowed. Ignoring.', msg_type)
            return None
        if msg_type in CHECKED_TYPES:
            return self._check_carrier(parsed, str(msg_type))
        if msg_type != "execute_request":
            self._forward(parsed)
            return None
        try:
            execute = self._prepare_execute(parsed)
            if execute is None:
                return None
            guard = self.guard
            if guard is None:
                self.log.error("tos-guard: the guard is not initialised; forwarding unchecked")
                self._forward(parsed)
                return None
            if guard.offloads(execute.request):
                return self._check_later(guard, parsed, execute)
            if self._apply(parsed, execute, guard.check(execute.request)):
                self._forward(parsed)
        except MalformedMessage as exc:
            # the header is readable, so the client waits for a reply: give it one (the
            # kernel would not answer a request without code, or would choke on it)
            self.log.warning("tos-guard: refused an unreadable execute_request: %s", exc)
            self._refuse(parsed, str(exc))
        return None

    async def _check_later(self, guard: Guard, parsed: _Parsed, execute: _Execute) -> None:
        decision = await guard.check_async(execute.request)
        if not self.channels:
            return  # the websocket closed while the cell was checked
        if self._apply(parsed, execute, decision):
            self._forward(parsed)

    # --- other messages that carry code: the debugger, stdin, comms (message_routes.py) ------

    def _check_carrier(self, parsed: _Parsed, msg_type: str) -> t.Awaitable[None] | None:
        guard = self.guard
        try:
            content = self._content(parsed)
        except MalformedMessage as exc:
            self.log.warning("tos-guard: dropped an unreadable %s: %s", msg_type, exc)
            return None
        code = code_of(msg_type, content)
        if guard is None or code is None:
            self._forward(parsed)
            return None
        request = self._request(
            parsed,
            normalize_text(code),
            surface="debugger" if msg_type == "debug_request" else "cell",
            origin=msg_type,
        )
        if guard.offloads(request):
            return self._carrier_later(guard, parsed, content, request)
        self._carrier_decided(parsed, content, guard.check(request))
        return None

    async def _carrier_later(self, guard: Guard, parsed: _Parsed, content: dict[str, t.Any], request: Request) -> None:
        decision = await guard.check_async(request)
        if self.channels:
            self._carrier_decided(parsed, content, decision)

    def _carrier_decided(self, parsed: _Parsed, content: dict[str, t.Any], decision: Decision) -> None:
        msg_type = parsed.header.get("msg_type")
        if decision.action < Action.CONFIRM:
            if decision.action == Action.WARN and decision.payload is not None and msg_type != "debug_request":
                self._notice_in_running_cell(decision, msg_type)
            self._forward(parsed)
            return
        # stopped: nothing of it reaches the kernel
        if msg_type == "debug_request":
            self._answer_debug_refused(parsed, content, decision)
            return
        self._notice_in_running_cell(decision, msg_type)
        if msg_type == "input_reply":
            # the kernel waits at input() for this reply: interrupt it, so the cell ends with
            # KeyboardInterrupt instead of hanging (or running on with other input)
            asyncio.ensure_future(self._interrupt())

    def _notice_in_running_cell(self, decision: Decision, msg_type: str | None) -> None:
        assert decision.payload is not None
        judged = "input" if msg_type == "input_reply" else "comm message"
        payload = dict(decision.payload, judged=judged)
        if payload["action"] == "confirm":  # nobody can acknowledge a message already sent
            payload["action"] = "block"
            payload.pop("confirm", None)
        parent = self._executing_header()
        self._send_to_client(
            self._make_msg("display_data", notice_content(payload), parent, self._meta(decision)), "iopub"
        )

    def _answer_debug_refused(self, parsed: _Parsed, content: dict[str, t.Any], decision: Decision) -> None:
        assert decision.payload is not None
        reply = {
            "seq": 0,
            "type": "response",
            "request_seq": content.get("seq", 0),
            "success": False,
            "command": content.get("command"),
            "message": debugger_refusal(decision.payload),
            "body": {},
        }
        self._send_to_client(self._make_msg("debug_reply", reply, parsed.header, self._meta(decision)), parsed.channel)

    async def _interrupt(self) -> None:
        try:
            await self.kernel_manager.interrupt_kernel()
        except Exception:
            self.log.warning("tos-guard: could not interrupt the kernel after a refused input", exc_info=True)

    def _forward(self, parsed: _Parsed) -> None:
        stream = self.channels.get(parsed.channel)
        if stream is None:
            return
        if parsed.msg_list is not None:
            self.session.send_raw(stream, parsed.msg_list)
        elif parsed.msg is not None:
            self.session.send(stream, parsed.msg)

    def _parse(self, ws_msg: t.Any) -> _Parsed:
        if self.subprotocol == V1:
            if not isinstance(ws_msg, bytes):
                raise MalformedMessage("v1 protocol expects binary frames")
            _check_v1_frame(ws_msg)
            try:
                channel, msg_list = deserialize_msg_from_ws_v1(ws_msg)
            except Exception as exc:
                raise MalformedMessage(f"unreadable v1 frame ({type(exc).__name__})") from exc
            if not isinstance(channel, str) or len(msg_list) < 4:
                raise MalformedMessage("v1 frame without a channel and the four message parts")
            header = self._unpack(msg_list[0], "header")
            return _Parsed(channel, header, None, msg_list)
        if isinstance(ws_msg, bytes):
            _check_legacy_binary_frame(ws_msg)
        try:
            msg = deserialize_binary_message(ws_msg) if isinstance(ws_msg, bytes) else json.loads(ws_msg)
        except Exception as exc:
            raise MalformedMessage(f"invalid JSON ({type(exc).__name__}: {exc})") from exc
        if not isinstance(msg, dict):
            raise MalformedMessage("a kernel message must be a JSON object")
        channel = msg.pop("channel", None)
        if channel is None:
            self.log.warning("No channel specified, assuming shell")
            channel = "shell"
        legacy_header = msg.get("header")
        if not isinstance(legacy_header, dict):
            raise MalformedMessage("the message has no header object")
        for part in ("parent_header", "metadata", "content"):
            if not isinstance(msg.setdefault(part, {}), dict):
                raise MalformedMessage(f"the message's {part} is not an object")
        if not isinstance(channel, str):
            raise MalformedMessage("the channel is not a string")
        return _Parsed(channel, legacy_header, msg, None)

    def _unpack(self, part: t.Any, what: str) -> dict[str, t.Any]:
        try:
            value = self.session.unpack(part)
        except Exception as exc:
            raise MalformedMessage(f"the {what} is not valid UTF-8 JSON ({type(exc).__name__})") from exc
        if not isinstance(value, dict):
            raise MalformedMessage(f"the {what} is not a JSON object")
        return value

    def _content(self, parsed: _Parsed) -> dict[str, t.Any]:
        if parsed.msg is not None:
            return t.cast("dict[str, t.Any]", parsed.msg["content"])
        assert parsed.msg_list is not None
        return self._unpack(parsed.msg_list[3], "content")

    def _metadata(self, parsed: _Parsed) -> dict[str, t.Any]:
        if parsed.msg is not None:
            return t.cast("dict[str, t.Any]", parsed.msg["metadata"])
        assert parsed.msg_list is not None
        return self._unpack(parsed.msg_list[2], "metadata")

    def _prepare_execute(self, parsed: _Parsed) -> _Execute | None:
        """The request to check, or None when it was answered here already (aborted)."""
        header = parsed.header
        content = self._content(parsed)
        if parsed.channel == "shell" and self._aborting():
            self._answer_aborted(parsed.channel, header)
            return None
        code = content.get("code")
        if not isinstance(code, str):
            raise MalformedMessage("its code is missing or not a string")
        expressions = content.get("user_expressions") or {}
        if not isinstance(expressions, dict):
            raise MalformedMessage("its user_expressions is not an object")
        if _has_lone_surrogate(code) or any(
            isinstance(v, str) and _has_lone_surrogate(v) for v in expressions.values()
        ):
            raise MalformedMessage("its code holds characters no kernel can read (unpaired UTF-16 surrogates)")
        meta = self._metadata(parsed).get(METADATA_KEY)
        request = self._request(
            parsed,
            code,
            acknowledge=meta.get("acknowledge") if isinstance(meta, dict) else None,
            user_expressions=tuple(str(v) for v in expressions.values()),
            included=self._included(code),
        )
        return _Execute(request, bool(content.get("silent")), bool(content.get("stop_on_error", True)))

    def _request(self, parsed: _Parsed, code: str, **extra: t.Any) -> Request:
        """What the guard is asked about a message of this connection: its code, where it came from, who sent it."""
        return Request(
            code=code,
            msg_id=parsed.header.get("msg_id"),
            channel=parsed.channel,
            kernel_id=self.kernel_id,
            kernel_name=getattr(self.kernel_manager, "kernel_name", None),
            notebook_path=self._notebook_path,
            user=self._user_name(),
            groups=self._user_groups(),
            language=self._language,
            **extra,
        )

    def _included(self, code: str) -> tuple[tuple[str, str], ...]:
        """Files the cell runs in the kernel, read from where the kernel runs (includes.py)."""
        guard = self.guard
        if guard is None or not guard.config.read_included_files:
            return ()
        provisioner = getattr(self.kernel_manager, "provisioner", None)
        cap = guard.config.max_scan_bytes or 1024 * 1024
        return read_files(code, lambda: kernel_cwd(getattr(provisioner, "pid", None)), cap)

    def _apply(self, parsed: _Parsed, execute: _Execute, decision: Decision) -> bool:
        """Act on a decision (notice, block, abort what follows); True to forward the request."""
        header = parsed.header
        request_silent, stop_on_error = execute.silent, execute.stop_on_error
        if decision.action >= Action.LOG:
            asyncio.ensure_future(self._refresh_notebook_path())  # renamed notebooks: fresh next time
        if decision.action >= Action.CONFIRM:
            if not request_silent:
                # the full reason, before the one-line error (a confirm notice also carries the
                # token the frontend acknowledges with)
                self._send_notice(header, decision)
            self._answer_blocked(parsed.channel, header, decision)
            if parsed.channel == "shell" and stop_on_error and not request_silent:
                self._start_aborting()
            return False
        if decision.action == Action.WARN and not request_silent:
            self._send_notice(header, decision)
        if parsed.channel == "shell" and isinstance(header.get("msg_id"), str):
            self._pending[header["msg_id"]] = time.monotonic()
            self._pending_headers[header["msg_id"]] = header
            if len(self._pending_headers) > 2 * len(self._pending) + 8:
                self._pending_headers = {k: v for k, v in self._pending_headers.items() if k in self._pending}
        return True

    def _user_name(self) -> str | None:
        return user_of(self.websocket_handler)

    def _user_groups(self) -> tuple[str, ...]:
        return groups_of(self.websocket_handler)

    # --- stop_on_error: abort what was queued behind a blocked cell ---------------------------
    #
    # A kernel that fails a cell with stop_on_error aborts every execute request already in
    # its queue when the failing cell finishes, i.e. after the requests sent before it. A
    # blocked cell never reaches the kernel, so we do the same here: requests arriving after
    # the block are answered "aborted" until the requests forwarded before the block have
    # replied, plus `abort_grace` seconds (the kernel's "already queued" window).

    def _start_aborting(self) -> None:
        self._abort_wait = set(self._pending)
        self._abort_started = time.monotonic()
        self._abort_deadline = None if self._abort_wait else self._abort_started + self._grace()
        if not self._abort_wait:
            self._same_burst()

    def _same_burst(self) -> None:
        # Frames already received together with the last one (a Run All burst) are read by
        # tornado without returning to the event loop: everything before the next loop turn
        # was "already queued" from the kernel's point of view.
        self._abort_burst = True

        def end_burst() -> None:
            self._abort_burst = False

        asyncio.get_event_loop().call_soon(end_burst)

    def _grace(self) -> float:
        guard = self.guard
        return float(guard.config.abort_grace) if guard is not None else 0.05

    def _aborting(self) -> bool:
        if self._abort_wait is None:
            return False
        now = time.monotonic()
        state = getattr(self.kernel_manager, "execution_state", None)
        if self._abort_deadline is None and (
            state in ("starting", "restarting", "dead") or now - self._abort_started > _MAX_DRAIN_SECONDS
        ):
            self._stop_aborting()
            return False
        if self._abort_deadline is not None and now > self._abort_deadline and not self._abort_burst:
            self._stop_aborting()
            return False
        return True

    def _stop_aborting(self) -> None:
        self._abort_wait = None
        self._abort_deadline = None

    def on_kernel_restarted(self) -> None:
        self._stop_aborting()
        self._pending.clear()
        self._kernel_sessions.pop(self.kernel_id, None)  # a new kernel process, a new session
        super().on_kernel_restarted()

    def on_restart_failed(self) -> None:
        self._stop_aborting()
        self._pending.clear()
        super().on_restart_failed()

    # --- outgoing: kernel -> browser -------------------------------------------------------

    def handle_outgoing_message(self, stream: t.Any, outgoing_msg: list[t.Any]) -> None:
        try:
            channel = getattr(stream, "channel", stream if isinstance(stream, str) else None)
            # only read headers when there is something to learn: the kernel's session (once per
            # kernel process) or a reply to a request an abort is waiting on
            if (
                self.kernel_id not in self._kernel_sessions
                or (channel == "shell" and self._pending)
                or (channel == "iopub" and self._abort_wait)
            ):
                self._observe_outgoing(channel, outgoing_msg)
        except Exception:
            self.log.debug("tos-guard: could not read an outgoing header", exc_info=True)
        super().handle_outgoing_message(stream, outgoing_msg)

    def _observe_outgoing(self, channel: str | None, outgoing_msg: list[t.Any]) -> None:
        _, fed = self.session.feed_identities(outgoing_msg)
        header = self.session.unpack(fed[1])  # fed[0] is the HMAC signature
        session = header.get("session")
        if session:
            self._kernel_sessions[self.kernel_id] = session
        msg_type = str(header.get("msg_type", ""))
        if channel == "shell" and self._pending and msg_type.endswith("_reply"):
            msg_id = self._parent_among(fed[2], self._pending)
            if msg_id is not None:
                del self._pending[msg_id]
                self._request_done(msg_id)
        elif channel == "iopub" and self._abort_wait and msg_type == "status":
            # a kernel that goes idle after a request is done with it, reply or not (ipykernel
            # sends none for some malformed requests): never wait on a reply that will not come
            msg_id = self._parent_among(fed[2], self._abort_wait)
            if msg_id is not None and self.session.unpack(_raw(fed[4])).get("execution_state") == "idle":
                self._pending.pop(msg_id, None)
                self._request_done(msg_id)

    def _parent_among(self, raw: t.Any, ids: t.Collection[str]) -> str | None:
        raw_parent = _raw(raw)
        if not any(pending.encode() in raw_parent for pending in ids):
            return None
        msg_id = self.session.unpack(raw_parent).get("msg_id")
        return msg_id if msg_id in ids else None

    def _request_done(self, msg_id: str) -> None:
        if self._abort_wait is not None and msg_id in self._abort_wait:
            self._abort_wait.discard(msg_id)
            if not self._abort_wait and self._abort_deadline is None:
                self._abort_deadline = time.monotonic() + self._grace()
                self._same_burst()

    # --- messages we make ---------------------------------------------------------------------

    def _make_msg(
        self, msg_type: str, content: dict[str, t.Any], parent: dict[str, t.Any], metadata: dict[str, t.Any]
    ) -> dict[str, t.Any]:
        msg = self.session.msg(msg_type, content=content, parent=parent, metadata=metadata)
        kernel_session = self._kernel_sessions.get(self.kernel_id)
        if kernel_session:
            msg["header"]["session"] = kernel_session
        return msg

    def _send_to_client(self, msg: dict[str, t.Any], channel: str) -> None:
        try:
            if self.subprotocol == V1:
                self.write_message(serialize_msg_to_ws_v1(msg, channel, self.session.pack), binary=True)
            else:
                payload = {k: msg[k] for k in ("header", "parent_header", "metadata", "content")}
                self.write_message(json.dumps(dict(payload, channel=channel, buffers=[]), default=json_default))
        except WebSocketClosedError:
            self.log.debug("tos-guard: websocket closed before a guard message was sent")

    @staticmethod
    def _meta(decision: Decision) -> dict[str, t.Any]:
        rules = list(decision.verdict.rule_ids) if decision.verdict else []
        return {METADATA_KEY: {"action": decision.action.label, "rules": rules}}

    def _send_notice(self, parent: dict[str, t.Any], decision: Decision) -> None:
        assert decision.payload is not None
        content = notice_content(decision.payload)
        self._send_to_client(self._make_msg("display_data", content, parent, self._meta(decision)), "iopub")

    # --- notices from elsewhere (the process watcher) ----------------------------------------

    @classmethod
    def connections(cls, kernel_id: str | None = None) -> list[GuardedZMQChannelsWebsocketConnection]:
        """Live connections to one kernel, or to every kernel."""
        ids = [kernel_id] if kernel_id is not None else list(cls._live)
        return [conn for kid in ids for conn in list(cls._live.get(kid, ()))]

    @classmethod
    def notify_kernel(cls, kernel_id: str, payload: dict[str, t.Any]) -> int:
        """Show a notice in the notebooks connected to a kernel; returns how many got it.

        Each connection's notice answers the request its kernel is executing, if that
        connection sent it (so it lands in that cell's output), else no request at all.
        """
        sent = 0
        meta = {METADATA_KEY: {"action": payload.get("action"), "surface": payload.get("surface")}}
        for conn in cls.connections(kernel_id):
            try:
                parent = conn._executing_header()
                conn._send_to_client(conn._make_msg("display_data", notice_content(payload), parent, meta), "iopub")
                sent += 1
            except Exception:
                conn.log.warning("tos-guard: could not send a notice to a kernel's client", exc_info=True)
        return sent

    def _executing_header(self) -> dict[str, t.Any]:
        # requests run in the order they were sent: the oldest unanswered one is running
        for msg_id in self._pending:
            header = self._pending_headers.get(msg_id)
            if header is not None:
                return header
        return {}

    def _answer_blocked(self, channel: str, parent: dict[str, t.Any], decision: Decision) -> None:
        assert decision.payload is not None
        meta = self._meta(decision)
        error = error_content(decision.payload)
        reply = dict(error, status="error", execution_count=None, user_expressions={}, payload=[])
        self._answer(channel, parent, meta, reply, error)

    def _refuse(self, parsed: _Parsed, reason: str) -> None:
        """Answer an execute_request that cannot be forwarded, so no client waits forever."""
        header = parsed.header
        if not isinstance(header.get("msg_id"), str):
            return
        guard = self.guard
        if guard is not None:
            guard.refused(
                Request(
                    code="",
                    msg_id=header["msg_id"],
                    channel=parsed.channel,
                    kernel_id=self.kernel_id,
                    notebook_path=self._notebook_path,
                    user=self._user_name(),
                ),
                reason,
            )
        error = refused_content(reason)
        meta = {METADATA_KEY: {"action": "refused"}}
        reply = dict(error, status="error", execution_count=None, user_expressions={}, payload=[])
        self._answer(parsed.channel, header, meta, reply, error)

    def _answer_aborted(self, channel: str, parent: dict[str, t.Any]) -> None:
        meta = {METADATA_KEY: {"action": "aborted"}, "status": "aborted"}
        self._answer(channel, parent, meta, {"status": "aborted", "execution_count": None}, None)

    def _answer(
        self,
        channel: str,
        parent: dict[str, t.Any],
        meta: dict[str, t.Any],
        reply: dict[str, t.Any],
        error: dict[str, t.Any] | None,
    ) -> None:
        """busy, [error], execute_reply, idle: what a kernel sends for a cell that failed."""
        send, make = self._send_to_client, self._make_msg
        send(make("status", {"execution_state": "busy"}, parent, meta), "iopub")
        if error is not None:
            send(make("error", error, parent, meta), "iopub")
        send(make("execute_reply", reply, parent, meta), channel)
        send(make("status", {"execution_state": "idle"}, parent, meta), "iopub")
        if getattr(self.kernel_manager, "execution_state", None) == "busy":
            # our idle must not make the page think a still-running kernel went idle
            send(make("status", {"execution_state": "busy"}, {}, meta), "iopub")
