"""SQL of the outbox's consumer side: claiming due deliveries, logging attempts, the log.

Claiming is a lease: a worker marks the rows it takes with its ``lease`` token and a
``locked_until`` time, in a short transaction of its own, then sends outside any
transaction. Another worker skips rows whose lease has not run out, and on PostgreSQL
``FOR UPDATE SKIP LOCKED`` keeps two workers claiming at the same moment from waiting on
(or taking) each other's rows. An attempt is recorded only by the lease holder: a
worker that lost its lease (it ran past ``locked_until``) logs its attempt but leaves
the row to the new holder. A worker that dies holding a lease leaves the row pending;
once the lease runs out it is claimed and sent again (at least once, same webhook-id).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from pressline.accounts.tables import customers
from pressline.db import AnyRow, storable_text
from pressline.errors import DeliveryNotFound
from pressline.postbacks.outbox import POSTBACK, DeliveryStatus
from pressline.postbacks.tables import postback_attempts, postback_deliveries

#: The most of an error or an answer kept per attempt.
EXCERPT_BYTES: Final = 1024
_D = postback_deliveries.c


def excerpt(text: str | None) -> str | None:
    """``text`` cut to at most :data:`EXCERPT_BYTES` bytes of UTF-8 (never mid-character),
    storable (a receiver's answer may hold a NUL)."""
    if text is None:
        return None
    text = storable_text(text)
    data = text.encode("utf-8")
    if len(data) <= EXCERPT_BYTES:
        return text
    return data[:EXCERPT_BYTES].decode("utf-8", errors="ignore")


def _claimable(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Pending, due, and not under another worker's lease."""
    return (
        _D.status == DeliveryStatus.PENDING,
        _D.next_attempt_at <= now,
        or_(_D.locked_until.is_(None), _D.locked_until <= now),
    )


def claim_due(
    conn: Connection, *, now: datetime, lease: uuid.UUID, until: datetime, limit: int
) -> list[AnyRow]:
    """Take up to ``limit`` due deliveries, oldest first, under ``lease`` until ``until``."""
    due = (
        select(_D.id)
        .where(*_claimable(now))
        .order_by(_D.next_attempt_at, _D.created_at, _D.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # SQLite: ignored, its writer is alone anyway
    )
    ids = list(conn.execute(due).scalars())
    if not ids:
        return []
    rows = conn.execute(
        update(postback_deliveries)
        .where(_D.id.in_(ids))
        .values(locked_until=until, lease=lease)
        .returning(*postback_deliveries.c)
    ).all()
    return sorted(rows, key=lambda row: (row.next_attempt_at, row.created_at, str(row.id)))


def any_due(conn: Connection, *, now: datetime) -> bool:
    """Whether some delivery may be claimed at ``now`` (a plain read: no lock, no claim)."""
    return conn.execute(select(_D.id).where(*_claimable(now)).limit(1)).first() is not None


def earlier_pending(conn: Connection, row: AnyRow) -> datetime | None:
    """When the oldest delivery of ``row``'s purpose family (e.g. ``facility.``) queued
    for the same order before ``row`` and still pending is next due; None if none is.

    A facility must get an order before its cancel: a cancel overtaking a hand-off that
    is waiting for its retry would reach a facility that does not know the order yet,
    which would then produce it when the hand-off arrives.
    """
    family = row.purpose.split(".", 1)[0] + "."
    query = select(func.min(_D.next_attempt_at)).where(
        _D.order_id == row.order_id,
        _D.purpose.startswith(family, autoescape=True),
        _D.status == DeliveryStatus.PENDING,
        _D.created_at < row.created_at,
    )
    found: datetime | None = conn.execute(query).scalar_one()
    return found


def defer(conn: Connection, delivery_id: uuid.UUID, lease: uuid.UUID, *, until: datetime) -> None:
    """Give a claimed row back, due again at ``until``, without an attempt."""
    conn.execute(
        update(postback_deliveries)
        .where(_D.id == delivery_id, _D.lease == lease)
        .values(next_attempt_at=until, locked_until=None, lease=None)
    )


def release(conn: Connection, ids: Sequence[uuid.UUID], lease: uuid.UUID) -> None:
    """Give back claimed rows not attempted (a worker stopping): due again at once."""
    if ids:
        conn.execute(
            update(postback_deliveries)
            .where(_D.id.in_(list(ids)), _D.lease == lease)
            .values(locked_until=None, lease=None)
        )


def mark(
    conn: Connection, delivery_id: uuid.UUID, lease: uuid.UUID, *, status: str, now: datetime
) -> None:
    """Give the claimed row a final ``status`` without an attempt (its trigger is gone)."""
    conn.execute(
        update(postback_deliveries)
        .where(_D.id == delivery_id, _D.lease == lease)
        .values(status=status, next_attempt_at=None, locked_until=None, lease=None, updated_at=now)
    )


def redirect_pending(
    conn: Connection,
    *,
    purpose: str,
    order_ids: ColumnElement[Any],
    url: str | None,
    secret: str | None,
    now: datetime,
) -> int:
    """Send the pending deliveries of ``purpose`` for ``order_ids`` (a subquery) to
    ``url`` signed with ``secret`` from now on, due at once (a retry's wait was the old
    receiver's); with no ``url``, they are disabled (the receiver has none any more).
    A delivery a worker holds right now keeps its attempt: it is redirected, not made
    due again, and not disabled. How many changed."""
    free = _D.lease.is_(None) | (_D.locked_until < now)
    query = (
        update(postback_deliveries)
        .where(_D.status == DeliveryStatus.PENDING, _D.purpose == purpose)
        .where(_D.order_id.in_(order_ids))
    )
    if url is None:
        values: dict[str, Any] = {"status": DeliveryStatus.DISABLED, "next_attempt_at": None}
        query = query.where(free)
    else:
        due = case((free, now), else_=_D.next_attempt_at)
        values = {"url": url, "secret": secret, "next_attempt_at": due}
    done = conn.execute(query.values(**values, updated_at=now))
    return done.rowcount


def set_body(
    conn: Connection, delivery_id: uuid.UUID, lease: uuid.UUID, *, body: str, content_type: str
) -> bool:
    """Store the rendered body once (the template is not rendered again on retries)."""
    done = conn.execute(
        update(postback_deliveries)
        .where(_D.id == delivery_id, _D.lease == lease)
        .values(body=body, content_type=content_type, template_name=None, template_version=None)
    )
    return done.rowcount == 1


def record_attempt(
    conn: Connection,
    *,
    delivery_id: uuid.UUID,
    lease: uuid.UUID,
    at: datetime,
    status_code: int | None,
    latency_ms: int | None,
    outcome: str,
    error: str | None,
    response_excerpt: str | None,
    changes: dict[str, Any],
) -> bool:
    """Log one attempt, and apply ``changes`` to the delivery if ``lease`` still holds it.

    The attempt is logged either way: it happened. False when the lease was lost.
    """
    number = conn.execute(
        select(func.count()).where(postback_attempts.c.delivery_id == delivery_id)
    ).scalar_one()
    conn.execute(
        insert(postback_attempts).values(
            id=uuid.uuid4(),
            delivery_id=delivery_id,
            number=number + 1,
            at=at,
            status_code=status_code,
            latency_ms=latency_ms,
            outcome=outcome,
            error=excerpt(error),
            response_excerpt=excerpt(response_excerpt),
        )
    )
    done = conn.execute(
        update(postback_deliveries)
        .where(_D.id == delivery_id, _D.lease == lease)
        .values(
            **changes,
            last_status_code=status_code,
            last_error=excerpt(error),
            locked_until=None,
            lease=None,
            updated_at=at,
        )
    )
    return done.rowcount == 1


_LOG = (
    select(postback_deliveries, customers.c.reference_id.label("customer_reference_id"))
    .outerjoin(customers, customers.c.id == _D.customer_id)
)  # fmt: skip


def list_deliveries(
    conn: Connection,
    *,
    customer_id: uuid.UUID | None = None,
    order_id: uuid.UUID | None = None,
    status: str | None = None,
    trigger_id: uuid.UUID | None = None,
    limit: int = 50,
) -> list[AnyRow]:
    """Newest first."""
    query = _LOG
    if customer_id is not None:
        query = query.where(_D.customer_id == customer_id)
    if order_id is not None:
        query = query.where(_D.order_id == order_id)
    if status is not None:
        query = query.where(_D.status == status)
    if trigger_id is not None:
        query = query.where(_D.trigger_id == trigger_id)
    query = query.order_by(_D.created_at.desc(), _D.id.desc()).limit(limit)
    return list(conn.execute(query))


def order_deliveries(
    conn: Connection, *, customer_id: uuid.UUID, order_id: uuid.UUID
) -> list[AnyRow]:
    """An order's postbacks to its customer, oldest first (the API's view)."""
    query = (
        _LOG.where(_D.customer_id == customer_id, _D.order_id == order_id)
        .where(_D.purpose == POSTBACK)
        .order_by(_D.created_at, _D.id)
    )
    return list(conn.execute(query))


def get_delivery(conn: Connection, delivery_id: uuid.UUID) -> AnyRow:
    row = conn.execute(_LOG.where(_D.id == delivery_id)).first()
    if row is None:
        raise DeliveryNotFound(f"msg_{delivery_id.hex}")
    return row


def attempts_of(
    conn: Connection, delivery_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[AnyRow]]:
    """Each delivery's attempts, in order."""
    found: dict[uuid.UUID, list[AnyRow]] = {delivery_id: [] for delivery_id in delivery_ids}
    if not delivery_ids:
        return found
    rows = conn.execute(
        select(postback_attempts)
        .where(postback_attempts.c.delivery_id.in_(list(delivery_ids)))
        .order_by(postback_attempts.c.delivery_id, postback_attempts.c.number)
    )
    for row in rows:
        found[row.delivery_id].append(row)
    return found


def redeliver(conn: Connection, delivery_id: uuid.UUID, *, now: datetime) -> None:
    """Queue a delivery again, whatever its status: same id and body, a fresh retry
    schedule (its attempts so far stay in the log)."""
    get_delivery(conn, delivery_id)
    conn.execute(
        update(postback_deliveries)
        .where(_D.id == delivery_id)
        .values(
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            locked_until=None,
            lease=None,
            updated_at=now,
        )
    )


def purge(conn: Connection, *, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` finished deliveries (not pending) last changed before
    ``before``, with their attempts; how many."""
    finished = (_D.status != DeliveryStatus.PENDING) & (_D.updated_at < before)
    ids = list(conn.execute(select(_D.id).where(finished).limit(limit)).scalars())
    if ids:
        conn.execute(delete(postback_attempts).where(postback_attempts.c.delivery_id.in_(ids)))
        conn.execute(delete(postback_deliveries).where(_D.id.in_(ids)))
    return len(ids)
