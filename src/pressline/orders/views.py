"""Rows to wire dicts in the shapes of seed 000 (documented by ``read_schemas``).

What the order keeps of its plan (product, shipment, receipt) is built and read back
by ``plan_views``; this module assembles the order around it. Values no capability
computes yet (tracking, previews, print jobs) are null or empty, never invented.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pressline.catalog.products import Catalog
from pressline.db import AnyRow
from pressline.orders.plan_views import UNRESOLVED, iso, product_details, receipt_view
from pressline.orders.repository import OrderRow


def _number(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def address_view(row: OrderRow) -> dict[str, Any]:
    address: dict[str, Any] = row.shipping_address
    return {"id": str(row.shipping_address_id), "orderId": str(row.id), **address}


def _file_view(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": None,
        "type": entry["type"],
        "url": entry["url"],
        "threadColors": [],
        "isVisible": False,
        "fitMethod": None,
        "fillMethod": None,
        "mimeType": None,
        "metadata": [],
    }


def event_view(row: AnyRow) -> dict[str, Any]:
    """One event-log entry (docs/api.md "Event log")."""
    return {
        "id": str(row.seq),
        "type": row.kind,
        "actor": row.actor,
        "fromStatus": row.from_status,
        "toStatus": row.to_status,
        "message": row.message,
        "details": row.data,
        "createdAt": iso(row.at),
    }


def package_view(row: AnyRow) -> dict[str, Any]:
    """One package of the shipment, with its tracking."""
    return {
        "id": row.id,
        "code": row.id,
        "trackingCode": row.tracking_code,
        "trackingUrl": row.tracking_url,
        "carrier": row.carrier,
        "status": row.status,
        "items": row.items,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
    }


def item_view(
    row: OrderRow, catalog: Catalog, events: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    files = [_file_view(entry) for entry in row.item_files]
    variant = row.item_product_variant or {}
    planned = row.item_product
    product = product_details(catalog, planned["finalProductUid"]) if planned else UNRESOLVED
    return {
        "id": str(row.item_id),
        "itemReferenceId": row.item_item_reference_id,
        "productUid": row.item_product_uid,
        "storeProductVariantId": None,
        "storeProductId": None,
        "files": files,
        "processedFileUrl": None,
        "quantity": row.item_quantity,
        "quantityCanceled": row.item_quantity_canceled,
        "options": [],
        "category": product["category"],
        "productCategoryUid": product["productCategoryUid"],
        "productTypeUid": product["productTypeUid"],
        "productNameUid": product["productNameUid"],
        # The customer's own product name when the item used one, else the catalog's.
        "productName": row.item_product_name or product["productName"],
        "fulfillmentStatus": row.item_fulfillment_status,
        "pageCount": None,
        "printJobs": [],
        "eventLog": events or [],
        "previews": [],
        "designId": None,
        "productFileMimeType": None,
        "finalProductUid": planned["finalProductUid"] if planned else None,
        "metadata": row.item_metadata,
        "retailPriceInclVat": _number(row.item_retail_price_incl_vat),
        "attributes": product["attributes"],
        "itemReferenceName": None,
        "isIgnored": False,
        "price": planned["price"] if planned else None,
        "customTrim": None,
        "fileUrl": files[0]["url"] if files else None,
        "dpi": None,
        "appServices": [],
        "filesSize": None,
        "productVariant": [{"name": name, "value": value} for name, value in variant.items()],
    }


def shipment_view(row: OrderRow, packages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The stored routed shipment over the unresolved defaults (an order no facility
    could make has none), with the packages the facility reported."""
    view = {
        "id": str(row.shipment_id),
        "orderProductId": None,
        "shippingAddressId": str(row.shipping_address_id),
        "promiseUid": None,
        "packageCount": None,
        "shipmentMethodUid": None,
        "shipmentMethodName": None,
        "isCheapest": None,
        "minDeliveryDays": None,
        "maxDeliveryDays": None,
        "minDeliveryDate": None,
        "maxDeliveryDate": None,
        "totalWeight": None,
        "price": None,
        "status": None,
        "packages": [],
        "fulfillmentCountry": None,
        "fulfillmentFacilityId": None,
        "retailShippingPriceInclVat": _number(row.retail_shipping_price_incl_vat),
        "initialMinDeliveryDate": None,
        "initialMaxDeliveryDate": None,
        "serviceType": None,
        "speedType": None,
        **(row.shipment or {}),
    }
    if packages:
        view["packages"] = packages
        view["status"] = packages[-1]["status"]
    return view


