"""The rollups that answer the dashboard's group and category filters over long windows: days
and weeks per hub group for the charts (`tos_verdict_group_spans`), days and weeks per user and
category or group for the top users (`tos_verdict_user_tag_spans`), filled from what is already
stored (a GROUP BY over the verdicts joined to their tags, in the database; weeks from the days).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jupyter_tos_guard.hub import rollup

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tos_verdict_group_spans",
        sa.Column("group_name", sa.String(length=255), nullable=False),
        sa.Column("span", sa.Integer(), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("combo", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("surface", sa.String(length=16), nullable=True),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("verdicts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("group_name", "span", "period", "combo"),
    )
    op.create_table(
        "tos_verdict_user_tag_spans",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("span", sa.Integer(), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("verdicts", sa.BigInteger(), nullable=False),
        sa.Column("blocks", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", "span", "period", "user"),
    )
    rollup.backfill_tags(op.get_bind())


def downgrade() -> None:
    op.drop_table("tos_verdict_user_tag_spans")
    op.drop_table("tos_verdict_group_spans")
