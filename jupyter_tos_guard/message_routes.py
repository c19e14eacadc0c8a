"""Client -> kernel messages other than execute_request that carry code, and what they carry.

Every message type a frontend can send is listed here, so that what is checked and what is not
is written down in one place (README, "Other routes into the kernel" mirrors this table).
"""

from __future__ import annotations

from typing import Any

# debug_request commands whose arguments the kernel evaluates or writes to a file it can run
_DEBUG_CODE_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "evaluate": ("expression",),  # the debugger console
    "setExpression": ("expression", "value"),
    "setVariable": ("value",),
    "dumpCell": ("code",),  # a file that `%run` or an import could run later
}

# Client -> kernel message types, and why each one is or is not read by the guard.
COVERAGE: dict[str, str] = {
    "execute_request": "checked: code and each user_expression (cells, consoles, Run All)",
    "debug_request": "checked: evaluate, setExpression, setVariable and dumpCell arguments",
    "input_reply": "checked: the text typed at an input() prompt, which code may exec",
    "comm_open": "checked: the string values in its data (a comm target may exec them)",
    "comm_msg": "checked: the string values in its data",
    "comm_close": "not read: carries no code the kernel runs by default",
    "kernel_info_request": "not read: carries no code",
    "complete_request": "not read: completion runs no user code in ipykernel",
    "inspect_request": "not read: inspection evaluates names already defined, not new code",
    "history_request": "not read: carries no code",
    "is_complete_request": "not read: the kernel only parses the code",
    "comm_info_request": "not read: carries no code",
    "interrupt_request": "not read: carries no code",
    "shutdown_request": "not read: carries no code",
}

MAX_STRINGS = 10_000  # string values read from one comm message, whatever its depth


def debug_code(content: dict[str, Any]) -> str | None:
    """The code a debug_request would have the kernel run, or None for commands that run none."""
    names = _DEBUG_CODE_ARGUMENTS.get(str(content.get("command")))
    arguments = content.get("arguments")
    if names is None or not isinstance(arguments, dict):
        return None
    parts = [arguments[n] for n in names if isinstance(arguments.get(n), str)]
    return "\n".join(parts) if parts else None


def input_text(content: dict[str, Any]) -> str | None:
    value = content.get("value")
    return value if isinstance(value, str) and value else None


def comm_text(content: dict[str, Any]) -> str | None:
    """The string values of a comm message's data, one per line (widget state and custom
    comms alike: any of them may be code a registered target passes to exec)."""
    found: list[str] = []
    stack: list[Any] = [content.get("data")]
    while stack and len(found) < MAX_STRINGS:
        item = stack.pop()
        if isinstance(item, str):
            if item:
                found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return "\n".join(reversed(found)) if found else None


def code_of(msg_type: str, content: dict[str, Any]) -> str | None:
    """What a non-execute message would have the kernel run, or None."""
    if msg_type == "debug_request":
        return debug_code(content)
    if msg_type == "input_reply":
        return input_text(content)
    if msg_type in ("comm_msg", "comm_open"):
        return comm_text(content)
    return None


CHECKED_TYPES = frozenset({"debug_request", "input_reply", "comm_msg", "comm_open"})
