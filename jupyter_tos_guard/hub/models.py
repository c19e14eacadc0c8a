"""The service's tables (SQLAlchemy 2.x). The schema is owned by the alembic migrations in
`migrations/versions`: change a model, then add a migration that makes the same change.

Times are stored as UTC seconds since the epoch (floats): the same type and the same index
behaviour on SQLite and PostgreSQL, and cheap range scans.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Verdict(Base):
    """One audit record reported by a guard (decisions, engine and policy errors)."""

    __tablename__ = "tos_verdicts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    received: Mapped[float] = mapped_column(Float, nullable=False)
    time: Mapped[float] = mapped_column(Float, nullable=False)  # the guard's time, never later than `received`
    user: Mapped[str] = mapped_column(String(255), nullable=False)  # the hub's answer for the token: authoritative
    acting_user: Mapped[str | None] = mapped_column(String(255))  # the record's own `user`, when it differs (shares)
    server_name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    client_id: Mapped[str] = mapped_column(String(64), nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    event: Mapped[str] = mapped_column(String(32), nullable=False)
    action: Mapped[str | None] = mapped_column(String(32))
    policy_action: Mapped[str | None] = mapped_column(String(32))
    mode: Mapped[str | None] = mapped_column(String(16))
    rules: Mapped[str] = mapped_column(Text, nullable=False, default="")  # space-separated, for display/export
    categories: Mapped[str] = mapped_column(Text, nullable=False, default="")
    groups: Mapped[str] = mapped_column(Text, nullable=False, default="")  # the user's hub groups at report time
    excerpt: Mapped[str | None] = mapped_column(Text)
    code_sha256: Mapped[str | None] = mapped_column(String(64))
    notebook_path: Mapped[str | None] = mapped_column(Text)
    kernel_id: Mapped[str | None] = mapped_column(String(64))
    kernel_name: Mapped[str | None] = mapped_column(String(255))
    msg_id: Mapped[str | None] = mapped_column(String(255))
    channel: Mapped[str | None] = mapped_column(String(32))
    surface: Mapped[str | None] = mapped_column(String(16))  # cell, debugger, process, terminal, file
    policy_name: Mapped[str | None] = mapped_column(String(255))
    policy_digest: Mapped[str | None] = mapped_column(String(64))
    truncated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text, nullable=False)  # the record as received (JSON)

    __table_args__ = (
        UniqueConstraint("user", "client_id", "seq", name="uq_tos_verdicts_client_seq"),
        Index("ix_tos_verdicts_user_id", "user", "id"),
        Index("ix_tos_verdicts_action_id", "action", "id"),
        Index("ix_tos_verdicts_time", "time"),
        Index("ix_tos_verdicts_user_action_time", "user", "action", "time"),
    )


class VerdictTag(Base):
    """What a verdict can be filtered by besides user and action: its rules, categories, groups."""

    __tablename__ = "tos_verdict_tags"

    verdict_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("tos_verdicts.id", ondelete="CASCADE"),
        primary_key=True,
    )
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # rule | category | group
    value: Mapped[str] = mapped_column(String(255), primary_key=True)

    __table_args__ = (Index("ix_tos_verdict_tags_lookup", "kind", "value", "verdict_id"),)


class VerdictHour(Base):
    """The per-hour rollup of `tos_verdicts` the dashboard's charts read for whole hours
    (`rollup.py`): how many verdicts of an hour share an action, event, surface, categories and
    rules. Kept in the transaction that stores or deletes the verdicts, so it always equals a
    count of the raw rows."""

    __tablename__ = "tos_verdict_hours"

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # floor(time / 3600)
    combo: Mapped[str] = mapped_column(String(32), primary_key=True)  # md5 of the columns below
    action: Mapped[str | None] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(32), nullable=False)
    surface: Mapped[str | None] = mapped_column(String(16))
    categories: Mapped[str] = mapped_column(Text, nullable=False)
    rules: Mapped[str] = mapped_column(Text, nullable=False)
    verdicts: Mapped[int] = mapped_column(BigInteger, nullable=False)


class VerdictSpan(Base):
    """`VerdictHour` summed over days and weeks (`span` 86400 or 604800 seconds, `period` =
    floor(time / span)): a 90-day chart reads 13 weeks of it, not 2,160 hours."""

    __tablename__ = "tos_verdict_spans"

    span: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    combo: Mapped[str] = mapped_column(String(32), primary_key=True)
    action: Mapped[str | None] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(32), nullable=False)
    surface: Mapped[str | None] = mapped_column(String(16))
    categories: Mapped[str] = mapped_column(Text, nullable=False)
    rules: Mapped[str] = mapped_column(Text, nullable=False)
    verdicts: Mapped[int] = mapped_column(BigInteger, nullable=False)


class VerdictUserDay(Base):
    """The per-day, per-user rollup the dashboard's top users read for whole days (`rollup.py`),
    kept like `VerdictHour`."""

    __tablename__ = "tos_verdict_user_days"

    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # floor(time / 86400)
    user: Mapped[str] = mapped_column(String(255), primary_key=True)
    verdicts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    blocks: Mapped[int] = mapped_column(BigInteger, nullable=False)


class VerdictGroupSpan(Base):
    """`VerdictSpan` per hub group: each verdict counts once under every group it was reported
    with (its `group` tags), by day and by week, so that a chart filtered by a group reads a few
    thousand rows, not the group's share of the raw table. No hours: per group they would be
    nearly as many rows as the verdicts; a window's partial days read the raw table."""

    __tablename__ = "tos_verdict_group_spans"

    group_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    span: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    combo: Mapped[str] = mapped_column(String(32), primary_key=True)
    action: Mapped[str | None] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(32), nullable=False)
    surface: Mapped[str | None] = mapped_column(String(16))
    categories: Mapped[str] = mapped_column(Text, nullable=False)
    rules: Mapped[str] = mapped_column(Text, nullable=False)
    verdicts: Mapped[int] = mapped_column(BigInteger, nullable=False)


