"""SQL for orders and items. Nothing else touches these tables.

Every statement is scoped by ``customer_id``: another customer's order is not
"forbidden", it simply does not exist (reliability.md 4).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pressline.db import AnyRow
from pressline.orders.tables import order_items, orders

OrderRow = AnyRow

_SUMMARY_COLUMNS = (
    orders.c.id,
    orders.c.order_reference_id,
    orders.c.fulfillment_status,
    orders.c.financial_status,
    orders.c.currency,
    orders.c.total_incl_vat,
    orders.c.order_type,
    orders.c.channel,
    orders.c.first_name,
    orders.c.last_name,
    orders.c.country,
    orders.c.items_count,
    orders.c.created_at,
    orders.c.updated_at,
    orders.c.ordered_at,
    orders.c.refusal_reason_code,
)


def _match(customer_id: uuid.UUID, order_key: str) -> Any:
    """The order the path names: by Pressline id (a UUID) or by the customer's reference."""
    by_reference = orders.c.order_reference_id == order_key
    try:
        order_id = uuid.UUID(order_key)
    except ValueError:
        return and_(orders.c.customer_id == customer_id, by_reference)
    return and_(orders.c.customer_id == customer_id, or_(orders.c.id == order_id, by_reference))


def _pick(rows: Sequence[OrderRow], order_key: str) -> OrderRow | None:
    """Prefer the id match when a reference happens to equal another order's id."""
    for row in rows:
        if str(row.id) == order_key.lower():
            return row
    return rows[0] if rows else None


def insert_order(conn: Connection, order: dict[str, Any], items: list[dict[str, Any]]) -> bool:
    """Insert the order and its items; False (nothing written) if the reference is taken."""
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    inserted = conn.execute(
        dialect_insert(orders)
        .values(order)
        .on_conflict_do_nothing(index_elements=["customer_id", "order_reference_id"])
        .returning(orders.c.id)
    ).first()
    if inserted is None:
        return False
    conn.execute(insert(order_items), items)
    return True


def order_id_for_reference(conn: Connection, customer_id: uuid.UUID, reference: str) -> uuid.UUID:
    found: uuid.UUID = conn.execute(
        select(orders.c.id).where(
            orders.c.customer_id == customer_id, orders.c.order_reference_id == reference
        )
    ).scalar_one()
    return found


def fetch_order(
    conn: Connection, customer_id: uuid.UUID, order_key: str
) -> tuple[OrderRow, list[OrderRow]] | None:
    """The order with its items in one round trip (LEFT JOIN), or None."""
    item_columns = [column.label(f"item_{column.name}") for column in order_items.c]
    rows = conn.execute(
        select(orders, *item_columns)
        .select_from(orders.outerjoin(order_items))
        .where(_match(customer_id, order_key))
        .order_by(orders.c.id, order_items.c.position)
    ).all()
    head = _pick(rows, order_key)
    if head is None:
        return None
    return head, [row for row in rows if row.id == head.id and row.item_id is not None]


def lock_order(conn: Connection, customer_id: uuid.UUID, order_key: str) -> OrderRow | None:
    """The order's row, locked for this transaction (PostgreSQL; SQLite has one writer)."""
    rows = conn.execute(
        select(orders).where(_match(customer_id, order_key)).with_for_update()
    ).all()
    return _pick(rows, order_key)


def update_order(conn: Connection, order_id: uuid.UUID, **values: Any) -> None:
    conn.execute(update(orders).where(orders.c.id == order_id).values(**values))


def set_item_statuses(conn: Connection, order_id: uuid.UUID, status: str) -> None:
    conn.execute(
        update(order_items)
        .where(order_items.c.order_id == order_id)
        .values(fulfillment_status=status)
    )


def search_orders(
    conn: Connection,
    customer_id: uuid.UUID,
    *,
    fulfillment_statuses: Sequence[str],
    financial_statuses: Sequence[str],
    references: Sequence[str],
    countries: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    limit: int,
    offset: int,
) -> list[OrderRow]:
    """Newest first; each filter is served by an index leading with customer_id."""
    query: Select[Any] = select(*_SUMMARY_COLUMNS).where(orders.c.customer_id == customer_id)
    if fulfillment_statuses:
        query = query.where(orders.c.fulfillment_status.in_(fulfillment_statuses))
    if financial_statuses:
        query = query.where(orders.c.financial_status.in_(financial_statuses))
    if references:
        query = query.where(orders.c.order_reference_id.in_(references))
    if countries:
        query = query.where(orders.c.country.in_(countries))
    if start is not None:
        query = query.where(orders.c.created_at >= start)
    if end is not None:
        query = query.where(orders.c.created_at <= end)
    query = (
        query.order_by(orders.c.created_at.desc(), orders.c.id.desc()).limit(limit).offset(offset)
    )
    return list(conn.execute(query))
