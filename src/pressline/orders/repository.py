"""SQL for orders and items. Nothing else touches these tables.

Every statement is scoped by ``customer_id``: another customer's order is not
"forbidden", it simply does not exist (reliability.md 4).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    and_,
    bindparam,
    insert,
    literal_column,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from pressline.accounts.repository import (
    KEY_COLUMNS,
    KEY_CUSTOMER_ID,
    KEY_FROM,
    KEY_MATCHES,
    KeyRecord,
    find_key,
    key_record,
)
from pressline.db import AnyRow, IsoText, UTCDateTime, UuidText, update_each
from pressline.orders.tables import order_items, orders

OrderRow = AnyRow
_SECOND = timedelta(seconds=1)

# views.summary_view unpacks rows of these columns by position: keep the two in step.
_SUMMARY_COLUMNS = (
    type_coerce(orders.c.id, UuidText()).label("id"),
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
    type_coerce(orders.c.created_at, IsoText()).label("created_at"),
    type_coerce(orders.c.updated_at, IsoText()).label("updated_at"),
    type_coerce(orders.c.ordered_at, IsoText()).label("ordered_at"),
    orders.c.refusal_reason_code,
)


def _where(by_id: bool, customer: Any = None) -> Any:
    """The order the path names: by Pressline id (a UUID) or by the customer's reference;
    the customer is ``:customer_id`` unless given (an expression)."""
    by_reference = orders.c.order_reference_id == bindparam("order_key")
    match = or_(orders.c.id == bindparam("order_id"), by_reference) if by_id else by_reference
    owner = bindparam("customer_id") if customer is None else customer
    return and_(orders.c.customer_id == owner, match)


# Statements are built once: constructing one costs several times more than running it.
_ITEM_COLUMNS = [column.label(f"item_{column.name}") for column in order_items.c]
_FETCH = {
    by_id: select(orders, *_ITEM_COLUMNS)
    .select_from(orders.outerjoin(order_items))
    .where(_where(by_id))
    .order_by(orders.c.id, order_items.c.position)
    for by_id in (False, True)
}
#: ``_FETCH`` behind the presented key: the key's columns (``KEY_COLUMNS``) and its
#: customer's order, one row with NULL order columns when that customer has no such order.
_FETCH_AS = {
    by_id: select(*KEY_COLUMNS, orders, *_ITEM_COLUMNS)
    .select_from(
        KEY_FROM.outerjoin(orders, _where(by_id, KEY_CUSTOMER_ID)).outerjoin(
            order_items, order_items.c.order_id == orders.c.id
        )
    )
    .where(KEY_MATCHES)
    .order_by(orders.c.id, order_items.c.position)
    for by_id in (False, True)
}
_LOCK = {by_id: select(orders).where(_where(by_id)).with_for_update() for by_id in (False, True)}
_ID_FOR_REFERENCE = select(orders.c.id).where(
    orders.c.customer_id == bindparam("customer_id"),
    orders.c.order_reference_id == bindparam("reference"),
)
_INSERT_ORDER = {
    name: dialect.insert(orders)
    .on_conflict_do_nothing(index_elements=["customer_id", "order_reference_id"])
    .returning(orders.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_INSERT_ITEMS = insert(order_items)


def _key_params(customer_id: uuid.UUID | None, order_key: str) -> tuple[bool, dict[str, Any]]:
    params: dict[str, Any] = {"order_key": order_key}
    if customer_id is not None:
        params["customer_id"] = customer_id
    try:
        params["order_id"] = uuid.UUID(order_key)
    except ValueError:
        return False, params
    return True, params


def _pick(rows: Sequence[OrderRow], order_key: str) -> OrderRow | None:
    """Prefer the id match when a reference happens to equal another order's id."""
    for row in rows:
        if str(row.id) == order_key.lower():
            return row
    return rows[0] if rows else None


