"""Handing an order to its facility, and forwarding a customer's cancel to it.

A facility that subscribed an ``orderSubmitUrl`` gets the order pushed through the
outbox (at least once, with retries, in the same transaction as the status change);
one without a URL finds it in its queue (``GET /production/v2/orders?status=passed``).
A sandbox connector's orders go to no facility: the sandbox plays it (``timers``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection

from pressline.accounts import repository as accounts
from pressline.config import get_settings
from pressline.db import AnyRow
from pressline.orders import journal, repository
from pressline.postbacks import outbox
from pressline.production import repository as production
from pressline.production import views

SANDBOX = "sandbox"


def _json(body: object) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def sandbox_step(now: datetime) -> datetime:
    """When the sandbox takes its next step (PRESSLINE_SANDBOX_STEP_SECONDS from now)."""
    return now + timedelta(seconds=get_settings().sandbox_step_seconds)


def hand_off_many(
    conn: Connection, orders: Sequence[AnyRow], *, now: datetime
) -> dict[uuid.UUID, AnyRow]:
    """Give ``passed`` orders to their facilities (or the sandbox) with a few statements
    for all of them; the orders whose rows changed, as they now are."""
    if not orders:
        return {}
    sandboxes = accounts.sandbox_connectors(conn, {order.connector_id for order in orders})
    played = [order.id for order in orders if order.connector_id in sandboxes]
    if played:
        playing = journal.orders_with_timer(conn, played, SANDBOX)
        due = sandbox_step(now)
        journal.add_timers(
            conn,
            [{"order_id": order_id, "kind": SANDBOX, "due_at": due}
             for order_id in played if order_id not in playing],
        )  # fmt: skip
    # An order with no facility has nowhere to go: the operator must re-route it first.
    sent = [
        order
        for order in orders
        if order.connector_id not in sandboxes and order.fulfillment_facility_id is not None
    ]
    if not sent:
        return {}
    updated = {
        row.id: row
        for row in repository.update_orders(conn, [order.id for order in sent], handed_off_at=now)
    }
    subscriptions = production.subscriptions_of(
        conn, {order.fulfillment_facility_id for order in sent}
    )
    pushed = [updated[order.id] for order in sent if order.fulfillment_facility_id in subscriptions]
    items = repository.items_of_orders(conn, [order.id for order in pushed])
    for order in pushed:
        subscription = subscriptions[order.fulfillment_facility_id]
        body = views.order_view(order, items[order.id])
        outbox.enqueue_delivery(
            conn, purpose="facility.submit", url=subscription.order_submit_url, body=_json(body),
            content_type="application/json", now=now, order_id=order.id,
            secret=subscription.secret,
        )  # fmt: skip
    return updated


def forward_cancel(conn: Connection, order: AnyRow, *, now: datetime) -> bool:
    """Tell the facility that has the order that the customer canceled (or asks it to);
    whether a request was queued (a facility that pulls sees ``cancelRequestedAt``)."""
    if order.handed_off_at is None or order.fulfillment_facility_id is None:
        return False
    subscription = production.subscription(conn, order.fulfillment_facility_id)
    if subscription is None or not subscription.order_cancel_url:
        return False
    outbox.enqueue_delivery(
        conn, purpose="facility.cancel", url=subscription.order_cancel_url,
        body=_json(views.cancel_view(order)), content_type="application/json", now=now,
        order_id=order.id, secret=subscription.secret,
    )  # fmt: skip
    return True
