"""The operator's knobs in the single-user server, as traitlets Configurables.

`c.TosGuard.<trait>` (the guard) and `c.TosGuardHub.<trait>` (its reports to the hub service) in
jupyter_server_config.py.
"""

from __future__ import annotations

import os
from typing import Any

from traitlets import Bool, Dict, Enum, Float, Int, List, TraitError, Unicode, default, validate
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
        students cannot alter, run the hub service (TosGuardHub), whose reporter takes each
        decision inside the server process. Do not treat the server's event stream
        (/api/events/subscribe) as a record: any client holding the server's token can post
        events to it.""",
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
        cell can stall the server. The unread rest is treated by `on_unreadable`, and every
        truncated check is audited. 0 means no cap.""",
    )

    confidence_actions = Dict(
        default_value={},
        config=True,
        help="""The strongest action a rule of a given confidence may take, e.g.
        `{"low": "log", "medium": "warn"}`: rules that recognise a tool by weaker signs then
        only audit, or warn, while `high` rules act as the policy says. Each rule says its
        confidence (`confidence:` in the policy, `high` when not given).""",
    )

    @validate("confidence_actions")
    def _valid_confidence_actions(self, proposal: Any) -> dict[str, str]:
        value = dict(proposal["value"])
        for confidence, action in value.items():
            if confidence not in ("low", "medium", "high") or action not in (
                "allow",
                "log",
                "warn",
                "confirm",
                "block",
            ):
                raise TraitError(
                    f"confidence_actions: {confidence!r}: {action!r} - confidences are low, medium, high; "
                    "actions allow, log, warn, confirm, block"
                )
        return value

    check_api = Bool(
        False,
        config=True,
        help="""Serve POST /tos-guard/check, which returns the verdict on code without running
        it. Off by default: in a single-user server the student holds the server's token, and
        a silent verdict lets them try variations until one passes. When on (for operators'
        tools), every call is audited (event `check`) and each user may make at most
        `check_rate` calls a minute.""",
    )

    check_rate = Int(
        30,
        config=True,
        help="""Calls of POST /tos-guard/check allowed per user and minute when `check_api` is on;
        further calls get 429 until the minute has passed.""",
    )

    read_included_files = Bool(
        True,
        config=True,
        help="""Judge the files a cell runs inside the kernel together with the cell:
        `%run x.py` or `x.ipynb`, `exec(open("x.py").read())`, `runpy.run_path("x.py")` and
        `import x` of a module beside the notebook, and scripts a cell hands to a shell or an
        interpreter (`!bash x.sh`, `!./x`, `!source x`, `!python x.py`), whose text the
        process watcher never reads. Files are found from the kernel's own working directory
        and read up to `max_scan_bytes`; binaries are skipped.""",
    )

    remember_cells = Bool(
        True,
        config=True,
        help="""Keep, per kernel, the string assignments and `%env` lines of the cells that ran
        (at most 256 names per kernel, each statement up to 2,000 characters), and read a new
        cell together with those it uses: a command split over cells (`a = "./xm"`, then
        `b = a + "rig"`, then `!{b} -o pool`) is judged whole. Forgotten when the kernel
        restarts.""",
    )

    check_startup_files = Bool(
        True,
        config=True,
        help="""Before a kernel starts or restarts, judge the files it runs before any cell:
        IPython's startup files and config in the default profile, and the user's
        `usercustomize.py`, `sitecustomize.py` and `.pth` files. A cell can write one with
        `open()`; the next kernel would run it. While one holds code a block rule covers, the
        start is refused with the file named (the file is never changed).""",
    )

    worker_chars = Int(
        16 * 1024,
        config=True,
        help="""Cells longer than this many characters (code and user expressions together) are
        checked in a separate process, so that a large or adversarial cell never holds up the
        server's event loop (every notebook, terminal and API call of the server waits while
        it runs); the cell itself waits for its verdict. Up to 2 MB, the engine's first pass
        (linear, a few milliseconds per MB) runs in place first, and a cell it settles (pasted
        data, code with nothing to look into) does not go to the process. Smaller cells are
        checked in place, which costs well under a millisecond. 0 checks every cell in place.""",
    )

    check_timeout = Float(
        10.0,
        config=True,
        help="""Seconds a check in the worker process may take. A check that takes longer is
        stopped and the cell is treated by `on_unreadable` (blocked by default), with the
        reason audited.""",
    )

    on_unreadable = Enum(
        ["block", "warn"],
        default_value="block",
        config=True,
        help="""What to do with code the check could not read to the end: a cell longer than
        `max_scan_bytes`, or one built to defeat the reader (a string expression that grows
        past the check's budget). A student can write such a cell on purpose to hide what
        follows, so `block` (the default) stops it with a message saying why; `warn` lets it
        run with a notice. Either way the decision is audited with the reason, rollout modes
        apply, and rules that matched in the part that was read apply as usual.""",
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


DEFAULT_SERVICE_NAME = "tos-guard"


class TosGuardHub(Configurable):
    """Reports of the terms-of-use guard to the hub service (jupyter-tos-guard-hub).

    Active only under JupyterHub (when $JUPYTERHUB_API_TOKEN is set) and when a service
    URL is known. Every audit record is appended to an on-disk queue first and sent in the
    background, so a cell never waits on the network and nothing is lost while the service
    is down.
    """

    enabled = Bool(
        True,
        config=True,
        help="""Report to the hub service. Even when True, reporting is off outside
        JupyterHub (no $JUPYTERHUB_API_TOKEN) and when no service URL is known.""",
    )

    service_name = Unicode(
        DEFAULT_SERVICE_NAME,
        config=True,
        help="""Name of the service in `c.JupyterHub.services`. Used to derive the service
        URL from $JUPYTERHUB_PUBLIC_URL / $JUPYTERHUB_BASE_URL when `service_url` is not set.""",
    )

    service_url = Unicode(
        config=True,
        help="""Base URL of the hub service, e.g.
        `http://hub:10101/services/tos-guard/` (the service directly) or
        `https://hub.example.org/services/tos-guard/` (through the proxy).
        Defaults to $JUPYTER_TOS_GUARD_HUB_URL; otherwise, when the hub has a public URL
        ($JUPYTERHUB_PUBLIC_URL), `<public origin><JUPYTERHUB_BASE_URL>services/<service_name>/`.
        Empty: reporting is off (logged once at start).""",
    )

    @default("service_url")
    def _default_service_url(self) -> str:
        env = os.environ.get("JUPYTER_TOS_GUARD_HUB_URL", "")
        if env:
            return env
        public = os.environ.get("JUPYTERHUB_PUBLIC_URL", "")
        if public:
            from urllib.parse import urlparse

            parsed = urlparse(public)
            base = os.environ.get("JUPYTERHUB_BASE_URL", "/") or "/"
            if not base.endswith("/"):
                base += "/"
            return f"{parsed.scheme}://{parsed.netloc}{base}services/{self.service_name}/"
        return ""

    @validate("service_url")
    def _slash(self, proposal: dict) -> str:
        value = str(proposal["value"])
        return value if not value or value.endswith("/") else value + "/"

    api_token = Unicode(
        config=True,
        help="""Token presented to the service. Defaults to this server's own hub token
        ($JUPYTERHUB_API_TOKEN); the service asks the hub whose token it is, so a server can
        report only as its own user.""",
    )

    @default("api_token")
    def _default_api_token(self) -> str:
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    queue_dir = Unicode(
        config=True,
        help="""Directory of the on-disk report queue (one fsync'd JSON line per record, a
        cursor of what the service acknowledged, the cached exemptions). Defaults to
        `tos-guard-hub/<user>[-<server name>]` in the Jupyter runtime directory.""",
    )

    @default("queue_dir")
    def _default_queue_dir(self) -> str:
        from jupyter_core.paths import jupyter_runtime_dir

        user = os.environ.get("JUPYTERHUB_USER", "") or "local"
        server = os.environ.get("JUPYTERHUB_SERVER_NAME", "")
        name = f"{user}-{server}" if server else user
        name = "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in name)
        return os.path.join(jupyter_runtime_dir(), "tos-guard-hub", name)

    fsync = Bool(
        True,
        config=True,
        help="""fsync the queue after each record, so a record survives a crash of the
        machine as well as of the server. Costs a disk flush per non-allow decision.""",
    )

    batch_size = Int(
        200,
        config=True,
        help="""At most this many records per request when sending the queue.""",
    )

    request_timeout = Float(
        10.0,
        config=True,
        help="""Seconds before a request to the service is abandoned (and retried later).""",
    )

    retry_initial = Float(
        1.0,
        config=True,
        help="""First delay (seconds) before retrying when the service is unreachable; it
        doubles on each failure up to `retry_max`, with jitter.""",
    )

    retry_max = Float(
        60.0,
        config=True,
        help="""Longest delay (seconds) between retries when the service is unreachable.""",
    )

    sync_interval = Float(
        60.0,
        config=True,
        help="""Seconds between syncs with the service. One request does everything: it is the
        heartbeat (package version, policy digest, queue depth), and its answer brings the
        user's hub groups and, only when they changed, the exemptions granted to this user or
        their groups and the centrally served policy. The first sync comes at a random point
        of the first interval and each next one after the interval times 0.9-1.1, so servers
        started together do not call together. The service flags running servers that have not
        synced for its `heartbeat_grace`: keep this well below it. 0 disables syncing.""",
    )

    heartbeat_interval = Float(
        None,
        allow_none=True,
        config=True,
        help="""Deprecated: heartbeats are part of the sync (`sync_interval`). When set and
        `sync_interval` is not, the smallest positive of the old intervals becomes the sync
        interval (logged at start); 0 in all three turns syncing off.""",
    )

    exemption_interval = Float(
        None,
        allow_none=True,
        config=True,
        help="""Deprecated: exemptions come with the sync (`sync_interval`). 0 still turns
        hub-granted exemptions off (logged at start); any other value is read as for
        `heartbeat_interval`.""",
    )

    policy_interval = Float(
        None,
        allow_none=True,
        config=True,
        help="""Deprecated: the central policy comes with the sync (`sync_interval`). 0 still
        turns the central policy off (logged at start); any other value is read as for
        `heartbeat_interval`.""",
    )

    def effective_sync(self) -> tuple[float, bool, bool, list[str]]:
        """(sync interval, use hub exemptions, use the central policy, deprecation messages)
        after mapping the old per-kind intervals onto `sync_interval`."""
        old = {
            name: value
            for name in ("heartbeat_interval", "exemption_interval", "policy_interval")
            if (value := getattr(self, name)) is not None
        }
        interval = float(self.sync_interval)
        notes = []
        if old:
            names = ", ".join(f"c.TosGuardHub.{k} = {v:g}" for k, v in old.items())
            if "sync_interval" in self._explicit():
                notes.append(
                    f"{names}: deprecated and ignored for timing, c.TosGuardHub.sync_interval = {interval:g} wins"
                )
            else:
                positive = [v for v in old.values() if v > 0]
                interval = min(positive) if positive else 0.0
                notes.append(
                    f"{names}: deprecated; one sync call now carries heartbeat, exemptions and policy: "
                    f"syncing every {interval:g} s (set c.TosGuardHub.sync_interval instead)"
                )
        exemptions = old.get("exemption_interval") != 0
        policy = old.get("policy_interval") != 0
        if not exemptions:
            notes.append("c.TosGuardHub.exemption_interval = 0: hub-granted exemptions are off")
        if not policy:
            notes.append("c.TosGuardHub.policy_interval = 0: the central policy is off")
        return interval, exemptions, policy, notes

    def _explicit(self) -> set[str]:
        section = self.config.get("TosGuardHub", {}) if self.config is not None else {}
        return set(section)

    compact_bytes = Int(
        1024 * 1024,
        config=True,
        help="""When everything in the queue has been acknowledged and the file is larger
        than this, it is truncated.""",
    )

    drain_timeout = Float(
        5.0,
        config=True,
        help="""When the server stops, seconds spent delivering the reports still queued.
        Whatever is not delivered by then stays in the on-disk queue and is sent after the
        next start. 0 skips the attempt.""",
    )
