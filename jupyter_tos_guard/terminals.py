"""Terminals: notices written into the terminal, and typed lines judged when Enter is pressed.

jupyter_server_terminals routes `/terminals/websocket/<name>` to its `TermSocket`; tornado
makes one instance per websocket, so wrapping `on_message` on the class sees every frame
(`["stdin", text]`, `["set_size", rows, cols]`) of every terminal. The keystrokes of a line
are collected (backspace, Ctrl-U, Ctrl-W and Ctrl-C applied; bracketed-paste markers and
cursor keys dropped) and judged with the policy, as a shell line, when Enter arrives.
When a `block` rule matches, the Enter is not sent: the line is cleared in the shell
(Ctrl-E, Ctrl-U) and a notice is written into the terminal.

This is best effort and only a nudge: readline history, tab completion, aliases and
scripts mean the keys are not the command. What enforces is the process watcher, which
sees what actually runs, attributes it to the terminal by its shell's pid, and writes its
notice into the same terminal through `notify_terminal`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tornado.ioloop import IOLoop
from traitlets import Bool
from traitlets.config import Configurable

from .guard import Guard, Request
from .identity import groups_of, user_of
from .messages import terminal_text
from .policy import Action

SETTINGS_KEY = "tos_guard_terminals"
CLEAR_LINE = "\x05\x15"  # Ctrl-E then Ctrl-U: end of line, erase to its start (readline and a cooked tty)
_PASTE_START, _PASTE_END = "\x1b[200~", "\x1b[201~"
_ESCAPE = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|O.|.)?", re.S)
_MAX_LINE = 64 * 1024  # a line is not grown past this: the rest of a huge paste is left to the watcher
_original_on_message: Any = None


class TerminalGuard(Configurable):
    """Terms-of-use checks in JupyterLab terminals (jupyter-tos-guard)."""

    check_typed_lines = Bool(
        True,
        config=True,
        help="""Judge each line typed into a terminal when Enter is pressed, and hold back the
        Enter of a line a `block` rule matches (the line is cleared and a notice shown).
        Best effort only: what was typed is not always what runs (history, completion,
        aliases). The process watcher judges what actually runs either way. To turn
        terminals off entirely, set `c.ServerApp.terminals_enabled = False`.""",
    )


class _Line:
    """What the shell's line editor probably holds, rebuilt from keystrokes."""

    def __init__(self) -> None:
        self.text = ""
        self.pasting = False


_lines: dict[str, _Line] = {}


def install_terminal_hook(serverapp: Any = None) -> bool:
    """Wrap `TermSocket.on_message`; returns False when jupyter_server_terminals is absent."""
    global _original_on_message
    try:
        from jupyter_server_terminals.handlers import TermSocket
    except ImportError:
        return False
    if serverapp is not None:
        serverapp.web_app.settings[SETTINGS_KEY] = TerminalGuard(parent=serverapp)
    if _original_on_message is None:
        _original_on_message = TermSocket.on_message
        TermSocket.on_message = _guarded_on_message  # type: ignore[method-assign]
    return True


def uninstall_terminal_hook() -> None:
    global _original_on_message
    if _original_on_message is None:
        return
    from jupyter_server_terminals.handlers import TermSocket

    TermSocket.on_message = _original_on_message  # type: ignore[method-assign]
    _original_on_message = None
    _lines.clear()


async def _guarded_on_message(self: Any, message: Any) -> None:
    original = _original_on_message
    try:
        forward, notice = _filter(self, message)
    except Exception:  # never break a terminal over the guard
        self.log.warning("tos-guard: could not read a terminal message; passed on unchecked", exc_info=True)
        forward, notice = message, None
    if notice is not None:
        _write_later(self.settings, self.term_name, notice, 0.05 if forward is not message else 0.0)
    if forward is not None and original is not None:
        await original(self, forward)