def insert_orders(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert orders (one multi-row statement): the ids inserted. An order whose reference
    its customer already used, or an earlier row took, is not, and writes nothing."""
    if not rows:
        return set()
    inserted = conn.execute(_INSERT_ORDER[conn.dialect.name], list(rows)).scalars()
    return set(inserted)


def insert_items(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_INSERT_ITEMS, list(rows))


def order_id_for_reference(conn: Connection, customer_id: uuid.UUID, reference: str) -> uuid.UUID:
    found: uuid.UUID = conn.execute(
        _ID_FOR_REFERENCE, {"customer_id": customer_id, "reference": reference}
    ).scalar_one()
    return found


def fetch_order(
    conn: Connection, customer_id: uuid.UUID, order_key: str
) -> tuple[OrderRow, list[OrderRow]] | None:
    """The order with its items in one round trip (LEFT JOIN), or None."""
    by_id, params = _key_params(customer_id, order_key)
    return _order_and_items(conn.execute(_FETCH[by_id], params).all(), order_key)


def fetch_order_as(
    conn: Connection, key: str, order_key: str
) -> tuple[KeyRecord | None, tuple[OrderRow, list[OrderRow]] | None]:
    """The presented key's record, and the order of the key's customer with its items:
    authentication and the order in one round trip. The order is for the caller to
    use once the record passes ``accounts.service.admit``, never before.

    SQLite has no round trips to save, and there the two plain statements cost less
    than the joined one: it reads the key, then the order."""
    if conn.dialect.name == "sqlite":
        record = find_key(conn, key)
        if record is None:
            return None, None
        return record, fetch_order(conn, record.principal.customer_id, order_key)
    by_id, params = _key_params(None, order_key)
    params["key"] = key
    rows = conn.execute(_FETCH_AS[by_id], params).all()
    if not rows:
        return None, None
    record = key_record(rows[0])
    if rows[0].id is None:  # the key's customer has no such order
        return record, None
    return record, _order_and_items(rows, order_key)


def _order_and_items(
    rows: Sequence[OrderRow], order_key: str
) -> tuple[OrderRow, list[OrderRow]] | None:
    head = _pick(rows, order_key)
    if head is None:
        return None
    return head, [row for row in rows if row.id == head.id and row.item_id is not None]


def lock_order(conn: Connection, customer_id: uuid.UUID, order_key: str) -> OrderRow | None:
    """The order's row, locked for this transaction (PostgreSQL; SQLite has one writer)."""
    by_id, params = _key_params(customer_id, order_key)
    return _pick(conn.execute(_LOCK[by_id], params).all(), order_key)


def update_order(conn: Connection, order_id: uuid.UUID, **values: Any) -> OrderRow:
    """Change the order's columns; the row as it now is (RETURNING: no second read)."""
    updated: OrderRow = conn.execute(
        update(orders).where(orders.c.id == order_id).values(**values).returning(*orders.c)
    ).one()
    return updated


def update_orders_each(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Each row: ``target_id`` (the order's id) and the columns to set."""
    update_each(conn, orders, rows)


def orders_by_id(conn: Connection, order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, OrderRow]:
    if not order_ids:
        return {}
    return {row.id: row for row in conn.execute(_ORDERS_BY_ID, {"ids": list(order_ids)})}


_ORDERS_BY_ID = select(orders).where(orders.c.id.in_(bindparam("ids", expanding=True)))
_ITEMS_OF = (
    select(order_items).where(order_items.c.order_id == bindparam("order_id"))
    .order_by(order_items.c.position)
)  # fmt: skip


def items_of(conn: Connection, order_id: uuid.UUID) -> list[AnyRow]:
    return list(conn.execute(_ITEMS_OF, {"order_id": order_id}))


def items_of_orders(
    conn: Connection, order_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[AnyRow]]:
    """The items of several orders in one query, by order, in their positions."""
    found: dict[uuid.UUID, list[AnyRow]] = {order_id: [] for order_id in order_ids}
    if order_ids:
        for row in conn.execute(_ITEMS_OF_ORDERS, {"ids": list(order_ids)}):
            found[row.order_id].append(row)
    return found


_ITEMS_OF_ORDERS = (
    select(order_items)
    .where(order_items.c.order_id.in_(bindparam("ids", expanding=True)))
    .order_by(order_items.c.order_id, order_items.c.position)
)


# Multi-valued filters, most selective first, and the column each one filters.
_LIST_FILTERS = {
    "references": orders.c.order_reference_id,
    "statuses": orders.c.fulfillment_status,
    "financial": orders.c.financial_status,
    "countries": orders.c.country,
}
#: Up to this many values, a list filter is searched one index range per value.
MAX_RANGES = 20


def _filtered(query: Select[Any], filters: frozenset[str], ranged: str | None) -> Select[Any]:
    """The customer's orders passing every filter but the ``ranged`` one.

    Beside a ranged filter, the others test an expression (``country || ''``) that no
    index serves: a planner cannot tell which of two equalities is rarer and might
    take the other one's index, then sort every match (SQLite did).
    """
    query = query.where(orders.c.customer_id == bindparam("customer_id"))
    for name, column in _LIST_FILTERS.items():
        if name in filters and name != ranged:
            tested = column if ranged is None else column.concat(literal_column("''"))
            query = query.where(tested.in_(bindparam(name, expanding=True)))
    if "start" in filters:
        query = query.where(orders.c.created_at >= bindparam("start", type_=UTCDateTime))
    if "end" in filters:
        query = query.where(orders.c.created_at < bindparam("end", type_=UTCDateTime))
    return query


@lru_cache(maxsize=256)
def _search_statement(filters: frozenset[str], ranges_of: str | None, ranges: int) -> Select[Any]:
    """One statement per shape of search, built on first use.

    ``customer = ? AND country IN (…) ORDER BY created_at DESC LIMIT 50`` lets a planner
    walk the newest-first index and test each row: fine for common values, a scan of
    every order the customer has when a value matches few or none (SQLite: 550 ms over
    1M orders). So one list filter (``ranges_of``) is searched as one range per value of
    its (customer, value, created_at) index, each stopping after ``window`` rows, and
    the ranges are merged: the cost follows the page size, not the table's.
    """
    if ranges_of is None:
        merged = _filtered(select(*_SUMMARY_COLUMNS), filters, None).subquery()
    else:
        column = _LIST_FILTERS[ranges_of]
        parts = [
            _filtered(select(*_SUMMARY_COLUMNS), filters, ranges_of)
            .where(column == bindparam(f"{ranges_of}_{index}"))
            .order_by(orders.c.created_at.desc(), orders.c.id.desc())
            .limit(bindparam("window"))
            .subquery()
            for index in range(ranges)
        ]
        merged = union_all(*(select(part) for part in parts)).subquery()
    return (
        select(*merged.c)
        .order_by(merged.c.created_at.desc(), merged.c.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


def _reported_window(
    start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """[start, end) on stored times that holds the orders whose reported createdAt (whole
    seconds) lies within [start, end]: an order is found by its own createdAt as bounds."""
    low = high = None
    if start is not None:
        low = start.replace(microsecond=0)
        if low != start:
            low += _SECOND
    if end is not None:
        high = end.replace(microsecond=0) + _SECOND
    return low, high


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
    lists = {
        "references": list(references),
        "statuses": list(fulfillment_statuses),
        "financial": list(financial_statuses),
        "countries": list(countries),
    }
    filters = frozenset(
        [name for name, values in lists.items() if values]
        + (["start"] if start is not None else [])
        + (["end"] if end is not None else [])
    )
    ranges_of = next((name for name in _LIST_FILTERS if 0 < len(lists[name]) <= MAX_RANGES), None)
    low, high = _reported_window(start, end)
    params: dict[str, Any] = {
        "customer_id": customer_id,
        **lists,
        "start": low,
        "end": high,
        "limit": limit,
        "offset": offset,
        "window": offset + limit,
    }
    ranges = 0
    if ranges_of is not None:
        values = list(dict.fromkeys(lists[ranges_of]))  # a repeated value is one range
        ranges = len(values)
        params.update({f"{ranges_of}_{index}": value for index, value in enumerate(values)})
    statement = _search_statement(filters, ranges_of, ranges)
    return list(conn.execute(statement, params).all())  # one fetch, not one per row
