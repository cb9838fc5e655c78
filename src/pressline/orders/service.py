"""Order use cases: submit, get, cancel, update shipment, search, set status.

Each write is split in two: a pure ``prepare_*`` step that picks ids and times, and a
``*(conn, …)`` step the batching writer runs (and may re-run) inside a transaction.
Nothing here commits; the writer (or the CLI's transaction) does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from pressline.accounts.repository import Principal
from pressline.errors import (
    DuplicateOrderReference,
    OrderNotCancellable,
    OrderNotFound,
    ShipmentNotUpdatable,
)
from pressline.orders import repository, rules, views
from pressline.orders.schemas import OrderCreate, OrderSearch, ShipmentUpdate, ShippingAddress
from pressline.orders.statuses import (
    Channel,
    FinancialStatus,
    FulfillmentStatus,
    OrderType,
)


@dataclass(frozen=True, slots=True)
class PreparedOrder:
    principal: Principal
    order: dict[str, Any]
    items: list[dict[str, Any]]


def _address_columns(address: ShippingAddress) -> dict[str, Any]:
    return {
        "shipping_address": address.model_dump(mode="json", by_alias=True),
        "country": address.country,
        "first_name": address.first_name,
        "last_name": address.last_name,
    }


def prepare_order(principal: Principal, order: OrderCreate, *, now: datetime) -> PreparedOrder:
    """The rows to insert for a validated order (pure: no I/O)."""
    order_id = uuid.uuid4()
    fulfillment, financial = rules.initial_statuses(order.order_type)
    is_draft = order.order_type is OrderType.DRAFT
    row = {
        "id": order_id,
        "customer_id": principal.customer_id,
        "connector_id": principal.connector_id,
        "order_reference_id": order.order_reference_id,
        "order_type": order.order_type.value,
        "channel": Channel.API.value,
        "fulfillment_status": fulfillment.value,
        "financial_status": financial.value,
        "currency": order.currency,
        "retail_currency": order.retail_currency,
        "retail_shipping_price_incl_vat": order.retail_shipping_price_incl_vat,
        "shipment_method_uid": order.shipment_method_uid,
        "items_count": len(order.items),
        # Domain rule: a draft's total is 0.00; a real order's is unknown until priced.
        "total_incl_vat": 0 if is_draft else None,
        "shipping_address_id": uuid.uuid4(),
        "shipment_id": uuid.uuid4(),
        "metadata": [entry.model_dump() for entry in order.metadata],
        "created_at": now,
        "updated_at": now,
        "ordered_at": None if is_draft else now,
        **_address_columns(order.shipping_address),
    }
    items = [
        {
            "id": uuid.uuid4(),
            "order_id": order_id,
            "position": position,
            "item_reference_id": item.item_reference_id,
            "product_uid": item.product_uid,
            "product_name": item.product_name,
            "product_variant": item.product_variant,
            "quantity": item.quantity,
            "retail_price_incl_vat": item.retail_price_incl_vat,
            "fulfillment_status": fulfillment.value,
            "files": [{"type": file.type.value, "url": file.url} for file in item.files],
            "metadata": [entry.model_dump() for entry in item.metadata],
        }
        for position, item in enumerate(order.items)
    ]
    return PreparedOrder(principal, row, items)


def submit_order(conn: Connection, *, prepared: PreparedOrder) -> dict[str, Any]:
    """Store a prepared order; 409 if the customer already used its reference."""
    row = prepared.order
    if not repository.insert_order(conn, row, prepared.items):
        existing = repository.order_id_for_reference(
            conn, prepared.principal.customer_id, row["order_reference_id"]
        )
        raise DuplicateOrderReference(row["order_reference_id"], str(existing))
    return {
        "id": str(row["id"]),
        "orderReferenceId": row["order_reference_id"],
        "createdAt": views.iso(row["created_at"]),
    }


def get_order(conn: Connection, *, principal: Principal, order_key: str) -> dict[str, Any]:
    found = repository.fetch_order(conn, principal.customer_id, order_key)
    if found is None:
        raise OrderNotFound(order_key)
    head, items = found
    return views.order_view(head, items, principal.customer_reference_id)


def _locked(conn: Connection, principal: Principal, order_key: str) -> repository.OrderRow:
    row = repository.lock_order(conn, principal.customer_id, order_key)
    if row is None:
        raise OrderNotFound(order_key)
    return row


def cancel_order(conn: Connection, *, principal: Principal, order_key: str, now: datetime) -> None:
    """Cancel until shipped; cancelling a canceled order again succeeds."""
    row = _locked(conn, principal, order_key)
    status = FulfillmentStatus(row.fulfillment_status)
    if status is FulfillmentStatus.CANCELED:
        return
    if not rules.can_cancel(status):
        raise OrderNotCancellable(status.value)
    repository.update_order(
        conn,
        row.id,
        fulfillment_status=FulfillmentStatus.CANCELED.value,
        financial_status=FinancialStatus.CANCELED.value,
        updated_at=now,
    )
    repository.set_item_statuses(conn, row.id, FulfillmentStatus.CANCELED.value)


def update_shipment(
    conn: Connection,
    *,
    principal: Principal,
    order_key: str,
    change: ShipmentUpdate,
    now: datetime,
) -> dict[str, Any]:
    """Change the shipment method and/or address until the order is shipped."""
    row = _locked(conn, principal, order_key)
    status = FulfillmentStatus(row.fulfillment_status)
    if not rules.can_update_shipment(status):
        raise ShipmentNotUpdatable(status.value)
    values: dict[str, Any] = {"updated_at": now}
    if change.shipment_method_uid is not None:
        values["shipment_method_uid"] = change.shipment_method_uid
    if change.shipping_address is not None:
        values.update(_address_columns(change.shipping_address))
    updated = repository.update_order(conn, row.id, **values)
    return {
        "shippingAddress": views.address_view(updated),
        "shipment": views.shipment_summary_view(updated),
    }


def search_orders(conn: Connection, *, principal: Principal, search: OrderSearch) -> dict[str, Any]:
    rows = repository.search_orders(
        conn,
        principal.customer_id,
        fulfillment_statuses=[status.value for status in search.fulfillment_status],
        financial_statuses=[status.value for status in search.financial_status],
        references=search.reference_filter(),
        countries=search.countries,
        start=search.start_date,
        end=search.end_date,
        limit=search.limit,
        offset=search.offset,
    )
    client_id = str(principal.customer_id)
    return {
        "orders": [
            views.summary_view(row, client_id, principal.customer_reference_id) for row in rows
        ]
    }


def set_status(
    conn: Connection,
    *,
    principal: Principal,
    order_key: str,
    status: FulfillmentStatus,
    now: datetime,
) -> str:
    """Operator override of an order's and its items' fulfillment status; the old status."""
    row = _locked(conn, principal, order_key)
    repository.update_order(conn, row.id, fulfillment_status=status.value, updated_at=now)
    repository.set_item_statuses(conn, row.id, status.value)
    previous: str = row.fulfillment_status
    return previous
