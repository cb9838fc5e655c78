"""search indexes end with id, the newest-first tiebreaker

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_orders_customer_fulfillment": "fulfillment_status",
    "ix_orders_customer_financial": "financial_status",
    "ix_orders_customer_country": "country",
}


def upgrade() -> None:
    for name, column in _INDEXES.items():
        op.drop_index(name, table_name="orders")
        op.create_index(name, "orders", ["customer_id", column, "created_at", "id"])


def downgrade() -> None:
    for name, column in _INDEXES.items():
        op.drop_index(name, table_name="orders")
        op.create_index(name, "orders", ["customer_id", column, "created_at"])
