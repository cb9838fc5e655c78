"""Reference data as the operator imported it, and customers' products."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from pressline.db import UTCDateTime, metadata

#: One row per kind (``catalog``, ``shipping``, ``rates``, ``customer_products``). ``body``
#: is the imported YAML, comments included, so an export gives back what was imported;
#: no row means the starter file shipped with Pressline is in force. ``version`` grows
#: with every change: API processes poll it to refresh their in-memory copy.
reference_documents = Table(
    "reference_documents",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("body", Text),
    Column("updated_at", UTCDateTime, nullable=False),
)

customer_products = Table(
    "customer_products",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", Uuid, ForeignKey("customers.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("customer_id", "name"),
)
