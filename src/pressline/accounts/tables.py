"""Customers, their connectors, and the connectors' API keys."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Uuid, false

from pressline.db import UTCDateTime, metadata

customers = Table(
    "customers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("reference_id", String(100), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

connectors = Table(
    "connectors",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", Uuid, ForeignKey("customers.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    # Requests per second for each of the connector's keys; NULL: PRESSLINE_RATE_LIMIT.
    Column("rate_limit_per_second", Integer),
    # A sandbox connector's orders move on their own (pressline.orders.timers), never
    # reaching a facility.
    Column("sandbox", Boolean, nullable=False, default=False, server_default=false()),
    # Serves every customer: each request names its own in Customer-Reference-ID.
    Column("all_customers", Boolean, nullable=False, default=False, server_default=false()),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("connector_id", Uuid, ForeignKey("connectors.id"), nullable=False),
    # The public half of "key:secret"; the secret is stored only as its SHA-256.
    Column("key", String(64), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Index("ix_api_keys_connector_id", "connector_id"),
)
