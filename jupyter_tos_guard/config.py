"""The operator's knobs, as a traitlets Configurable: `c.TosGuard.<trait>` in jupyter_server_config.py."""

from __future__ import annotations

import os

from traitlets import Bool, Enum, Float, Int, List, Unicode, default
from traitlets.config import Configurable


class TosGuard(Configurable):
    """Terms-of-use guard for kernel executions (jupyter-tos-guard)."""

    policy_files = List(
        Unicode(),
        config=True,
        help="""Policy files (YAML) layered over the embedded default policy, in order.

        Each file may add rules, override fields of an existing rule by id (for example only
        its action), or disable rules by id or category. Files are watched and reloaded when
        they change; a broken edit keeps the last good policy in force and is logged and
        emitted as an error event. Check a file before deploying it with
        `jupyter tos-guard validate FILE` and `jupyter tos-guard test FILE`.
        Defaults to the paths in $JUPYTER_TOS_GUARD_POLICY (separated by os.pathsep).""",
    )

    @default("policy_files")
    def _default_policy_files(self) -> list[str]:
        raw = os.environ.get("JUPYTER_TOS_GUARD_POLICY", "")
        return [p for p in raw.split(os.pathsep) if p]

    use_default_policy = Bool(
        True,
        config=True,
        help="""Include the embedded default policy (deepfakes, mining, password cracking,
        denial of service, torrents, remote access) beneath `policy_files`. Turn off to
        enforce only your own rules.""",
    )

    mode = Enum(
        ["monitor", "warn", "enforce"],
        default_value="enforce",
        config=True,
        help="""Rollout mode.
        `monitor`: every decision is audited but nothing is shown and nothing is blocked
        (use it to measure false positives before announcing a policy).
        `warn`: rules whose action is `block` are shown as warnings and the code runs.
        `enforce`: each rule's own action (log, warn or block) applies.""",
    )

    info_url = Unicode(
        "",
        config=True,
        help="""Where students read the terms of use. Shown in every warning and block
        message. Overrides the policy's own `info_url` when set.""",
    )

    appeal_url = Unicode(
        "",
        config=True,
        help="""Where students ask for an exemption or report a mistake (a form, a ticket
        queue or a mailto: link). Shown in every warning and block message. Overrides the
        policy's own `appeal_url` when set.""",
    )

    audit_log = Unicode(
        config=True,
        help="""Path of the audit log: one JSON line per non-allow decision and per engine
        failure, written and flushed before the action takes effect. Empty disables the file
        (events and metrics still run). Defaults to $JUPYTER_TOS_GUARD_AUDIT_LOG, else
        `tos-guard-audit.jsonl` in the Jupyter runtime directory.
        Note that a file inside the user's own server is writable by the user: for records
        students cannot alter, forward the events to a hub service or a log collector.""",
    )

    @default("audit_log")
    def _default_audit_log(self) -> str:
        if "JUPYTER_TOS_GUARD_AUDIT_LOG" in os.environ:
            return os.environ["JUPYTER_TOS_GUARD_AUDIT_LOG"]
        from jupyter_core.paths import jupyter_runtime_dir

        return os.path.join(jupyter_runtime_dir(), "tos-guard-audit.jsonl")

    on_engine_error = Enum(
        ["fail_open", "fail_closed"],
        default_value="fail_open",
        config=True,
        help="""What to do when the policy engine itself fails on a cell (a bug, not a
        match). `fail_open` forwards the code and audits the failure; `fail_closed` blocks
        the cell with a message saying the check could not be completed.""",
    )

    max_scan_bytes = Int(
        1024 * 1024,
        config=True,
        help="""Only the first this-many characters of a huge cell are checked, so that no
        cell can stall the server. A truncated check is audited as such. 0 means no cap.""",
    )

    reload_interval = Float(
        5.0,
        config=True,
        help="""Seconds between checks of the policy files for changes. 0 disables reloading.""",
    )

    recent_verdicts = Int(
        200,
        config=True,
        help="""How many recent non-allow verdicts this server keeps in memory for
        `GET /tos-guard/verdicts` (so a page reloaded after a warning can show it again).""",
    )

    abort_grace = Float(
        0.0,
        config=True,
        help="""A blocked cell that asked to stop on error aborts the execute requests queued
        behind it, as a kernel aborts its queue after a failing cell (this is what makes "Run
        All" stop at a blocked cell): requests that arrive before the work sent ahead of the
        block has finished, and those that arrived in the same burst. This adds a window of
        this many seconds after that point, like ipykernel's `stop_on_error_timeout`, for
        slow networks.""",
    )
