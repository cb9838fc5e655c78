"""orders, customers, connectors and api keys

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23
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
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("reference_id", name=op.f("uq_customers_reference_id")),
    )
    op.create_table(
        "connectors",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_connectors_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connectors")),
        sa.UniqueConstraint("prefix", name=op.f("uq_connectors_prefix")),
    )
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_connectors_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("connector_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connector_id"], ["connectors.id"], name=op.f("fk_api_keys_connector_id_connectors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key", name=op.f("uq_api_keys_key")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index("ix_api_keys_connector_id", ["connector_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("connector_id", sa.Uuid(), nullable=False),
        sa.Column("order_reference_id", sa.String(length=100), nullable=False),
        sa.Column("order_type", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("fulfillment_status", sa.String(length=32), nullable=False),
        sa.Column("financial_status", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("retail_currency", sa.String(length=3), nullable=True),
        sa.Column(
            "retail_shipping_price_incl_vat", sa.Numeric(precision=16, scale=4), nullable=True
        ),
        sa.Column("shipment_method_uid", sa.String(length=255), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("first_name", sa.String(length=25), nullable=False),
        sa.Column("last_name", sa.String(length=25), nullable=False),
        sa.Column("items_count", sa.Integer(), nullable=False),
        sa.Column("total_incl_vat", sa.Numeric(precision=16, scale=2), nullable=True),
        sa.Column("shipping_address_id", sa.Uuid(), nullable=False),
        sa.Column("shipment_id", sa.Uuid(), nullable=False),
        sa.Column("shipping_address", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("refusal_reason_code", sa.String(length=64), nullable=True),
        sa.Column("refusal_reason", sa.Text(), nullable=True),
        sa.Column("refusal_reason_details", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connector_id"], ["connectors.id"], name=op.f("fk_orders_connector_id_connectors")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_orders_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint(
            "customer_id",
            "order_reference_id",
            name=op.f("uq_orders_customer_id_order_reference_id"),
        ),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_customer_country", ["customer_id", "country", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_orders_customer_created", ["customer_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_orders_customer_financial",
            ["customer_id", "financial_status", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_orders_customer_fulfillment",
            ["customer_id", "fulfillment_status", "created_at"],
            unique=False,
        )

    op.create_table(
        "order_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item_reference_id", sa.String(length=100), nullable=False),
        sa.Column("product_uid", sa.String(length=255), nullable=True),
        sa.Column("product_name", sa.String(length=200), nullable=True),
        sa.Column("product_variant", sa.JSON(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("retail_price_incl_vat", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.Column("fulfillment_status", sa.String(length=32), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_items_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_items")),
        sa.UniqueConstraint("order_id", "position", name=op.f("uq_order_items_order_id_position")),
    )


def downgrade() -> None:
    op.drop_table("order_items")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_customer_fulfillment")
        batch_op.drop_index("ix_orders_customer_financial")
        batch_op.drop_index("ix_orders_customer_created")
        batch_op.drop_index("ix_orders_customer_country")

    op.drop_table("orders")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_api_keys_connector_id")

    op.drop_table("api_keys")
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connectors_customer_id"))

    op.drop_table("connectors")
    op.drop_table("customers")