class VerdictUserTagSpan(Base):
    """`VerdictUserDay` per category and per group (a verdict's `category` and `group` tags), by
    day and by week: the top users of a window filtered by one of them, for its whole days (a
    category of 5,000 users is 430,000 user-days over 90 days, 65,000 user-weeks)."""

    __tablename__ = "tos_verdict_user_tag_spans"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # category | group
    value: Mapped[str] = mapped_column(String(255), primary_key=True)
    span: Mapped[int] = mapped_column(Integer, primary_key=True)  # DAY or WEEK seconds
    period: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # floor(time / span)
    user: Mapped[str] = mapped_column(String(255), primary_key=True)
    verdicts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    blocks: Mapped[int] = mapped_column(BigInteger, nullable=False)


class GuardClient(Base):
    """One guard (one queue on one single-user server) and its latest heartbeat."""

    __tablename__ = "tos_guard_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(String(255), nullable=False)
    server_name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    first_seen: Mapped[float] = mapped_column(Float, nullable=False)
    last_report: Mapped[float | None] = mapped_column(Float)
    last_heartbeat: Mapped[float | None] = mapped_column(Float)
    max_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    version: Mapped[str | None] = mapped_column(String(64))
    policy_name: Mapped[str | None] = mapped_column(String(255))
    policy_digest: Mapped[str | None] = mapped_column(String(64))
    central_policy_sha256: Mapped[str | None] = mapped_column(String(64))
    mode: Mapped[str | None] = mapped_column(String(16))
    queue_pending: Mapped[int | None] = mapped_column(Integer)
    info: Mapped[str | None] = mapped_column(Text)  # the last heartbeat as received (JSON)

    __table_args__ = (Index("ix_tos_guard_clients_user_server", "user", "server_name", "last_heartbeat"),)


class Flag(Base):
    """Tamper evidence: a running server without heartbeats, a gap in a guard's reports, ..."""

    __tablename__ = "tos_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(String(255), nullable=False)
    server_name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    reason: Mapped[str] = mapped_column(String(32), nullable=False)  # no-heartbeat | report-gap | stale-policy
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    raised: Mapped[float] = mapped_column(Float, nullable=False)
    last_seen: Mapped[float] = mapped_column(Float, nullable=False)
    resolved: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_tos_flags_open", "resolved", "user", "server_name", "reason"),)


class ExemptionGrant(Base):
    """A hub-granted exemption of a user or a group from a rule (glob) or a category."""

    __tablename__ = "tos_exemptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_kind: Mapped[str] = mapped_column(String(8), nullable=False)  # user | group
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    rule: Mapped[str | None] = mapped_column(String(255))
    category: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    expires: Mapped[float | None] = mapped_column(Float)
    created: Mapped[float] = mapped_column(Float, nullable=False)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
    revoked: Mapped[float | None] = mapped_column(Float)
    revoked_by: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (Index("ix_tos_exemptions_subject", "subject_kind", "subject"),)


class StrikeClear(Base):
    """An admin cleared a user's strikes: only matches after `time` count."""

    __tablename__ = "tos_strike_clears"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    time: Mapped[float] = mapped_column(Float, nullable=False)
    by: Mapped[str] = mapped_column(String(255), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")


class StrikeEvent(Base):
    """A ladder step fired for a user, and what came of its response."""

    __tablename__ = "tos_strike_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[float] = mapped_column(Float, nullable=False)
    user: Mapped[str] = mapped_column(String(255), nullable=False)
    step: Mapped[str] = mapped_column(String(255), nullable=False)
    response: Mapped[str] = mapped_column(String(16), nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # done | failed
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")

    __table_args__ = (Index("ix_tos_strike_events_user_step", "user", "step", "time"),)


class Setting(Base):
    """Settings changed on the operators' pages (e.g. the strikes ladder), as JSON."""

    __tablename__ = "tos_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    updated: Mapped[float] = mapped_column(Float, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(255), nullable=False)


class AuditEvent(Base):
    """The service's own audit trail: grants, revocations, strikes, flags, ladder changes."""

    __tablename__ = "tos_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[float] = mapped_column(Float, nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(255), nullable=False)  # an admin's name, or "service"
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="{}")


class PeriodicRun(Base):
    """The last run of a periodic job (flag check, retention purge), claimed by one service process."""

    __tablename__ = "tos_periodic_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_run: Mapped[float] = mapped_column(Float, nullable=False)
    holder: Mapped[str] = mapped_column(String(255), nullable=False)  # host:pid of the process that ran it
