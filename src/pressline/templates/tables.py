"""Stored templates with their versions, lookup tables, and endpoint links.

A template belongs to a customer and is named; every edit adds a version and never
changes an old one, so a link to "v3" keeps meaning what it meant when it was made.
A link ties one of a connector's endpoints (submit or cancel) and a role (request or
response) to a template, at a fixed version or (NULL) the latest.

``template_revision`` is one counter bumped by every change to any of these tables:
API processes compare it to decide whether their cached links are still current
(``templates.links.LinkCache``), one tiny read every few seconds instead of a query
per request.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from pressline.db import UTCDateTime, metadata

templates = Table(
    "templates",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", Uuid, ForeignKey("customers.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("type", String(32), nullable=False),
    Column("input_format", String(8), nullable=False),
    Column("output_format", String(8), nullable=False),
    Column("latest_version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("customer_id", "name"),
)

template_versions = Table(
    "template_versions",
    metadata,
    Column("template_id", Uuid, ForeignKey("templates.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("template_id", "version"),
)

lookup_tables = Table(
    "lookup_tables",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", Uuid, ForeignKey("customers.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("fallback", String(1000)),
    Column("description", String(500), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("customer_id", "name"),
)

lookup_rows = Table(
    "lookup_rows",
    metadata,
    Column("table_id", Uuid, ForeignKey("lookup_tables.id"), nullable=False),
    # Rows keep the order they were imported or added in (exports give them back so).
    Column("position", Integer, nullable=False),
    Column("key", String(255), nullable=False),
    Column("value", String(1000), nullable=False),
    PrimaryKeyConstraint("table_id", "key"),
)

endpoint_templates = Table(
    "endpoint_templates",
    metadata,
    Column("connector_id", Uuid, ForeignKey("connectors.id"), nullable=False),
    Column("endpoint", String(16), nullable=False),  # submit | cancel
    Column("role", String(16), nullable=False),  # request | response
    Column("template_id", Uuid, ForeignKey("templates.id"), nullable=False),
    Column("version", Integer),  # NULL: the latest version
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("connector_id", "endpoint", "role"),
    Index("ix_endpoint_templates_template_id", "template_id"),
)

template_revision = Table(
    "template_revision",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("revision", Integer, nullable=False),
)
