"""Alembic environment for the jupyter-tos-guard hub service.

Run through `jupyter_tos_guard.hub.db.upgrade` (or `jupyter-tos-guard-hub upgrade-db`), which
passes an open connection; the version table is `tos_guard_alembic_version` so that the
hub's own database (which has `alembic_version`) can be shared.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from jupyter_tos_guard.hub.models import Base

VERSION_TABLE = "tos_guard_alembic_version"
config = context.config
target_metadata = Base.metadata


def include_name(name, type_, parent_names):  # type: ignore[no-untyped-def]
    """Autogenerate sees only this service's tables (the database may be shared with the hub)."""
    return type_ != "table" or bool(name and name.startswith("tos_"))


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        version_table=VERSION_TABLE,
        render_as_batch=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
