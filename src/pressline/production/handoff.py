"""Handing an order to its facility, and forwarding a customer's cancel to it.

A facility that subscribed an ``orderSubmitUrl`` gets the order pushed through the
outbox (at least once, with retries, in the same transaction as the status change);
one without a URL finds it in its queue (``GET /production/v2/orders?status=passed``).
A sandbox connector's orders go to no facility: the sandbox plays it (``timers``).
"""

from __future__ import annotations

import json
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


def hand_off(conn: Connection, order: AnyRow, *, now: datetime) -> AnyRow:
    """Give a ``passed`` order to its facility (or the sandbox); the order as it now is."""
    if accounts.connector_is_sandbox(conn, order.connector_id):
        if not any(timer.kind == SANDBOX for timer in journal.timers_of(conn, order.id)):
            journal.add_timers(
                conn, [{"order_id": order.id, "kind": SANDBOX, "due_at": sandbox_step(now)}]
            )
        return order
    if order.fulfillment_facility_id is None:
        return order  # nowhere to send it: the operator must re-route it first
    order = repository.update_order(conn, order.id, handed_off_at=now)
    subscription = production.subscription(conn, order.fulfillment_facility_id)
    if subscription is not None:
        body = views.order_view(order, repository.items_of(conn, order.id))
        outbox.enqueue_delivery(
            conn, purpose="facility.submit", url=subscription.order_submit_url, body=_json(body),
            content_type="application/json", now=now, order_id=order.id,
            secret=subscription.secret,
        )  # fmt: skip
    return order


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
