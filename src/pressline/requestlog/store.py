"""SQL for the request log: write batches, list with filters, show one, purge old."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, or_, select, union

from pressline.db import AnyRow
from pressline.requestlog.tables import request_log

SUMMARY_COLUMNS = (
    request_log.c.id,
    request_log.c.at,
    request_log.c.prefix,
    request_log.c.customer_reference_id,
    request_log.c.method,
    request_log.c.path,
    request_log.c.status,
    request_log.c.latency_us,
    request_log.c.order_id,
    request_log.c.template,
)


def insert_entries(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    if rows:
        conn.execute(insert(request_log), list(rows))
    return len(rows)


@dataclass(frozen=True, slots=True)
class OrderRef:
    """An order as requests may name it: its id, its reference, its customer."""

    id: uuid.UUID
    reference: str
    customer_reference_id: str


@dataclass(frozen=True, slots=True)
class Filters:
    prefix: str | None = None
    customer_reference_id: str | None = None
    order: OrderRef | None = None
    status: int | None = None
    since: datetime | None = None


def list_entries(conn: Connection, filters: Filters, *, limit: int = 50) -> list[AnyRow]:
    """Matching entries, newest first."""
    query = select(*SUMMARY_COLUMNS)
    if filters.prefix is not None:
        query = query.where(request_log.c.prefix == filters.prefix)
    if filters.customer_reference_id is not None:
        query = query.where(request_log.c.customer_reference_id == filters.customer_reference_id)
    if filters.status is not None:
        query = query.where(request_log.c.status == filters.status)
    if filters.since is not None:
        query = query.where(request_log.c.at >= filters.since)
    if filters.order is not None:
        order = filters.order
        query = query.where(
            or_(
                request_log.c.order_id == order.id,
                (request_log.c.customer_reference_id == order.customer_reference_id)
                & request_log.c.order_key.in_([str(order.id), order.reference]),
            )
        )
    return list(conn.execute(query.order_by(request_log.c.at.desc()).limit(limit)))


#: Requests Get Order links to: enough for an integrator to quote a requestId.
ORDER_REQUESTS_SHOWN = 20


def _latest(condition: Any) -> Any:
    """One side of "the requests of an order": newest first from its index, at most
    :data:`ORDER_REQUESTS_SHOWN` (a backward scan, however often the order was polled)."""
    columns = (
        request_log.c.id, request_log.c.method, request_log.c.path,
        request_log.c.status, request_log.c.at,
    )  # fmt: skip
    return select(
        select(*columns)
        .where(condition)
        .order_by(request_log.c.at.desc())
        .limit(ORDER_REQUESTS_SHOWN)
        .subquery()
    )


def _named(key: str) -> Any:
    return (request_log.c.customer_reference_id == bindparam("customer")) & (
        request_log.c.order_key == bindparam(key)
    )


# Built once (Get Order runs it on every call). A UNION, not an OR: each side reads only
# its newest entries from its index (ix_request_log_order_id_at, ix_request_log_customer_
# order_key_at), however many there are (an order polled every minute for a month has
# tens of thousands); an entry on two sides appears once.
_SIDES = union(
    _latest(request_log.c.order_id == bindparam("order_id")),
    _latest(_named("by_id")),
    _latest(_named("by_reference")),
).subquery()
#: Get Order reads it beside the order's events and packages (``orders.journal.history_of``).
ORDER_REQUESTS = select(_SIDES).order_by(_SIDES.c.at.desc()).limit(ORDER_REQUESTS_SHOWN).subquery()


def order_requests_params(order: OrderRef) -> dict[str, Any]:
    """The parameters of :data:`ORDER_REQUESTS` for ``order``."""
    return {
        "order_id": order.id,
        "customer": order.customer_reference_id,
        "by_id": str(order.id),
        "by_reference": order.reference,
    }


def request_view(row: Any) -> dict[str, Any]:
    """One request as Get Order shows it (ids, method, path, status, time: never bodies)."""
    return {
        "requestId": row.id,
        "method": row.method,
        "path": row.path,
        "status": row.status,
        "createdAt": row.at.isoformat(timespec="seconds"),
    }


def get_entry(conn: Connection, entry_id: str) -> AnyRow | None:
    return conn.execute(select(request_log).where(request_log.c.id == entry_id)).first()


def purge(conn: Connection, *, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` entries older than ``before``; how many."""
    oldest = select(request_log.c.id).where(request_log.c.at < before).limit(limit)
    ids = list(conn.execute(oldest).scalars())
    if ids:
        conn.execute(delete(request_log).where(request_log.c.id.in_(ids)))
    return len(ids)


def find_order(conn: Connection, order_key: str, customer_reference_id: str | None) -> OrderRef:
    """The order an operator named by id or by reference (with its customer when
    several customers use the reference)."""
    from pressline.accounts.tables import customers
    from pressline.errors import FieldError, OrderNotFound, ValidationFailed
    from pressline.orders.tables import orders

    query = select(orders.c.id, orders.c.order_reference_id, customers.c.reference_id).select_from(
        orders.join(customers)
    )
    conditions = [orders.c.order_reference_id == order_key]
    with contextlib.suppress(ValueError):
        conditions.append(orders.c.id == uuid.UUID(order_key))
    query = query.where(or_(*conditions))
    if customer_reference_id is not None:
        query = query.where(customers.c.reference_id == customer_reference_id)
    rows = list(conn.execute(query.limit(2)))
    if len(rows) > 1 and customer_reference_id is None:
        message = f"Several customers have an order '{order_key}': name one with --customer"
        raise ValidationFailed([FieldError("ambiguous", "--order", message)])
    if len(rows) != 1:
        raise OrderNotFound(order_key)
    row = rows[0]
    return OrderRef(row.id, row.order_reference_id, row.reference_id)
