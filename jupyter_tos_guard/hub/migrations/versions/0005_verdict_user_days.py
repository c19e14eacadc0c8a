"""The rollups of days and weeks the dashboard's charts read (`tos_verdict_spans`, from the
hourly one) and the per-day, per-user one its top users read (`tos_verdict_user_days`), filled
from what is already stored (a GROUP BY each, in the database).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jupyter_tos_guard.hub import rollup

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tos_verdict_user_days",
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("verdicts", sa.BigInteger(), nullable=False),
        sa.Column("blocks", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "user"),
    )
    op.create_table(
        "tos_verdict_spans",
        sa.Column("span", sa.Integer(), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("combo", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("surface", sa.String(length=16), nullable=True),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("verdicts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("span", "period", "combo"),
    )
    rollup.backfill_users(op.get_bind())
    rollup.backfill_spans(op.get_bind())


def downgrade() -> None:
    op.drop_table("tos_verdict_spans")
    op.drop_table("tos_verdict_user_days")
