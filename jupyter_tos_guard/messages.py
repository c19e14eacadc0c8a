"""What students see: the inline notice (warn) and the error (block), for every frontend.

The notice is one `display_data` with our own MIME type (rendered by the labextension) and
`text/plain` + `text/html` fallbacks, so classic Notebook, VS Code and nbclient show it too.
Matched code is always escaped; nothing a student wrote is ever rendered as HTML.
"""

from __future__ import annotations

import html
import re
import textwrap
from typing import Any

from .policy import Action, Verdict
from .policy.verdict import RuleHit, line_text

MIME_TYPE = "application/vnd.jupyter.tos-guard+json"
ERROR_NAME = "TermsOfUseViolation"
METADATA_KEY = "jupyter_tos_guard"
_EXCERPT_CHARS = 160
# plain text is read in terminals and consoles: paragraphs are wrapped here, between words,
# rather than by the terminal in the middle of one
_TEXT_WIDTH = 88
# matchers that name a tool (its command, repository or package), not a sign of one
_TOOL_MATCHERS = frozenset({"command", "repo", "package"})

ENGINE_FAILED = (
    "The terms-of-use check could not be completed, so this cell was not run. "
    "Try again, and tell the operators if it persists."
)


def _excerpt(code: str, line: int) -> str:
    text = line_text(code, line).strip()
    return text if len(text) <= _EXCERPT_CHARS else text[: _EXCERPT_CHARS - 1] + "…"


def _names_a_tool(hit: RuleHit) -> bool:
    """A rule written for one tool (it names its command, repository or package), whichever of
    its matchers fired: XMRig's rule is about XMRig even when only its archive's name matched."""
    return any(m.kind in _TOOL_MATCHERS for m in hit.rule.matchers)


def display_order(hits: tuple[RuleHit, ...] | list[RuleHit], action: Action) -> list[RuleHit]:
    """The order students read a verdict's rules in: the action each rule takes here first, then
    the rule that names the tool before those that only see signs of it (a mining pool's domain,
    a stratum URL), then severity, then where in the cell it matched."""

    def key(hit: RuleHit) -> tuple[int, bool, int, int, str]:
        first = min((m.span.start for m in hit.matches), default=0)
        return (-min(hit.rule.action, action), not _names_a_tool(hit), -hit.rule.severity, first, hit.rule.id)

    return sorted(hits, key=key)


def verdict_payload(
    verdict: Verdict,
    code: str,
    *,
    action: Action,
    info_url: str | None,
    appeal_url: str | None,
    contact: str | None = None,
    policy_name: str = "",
    mode: str = "enforce",
) -> dict[str, Any]:
    """The JSON a frontend renders: which rules, why, where, and where to go next."""
    rules = []
    for hit in display_order(verdict.hits, action):
        shown = min(hit.rule.action, action)  # e.g. a block rule under the rollout mode `warn`
        matches = []
        for m in hit.matches[:5]:
            matches.append(
                {
                    "line": m.span.line,
                    "column": m.span.column,
                    "end_line": m.span.end_line,
                    "end_column": m.span.end_column,
                    "exact": m.exact,
                    "excerpt": _excerpt(code, m.span.line),
                    # a private rule's patterns and matched values never leave the server: the
                    # student sees its title, its message and their own line
                    "matched": "" if hit.rule.private else m.evidence[:_EXCERPT_CHARS],
                    "matcher": m.matcher,
                    "via": list(m.via),
                }
            )
        rules.append(
            {
                "id": hit.rule.id,
                "title": hit.rule.title,
                "category": hit.rule.category,
                "severity": hit.rule.severity.label,
                "action": shown.label,
                "confidence": hit.rule.confidence,
                "message": hit.rule.message_for(shown),
                "matches": matches,
            }
        )
    return {
        "version": 1,
        "action": action.label,
        "mode": mode,
        "policy": policy_name,
        "rules": rules,
        "info_url": info_url or None,
        "appeal_url": appeal_url or None,
        "contact": contact or None,
    }


