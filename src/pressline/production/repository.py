"""SQL for facility credentials and subscriptions, and a facility's view of orders."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, insert, select, update

from pressline.db import AnyRow
from pressline.orders.tables import order_items, orders
from pressline.production.tables import facility_credentials, facility_subscriptions

_FIND_KEY = select(
    facility_credentials.c.facility_id,
    facility_credentials.c.secret_hash,
    facility_credentials.c.revoked_at,
).where(facility_credentials.c.key == bindparam("key"))


def find_key(conn: Connection, key: str) -> AnyRow | None:
    return conn.execute(_FIND_KEY, {"key": key}).first()


def insert_key(
    conn: Connection, *, facility_id: str, key: str, secret_hash: str, now: datetime
) -> None:
    conn.execute(
        insert(facility_credentials).values(
            id=uuid.uuid4(), facility_id=facility_id, key=key, secret_hash=secret_hash,
            created_at=now,
        )
    )  # fmt: skip


def list_keys(conn: Connection, facility_id: str) -> list[AnyRow]:
    return list(
        conn.execute(
            select(facility_credentials)
            .where(facility_credentials.c.facility_id == facility_id)
            .order_by(facility_credentials.c.created_at)
        )
    )


def revoke_key(conn: Connection, facility_id: str, key: str, now: datetime) -> bool:
    result = conn.execute(
        update(facility_credentials)
        .where(facility_credentials.c.key == key, facility_credentials.c.facility_id == facility_id)
        .values(revoked_at=now)
    )
    return result.rowcount == 1


def subscription(conn: Connection, facility_id: str) -> AnyRow | None:
    return subscriptions_of(conn, [facility_id]).get(facility_id)


def subscriptions_of(conn: Connection, facility_ids: Iterable[str]) -> dict[str, AnyRow]:
    """The subscriptions of these facilities (those that have one), in one query."""
    rows = conn.execute(_SUBSCRIPTIONS_OF, {"ids": list(set(facility_ids))})
    return {row.facility_id: row for row in rows}


# Built once: intake asks for every batch it hands off (statements on hot paths, ADR 0001).
_SUBSCRIPTIONS_OF = select(facility_subscriptions).where(
    facility_subscriptions.c.facility_id.in_(bindparam("ids", expanding=True))
)


def all_subscriptions(conn: Connection) -> list[AnyRow]:
    return list(conn.execute(select(facility_subscriptions)))


def order_ids_of(facility_id: str) -> ColumnElement[Any]:
    """The ids of the orders routed to the facility, as a subquery."""
    return (
        select(orders.c.id).where(orders.c.fulfillment_facility_id == facility_id).scalar_subquery()
    )


def save_subscription(
    conn: Connection,
    *,
    facility_id: str,
    submit_url: str,
    cancel_url: str | None,
    secret: str | None,
    now: datetime,
) -> None:
    values = {"order_submit_url": submit_url, "order_cancel_url": cancel_url, "secret": secret,
              "updated_at": now}  # fmt: skip
    if subscription(conn, facility_id) is None:
        conn.execute(
            insert(facility_subscriptions).values(facility_id=facility_id, created_at=now, **values)
        )
    else:
        conn.execute(
            update(facility_subscriptions)
            .where(facility_subscriptions.c.facility_id == facility_id)
            .values(**values)
        )


def queue(
    conn: Connection, facility_id: str, statuses: Sequence[str], *, limit: int, offset: int
) -> list[AnyRow]:
    """The facility's handed-off orders in ``statuses``, oldest hand-off first."""
    return list(
        conn.execute(
            select(orders)
            .where(
                orders.c.fulfillment_facility_id == facility_id,
                orders.c.fulfillment_status.in_(list(statuses)),
                orders.c.handed_off_at.is_not(None),
            )
            .order_by(orders.c.handed_off_at, orders.c.id)
            .limit(limit)
            .offset(offset)
        )
    )


def items_of_orders(conn: Connection, order_ids: Sequence[uuid.UUID]) -> list[AnyRow]:
    if not order_ids:
        return []
    return list(
        conn.execute(
            select(order_items)
            .where(order_items.c.order_id.in_(list(order_ids)))
            .order_by(order_items.c.order_id, order_items.c.position)
        )
    )
