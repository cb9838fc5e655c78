"""Orders and their items.

Searchable fields are columns; the rest of the submitted order (address, files,
metadata) is kept as JSON documents it is read back from. Every search filter
leads with ``customer_id`` and ends with ``created_at``, so each index serves a
filter plus the newest-first order without a sort (docs/adr/0003).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from pressline.db import UTCDateTime, metadata

#: An auto-incremented 64-bit key (SQLite only auto-increments an INTEGER primary key).
_SERIAL = BigInteger().with_variant(Integer, "sqlite")

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
    # The lifecycle's markers (docs/adr/0010): the day the facility should dispatch (its
    # local date, for ``delayed``), when the order was handed to its facility, when the
    # customer asked a facility that had it to cancel, when ``delayed`` was raised, and
    # when production first started (a cancel after that is billed).
    Column("expected_dispatch_date", Date),
    Column("handed_off_at", UTCDateTime),
    Column("cancel_requested_at", UTCDateTime),
    Column("delayed_at", UTCDateTime),
    Column("production_started_at", UTCDateTime),
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
    # A facility's queue (GET /production/v2/orders): its handed-off orders by status,
    # oldest hand-off first.
    Index(
        "ix_orders_facility_queue",
        "fulfillment_facility_id",
        "fulfillment_status",
        "handed_off_at",
        "id",
    ),
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
    # Canceled so far (partial cancels); what is produced is quantity - quantity_canceled.
    Column("quantity_canceled", Integer, nullable=False, default=0, server_default=text("0")),
    Column("retail_price_incl_vat", Numeric(16, 4)),
    Column("fulfillment_status", String(32), nullable=False),
    # The catalog's answer for this item: finalProductUid, names, attributes, weight, price.
    Column("product", JSON),
    Column("files", JSON, nullable=False),
    Column("metadata", JSON, nullable=False),
    UniqueConstraint("order_id", "position"),
)

#: Every change of an order or item (docs/adr/0010 "Event log"); ``item_id`` is null for
#: an order-level entry. ``seq`` orders entries written in one transaction (same ``at``).
order_events = Table(
    "order_events",
    metadata,
    Column("seq", _SERIAL, primary_key=True, autoincrement=True),
    Column("order_id", Uuid, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("item_id", Uuid),
    Column("actor", String(16), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("from_status", String(32)),
    Column("to_status", String(32)),
    Column("message", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("data", JSON),
    Index("ix_order_events_order_id", "order_id", "seq"),
)

#: The shipment's packages as the facility reports them (Get Order ``shipment.packages``).
order_packages = Table(
    "order_packages",
    metadata,
    Column("order_id", Uuid, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String(100), primary_key=True),
    Column("tracking_code", String(255)),
    Column("tracking_url", Text),
    Column("carrier", String(255)),
    Column("status", String(32), nullable=False),
    # [{"itemId": …, "quantity": …}]
    Column("items", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

#: Work due later for an order: the intake pass, the sandbox's next step, the delayed
#: check. ``pressline.orders.timers.run_due`` claims and runs what is due.
order_timers = Table(
    "order_timers",
    metadata,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("order_id", Uuid, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("data", JSON),
    Column("attempts", Integer, nullable=False, default=0, server_default=text("0")),
    Index("ix_order_timers_due_at", "due_at"),
    Index("ix_order_timers_order_id", "order_id"),
)
