"""The transactional outbox: deliveries queued in the transaction of the change they report.

A status change and the postbacks it fires commit together or not at all
(reliability.md 16): the caller passes its own connection, nothing here commits. The
worker (``pressline.worker``) later sends each row; a crash before the send, or between
the send and the recording of its answer, leaves the row pending, so it is sent again
with the same ``webhook-id``. Duplicates are possible, loss is not.

The body is built and encoded once, here, from the order as this transaction sees it,
and stored: every attempt sends those exact bytes (the signature covers them). Only the
signature's timestamp changes from one attempt to the next.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, bindparam, insert, select

from pressline.accounts.tables import customers
from pressline.db import AnyRow
from pressline.orders import journal
from pressline.orders import repository as orders_repository
from pressline.orders import views as order_views
from pressline.orders.tables import orders
from pressline.postbacks import bodies
from pressline.postbacks.events import EventType, build_event, flat_metadata
from pressline.postbacks.tables import postback_deliveries, postback_triggers

#: ``purpose`` of a customer's postback (other purposes: e.g. a facility hand-off).
POSTBACK: Final = "postback"
#: The facility hand-off's purposes: an order pushed to its facility, and its cancel.
FACILITY_SUBMIT: Final = "facility.submit"
FACILITY_CANCEL: Final = "facility.cancel"
METHODS: Final = ("POST", "PUT", "PATCH", "DELETE")


class DeliveryStatus:
    """A delivery's states (plain strings: they are stored and shown as such)."""

    PENDING: Final = "pending"
    DELIVERED: Final = "delivered"
    FAILED: Final = "failed"  # given up after the last retry
    DISABLED: Final = "disabled"  # its trigger answered 410 or was disabled

    ALL: Final = (PENDING, DELIVERED, FAILED, DISABLED)


def message_id(delivery_id: uuid.UUID) -> str:
    """The event id and ``webhook-id`` of a delivery: ``msg_`` and the row id's hex."""
    return f"msg_{delivery_id.hex}"


def parse_message_id(text: str) -> uuid.UUID:
    """A delivery id from its ``msg_…`` form or a plain UUID; ValueError otherwise."""
    return uuid.UUID(text.removeprefix("msg_"))


# One indexed SELECT per call: the order's customer (by primary key) and that customer's
# enabled triggers for the events, with the customer's reference for the body.
_ORDER_CUSTOMER = (
    select(orders.c.customer_id).where(orders.c.id == bindparam("order_id")).scalar_subquery()
)
_TRIGGERS = (
    select(postback_triggers, customers.c.reference_id.label("customer_reference_id"))
    .join(customers, customers.c.id == postback_triggers.c.customer_id)
    .where(
        postback_triggers.c.customer_id == _ORDER_CUSTOMER,
        postback_triggers.c.event_type.in_(bindparam("events", expanding=True)),
        postback_triggers.c.enabled.is_(True),
    )
    .order_by(postback_triggers.c.created_at, postback_triggers.c.id)
)
_INSERT = insert(postback_deliveries)
_SUBSCRIBED = select(postback_triggers.c.customer_id, postback_triggers.c.event_type).where(
    postback_triggers.c.enabled.is_(True)
)


class Subscriptions:
    """Which customers have an enabled trigger for which event, read at most every
    ``ttl`` seconds: most changes fire no postback, and then the outbox costs no query.

    Trigger changes made in this process take effect at once (``forget``); those of
    another process (the CLI, another node) within ``ttl`` seconds.
    """

    def __init__(self, ttl: float = 2.0) -> None:
        self.ttl = ttl
        self._pairs: frozenset[tuple[uuid.UUID, str]] = frozenset()
        self._loaded_at = -math.inf

    def any(self, conn: Connection, customer_id: uuid.UUID, events: Sequence[str]) -> bool:
        now = time.monotonic()
        if now - self._loaded_at > self.ttl:
            self._pairs = frozenset(
                (row.customer_id, row.event_type) for row in conn.execute(_SUBSCRIBED)
            )
            self._loaded_at = now
        return any((customer_id, event) in self._pairs for event in events)

    def forget(self) -> None:
        self._loaded_at = -math.inf


#: This process's view (one per process, like the reference data).
subscriptions = Subscriptions()


def enqueue_order_events(
    conn: Connection,
    *,
    order_id: uuid.UUID,
    events: Sequence[EventType],
    now: datetime,
    customer_id: uuid.UUID | None = None,
) -> int:
    """Queue one delivery per enabled trigger of the order's customer subscribed to each
    event, in the caller's transaction; the number queued.

    With ``customer_id`` (the order's), a customer without a trigger for these events
    (the common case inside submit) costs no query (``subscriptions``); otherwise one
    indexed query. The order is read only when something is queued.
    """
    wanted = list(dict.fromkeys(EventType(event).value for event in events))
    if not wanted:
        return 0
    if customer_id is not None and not subscriptions.any(conn, customer_id, wanted):
        return 0
    triggers = conn.execute(_TRIGGERS, {"order_id": order_id, "events": wanted}).all()
    if not triggers:
        return 0
    snapshot = order_snapshot(
        conn, triggers[0].customer_id, order_id, triggers[0].customer_reference_id
    )
    rows: list[dict[str, Any]] = []
    for event_value in wanted:
        event_type = EventType(event_value)
        for trigger in triggers:
            if trigger.event_type == event_value:
                rows.append(_trigger_delivery(trigger, event_type, snapshot, order_id, now))
    for index, row in enumerate(rows):
        # One microsecond apart: the worker sends in (next_attempt_at, created_at) order,
        # so the events of one change go out in the order they were given.
        row["created_at"] = row["next_attempt_at"] = now + timedelta(microseconds=index)
    if rows:
        conn.execute(_INSERT, rows)
    return len(rows)


