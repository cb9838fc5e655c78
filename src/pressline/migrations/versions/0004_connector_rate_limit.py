"""a connector's own rate limit (requests per second; NULL: the installation's default)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without a default: an instant ALTER on both SQLite and PostgreSQL.
    op.add_column("connectors", sa.Column("rate_limit_per_second", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connectors") as batch:  # SQLite rebuilds the table
        batch.drop_column("rate_limit_per_second")