def shipment_summary_view(row: OrderRow) -> dict[str, Any]:
    """The shipment part of the Update Shipment response."""
    full = shipment_view(row)
    keys = (
        "shipmentMethodUid", "shipmentMethodName", "fulfillmentCountry", "fulfillmentFacilityId",
        "packageCount", "initialMinDeliveryDate", "initialMaxDeliveryDate", "serviceType",
    )  # fmt: skip
    return {key: full[key] for key in keys}


def order_view(
    row: OrderRow,
    items: list[OrderRow],
    customer_reference_id: str,
    catalog: Catalog,
    *,
    events: Sequence[AnyRow] = (),
    packages: Sequence[AnyRow] = (),
    requests: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Get Order: seed 000's shape, plus the order's ``history`` (its order-level event
    log entries), each item's ``eventLog`` and ``quantityCanceled``, and ``requests``
    (the latest API requests that touched it, from the request log)."""
    client_id, order_id = str(row.customer_id), str(row.id)
    by_item: dict[Any, list[dict[str, Any]]] = {}
    for event in events:
        by_item.setdefault(event.item_id, []).append(event_view(event))
    return {
        "id": order_id,
        "clientId": client_id,
        "orderReferenceId": row.order_reference_id,
        "customerReferenceId": customer_reference_id,
        "fulfillmentStatus": row.fulfillment_status,
        "financialStatus": row.financial_status,
        "currency": row.currency,
        "shippingAddress": address_view(row),
        "items": [item_view(item, catalog, by_item.get(item.item_id)) for item in items],
        "shipment": shipment_view(row, [package_view(package) for package in packages]),
        "receipts": [] if row.receipt is None else [receipt_view(row.receipt, order_id, client_id)],
        "createdAt": iso(row.created_at),
        "refusalReason": row.refusal_reason,
        "channel": row.channel,
        "storeId": None,
        "orderedByUserId": None,
        "orderType": row.order_type,
        "metadata": row.metadata,
        "billingEntity": None,
        "retailCurrency": row.retail_currency,
        "paymentMethodType": None,
        "paymentMethodId": None,
        "prepaymentTransactionId": None,
        "orderedAt": iso(row.ordered_at),
        "updatedAt": iso(row.updated_at),
        "connectedOrderIds": [],
        "discounts": [],
        "returnAddress": None,
        "iossNumber": None,
        "refusalReasonCode": row.refusal_reason_code,
        "refusalReasonDetails": row.refusal_reason_details,
        "comment": row.comment,
        "digitizationId": None,
        "appServices": [],
        "shipmentMethodUid": row.shipment_method_uid,
        "history": by_item.get(None, []),
        "requests": list(requests),
    }


def summary_view(row: OrderRow, client_id: str, customer_reference_id: str) -> dict[str, Any]:
    """One search result. Positional on purpose: up to 100 per page make this the
    hottest function of search (it follows ``repository._SUMMARY_COLUMNS``, which the
    row may follow with others: the key's, when the search authenticated too). The id
    and the times come as the text answered (``db.UuidText``, ``db.IsoText``)."""
    (
        order_id, reference, fulfillment, financial, currency, total, order_type, channel,
        first_name, last_name, country, items_count, created, updated, ordered, refusal, *_,
    ) = row  # fmt: skip
    return {
        "id": order_id,
        "clientId": client_id,
        "orderReferenceId": reference,
        "fulfillmentStatus": fulfillment,
        "financialStatus": financial,
        "currency": currency,
        "totalInclVat": None if total is None else f"{total:.2f}",
        "orderType": order_type,
        "channel": channel,
        "storeId": None,
        "connectedOrderIds": [],
        "firstName": first_name,
        "lastName": last_name,
        "country": country,
        "itemsCount": items_count,
        "createdAt": created,
        "updatedAt": updated,
        "orderedAt": ordered,
        "refusalReasonCode": refusal,
        "appServices": [],
        "customerReferenceId": customer_reference_id,
    }
