"""The operator's moves: set a status, approve, hold, release; and what needs attention.

The operator follows the lifecycle table like every other actor (docs/adr/0010): only
the reason it gives is extra, and it goes into the event log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from pressline.db import AnyRow
from pressline.errors import Conflict
from pressline.orders import journal, moves, repository
from pressline.orders.lifecycle import Actor, EventKind
from pressline.orders.plan_views import iso
from pressline.orders.statuses import FinancialStatus, FulfillmentStatus
from pressline.production import handoff

F = FulfillmentStatus


def move(
    conn: Connection,
    order: AnyRow,
    status: FulfillmentStatus,
    *,
    now: datetime,
    reason: str | None,
    billing_state: FinancialStatus,
) -> str:
    """Move a locked order to ``status`` as the operator; its previous status."""
    items = repository.items_of(conn, order.id)
    change = moves.OrderChange(conn, order, items, Actor.OPERATOR, now, billing_state)
    previous = change.order_status
    message = f"Operator: {reason}" if reason else f"Set to '{status.value}' by the operator"
    if status is F.CANCELED:
        change.cancel(None, message)
    else:
        change.move_order(status, message)
    if reason and change.order_status is previous:
        change.log(EventKind.NOTE, message)
    saved = change.save(message)
    if status is F.CANCELED and order.cancel_requested_at is None:
        # As for a customer's cancel: the facility that has the order must stop (unless
        # the customer's request has already told it).
        handoff.forward_cancel(conn, saved, now=now)
    return previous.value


class OrderNotOnHold(Conflict):
    code = "order_not_on_hold"

    def __init__(self, status: str) -> None:
        super().__init__(f"The order is '{status}', not 'on_hold': there is nothing to release.")


class OrderNotPendingApproval(Conflict):
    code = "order_not_pending_approval"

    def __init__(self, status: str) -> None:
        super().__init__(
            f"The order is '{status}', not 'pending_approval': there is nothing to approve."
        )


def approve_target(order: AnyRow) -> FulfillmentStatus:
    """``passed``, for an order waiting for approval only: approving must not skip an
    order past intake (``created``) or undo a hold or a failure by another name."""
    if order.fulfillment_status != F.PENDING_APPROVAL.value:
        raise OrderNotPendingApproval(order.fulfillment_status)
    return F.PASSED


def release_target(conn: Connection, order: AnyRow) -> FulfillmentStatus:
    """Where a held order goes back to: the status it was held in (from the event log),
    or ``created`` (intake again) when the log does not say."""
    if order.fulfillment_status != F.ON_HOLD.value:
        raise OrderNotOnHold(order.fulfillment_status)
    held = journal.last_hold(conn, order.id)
    if held is None or held.from_status is None:
        return F.CREATED
    return F(held.from_status)


def attention_view(row: AnyRow) -> dict[str, Any]:
    return {
        "customer": row.customer_reference_id,
        "id": str(row.id),
        "orderReferenceId": row.order_reference_id,
        "fulfillmentStatus": row.fulfillment_status,
        "delayed": row.delayed_at is not None,
        "facility": row.fulfillment_facility_id,
        "updatedAt": iso(row.updated_at),
    }
