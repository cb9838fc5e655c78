"""All SQL of the catalog feature: reference documents and customer products."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from pressline.catalog.tables import customer_products, reference_documents
from pressline.db import AnyRow


def versions(conn: Connection) -> dict[str, int]:
    """Every kind's version: what the API processes poll to notice a change."""
    rows = conn.execute(select(reference_documents.c.kind, reference_documents.c.version))
    return {row.kind: row.version for row in rows}


def documents(conn: Connection) -> dict[str, AnyRow]:
    rows = conn.execute(select(reference_documents))
    return {row.kind: row for row in rows}


def bump(conn: Connection, kind: str, *, now: datetime, body: str | None = None) -> None:
    """Store a kind's new ``body`` (or only mark it changed) and raise its version."""
    values: dict[str, Any] = {"updated_at": now}
    if body is not None:
        values["body"] = body
    changed = conn.execute(
        update(reference_documents)
        .where(reference_documents.c.kind == kind)
        .values(version=reference_documents.c.version + 1, **values)
    )
    if changed.rowcount == 0:
        conn.execute(insert(reference_documents).values(kind=kind, version=1, **values))


def all_customer_products(conn: Connection) -> list[AnyRow]:
    query = select(
        customer_products.c.customer_id, customer_products.c.name, customer_products.c.spec
    )
    return list(conn.execute(query))


def customer_products_of(conn: Connection, customer_id: uuid.UUID) -> list[AnyRow]:
    query = (
        select(customer_products)
        .where(customer_products.c.customer_id == customer_id)
        .order_by(customer_products.c.name)
    )
    return list(conn.execute(query))


def put_customer_product(
    conn: Connection, customer_id: uuid.UUID, name: str, spec: dict[str, Any], now: datetime
) -> None:
    """Create or replace the customer's product of that name."""
    where = (customer_products.c.customer_id == customer_id) & (customer_products.c.name == name)
    changed = conn.execute(update(customer_products).where(where).values(spec=spec, updated_at=now))
    if changed.rowcount == 0:
        conn.execute(
            insert(customer_products).values(
                id=uuid.uuid4(),
                customer_id=customer_id,
                name=name,
                spec=spec,
                created_at=now,
                updated_at=now,
            )
        )


def delete_customer_product(conn: Connection, customer_id: uuid.UUID, name: str) -> bool:
    where = (customer_products.c.customer_id == customer_id) & (customer_products.c.name == name)
    return conn.execute(delete(customer_products).where(where)).rowcount > 0