def _stopped(payload: dict[str, Any]) -> bool:
    return payload["action"] in ("block", "confirm")


def _headline(payload: dict[str, Any]) -> str:
    """What happened, said for where it happened: a cell, a process, a typed terminal command,
    an input() answer or a comm message."""
    if not _stopped(payload):
        # the rule's message says what the terms prohibit; this says what happened this time
        return "Terms of use warning (it ran, and the run was recorded)"
    surface = payload.get("surface")
    if surface == "process":
        return "This program was stopped"
    if surface == "terminal":
        return "This command was not run"
    if surface == "debugger":
        return "This debugger command was not run"
    judged = payload.get("judged")
    if judged == "input":
        return "This input was not passed to the running cell, which was interrupted"
    if judged == "comm message":
        return "A message to the kernel was not passed on"
    if payload["action"] == "confirm":
        return "This cell was not run yet (it needs your acknowledgement)"
    return "This cell was not run"


def debugger_refusal(payload: dict[str, Any]) -> str:
    """The debug_reply message for a refused debugger command (the debugger shows one line)."""
    first = payload["rules"][0] if payload["rules"] else None
    why = payload.get("reason") or (f"{first['title']}: {first['message']}" if first else ENGINE_FAILED)
    return f"Not run (terms of use): {why}"


def _process_line(payload: dict[str, Any]) -> str | None:
    if payload.get("surface") != "process":
        return None
    where = f" (started from {payload['started_from']})" if payload.get("started_from") else ""
    return f"  Program {payload.get('pid')}{where}: {payload.get('command_line') or ''}"


def _wrapped(text: str, *, indent: str = "") -> list[str]:
    """A paragraph as lines of at most _TEXT_WIDTH characters, broken between words only."""
    return textwrap.wrap(
        text,
        _TEXT_WIDTH,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent]


def first_sentence(text: str) -> str:
    """The first sentence of a message or reason: what the one-line error says."""
    text = " ".join(text.split())
    found = re.match(r"(.+?[.!?])(?=\s+[A-Z(\"'`])", text)
    return found.group(1) if found else text


def _plain_lines(payload: dict[str, Any]) -> list[str]:
    action = payload["action"]
    head = _headline(payload)
    # what happened, once; then each rule with its reason
    lines = [f"{head}."] + (_wrapped(payload["reason"]) if payload.get("reason") else [])
    for rule in payload["rules"]:
        lines.append(f"{rule['title']} (rule {rule['id']}, {rule['category']})")
        lines.extend(_wrapped(rule["message"], indent="  "))
        shown: set[int] = set()
        for m in rule["matches"]:
            if m["line"] not in shown and len(shown) < 2:  # one line per place, even when two matchers hit it
                shown.add(m["line"])
                lines.append(f"  Matched on line {m['line']}: {m['excerpt']}")
    process = _process_line(payload)
    if process is not None:
        lines.append(process)
    if action == "confirm" and payload.get("surface") in (None, "cell"):
        lines.extend(
            _wrapped(
                'To run it anyway, acknowledge the notice with "I understand — run anyway" in JupyterLab '
                "or Notebook 7; other frontends cannot acknowledge."
            )
        )
    lines.extend(_links(payload, "Think this is a mistake, or need an exemption?"))
    return lines


def notice_text(payload: dict[str, Any]) -> str:
    return "\n".join(_plain_lines(payload)) + "\n"


