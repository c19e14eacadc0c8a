"""`jupyter-tos-guard-hub`: the JupyterHub service (managed or external).

    jupyter-tos-guard-hub [--config FILE] [--db-url URL] [--ip IP] [--port PORT]
    jupyter-tos-guard-hub upgrade-db [--config FILE] [--db-url URL]
    jupyter-tos-guard-hub benchmark [--help]

As a managed service the hub passes everything through the environment
($JUPYTERHUB_SERVICE_URL, $JUPYTERHUB_SERVICE_PREFIX, $JUPYTERHUB_API_TOKEN, OAuth client);
settings of the service itself go in `jupyter_tos_guard_hub_config.py` (`c.TosGuardHubService`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

from traitlets import Float, Unicode, default
from traitlets.config import Application

from .. import __version__
from .config import DEFAULT_SERVICE_NAME, TosGuardHubService

TEMPLATES = Path(__file__).parent / "templates"


def _log_request(handler: Any) -> None:
    status = handler.get_status()
    log = logging.getLogger("tornado.access")
    level = logging.DEBUG if status < 400 and "/api/guard/" in handler.request.path else logging.INFO
    if status >= 500:
        level = logging.ERROR
    elif status >= 400:
        level = logging.WARNING
    log.log(
        level,
        "%d %s %s %.1fms",
        status,
        handler.request.method,
        handler.request.path,
        1000.0 * handler.request.request_time(),
    )


class _Common(Application):
    config_file = Unicode(
        "jupyter_tos_guard_hub_config.py",
        config=True,
        help="""Python config file (`c.TosGuardHubService.<trait>`). Missing is fine when it is the default name.""",
    )
    aliases = {
        "config": "_Common.config_file",
        "db-url": "TosGuardHubService.db_url",
        "log-level": "Application.log_level",
    }
    classes = [TosGuardHubService]

    @default("log_level")
    def _default_log_level(self) -> int:
        return logging.INFO

    @default("log_format")
    def _default_log_format(self) -> str:
        return "[%(levelname)1.1s %(asctime)s.%(msecs).03d %(name)s] %(message)s"

    @default("log_datefmt")
    def _default_log_datefmt(self) -> str:
        return "%Y-%m-%d %H:%M:%S"

    def initialize(self, argv: Any = None) -> None:
        super().initialize(argv)
        if self.subapp is not None:
            return
        path = Path(self.config_file)
        if path.exists():
            self.load_config_file(path.name, path=str(path.parent.resolve()))
            if self.cli_config:  # the command line wins over the file
                self.update_config(self.cli_config)
        elif any("config_file" in section for section in self.cli_config.values()):
            self.log.critical("config file %s not found", path)
            sys.exit(2)

    def open_store(self, allow_upgrade: bool) -> Any:
        from .db import Store, ensure_schema, make_engine

        service = TosGuardHubService(parent=self)
        engine = make_engine(service.db_url, **service.db_kwargs)
        before, head = ensure_schema(engine, allow_upgrade or service.upgrade_db)
        if before != head:
            self.log.info(
                "tos-guard-hub: database schema %s -> %s (%s)",
                before or "new",
                head,
                engine.url.render_as_string(hide_password=True),
            )
        return service, Store(engine, service.strike_ladder)


class UpgradeDB(_Common):
    name = "jupyter-tos-guard-hub-upgrade-db"
    description = "Create or migrate the service's database schema to the current version, then exit."

    def start(self) -> None:
        self.open_store(allow_upgrade=True)
        self.log.info("tos-guard-hub: the database schema is current")


class Purge(_Common):
    name = "jupyter-tos-guard-hub-purge"
    description = "Delete verdicts older than TosGuardHubService.retention_days (or --days), then exit."
    aliases = dict(_Common.aliases, days="Purge.days")
    days = Float(-1.0, config=True, help="Days to keep; the default (-1) means retention_days.")

    def start(self) -> None:
        service, store = self.open_store(allow_upgrade=False)
        days = self.days if self.days >= 0 else service.retention_days
        if days <= 0:
            self.log.info("tos-guard-hub: retention is off (0 days): nothing purged")
            return
        deleted = store.purge(time.time() - days * 86400)
        self.log.info("tos-guard-hub: %d verdicts older than %g days deleted", deleted, days)
        store.engine.dispose()


class TosGuardHubApp(_Common):
    name = "jupyter-tos-guard-hub"
    version = __version__
    description = __doc__ or ""
    aliases = dict(_Common.aliases, ip="TosGuardHubService.ip", port="TosGuardHubService.port")
    subcommands = {
        "upgrade-db": (UpgradeDB, UpgradeDB.description),
        "purge": (Purge, Purge.description),
    }

    def start(self) -> None:
        if self.subapp is not None:
            self.subapp.start()
            return
        logging.getLogger("tornado.access").setLevel(int(self.log_level))  # type: ignore[call-overload]
        asyncio.run(self._serve())

    def _hub_auth(self, service: TosGuardHubService) -> Any:
        from jupyterhub.services.auth import HubAuth, HubOAuth

        kwargs: dict[str, Any] = {"parent": self}
        if "cache_max_age" not in self.config.get("HubOAuth", {}) and "cache_max_age" not in self.config.get(
            "HubAuth", {}
        ):
            kwargs["cache_max_age"] = 60  # group changes reach exemptions within a minute
        if os.environ.get("JUPYTERHUB_CLIENT_ID") or self.config.get("HubOAuth", {}).get("oauth_client_id"):
            kwargs.setdefault("base_url", service.base_url)
            return HubOAuth.instance(**kwargs)
        self.log.warning("tos-guard-hub: no OAuth client ($JUPYTERHUB_CLIENT_ID): operators' pages accept tokens only")
        return HubAuth.instance(**kwargs)

    async def _serve(self) -> None:
        import jinja2
        from tornado import web
        from tornado.httpserver import HTTPServer

        from .hubapi import HubAPI
        from .routes import routes
        from .state import ServiceContext

        service = TosGuardHubService(parent=self)
        self._sqlite_lock = await self._one_process_on_sqlite(service)
        service, store = self.open_store(allow_upgrade=False)
        hub_auth = self._hub_auth(service)
        hub_api = HubAPI(hub_auth.api_url, hub_auth.api_token, self.log) if hub_auth.api_token else None
        if hub_api is None:
            self.log.warning(
                "tos-guard-hub: no hub API token: guards cannot be identified, flags and strikes responses are off"
            )
        name = os.environ.get("JUPYTERHUB_SERVICE_NAME", DEFAULT_SERVICE_NAME)
        ctx = ServiceContext(service, store, self.log, hub_auth, hub_api, name)
        templates = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True)
        app = web.Application(
            routes(service.base_url),
            tos_ctx=ctx,
            tos_base_url=service.base_url,
            tos_templates=templates,
            cookie_secret=bytes.fromhex(service.cookie_secret) if service.cookie_secret else os.urandom(32),
            log_function=_log_request,
        )
        server = HTTPServer(app, max_body_size=32 * 1024 * 1024)
        await self._bind(server, service)
        self.log.info(
            "tos-guard-hub %s: listening on http://%s:%d%s (database %s)",
            __version__,
            service.ip,
            service.port,
            service.base_url,
            store.engine.url.render_as_string(hide_password=True),
        )

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not on the main thread
                pass
        checker = None
        if ctx.flags is not None and service.flag_check_interval > 0:
            checker = asyncio.ensure_future(self._check_flags(ctx, service.flag_check_interval))
        purger = asyncio.ensure_future(self._purge(ctx, service.retention_days)) if service.retention_days > 0 else None
        ctx.policy.current()
        await stop.wait()
        self.log.info("tos-guard-hub: stopping")
        for task in (checker, purger):
            if task is not None:
                task.cancel()
        server.stop()
        while ctx.ingestor.busy or ctx.heartbeats.busy:  # let acknowledged writes finish
            await asyncio.sleep(0.05)
        ctx.close()
        store.engine.dispose()

    async def _one_process_on_sqlite(self, service: TosGuardHubService) -> Any:
        """SQLite serves one service process (the locks that make replicas safe are PostgreSQL's):
        hold a lock file beside the database, and refuse to serve while another process holds it
        (waiting `bind_timeout` first, for a predecessor that is still shutting down)."""
        import fcntl

        from sqlalchemy.engine import make_url

        url = make_url(service.db_url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        path = f"{url.database}.tos-guard-hub.lock"
        f = open(path, "a")  # noqa: SIM115 - held open while the service runs
        deadline = time.monotonic() + service.bind_timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return f
            except OSError:
                if time.monotonic() > deadline:
                    self.log.critical(
                        "tos-guard-hub: another service process serves the SQLite database %s (it holds %s). "
                        "SQLite supports one service process; for several (replicas) use PostgreSQL.",
                        url.database,
                        path,
                    )
                    sys.exit(1)
                self.log.warning("tos-guard-hub: another process holds %s; waiting for it to stop", path)
                await asyncio.sleep(1.0)

    async def _bind(self, server: Any, service: TosGuardHubService) -> None:
        deadline = time.monotonic() + service.bind_timeout
        while True:
            try:
                server.listen(service.port, service.ip)
                return
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise
                self.log.warning("tos-guard-hub: %s:%d is in use; retrying", service.ip, service.port)
                await asyncio.sleep(1.0)

    async def _purge(self, ctx: Any, days: float) -> None:
        """Once an hour (and at start), delete verdicts past the retention; of several service
        processes, the one that claims the hour."""
        while True:
            try:
                if await ctx.write(ctx.store.claim_period, "retention-purge", 3600, ctx.holder):
                    deleted = await ctx.write(ctx.store.purge, time.time() - days * 86400)
                    if deleted:
                        self.log.info("tos-guard-hub: purged %d verdicts older than %g days", deleted, days)
            except Exception:
                self.log.exception("tos-guard-hub: the retention purge failed")
            await asyncio.sleep(3600 * random.uniform(0.95, 1.0))

    async def _check_flags(self, ctx: Any, interval: float) -> None:
        """Every `interval`, compare running servers with heartbeats; of several service
        processes, the one that claims the period (another takes over when it is gone)."""
        while True:
            await asyncio.sleep(interval)
            try:
                if await ctx.write(ctx.store.claim_period, "flag-check", interval, ctx.holder):
                    await ctx.flags.check()
            except Exception:
                self.log.exception("tos-guard-hub: the flag check failed")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "benchmark":
        from ..bench.hub import main as bench

        sys.exit(bench(argv[1:]))
    TosGuardHubApp.launch_instance(argv)


if __name__ == "__main__":
    main()