def _filter(handler: Any, message: Any) -> tuple[Any, dict[str, Any] | None]:
    """The frame to pass on (the same object when untouched, None to drop) and a notice to show."""
    settings = handler.settings
    guard: Guard | None = settings.get("tos_guard")
    options = settings.get(SETTINGS_KEY)
    try:
        command = json.loads(message)
    except ValueError:
        command = None
    if not (isinstance(command, list) and command and isinstance(command[0], str)) or (
        command[0] == "stdin" and not (len(command) >= 2 and isinstance(command[1], str))
    ):
        # terminado would raise on it, and tornado would drop the whole terminal connection
        handler.log.warning("tos-guard: dropped a malformed terminal message")
        return None, None
    if guard is None or (options is not None and not options.check_typed_lines) or command[0] != "stdin":
        return message, None
    name = str(handler.term_name)
    line = _lines.setdefault(name, _Line())
    text: str = command[1]
    i = 0
    while i < len(text):
        if text.startswith(_PASTE_START, i):
            line.pasting, i = True, i + len(_PASTE_START)
            continue
        if text.startswith(_PASTE_END, i):
            line.pasting, i = False, i + len(_PASTE_END)
            continue
        char = text[i]
        if char == "\x1b":  # cursor keys and other sequences: the line is edited in ways we do not follow
            match = _ESCAPE.match(text, i)
            i = match.end() if match else i + 1
            continue
        if char in "\r\n" and line.pasting:
            line.text += "\n"  # a pasted newline waits for the real Enter in bracketed-paste mode
        elif char in "\r\n":
            typed, line.text = line.text, ""
            payload = _judge(guard, handler, name, typed)
            if payload is not None and payload["action"] in ("block", "confirm"):
                # the Enter and anything after it stays here; the shell only sees the line cleared
                return json.dumps(["stdin", text[:i] + CLEAR_LINE]), payload
            if payload is not None:
                return message, payload
        elif char in "\x7f\x08":
            line.text = line.text[:-1]
        elif char in "\x15\x03":
            line.text = ""
        elif char == "\x17":
            stripped = line.text.rstrip()
            line.text = stripped[: len(stripped) - len(stripped.split()[-1])] if stripped.split() else ""
        elif char >= " " or char == "\t":
            if len(line.text) < _MAX_LINE:
                line.text += " " if char == "\t" else char
        i += 1
    return message, None


def _judge(guard: Guard, handler: Any, name: str, typed: str) -> dict[str, Any] | None:
    if not typed.strip():
        return None
    user, groups = _user_of(handler)
    decision = guard.check(
        Request(
            code=typed,
            language="bash",
            channel="terminal",
            user=user,
            groups=groups,
            surface="terminal",
            command_line=typed,
            origin=f"terminal:{name}",
        )
    )
    if decision.action < Action.WARN or decision.payload is None:
        return None
    payload = dict(decision.payload, surface="terminal", started_from=f"terminal {name}")
    if decision.action >= Action.CONFIRM:
        payload["action"] = "block"  # nobody can acknowledge in a terminal
        payload.pop("confirm", None)
    return payload


def _user_of(handler: Any) -> tuple[str | None, tuple[str, ...]]:
    return user_of(handler), groups_of(handler)


def _write_later(settings: dict[str, Any], name: str, payload: dict[str, Any], delay: float) -> None:
    # after a cleared line, let the shell's own redraw reach the screen first
    IOLoop.current().call_later(delay, lambda: _write(settings, name, payload))


def _write(settings: dict[str, Any], name: str, payload: dict[str, Any]) -> int:
    manager = settings.get("terminal_manager")
    term = getattr(manager, "terminals", {}).get(name)
    if term is None:
        return 0
    text = terminal_text(payload)
    sent = 0
    for client in list(term.clients):
        try:
            client.on_pty_read(text)
            sent += 1
        except Exception:  # a closing websocket: the others still get it
            continue
    return sent


def notify_terminal(serverapp: Any, name: str, payload: dict[str, Any]) -> int:
    """Write a notice into a terminal's output (every browser tab showing it); returns how many got it."""
    web_app = getattr(serverapp, "web_app", None)
    if web_app is None:
        return 0
    return _write(web_app.settings, name, payload)
