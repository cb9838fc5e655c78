"""What a facility sees of an order: enough to produce and ship it, nothing it need
not know (no prices, no customer keys). The production API's list and the pushed
``orderSubmitUrl`` body share this shape (docs/api.md, "Production API")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pressline.db import AnyRow
from pressline.orders.plan_views import iso


def item_view(item: AnyRow) -> dict[str, Any]:
    product = item.product or {}
    return {
        "id": str(item.id),
        "itemReferenceId": item.item_reference_id,
        "productUid": product.get("finalProductUid", item.product_uid),
        "quantity": item.quantity,
        "quantityCanceled": item.quantity_canceled,
        "quantityToProduce": item.quantity - item.quantity_canceled,
        "fulfillmentStatus": item.fulfillment_status,
        "files": [{"type": entry["type"], "url": entry["url"]} for entry in item.files],
    }


def order_view(order: AnyRow, items: Sequence[AnyRow]) -> dict[str, Any]:
    shipment = order.shipment or {}
    return {
        "id": str(order.id),
        "orderReferenceId": order.order_reference_id,
        "fulfillmentStatus": order.fulfillment_status,
        "fulfillmentFacilityId": order.fulfillment_facility_id,
        "orderedAt": iso(order.ordered_at),
        "handedOffAt": iso(order.handed_off_at),
        "cancelRequestedAt": iso(order.cancel_requested_at),
        "expectedDispatchDate": (
            None if order.expected_dispatch_date is None
            else order.expected_dispatch_date.isoformat()
        ),
        "shipmentMethodUid": shipment.get("shipmentMethodUid"),
        "shipmentMethodName": shipment.get("shipmentMethodName"),
        "packageCount": shipment.get("packageCount"),
        "shippingAddress": order.shipping_address,
        "items": [item_view(item) for item in items],
    }  # fmt: skip


def cancel_view(order: AnyRow) -> dict[str, Any]:
    """The body pushed to ``orderCancelUrl``."""
    return {
        "id": str(order.id),
        "orderReferenceId": order.order_reference_id,
        "fulfillmentFacilityId": order.fulfillment_facility_id,
        "cancelRequestedAt": iso(order.cancel_requested_at),
    }
