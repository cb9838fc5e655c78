"""Facilities' credentials and subscriptions (the production side, domain.md §8).

Facilities are reference data (the shipping file names them by id); these tables add
what Pressline keeps per facility: the keys its MIS calls the production API with, and
the URLs orders and cancels are pushed to.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table, Text, Uuid

from pressline.db import UTCDateTime, metadata

facility_credentials = Table(
    "facility_credentials",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("facility_id", String(36), nullable=False),
    # The public half of "key:secret"; the secret is stored only as its SHA-256.
    Column("key", String(64), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Index("ix_facility_credentials_facility_id", "facility_id"),
)

facility_subscriptions = Table(
    "facility_subscriptions",
    metadata,
    Column("facility_id", String(36), primary_key=True),
    Column("order_submit_url", Text, nullable=False),
    Column("order_cancel_url", Text),
    # Signs the pushed requests (Standard Webhooks) when set; kept in clear to sign.
    Column("secret", String(255)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
