"""SQL for what the lifecycle adds to an order: its event log, packages and timers.

Internal callers (the production API, timers, the operator) address orders by
Pressline id; customer-facing reads stay scoped by customer in ``repository``.
"""

from __future__ import annotations

import uuid
from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    bindparam,
    cast,
    delete,
    insert,
    literal,
    null,
    select,
    type_coerce,
    union_all,
    update,
)

from pressline.accounts.tables import customers
from pressline.db import AnyRow, update_each
from pressline.orders.tables import order_events, order_items, order_packages, order_timers, orders
from pressline.requestlog import store as requestlog

_LOCK_BY_ID = select(orders).where(orders.c.id == bindparam("order_id")).with_for_update()
_PACKAGES_OF = (
    select(order_packages)
    .where(order_packages.c.order_id == bindparam("order_id"))
    .order_by(order_packages.c.created_at, order_packages.c.id)
)
_INSERT_EVENTS = insert(order_events)
_INSERT_TIMERS = insert(order_timers)


def lock_order(conn: Connection, order_id: uuid.UUID) -> AnyRow | None:
    """The order's row by id, locked for this transaction (PostgreSQL)."""
    return conn.execute(_LOCK_BY_ID, {"order_id": order_id}).first()


def update_items(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Each row: ``target_id`` (the item's id) and the columns to set."""
    update_each(conn, order_items, rows)


def delete_order(conn: Connection, order_id: uuid.UUID) -> None:
    """Delete an order; its items, events, packages and timers go with it (cascade)."""
    for table in (order_timers, order_events, order_packages, order_items):
        conn.execute(delete(table).where(table.c.order_id == order_id))
    conn.execute(delete(orders).where(orders.c.id == order_id))


# --- event log ---------------------------------------------------------------------


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_INSERT_EVENTS, list(rows))


def last_hold(conn: Connection, order_id: uuid.UUID) -> AnyRow | None:
    """The order-level entry that put the order on hold last (to release it to)."""
    return conn.execute(
        select(order_events.c.from_status)
        .where(
            order_events.c.order_id == order_id,
            order_events.c.item_id.is_(None),
            order_events.c.to_status == "on_hold",
        )
        .order_by(order_events.c.seq.desc())
        .limit(1)
    ).first()


# --- an order's history in one read (Get Order) --------------------------------------

_EVENT = tuple(column for column in order_events.c if column.name != "order_id")
_PACKAGE = tuple(column for column in order_packages.c if column.name != "order_id")
_REQUEST = tuple(requestlog.ORDER_REQUESTS.c)
_PARTS = (("e", _EVENT), ("p", _PACKAGE), ("r", _REQUEST))
Event = namedtuple("Event", [column.name for column in _EVENT])  # type: ignore[misc]
Package = namedtuple("Package", [column.name for column in _PACKAGE])  # type: ignore[misc]
Request = namedtuple("Request", [column.name for column in _REQUEST])  # type: ignore[misc]


def _columns_of(prefix: str) -> list[Any]:
    """One part of :data:`_HISTORY`: its own columns, and every other part's as NULLs,
    so that the three parts line up.

    Only the first part CASTs its NULLs: a UNION takes each column's type from its first
    typed part, and the shorter text (under 4 kB) lets psycopg cache its parsing of the
    statement instead of parsing it again on every Get Order.
    """
    columns: list[Any] = [literal(prefix, String(1)).label("part")]
    for part, part_columns in _PARTS:
        for column in part_columns:
            value: Any
            if part == prefix:
                value = column
            elif prefix == _PARTS[0][0]:
                value = cast(null(), column.type)
            else:
                value = type_coerce(null(), column.type)
            columns.append(value.label(f"{part}_{column.name}"))
    return columns


_HISTORY_UNION = union_all(
    select(*_columns_of("e")).where(order_events.c.order_id == bindparam("history_order")),
    select(*_columns_of("p")).where(order_packages.c.order_id == bindparam("history_order")),
    select(*_columns_of("r")),
)
_HISTORY = _HISTORY_UNION.order_by(
    *(_HISTORY_UNION.selected_columns[name] for name in ("part", "e_seq", "p_created_at", "p_id")),
    _HISTORY_UNION.selected_columns["r_at"].desc(),
)
_EVENT_AT = slice(1, 1 + len(_EVENT))
_PACKAGE_AT = slice(_EVENT_AT.stop, _EVENT_AT.stop + len(_PACKAGE))
_REQUEST_AT = slice(_PACKAGE_AT.stop, _PACKAGE_AT.stop + len(_REQUEST))


class TimerKind(StrEnum):
    """What an order's timer does when due (``orders.timers``)."""

    INTAKE = "intake"  # created -> passed, and the hand-off
    SANDBOX = "sandbox"  # the sandbox's next step
    DELAYED = "delayed"  # the check for an order past its dispatch day


@dataclass(frozen=True, slots=True)
class History:
    """An order's event log (oldest first), packages (in the order they came) and latest
    requests (newest first, as Get Order shows them)."""

    events: list[Any]
    packages: list[Any]
    requests: list[dict[str, Any]]


def history_of(conn: Connection, order_id: uuid.UUID, order: requestlog.OrderRef) -> History:
    """Get Order's three reads in one round trip: a UNION ALL of the event log, the
    packages and the latest requests (round trips, not the database, were their cost)."""
    params = {"history_order": order_id, **requestlog.order_requests_params(order)}
    history = History([], [], [])
    for row in conn.execute(_HISTORY, params).all():
        if row[0] == "e":
            history.events.append(Event._make(row[_EVENT_AT]))
        elif row[0] == "p":
            history.packages.append(Package._make(row[_PACKAGE_AT]))
        else:
            history.requests.append(requestlog.request_view(Request._make(row[_REQUEST_AT])))
    return history


# --- packages ----------------------------------------------------------------------


def packages_of(conn: Connection, order_id: uuid.UUID) -> list[AnyRow]:
    return list(conn.execute(_PACKAGES_OF, {"order_id": order_id}))


def save_package(conn: Connection, row: dict[str, Any]) -> bool:
    """Insert a package, or update it if the order has one with that id; whether new."""
    key = (order_packages.c.order_id == row["order_id"]) & (order_packages.c.id == row["id"])
    exists = conn.execute(select(order_packages.c.id).where(key)).first() is not None
    if exists:
        values = {k: v for k, v in row.items() if k not in {"order_id", "id", "created_at"}}
        conn.execute(update(order_packages).where(key).values(**values))
    else:
        conn.execute(insert(order_packages).values(**row))
    return not exists


def set_package_status(
    conn: Connection,
    order_id: uuid.UUID,
    status: str,
    now: datetime,
    package_ids: Sequence[str] | None = None,
) -> None:
    """Set the status of the order's packages (of those in ``package_ids`` if given)."""
    query = update(order_packages).where(order_packages.c.order_id == order_id)
    if package_ids is not None:
        query = query.where(order_packages.c.id.in_(list(package_ids)))
    conn.execute(query.values(status=status, updated_at=now))


# --- timers ------------------------------------------------------------------------


def add_timers(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Schedule work: each row has order_id, kind, due_at and optional data."""
    if rows:
        conn.execute(_INSERT_TIMERS, [{"data": None, **row} for row in rows])


def claim_due(conn: Connection, now: datetime, limit: int) -> list[AnyRow]:
    """Due timers, oldest first, locked so that other workers skip them (PostgreSQL);
    SQLite has one writer, so its transaction alone is the claim."""
    query = (
        select(order_timers)
        .where(order_timers.c.due_at <= bindparam("now"))
        .order_by(order_timers.c.due_at, order_timers.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query, {"now": now}))


def claim_due_intake(conn: Connection, now: datetime, limit: int) -> list[AnyRow]:
    """Due intake timers, oldest first, each with its order's columns (``timer_id`` and
    the order's); timers and orders locked so that other workers and writers skip
    them (PostgreSQL)."""
    query = _DUE_INTAKE
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query, {"now": now, "limit": limit}))


_DUE_INTAKE = (
    select(order_timers.c.id.label("timer_id"), orders)
    .join(orders, orders.c.id == order_timers.c.order_id)
    .where(order_timers.c.kind == TimerKind.INTAKE, order_timers.c.due_at <= bindparam("now"))
    .order_by(order_timers.c.due_at, order_timers.c.id)
    .limit(bindparam("limit"))
)


def any_due(conn: Connection, now: datetime) -> bool:
    """Whether some timer is due at ``now`` (a plain read: no lock, no claim)."""
    query = select(order_timers.c.id).where(order_timers.c.due_at <= now).limit(1)
    return conn.execute(query).first() is not None


def delete_timer(conn: Connection, timer_id: int) -> None:
    conn.execute(delete(order_timers).where(order_timers.c.id == timer_id))


def delete_timers_of(conn: Connection, order_id: uuid.UUID, kind: TimerKind) -> None:
    """Drop an order's timers of one kind (a re-planned order schedules them anew)."""
    table = order_timers
    conn.execute(delete(table).where(table.c.order_id == order_id, table.c.kind == kind))


def delete_timers(conn: Connection, timer_ids: Sequence[int]) -> None:
    conn.execute(_DELETE_TIMERS, {"ids": list(timer_ids)})


_DELETE_TIMERS = delete(order_timers).where(order_timers.c.id.in_(bindparam("ids", expanding=True)))


def postpone_timer(conn: Connection, timer_id: int, due_at: datetime) -> None:
    conn.execute(
        update(order_timers)
        .where(order_timers.c.id == timer_id)
        .values(due_at=due_at, attempts=order_timers.c.attempts + 1)
    )


def orders_with_timer(
    conn: Connection, order_ids: Sequence[uuid.UUID], kind: TimerKind
) -> set[uuid.UUID]:
    """Which of these orders have a timer of this kind."""
    params = {"ids": list(order_ids), "kind": kind}
    return set(conn.execute(_ORDERS_WITH_TIMER, params).scalars())


_ORDERS_WITH_TIMER = select(order_timers.c.order_id).where(
    order_timers.c.order_id.in_(bindparam("ids", expanding=True)),
    order_timers.c.kind == bindparam("kind"),
)


def timers_of(conn: Connection, order_id: uuid.UUID) -> list[AnyRow]:
    return list(
        conn.execute(
            select(order_timers)
            .where(order_timers.c.order_id == order_id)
            .order_by(order_timers.c.due_at, order_timers.c.id)
        )
    )


# --- the operator's attention list -------------------------------------------------

ATTENTION_STATUSES = ("on_hold", "pending_approval", "failed")


def needing_attention(conn: Connection, *, limit: int) -> list[AnyRow]:
    """Orders waiting for someone (held, awaiting approval, failed) or flagged delayed
    and not shipped yet, oldest first."""
    waiting = orders.c.fulfillment_status.in_(ATTENTION_STATUSES)
    late = orders.c.delayed_at.is_not(None) & orders.c.fulfillment_status.not_in(
        ("shipped", "in_transit", "delivered", "returned", "canceled")
    )
    return list(
        conn.execute(
            select(
                orders.c.id,
                orders.c.order_reference_id,
                orders.c.fulfillment_status,
                orders.c.delayed_at,
                orders.c.updated_at,
                orders.c.fulfillment_facility_id,
                customers.c.reference_id.label("customer_reference_id"),
            )
            .select_from(orders.join(customers))
            .where(waiting | late)
            .order_by(orders.c.updated_at, orders.c.id)
            .limit(limit)
        )
    )
