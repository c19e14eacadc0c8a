"""Configuration of the JupyterHub service, as a traitlets Configurable.

`TosGuardHubService`: `c.TosGuardHubService.<trait>` in jupyter_tos_guard_hub_config.py, given to
`jupyter-tos-guard-hub --config FILE`. The single-user side (`c.TosGuardHub`, the reporter) is
configured beside the guard, in jupyter_tos_guard/config.py.
"""

from __future__ import annotations

import os

from traitlets import Bool, Dict, Float, Int, List, TraitError, Unicode, default, validate
from traitlets.config import Configurable

from ..config import DEFAULT_SERVICE_NAME

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
        False,
        config=True,
        help="""Apply pending schema migrations at start. Off by default, as in JupyterHub:
        on an old schema the service refuses to start and says to run
        `jupyter-tos-guard-hub upgrade-db`, which copies a SQLite file aside first
        (`<file>.<revision>.bak`; back up other databases yourself). A new, empty database
        is always created at the current schema.""",
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
        help="""A policy YAML served to every guard (with each `c.TosGuardHub.sync_interval`), layered
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
        help="""A running server whose guard has not synced (or sent a heartbeat) for this
        many seconds (and that has been running at least that long) is flagged. Keep it a few
        times the guards' `c.TosGuardHub.sync_interval` (60 s by default).""",
    )

    cookie_secret = Unicode(
        config=True,
        help="""Secret (hex, at least 32 bytes' worth: 64 hex digits) that signs the operators'
        login cookies. Defaults to $JUPYTER_TOS_GUARD_HUB_COOKIE_SECRET; when neither is set a
        random one is made at each start, which suits one service process (a restart logs
        operators out). Several processes behind one URL (replicas) must share it, or a login
        made through one is refused by the others.""",
    )

    @default("cookie_secret")
    def _default_cookie_secret(self) -> str:
        return os.environ.get("JUPYTER_TOS_GUARD_HUB_COOKIE_SECRET", "")

    @validate("cookie_secret")
    def _hex_secret(self, proposal: dict) -> str:
        value = str(proposal["value"]).strip()
        if value:
            try:
                raw = bytes.fromhex(value)
            except ValueError:
                raise TraitError("cookie_secret must be hex digits (e.g. `openssl rand -hex 32`)") from None
            if len(raw) < 32:
                raise TraitError(f"cookie_secret is {len(raw)} bytes; give at least 32 (64 hex digits)")
        return value

    token_cache_size = Int(
        20_000,
        config=True,
        help="""Most answers of the hub about guards' tokens kept in memory (HubAuth's cache;
        each also expires after `c.HubAuth.cache_max_age`, 60 s here). Each server has its own
        token, so keep this above the number of running servers (about 2 KB each): past it the
        oldest answers are dropped and those guards' next requests ask the hub again.""",
    )

    @validate("token_cache_size")
    def _positive_cache(self, proposal: dict) -> int:
        if int(proposal["value"]) < 1:
            raise TraitError("token_cache_size must be at least 1")
        return int(proposal["value"])

    retention_days = Float(
        180.0,
        config=True,
        help="""Days a verdict (with its excerpt of the student's code) is kept; older ones are
        deleted once an hour, and by `jupyter-tos-guard-hub purge`. 0 keeps them forever.
        Strikes and the service's own audit trail are kept.""",
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
        help="""With a user or server filter, the counts by action and category on the
        verdicts page cover at most this many of the newest matching verdicts (the page then
        says so), which keeps every page view fast on a large table. Other filters are counted
        in full from the rollups. Exports are not capped by this.""",
    )

    export_limit = Int(
        1_000_000,
        config=True,
        help="""Most rows one CSV/JSON export returns.""",
    )
