"""Idempotency keys: the first answer to each keyed request, kept for the retention window."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text, Uuid

from pressline.db import UTCDateTime, metadata

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # Scoped per customer: one customer's key never answers, or blocks, another's.
    Column("customer_id", Uuid, ForeignKey("customers.id"), primary_key=True),
    Column("kind", String(16), primary_key=True),  # keys.KeyKind
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    # NULL only inside the transaction that claimed the key: it is set before commit.
    Column("status", Integer),
    Column("response", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_idempotency_keys_created_at", "created_at"),
)
