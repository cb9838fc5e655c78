"""request log: the two indexes Get Order reads end with the time

An order's requests are the latest 20 by order id or by (customer, order key). With the
time last in both indexes, each side is a short backward index scan, however often the
order was polled; without it, every entry of the order was read and sorted.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_request_log_order_id", table_name="request_log")
    op.drop_index("ix_request_log_customer_order_key", table_name="request_log")
    op.create_index("ix_request_log_order_id_at", "request_log", ["order_id", "at"])
    op.create_index(
        "ix_request_log_customer_order_key_at",
        "request_log",
        ["customer_reference_id", "order_key", "at"],
    )


def downgrade() -> None:
    op.drop_index("ix_request_log_customer_order_key_at", table_name="request_log")
    op.drop_index("ix_request_log_order_id_at", table_name="request_log")
    op.create_index("ix_request_log_order_id", "request_log", ["order_id"])
    op.create_index(
        "ix_request_log_customer_order_key", "request_log", ["customer_reference_id", "order_key"]
    )