def notice_html(payload: dict[str, Any]) -> str:
    e = html.escape
    stopped = _stopped(payload)
    colour = "#b71c1c" if stopped else "#8a5a00"
    background = "#fdecea" if stopped else "#fff4e5"
    parts = [
        f'<div class="jp-tos-guard-notice" role="alert" style="border-left:4px solid {colour};'
        f'background:{background};color:#1f1f1f;padding:6px 10px;margin:2px 0;font-family:sans-serif">'
    ]
    head = _headline(payload)
    if payload.get("reason"):
        parts.append(f"<div><strong>{e(head)}:</strong> {e(payload['reason'])}</div>")
    else:
        parts.append(f"<div><strong>{e(head)}.</strong></div>")
    for rule in payload["rules"]:
        parts.append(
            f"<div><strong>{e(rule['title'])}</strong> "
            f"<code>{e(rule['id'])}</code> <em>({e(rule['category'])})</em></div>"
        )
        parts.append(f"<div>{e(rule['message'])}</div>")
        seen: set[int] = set()
        for m in rule["matches"]:
            if m["line"] not in seen and len(seen) < 2:
                seen.add(m["line"])
                parts.append(f"<div>Matched on line {int(m['line'])}: <code>{e(m['excerpt'])}</code></div>")
    process = _process_line(payload)
    if process is not None:
        parts.append(f"<div>{e(process.strip())}</div>")
    links = []
    if payload.get("info_url"):
        links.append(f'<a href="{e(payload["info_url"])}" target="_blank" rel="noopener">Terms of use</a>')
    if payload.get("appeal_url"):
        links.append(
            f'<a href="{e(payload["appeal_url"])}" target="_blank" rel="noopener">Ask for an exemption or report a mistake</a>'
        )
    if links:
        parts.append("<div>" + " · ".join(links) + "</div>")
    parts.append("</div>")
    return "".join(parts)


def notice_content(payload: dict[str, Any]) -> dict[str, Any]:
    """`display_data` content for a warning shown before the cell's own output."""
    return {
        "data": {MIME_TYPE: payload, "text/plain": notice_text(payload), "text/html": notice_html(payload)},
        "metadata": {METADATA_KEY: {"action": payload["action"]}},
        "transient": {},
    }


def terminal_text(payload: dict[str, Any]) -> str:
    """A notice written into a terminal: its own lines, coloured, ending on a fresh line."""
    colour = "\x1b[1;31m" if _stopped(payload) else "\x1b[1;33m"
    reset = "\x1b[0m"
    lines = _plain_lines(payload)
    if payload.get("surface") == "terminal" and _stopped(payload):
        lines.append("The line was cleared; the shell did not receive it.")
    body = "\r\n".join(f"{colour}[terms of use]{reset} {line}" for line in lines)
    return "\r\n" + body + "\r\n"


def _rules_named(rules: list[dict[str, Any]]) -> str:
    """The first rule's title, and how many more: "XMRig cryptocurrency miner (and 1 more rule)"."""
    more = len(rules) - 1
    return rules[0]["title"] + (f" (and {more} more rule{'s' if more > 1 else ''})" if more else "")


def error_summary(payload: dict[str, Any]) -> str:
    """The error's `evalue`, one line: the rule and the first sentence of why (and of the reason,
    when there is one: unreadable code, a file the cell runs). The notice says the rest."""
    said = [first_sentence(payload["reason"])] if payload.get("reason") else []
    if payload["rules"]:
        said.append(f"{_rules_named(payload['rules'])}: {first_sentence(payload['rules'][0]['message'])}")
    return " — ".join(said) or first_sentence(ENGINE_FAILED)


def error_content(payload: dict[str, Any]) -> dict[str, Any]:
    """`error` content for a stopped cell: one line and the links, so that it reads like any
    failed cell. The full reason is the notice's, sent before it (see `notice_content`)."""
    red, reset = "\x1b[0;31m", "\x1b[0m"
    rules = payload["rules"]
    # a reason says itself that the cell was not run ("..., so it was not run")
    what = f"{_headline(payload)}: {_rules_named(rules)}" if rules else error_summary(payload)
    lines = _wrapped(f"{ERROR_NAME}: {what}")
    lines[0] = lines[0].replace(ERROR_NAME, f"{red}{ERROR_NAME}{reset}", 1)
    if payload["action"] == "confirm" and payload.get("surface") in (None, "cell"):
        lines.extend(_wrapped('It runs once you choose "I understand — run anyway" in the notice above.'))
    else:
        lines.append("The notice above says why.")
    lines.extend(_links(payload, "Exemption or mistake:"))
    return {"ename": ERROR_NAME, "evalue": error_summary(payload), "traceback": lines}


