"""Periodic jobs (flag checks, the retention purge) claim their period in a row, so that with
several service processes on one database each period's job runs once.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tos_periodic_runs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_run", sa.Float(), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("tos_periodic_runs")
