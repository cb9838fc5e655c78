"""Handing an order to its facility, and forwarding a customer's cancel to it.

A facility that subscribed an ``orderSubmitUrl`` gets the order pushed through the
outbox (at least once, with retries, in the same transaction as the status change);
one without a URL finds it in its queue (``GET /production/v2/orders?status=passed``).
A sandbox connector's orders go to no facility: the sandbox plays it (``timers``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection

from pressline.accounts import repository as accounts
from pressline.config import get_settings
from pressline.db import AnyRow
from pressline.orders import journal, repository
from pressline.postbacks import outbox
from pressline.production import repository as production
from pressline.production import views


def _json(body: object) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def sandbox_step(now: datetime) -> datetime:
    """When the sandbox takes its next step (PRESSLINE_SANDBOX_STEP_SECONDS from now)."""
    return now + timedelta(seconds=get_settings().sandbox_step_seconds)


@dataclass(frozen=True, slots=True)
class HandOff:
    """Who takes each order that has just become ``passed``: the sandbox, or its facility."""

    #: Orders of sandbox connectors: the sandbox plays them (``timers``).
    played: list[uuid.UUID]
    #: Orders going to their facility (order id: facility id). Their ``handed_off_at``
    #: is written with the status move itself, not by a second update.
    sent: dict[uuid.UUID, str]


class Passing(NamedTuple):
    """An order becoming ``passed``, as its move leaves it."""

    id: uuid.UUID
    connector_id: uuid.UUID
    fulfillment_facility_id: str | None


def plan(conn: Connection, orders: Sequence[Passing]) -> HandOff:
    """Where ``orders`` (becoming ``passed``, not yet handed off) go; one read for all."""
    if not orders:
        return HandOff([], {})
    sandboxes = accounts.sandbox_connectors(conn, {order.connector_id for order in orders})
    return HandOff(
        played=[order.id for order in orders if order.connector_id in sandboxes],
        # An order with no facility has nowhere to go: the operator must re-route it first.
        sent={
            order.id: order.fulfillment_facility_id
            for order in orders
            if order.connector_id not in sandboxes and order.fulfillment_facility_id is not None
        },
    )


def carry_out(
    conn: Connection, handing: HandOff, *, now: datetime, current: Mapping[uuid.UUID, AnyRow]
) -> None:
    """Once the orders' rows are written: the sandbox's first step is scheduled, and a
    facility that subscribed an ``orderSubmitUrl`` gets its orders pushed (as they now
    are: the rows in ``current``, or read again)."""
    if handing.played:
        playing = journal.orders_with_timer(conn, handing.played, journal.TimerKind.SANDBOX)
        due = sandbox_step(now)
        journal.add_timers(
            conn,
            [{"order_id": order_id, "kind": journal.TimerKind.SANDBOX, "due_at": due}
             for order_id in handing.played if order_id not in playing],
        )  # fmt: skip
    if not handing.sent:
        return
    subscriptions = production.subscriptions_of(conn, set(handing.sent.values()))
    pushed = [order_id for order_id, facility in handing.sent.items() if facility in subscriptions]
    if not pushed:
        return
    unread = [order_id for order_id in pushed if order_id not in current]
    rows = {**current, **repository.orders_by_id(conn, unread)}
    items = repository.items_of_orders(conn, pushed)
    for order_id in pushed:
        subscription = subscriptions[handing.sent[order_id]]
        body = views.order_view(rows[order_id], items[order_id])
        outbox.enqueue_delivery(
            conn, purpose=outbox.FACILITY_SUBMIT, url=subscription.order_submit_url,
            body=_json(body), content_type="application/json", now=now, order_id=order_id,
            secret=subscription.secret,
        )  # fmt: skip


def forward_cancel(conn: Connection, order: AnyRow, *, now: datetime) -> bool:
    """Tell the facility that has the order that the customer canceled (or asks it to);
    whether a request was queued (a facility that pulls sees ``cancelRequestedAt``)."""
    if order.handed_off_at is None or order.fulfillment_facility_id is None:
        return False
    subscription = production.subscription(conn, order.fulfillment_facility_id)
    if subscription is None or not subscription.order_cancel_url:
        return False
    outbox.enqueue_delivery(
        conn, purpose=outbox.FACILITY_CANCEL, url=subscription.order_cancel_url,
        body=_json(views.cancel_view(order)), content_type="application/json", now=now,
        order_id=order.id, secret=subscription.secret,
    )  # fmt: skip
    return True
