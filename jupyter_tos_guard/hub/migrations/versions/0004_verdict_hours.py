"""The per-hour rollup of verdicts the dashboard's charts read (`tos_verdict_hours`), filled from
the verdicts already stored (one GROUP BY in the database).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jupyter_tos_guard.hub import rollup

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tos_verdict_hours",
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("combo", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("surface", sa.String(length=16), nullable=True),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("verdicts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "combo"),
    )
    rollup.backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table("tos_verdict_hours")