def order_snapshot(
    conn: Connection, customer_id: uuid.UUID, order_id: uuid.UUID, customer_reference_id: str
) -> dict[str, Any]:
    """The event's ``data``: the order's summary, items, packages and flat metadata, read
    through the orders repository as this transaction sees them."""
    found = orders_repository.fetch_order(conn, customer_id, str(order_id))
    if found is None:
        raise LookupError(f"order {order_id} does not exist")
    head, items = found
    summaries = orders_repository.search_orders(
        conn,
        customer_id,
        fulfillment_statuses=[],
        financial_statuses=[],
        references=[head.order_reference_id],
        countries=[],
        start=None,
        end=None,
        limit=1,
        offset=0,
    )
    summary = order_views.summary_view(summaries[0], str(customer_id), customer_reference_id)
    packages = [order_views.package_view(row) for row in journal.packages_of(conn, order_id)]
    return {
        "order": summary,
        "items": [_item(row) for row in items],
        "packages": packages,
        "metadata": flat_metadata(head.metadata or []),
    }


def _item(row: AnyRow) -> dict[str, Any]:
    return {
        "id": str(row.item_id),
        "itemReferenceId": row.item_item_reference_id,
        "fulfillmentStatus": row.item_fulfillment_status,
        "quantity": row.item_quantity,
        "quantityCanceled": row.item_quantity_canceled,
    }


def _trigger_delivery(
    trigger: AnyRow,
    event_type: EventType,
    snapshot: Mapping[str, Any],
    order_id: uuid.UUID,
    now: datetime,
) -> dict[str, Any]:
    delivery_id = uuid.uuid4()
    event = build_event(
        event_id=message_id(delivery_id),
        event_type=event_type,
        timestamp=now,
        order=snapshot["order"],
        items=snapshot["items"],
        packages=snapshot["packages"],
        metadata=snapshot["metadata"],
    )
    body = bodies.render_body(trigger, event)
    is_email = trigger.destination == "email"
    reference = snapshot["order"].get("orderReferenceId") or str(order_id)
    return _row(
        delivery_id,
        trigger_id=trigger.id,
        customer_id=trigger.customer_id,
        order_id=order_id,
        purpose=POSTBACK,
        event_type=event_type.value,
        destination=trigger.destination,
        url=None if is_email else trigger.url,
        method=trigger.method,
        headers={} if is_email else dict(trigger.headers or {}),
        email=trigger.email if is_email else None,
        subject=f"{event_type.value}: order {reference}"[:255] if is_email else None,
        body=body.text,
        content_type=body.content_type,
        template_name=trigger.template_name,
        template_version=trigger.template_version,
        secret=None,
        now=now,
    )


def _row(delivery_id: uuid.UUID, *, now: datetime, **values: Any) -> dict[str, Any]:
    return {
        "id": delivery_id,
        **values,
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "locked_until": None,
        "lease": None,
        "last_status_code": None,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
        "delivered_at": None,
    }


def enqueue_delivery(
    conn: Connection,
    *,
    purpose: str,
    url: str,
    body: str,
    content_type: str,
    now: datetime,
    order_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
    secret: str | None = None,
) -> uuid.UUID:
    """Queue one HTTP request (e.g. a facility hand-off), in the caller's transaction.

    Sent like a postback: at least once, retried on the same schedule, the URL checked
    before every attempt, signed per Standard Webhooks when ``secret`` is given (its
    ``webhook-id`` is ``message_id`` of the returned id). No DNS lookup happens here:
    the caller's transaction is no place to wait on the network.
    """
    if method.upper() not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    if not purpose or purpose == POSTBACK:
        raise ValueError("purpose names what the request is for (not 'postback')")
    if secret is not None:
        from pressline.postbacks.signing import validate_secret

        validate_secret(secret)
    delivery_id = uuid.uuid4()
    conn.execute(
        _INSERT,
        _row(
            delivery_id,
            trigger_id=None,
            customer_id=customer_id,
            order_id=order_id,
            purpose=purpose,
            event_type=None,
            destination="webhook",
            url=url,
            method=method.upper(),
            headers=dict(headers or {}),
            email=None,
            subject=None,
            body=body,
            content_type=content_type,
            template_name=None,
            template_version=None,
            secret=secret,
            now=now,
        ),
    )
    return delivery_id
