"""Rows to wire dicts in the shapes of seed 000 (documented by ``read_schemas``).

Values that later capabilities compute (prices, routing, tracking, product data)
are null or empty here, never invented.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pressline.orders.repository import OrderRow


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


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


def item_view(row: OrderRow) -> dict[str, Any]:
    files = [_file_view(entry) for entry in row.item_files]
    variant = row.item_product_variant or {}
    return {
        "id": str(row.item_id),
        "itemReferenceId": row.item_item_reference_id,
        "productUid": row.item_product_uid,
        "storeProductVariantId": None,
        "storeProductId": None,
        "files": files,
        "processedFileUrl": None,
        "quantity": row.item_quantity,
        "options": [],
        "category": None,
        "productCategoryUid": None,
        "productTypeUid": None,
        "productNameUid": None,
        "productName": row.item_product_name,
        "fulfillmentStatus": row.item_fulfillment_status,
        "pageCount": None,
        "printJobs": [],
        "eventLog": [],
        "previews": [],
        "designId": None,
        "productFileMimeType": None,
        "finalProductUid": None,
        "metadata": row.item_metadata,
        "retailPriceInclVat": _number(row.item_retail_price_incl_vat),
        "attributes": [],
        "itemReferenceName": None,
        "isIgnored": False,
        "price": None,
        "customTrim": None,
        "fileUrl": files[0]["url"] if files else None,
        "dpi": None,
        "appServices": [],
        "filesSize": None,
        "productVariant": [{"name": name, "value": value} for name, value in variant.items()],
    }


def shipment_view(row: OrderRow) -> dict[str, Any]:
    """Routing and carrier choice come later: until then the shipment is unresolved."""
    return {
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
    }


def shipment_summary_view(row: OrderRow) -> dict[str, Any]:
    """The shipment part of the Update Shipment response."""
    full = shipment_view(row)
    keys = (
        "shipmentMethodUid", "shipmentMethodName", "fulfillmentCountry", "fulfillmentFacilityId",
        "packageCount", "initialMinDeliveryDate", "initialMaxDeliveryDate", "serviceType",
    )  # fmt: skip
    return {key: full[key] for key in keys}


def order_view(row: OrderRow, items: list[OrderRow], customer_reference_id: str) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "clientId": str(row.customer_id),
        "orderReferenceId": row.order_reference_id,
        "customerReferenceId": customer_reference_id,
        "fulfillmentStatus": row.fulfillment_status,
        "financialStatus": row.financial_status,
        "currency": row.currency,
        "shippingAddress": address_view(row),
        "items": [item_view(item) for item in items],
        "shipment": shipment_view(row),
        "receipts": [],
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
    }


def summary_view(row: OrderRow, client_id: str, customer_reference_id: str) -> dict[str, Any]:
    """One search result. Positional on purpose: up to 100 per page make this the
    hottest function of search (it follows ``repository._SUMMARY_COLUMNS``)."""
    (
        order_id, reference, fulfillment, financial, currency, total, order_type, channel,
        first_name, last_name, country, items_count, created, updated, ordered, refusal,
    ) = row  # fmt: skip
    return {
        "id": str(order_id),
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
        "createdAt": created.isoformat(timespec="seconds"),
        "updatedAt": updated.isoformat(timespec="seconds"),
        "orderedAt": None if ordered is None else ordered.isoformat(timespec="seconds"),
        "refusalReasonCode": refusal,
        "appServices": [],
        "customerReferenceId": customer_reference_id,
    }
