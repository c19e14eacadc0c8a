"""Initial schema: verdicts and their tags, guards, flags, exemptions, strikes, settings, audit.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tos_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tos_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tos_audit_time"), ["time"], unique=False)

    op.create_table(
        "tos_exemptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_kind", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("rule", sa.String(length=255), nullable=True),
        sa.Column("category", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("expires", sa.Float(), nullable=True),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("revoked", sa.Float(), nullable=True),
        sa.Column("revoked_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tos_exemptions", schema=None) as batch_op:
        batch_op.create_index("ix_tos_exemptions_subject", ["subject_kind", "subject"], unique=False)

    op.create_table(
        "tos_flags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("server_name", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("raised", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("resolved", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tos_flags", schema=None) as batch_op:
        batch_op.create_index("ix_tos_flags_open", ["resolved", "user", "server_name", "reason"], unique=False)

    op.create_table(
        "tos_guard_clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("server_name", sa.String(length=255), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("last_report", sa.Float(), nullable=True),
        sa.Column("last_heartbeat", sa.Float(), nullable=True),
        sa.Column("max_seq", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("policy_name", sa.String(length=255), nullable=True),
        sa.Column("policy_digest", sa.String(length=64), nullable=True),
        sa.Column("central_policy_sha256", sa.String(length=64), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("queue_pending", sa.Integer(), nullable=True),
        sa.Column("info", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("client_id"),
    )
    with op.batch_alter_table("tos_guard_clients", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tos_guard_clients_user_server", ["user", "server_name", "last_heartbeat"], unique=False
        )

    op.create_table(
        "tos_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "tos_strike_clears",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("by", sa.String(length=255), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tos_strike_clears", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tos_strike_clears_user"), ["user"], unique=False)

    op.create_table(
        "tos_strike_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("step", sa.String(length=255), nullable=False),
        sa.Column("response", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tos_strike_events", schema=None) as batch_op:
        batch_op.create_index("ix_tos_strike_events_user_step", ["user", "step", "time"], unique=False)

    op.create_table(
        "tos_verdicts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("received", sa.Float(), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("acting_user", sa.String(length=255), nullable=True),
        sa.Column("server_name", sa.String(length=255), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("policy_action", sa.String(length=32), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("groups", sa.Text(), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=True),
        sa.Column("code_sha256", sa.String(length=64), nullable=True),
        sa.Column("notebook_path", sa.Text(), nullable=True),
        sa.Column("kernel_id", sa.String(length=64), nullable=True),
        sa.Column("kernel_name", sa.String(length=255), nullable=True),
        sa.Column("msg_id", sa.String(length=255), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("policy_name", sa.String(length=255), nullable=True),
        sa.Column("policy_digest", sa.String(length=64), nullable=True),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user", "client_id", "seq", name="uq_tos_verdicts_client_seq"),
    )
    with op.batch_alter_table("tos_verdicts", schema=None) as batch_op:
        batch_op.create_index("ix_tos_verdicts_action_id", ["action", "id"], unique=False)
        batch_op.create_index("ix_tos_verdicts_time", ["time"], unique=False)
        batch_op.create_index("ix_tos_verdicts_user_action_time", ["user", "action", "time"], unique=False)
        batch_op.create_index("ix_tos_verdicts_user_id", ["user", "id"], unique=False)

    op.create_table(
        "tos_verdict_tags",
        sa.Column("verdict_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["verdict_id"], ["tos_verdicts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("verdict_id", "kind", "value"),
    )
    with op.batch_alter_table("tos_verdict_tags", schema=None) as batch_op:
        batch_op.create_index("ix_tos_verdict_tags_lookup", ["kind", "value", "verdict_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tos_verdict_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_tos_verdict_tags_lookup")

    op.drop_table("tos_verdict_tags")
    with op.batch_alter_table("tos_verdicts", schema=None) as batch_op:
        batch_op.drop_index("ix_tos_verdicts_user_id")
        batch_op.drop_index("ix_tos_verdicts_user_action_time")
        batch_op.drop_index("ix_tos_verdicts_time")
        batch_op.drop_index("ix_tos_verdicts_action_id")

    op.drop_table("tos_verdicts")
    with op.batch_alter_table("tos_strike_events", schema=None) as batch_op:
        batch_op.drop_index("ix_tos_strike_events_user_step")

    op.drop_table("tos_strike_events")
    with op.batch_alter_table("tos_strike_clears", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tos_strike_clears_user"))

    op.drop_table("tos_strike_clears")
    op.drop_table("tos_settings")
    with op.batch_alter_table("tos_guard_clients", schema=None) as batch_op:
        batch_op.drop_index("ix_tos_guard_clients_user_server")

    op.drop_table("tos_guard_clients")
    with op.batch_alter_table("tos_flags", schema=None) as batch_op:
        batch_op.drop_index("ix_tos_flags_open")

    op.drop_table("tos_flags")
    with op.batch_alter_table("tos_exemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_tos_exemptions_subject")

    op.drop_table("tos_exemptions")
    with op.batch_alter_table("tos_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tos_audit_time"))

    op.drop_table("tos_audit")