def _links(payload: dict[str, Any], appeal: str) -> list[str]:
    """The terms, and where to ask for an exemption (`appeal` leads that line)."""
    out = [f"Terms of use: {payload['info_url']}"] if payload.get("info_url") else []
    if payload.get("appeal_url"):
        out.append(f"{appeal} {payload['appeal_url']}")
    elif payload.get("contact"):
        out.append(f"Questions or exemptions: {payload['contact']}")
    return out


def startup_refusal(path: str, payload: dict[str, Any]) -> str:
    """Why a kernel may not start: a file it would run first holds prohibited code."""
    titles = ", ".join(dict.fromkeys(r["title"] for r in payload["rules"])) or "code that could not be checked"
    return (
        f"The kernel was not started: it would first run {path}, which holds code these terms "
        f"prohibit ({titles}). Remove or fix that file, then start the kernel again."
    )


def included_reason(path: str) -> str:
    """Why a cell that only names a file was judged by that file's contents."""
    return f"This cell runs {path}, and the lines shown below are from that file."


def unreadable_reason(why: str, *, stopped: bool) -> str:
    """Why a cell the check could not read to the end was stopped, or ran with a notice."""
    if stopped:
        return (
            f"Part of this code could not be checked ({why}), so it was not run. "
            "Split it into smaller cells or simplify it, and tell the operators if it persists."
        )
    return f"Part of this code could not be checked ({why}). It ran; the operators can see it was not fully checked."


def refused_content(reason: str) -> dict[str, Any]:
    """`error` content for an execute request the server could not read or forward."""
    evalue = f"This cell was not run: the request could not be read ({reason}). Run it again; if it persists, reload the page."
    return {"ename": "UnreadableRequest", "evalue": evalue, "traceback": [evalue]}


def failure_payload(reason: str = ENGINE_FAILED, *, info_url: str | None, appeal_url: str | None) -> dict[str, Any]:
    """Payload for a fail-closed block: the engine could not check the cell."""
    return {
        "version": 1,
        "action": "block",
        "mode": "enforce",
        "policy": "",
        "rules": [],
        "reason": reason,
        "info_url": info_url or None,
        "appeal_url": appeal_url or None,
        "contact": None,
    }


def file_payload(
    findings: list[dict[str, Any]], *, is_notebook: bool, info_url: str | None, appeal_url: str | None, policy_name: str
) -> dict[str, Any]:
    """What a student sees when a notebook or script they open holds code these terms prohibit.

    A notice, not a block: nothing has run, and each cell is checked again when it is run.
    """
    titles = list(dict.fromkeys(f["title"] for f in findings))
    what = ", ".join(titles[:2]) + (f" and {len(titles) - 2} more" if len(titles) > 2 else "")
    if is_notebook:
        cells = sorted({f["cell"] for f in findings if f["cell"] is not None})
        where = ("cell " if len(cells) == 1 else "cells ") + ", ".join(str(c) for c in cells)
        reason = f"This notebook contains code that these terms prohibit ({what}): {where}. Nothing has run; " + (
            "that cell is checked again when it is run."
            if len(cells) == 1
            else "each of those cells is checked again when it is run."
        )
    else:
        lines = sorted({f["line"] for f in findings})
        reason = (
            f"This file contains code that these terms prohibit ({what}) at line "
            + ", ".join(str(n) for n in lines)
            + ". Nothing has run."
        )
    return {
        "version": 1,
        "action": "warn",
        "mode": "enforce",
        "policy": policy_name,
        "rules": [],
        "reason": reason,
        "info_url": info_url or None,
        "appeal_url": appeal_url or None,
        "contact": None,
    }
