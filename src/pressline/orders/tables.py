"""Orders and their items.

Searchable fields are columns; the rest of the submitted order (address, files,
metadata) is kept as JSON documents it is read back from. Every search filter
leads with ``customer_id`` and ends with ``created_at``, so each index serves a
filter plus the newest-first order without a sort (docs/adr/0003).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from pressline.db import UTCDateTime, metadata

orders = Table(
    "orders",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", Uuid, ForeignKey("customers.id"), nullable=False),
    Column("connector_id", Uuid, ForeignKey("connectors.id"), nullable=False),
    Column("order_reference_id", String(100), nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("fulfillment_status", String(32), nullable=False),
    Column("financial_status", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("retail_currency", String(3)),
    Column("retail_shipping_price_incl_vat", Numeric(16, 4)),
    Column("shipment_method_uid", String(255)),
    Column("country", String(2), nullable=False),
    Column("first_name", String(25), nullable=False),
    Column("last_name", String(25), nullable=False),
    Column("items_count", Integer, nullable=False),
    Column("total_incl_vat", Numeric(16, 2)),
    Column("shipping_address_id", Uuid, nullable=False),
    Column("shipment_id", Uuid, nullable=False),
    Column("shipping_address", JSON, nullable=False),
    Column("metadata", JSON, nullable=False),
    # Routing, shipment and price as chosen at submit (or at the last shipment update),
    # kept as the documents Get Order shows (docs/adr/0008).
    Column("fulfillment_facility_id", String(36)),
    Column("shipment", JSON),
    Column("receipt", JSON),
    Column("refusal_reason_code", String(64)),
    Column("refusal_reason", Text),
    Column("refusal_reason_details", Text),
    Column("comment", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("ordered_at", UTCDateTime),
    # Unique per customer only: a global index would reveal other customers'
    # references through 409s (reliability.md 4).
    UniqueConstraint("customer_id", "order_reference_id"),
    Index("ix_orders_customer_created", "customer_id", "created_at", "id"),
    # Each ends with id, the tiebreaker of newest-first: then the index alone gives the
    # order and a search stops after one page instead of sorting every match.
    Index(
        "ix_orders_customer_fulfillment", "customer_id", "fulfillment_status", "created_at", "id"
    ),
    Index("ix_orders_customer_financial", "customer_id", "financial_status", "created_at", "id"),
    Index("ix_orders_customer_country", "customer_id", "country", "created_at", "id"),
)

order_items = Table(
    "order_items",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("order_id", Uuid, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("item_reference_id", String(100), nullable=False),
    Column("product_uid", String(255)),
    Column("product_name", String(200)),
    Column("product_variant", JSON),
    Column("quantity", Integer, nullable=False),
    Column("retail_price_incl_vat", Numeric(16, 4)),
    Column("fulfillment_status", String(32), nullable=False),
    # The catalog's answer for this item: finalProductUid, names, attributes, weight, price.
    Column("product", JSON),
    Column("files", JSON, nullable=False),
    Column("metadata", JSON, nullable=False),
    UniqueConstraint("order_id", "position"),
)
