"""The request log: one row per call to a connector endpoint (``/api/{prefix}/…``).

Connector and customer are kept by their operator-facing names (prefix and
customerReferenceId), which is what operators filter by and what the edge knows
without a query. ``order_key`` is the order id or reference the URL named;
``order_id`` the order a submit created: the requests of an order are those whose
either matches it.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text, Uuid, text

from pressline.db import UTCDateTime, metadata

request_log = Table(
    "request_log",
    metadata,
    Column("id", String(32), primary_key=True),  # the request id (Request-Id header)
    Column("at", UTCDateTime, nullable=False),
    Column("prefix", String(64), nullable=False),
    Column("customer_reference_id", String(100)),
    Column("method", String(8), nullable=False),
    Column("path", String(1024), nullable=False),
    Column("status", Integer, nullable=False),
    Column("latency_us", Integer, nullable=False),
    Column("order_id", Uuid),
    Column("order_key", String(100)),
    Column("template", String(100)),  # "name vN" of the request template applied
    Column("request_body", Text),
    Column("transformed_request", Text),
    Column("response_body", Text),
    Index("ix_request_log_at", "at"),
    Index("ix_request_log_prefix_at", "prefix", "at"),
    Index("ix_request_log_customer_at", "customer_reference_id", "at"),
    # Get Order's latest requests of an order: each side of its OR, newest first. Only
    # entries that name an order (most requests name no order id, searches no key).
    Index(
        "ix_request_log_order_id_at", "order_id", "at",
        postgresql_where=text("order_id IS NOT NULL"), sqlite_where=text("order_id IS NOT NULL"),
    ),
    Index(
        "ix_request_log_customer_order_key_at", "customer_reference_id", "order_key", "at",
        postgresql_where=text("order_key IS NOT NULL"), sqlite_where=text("order_key IS NOT NULL"),
    ),
)  # fmt: skip
