"""Drafts: converted into orders (``PATCH {base}/{orderId}``) or deleted (``DELETE``).

A draft is priced line by line but charges nothing and is not produced (domain.md §2).
Converting it plans it again as of now (the catalog, rates and calendar may have moved
since), charges it, sets ``orderedAt`` and sends it through intake like a new order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from pressline.accounts.keys import Principal
from pressline.catalog.reference import Reference
from pressline.errors import OrderNotDraft, OrderNotFound
from pressline.orders import journal, moves, planning, repository, service
from pressline.orders.lifecycle import Actor
from pressline.orders.schemas import ShippingAddress
from pressline.orders.statuses import FinancialStatus, FulfillmentStatus, OrderType
from pressline.postbacks.events import EventType

F = FulfillmentStatus


def _draft(conn: Connection, principal: Principal, order_key: str, action: str) -> Any:
    row = repository.lock_order(conn, principal.customer_id, order_key)
    if row is None:
        raise OrderNotFound(order_key)
    if row.order_type != OrderType.DRAFT.value:
        raise OrderNotDraft(row.fulfillment_status, action)
    return row


def convert_draft(
    conn: Connection,
    *,
    principal: Principal,
    order_key: str,
    now: datetime,
    reference: Reference,
    billing_state: FinancialStatus,
) -> dict[str, Any]:
    """Make a draft an order: priced and charged now, ``created``/``pending``, then intake.
    The order in Get Order's shape."""
    row = _draft(conn, principal, order_key, "converted")
    items = repository.items_of(conn, row.id)
    stored = service.stored_items(items)
    plan = planning.plan_order(
        reference,
        products=planning.resolve_items(reference, principal.customer_id, stored),
        items=stored,
        item_ids=[str(item.id) for item in items],
        shipment_id=str(row.shipment_id),
        address=ShippingAddress.stored(row.shipping_address),
        selector=row.shipment_method_uid,
        currency=row.currency,
        retail_prices=planning.has_retail_prices(
            row.retail_currency, row.retail_shipping_price_incl_vat, stored
        ),
        ordered_at=now,
        charged=True,
    )
    change = moves.OrderChange(conn, row, items, Actor.CUSTOMER, now, billing_state)
    change.order_values.update(
        order_type=OrderType.ORDER.value,
        ordered_at=now,
        expected_dispatch_date=service.dispatch_day(reference, plan, now),
        **service.plan_columns(plan, now),
    )
    if plan.refusal is None:
        change.move_order(F.CREATED, "Draft converted to an order")
        change.postbacks.append(EventType.ORDER_RECEIVED)
        day = change.order_values["expected_dispatch_date"]
        if plan.route is not None and day is not None:
            zone = reference.shipping.facility(plan.route.facility_id).calendar.timezone
            journal.add_timers(conn, [moves.delayed_timer(row.id, day, zone.key)])
    else:
        change.move_order(F.CREATED, "Draft converted to an order")
        change.actor = Actor.SYSTEM
        change.move_order(F.FAILED, f"Refused at intake: {plan.refusal.reason}")
    change.save("Draft converted to an order")
    return service.get_order(
        conn, principal=principal, order_key=str(row.id), catalog=reference.catalog
    )


def delete_draft(conn: Connection, *, principal: Principal, order_key: str) -> None:
    """Delete a draft with everything it has; only drafts may be deleted (409)."""
    row = _draft(conn, principal, order_key, "deleted")
    journal.delete_order(conn, row.id)


class DraftUpdate(BaseModel):
    """``PATCH {base}/{orderId}``: the one change a draft takes, becoming an order."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"orderType": "order"}]},
    )

    # The value as the wire has it: an enum member here showed as "<OrderType.ORDER:
    # 'order'>" in the error message.
    order_type: Literal["order"] = Field(alias="orderType")
