"""order lifecycle: event log, partial cancels, packages, markers, timers; facility
credentials and subscriptions; sandbox connectors

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("expected_dispatch_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("handed_off_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("delayed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("production_started_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_index(
        "ix_orders_facility_queue",
        "orders",
        ["fulfillment_facility_id", "fulfillment_status", "handed_off_at", "id"],
    )
    op.add_column(
        "order_items",
        sa.Column("quantity_canceled", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column(
        "connectors",
        sa.Column("sandbox", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "order_events",
        sa.Column("seq", _SERIAL, autoincrement=True, nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=True),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_events_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_order_events")),
    )  # fmt: skip
    op.create_index("ix_order_events_order_id", "order_events", ["order_id", "seq"])
    op.create_table(
        "order_packages",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("tracking_code", sa.String(length=255), nullable=True),
        sa.Column("tracking_url", sa.Text(), nullable=True),
        sa.Column("carrier", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_packages_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", "id", name=op.f("pk_order_packages")),
    )  # fmt: skip
    op.create_table(
        "order_timers",
        sa.Column("id", _SERIAL, autoincrement=True, nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_timers_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_timers")),
    )  # fmt: skip
    op.create_index("ix_order_timers_due_at", "order_timers", ["due_at"])
    op.create_index("ix_order_timers_order_id", "order_timers", ["order_id"])
    op.create_table(
        "facility_credentials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facility_credentials")),
        sa.UniqueConstraint("key", name=op.f("uq_facility_credentials_key")),
    )
    op.create_index("ix_facility_credentials_facility_id", "facility_credentials", ["facility_id"])
    op.create_table(
        "facility_subscriptions",
        sa.Column("facility_id", sa.String(length=36), nullable=False),
        sa.Column("order_submit_url", sa.Text(), nullable=False),
        sa.Column("order_cancel_url", sa.Text(), nullable=True),
        sa.Column("secret", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("facility_id", name=op.f("pk_facility_subscriptions")),
    )


def downgrade() -> None:
    op.drop_table("facility_subscriptions")
    op.drop_table("facility_credentials")
    op.drop_table("order_timers")
    op.drop_table("order_packages")
    op.drop_table("order_events")
    with op.batch_alter_table("connectors") as batch:
        batch.drop_column("sandbox")
    with op.batch_alter_table("order_items") as batch:
        batch.drop_column("quantity_canceled")
    op.drop_index("ix_orders_facility_queue", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        for column in (
            "production_started_at", "delayed_at", "cancel_requested_at", "handed_off_at",
            "expected_dispatch_date",
        ):  # fmt: skip
            batch.drop_column(column)
