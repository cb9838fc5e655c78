"""templates, lookup tables, endpoint links, all-customers connectors and the request log

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connectors") as batch:
        batch.add_column(
            sa.Column("all_customers", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "templates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("input_format", sa.String(length=8), nullable=False),
        sa.Column("output_format", sa.String(length=8), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_templates_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
        sa.UniqueConstraint("customer_id", "name", name=op.f("uq_templates_customer_id_name")),
    )
    op.create_table(
        "template_versions",
        sa.Column("template_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["templates.id"],
            name=op.f("fk_template_versions_template_id_templates"),
        ),
        sa.PrimaryKeyConstraint("template_id", "version", name=op.f("pk_template_versions")),
    )
    op.create_table(
        "lookup_tables",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("fallback", sa.String(length=1000), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_lookup_tables_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lookup_tables")),
        sa.UniqueConstraint("customer_id", "name", name=op.f("uq_lookup_tables_customer_id_name")),
    )
    op.create_table(
        "lookup_rows",
        sa.Column("table_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["table_id"], ["lookup_tables.id"], name=op.f("fk_lookup_rows_table_id_lookup_tables")
        ),
        sa.PrimaryKeyConstraint("table_id", "key", name=op.f("pk_lookup_rows")),
    )
    op.create_table(
        "endpoint_templates",
        sa.Column("connector_id", sa.Uuid(), nullable=False),
        sa.Column("endpoint", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("template_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector_id"],
            ["connectors.id"],
            name=op.f("fk_endpoint_templates_connector_id_connectors"),
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["templates.id"],
            name=op.f("fk_endpoint_templates_template_id_templates"),
        ),
        sa.PrimaryKeyConstraint(
            "connector_id", "endpoint", "role", name=op.f("pk_endpoint_templates")
        ),
    )
    with op.batch_alter_table("endpoint_templates") as batch:
        batch.create_index("ix_endpoint_templates_template_id", ["template_id"], unique=False)
    op.create_table(
        "template_revision",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_revision")),
    )
    op.execute("INSERT INTO template_revision (id, revision) VALUES (1, 0)")
    op.create_table(
        "request_log",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prefix", sa.String(length=64), nullable=False),
        sa.Column("customer_reference_id", sa.String(length=100), nullable=True),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("latency_us", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("order_key", sa.String(length=100), nullable=True),
        sa.Column("template", sa.String(length=100), nullable=True),
        sa.Column("request_body", sa.Text(), nullable=True),
        sa.Column("transformed_request", sa.Text(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_log")),
    )
    with op.batch_alter_table("request_log") as batch:
        batch.create_index("ix_request_log_at", ["at"], unique=False)
        batch.create_index("ix_request_log_prefix_at", ["prefix", "at"], unique=False)
        batch.create_index(
            "ix_request_log_customer_at", ["customer_reference_id", "at"], unique=False
        )
        batch.create_index("ix_request_log_order_id", ["order_id"], unique=False)
        batch.create_index(
            "ix_request_log_customer_order_key",
            ["customer_reference_id", "order_key"],
            unique=False,
        )


def downgrade() -> None:
    for table in (
        "request_log",
        "template_revision",
        "endpoint_templates",
        "lookup_rows",
        "lookup_tables",
        "template_versions",
        "templates",
    ):
        op.drop_table(table)
    with op.batch_alter_table("connectors") as batch:
        batch.drop_column("all_customers")
