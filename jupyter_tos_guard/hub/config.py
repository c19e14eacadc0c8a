"""Configuration of both halves of the hub integration, as traitlets Configurables.

- `TosGuardHub`: the single-user side (`c.TosGuardHub.<trait>` in jupyter_server_config.py).
- `TosGuardHubService`: the JupyterHub service (`c.TosGuardHubService.<trait>` in
  jupyter_tos_guard_hub_config.py, given to `jupyter-tos-guard-hub --config FILE`).
"""

from __future__ import annotations

import os

from traitlets import Bool, Dict, Float, Int, List, Unicode, default, validate
from traitlets.config import Configurable

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

    heartbeat_interval = Float(
        60.0,
        config=True,
        help="""Seconds between heartbeats (package version, policy digest, queue depth).
        The service flags running servers that have not sent one for a while: keep this
        well below the service's `heartbeat_grace`. 0 disables heartbeats.""",
    )

    exemption_interval = Float(
        60.0,
        config=True,
        help="""Seconds between fetches of the exemptions the service granted to this
        user or their groups. Checks read a local cache (kept on disk across restarts),
        never the network. 0 disables hub-granted exemptions.""",
    )

    policy_interval = Float(
        60.0,
        config=True,
        help="""Seconds between pulls of the centrally served policy. A new policy is layered
        over the local files (the last good one is kept when it is broken). 0 disables the
        central policy.""",
    )

    compact_bytes = Int(
        1024 * 1024,
        config=True,
        help="""When everything in the queue has been acknowledged and the file is larger
        than this, it is truncated.""",
    )


DEFAULT_LADDER = [
    {
        "name": "warnings: notify admins",
        "actions": ["warn", "confirm", "acknowledged"],
        "count": 5,
        "window": 86400,
        "response": "notify",
    },
    {"name": "blocks: notify admins", "actions": ["block"], "count": 3, "window": 86400, "response": "notify"},
]


