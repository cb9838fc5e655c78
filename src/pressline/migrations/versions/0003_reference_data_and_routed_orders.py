"""reference data, customer products, and routed, priced orders

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
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
        "reference_documents",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_reference_documents")),
    )
    op.create_table(
        "customer_products",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_products_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_products")),
        sa.UniqueConstraint(
            "customer_id", "name", name=op.f("uq_customer_products_customer_id_name")
        ),
    )
    with op.batch_alter_table("orders") as batch_op:
        batch_op.add_column(sa.Column("fulfillment_facility_id", sa.String(36), nullable=True))
        batch_op.add_column(sa.Column("shipment", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("receipt", sa.JSON(), nullable=True))
    with op.batch_alter_table("order_items") as batch_op:
        batch_op.add_column(sa.Column("product", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order_items") as batch_op:
        batch_op.drop_column("product")
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_column("receipt")
        batch_op.drop_column("shipment")
        batch_op.drop_column("fulfillment_facility_id")
    op.drop_table("customer_products")
    op.drop_table("reference_documents")