class TosGuardHubService(Configurable):
    """The jupyter-tos-guard JupyterHub service: reports, exemptions, strikes, flags."""

    db_url = Unicode(
        "sqlite:///jupyter_tos_guard_hub.sqlite",
        config=True,
        help="""SQLAlchemy URL of the database, e.g.
        `postgresql+psycopg2://tos:secret@db/tos` (install the driver in the hub image).
        SQLite (the default, relative to the working directory) suits one hub process.
        The schema is created and migrated (alembic) at start; the version table is
        `tos_guard_alembic_version`, so the hub's own database can be shared.""",
    )

    db_kwargs = Dict(
        config=True,
        help="""Extra keyword arguments for `sqlalchemy.create_engine` (pool sizes, ...).""",
    )

    upgrade_db = Bool(
        True,
        config=True,
        help="""Apply pending schema migrations at start. When False, the service refuses
        to start on an old schema; run `jupyter-tos-guard-hub upgrade-db` instead.""",
    )

    ip = Unicode(
        config=True,
        help="""Address to listen on. Defaults to the host of $JUPYTERHUB_SERVICE_URL, else 127.0.0.1.""",
    )

    @default("ip")
    def _default_ip(self) -> str:
        from urllib.parse import urlparse

        url = os.environ.get("JUPYTERHUB_SERVICE_URL", "")
        return (urlparse(url).hostname or "127.0.0.1") if url else "127.0.0.1"

    port = Int(
        config=True,
        help="""Port to listen on. Defaults to the port of $JUPYTERHUB_SERVICE_URL, else 10101.""",
    )

    @default("port")
    def _default_port(self) -> int:
        from urllib.parse import urlparse

        url = os.environ.get("JUPYTERHUB_SERVICE_URL", "")
        return (urlparse(url).port or 80) if url else 10101

    bind_timeout = Float(
        60.0,
        config=True,
        help="""When the port is still taken at start (e.g. an old process shutting down),
        retry binding for this many seconds before giving up.""",
    )

    base_url = Unicode(
        config=True,
        help="""URL prefix of the service. Defaults to $JUPYTERHUB_SERVICE_PREFIX, else
        `/services/tos-guard/`.""",
    )

    @default("base_url")
    def _default_base_url(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "") or f"/services/{DEFAULT_SERVICE_NAME}/"

    @validate("base_url")
    def _base_slash(self, proposal: dict) -> str:
        value = str(proposal["value"]) or "/"
        if not value.startswith("/"):
            value = "/" + value
        return value if value.endswith("/") else value + "/"

    admin_scopes = List(
        Unicode(),
        config=True,
        help="""Scopes that open the operators' pages and admin API (any one suffices).
        Defaults to $JUPYTERHUB_OAUTH_ACCESS_SCOPES, i.e. `access:services!service=<name>`,
        which hub admins hold; grant it to other operators (e.g. teaching assistants) with a
        role in `c.JupyterHub.load_roles`.""",
    )

    @default("admin_scopes")
    def _default_admin_scopes(self) -> list[str]:
        import json

        env = os.environ.get("JUPYTERHUB_OAUTH_ACCESS_SCOPES", "")
        if env:
            return list(json.loads(env))
        name = os.environ.get("JUPYTERHUB_SERVICE_NAME", DEFAULT_SERVICE_NAME)
        return [f"access:services!service={name}"]

    report_scopes = List(
        Unicode(),
        config=True,
        help="""Scopes a token must hold to report, fetch exemptions and pull the policy.
        Empty (the default): any token that the hub says belongs to a user, such as a
        single-user server's own token, with its default `server` role. The identity always
        comes from the hub, never from the request body.""",
    )

    policy_file = Unicode(
        "",
        config=True,
        help="""A policy YAML served to every guard (`c.TosGuardHub.policy_interval`), layered
        over their local files. Reread when it changes; a broken edit is refused and the last
        good text keeps being served. Empty: no central policy.""",
    )

    strike_ladder = List(
        Dict(),
        default_value=DEFAULT_LADDER,
        config=True,
        help="""The initial strikes ladder (admins can change it on the strikes page; the
        stored ladder then wins). Each step is a dict:
        `name`; `actions`: audit actions counted (`warn`, `confirm`, `acknowledged`, `block`,
        `exempted`, `log`); `count`: how many in `window` seconds fire the step; `response`:
        `notify` (log, service audit, webhook), `restrict` (add the user to
        `restricted_group`, which your policy can enforce strictly) or `stop` (stop the
        user's servers through the hub API); optional `groups`: the step applies only to
        members of these hub groups. A step fires again only after `count` more matches.
        Example: `{"name": "3 blocks a day", "actions": ["block"], "count": 3,
        "window": 86400, "response": "restrict"}`.""",
    )

    restricted_group = Unicode(
        "tos-restricted",
        config=True,
        help="""The hub group that `restrict` puts users in. Create it (`c.JupyterHub.load_groups`)
        and give the service the scope `groups!group=<name>`.""",
    )

    notify_webhook_url = Unicode(
        "",
        config=True,
        help="""When set, strike notifications and flags are POSTed here as JSON
        (`{"event": ..., "user": ..., ...}`) in addition to the log and the service audit.""",
    )

    heartbeat_grace = Float(
        300.0,
        config=True,
        help="""A running server whose guard has not sent a heartbeat for this many seconds
        (and that has been running at least that long) is flagged. Keep it a few times the
        guards' `heartbeat_interval`.""",
    )

    flag_check_interval = Float(
        60.0,
        config=True,
        help="""Seconds between comparisons of the hub's running servers with the heartbeats.
        0 disables flagging.""",
    )

    max_batch = Int(
        1000,
        config=True,
        help="""Largest number of records accepted in one report request.""",
    )

    page_size = Int(
        100,
        config=True,
        help="""Verdicts per page on the operators' pages.""",
    )

    summary_cap = Int(
        50_000,
        config=True,
        help="""The counts by action and category on the verdicts page cover at most this many
        of the newest matching verdicts (the page then says so), which keeps every page view
        fast on a large table. Exports are not capped by this.""",
    )

    export_limit = Int(
        1_000_000,
        config=True,
        help="""Most rows one CSV/JSON export returns.""",
    )
