"""Rows to wire dicts in the shapes of seed 000 (documented by ``read_schemas``).

Product, shipment and receipt data are built once, when the order is planned, as
the documents the order stores (``*_document``); reading an order only merges them
in. Values no capability computes yet (tracking, previews, print jobs) are null or
empty, never invented.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from pressline.catalog.customs import crosses_customs_border
from pressline.catalog.model import ResolvedProduct, Route, ShippingQuote, Unresolvable
from pressline.catalog.pricing import Receipt
from pressline.catalog.products import Catalog
from pressline.orders.repository import OrderRow


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def _number(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _money(value: Decimal) -> float:
    return float(value)


def _day(value: date) -> str:
    return value.isoformat()


def product_document(product: ResolvedProduct, price: Decimal | None) -> dict[str, Any]:
    """What an item keeps of its plan (``order_items.product``): the canonical productUid
    and the line price. Names, categories and attributes are the catalog's presentation
    of that uid, looked up when the order is read (``product_details``)."""
    line_price = None if price is None else float(price)
    return {"finalProductUid": product.product_uid, "price": line_price}


@lru_cache(maxsize=4096)
def product_details(catalog: Catalog, product_uid: str) -> dict[str, Any]:
    """Get Order's product fields for a stored uid (null once the catalog drops it)."""
    try:
        product = catalog.resolve(product_uid)
    except Unresolvable:
        return _UNRESOLVED
    return {
        "productName": product.name,
        "category": product.category,
        "productCategoryUid": product.category_uid,
        "productTypeUid": product.type_uid,
        "productNameUid": product.name_uid,
        "attributes": [
            {
                "name": a.name,
                "title": a.title,
                "value": a.value,
                "formattedValue": a.formatted_value,
            }
            for a in product.attributes
        ],
    }


def shipment_document(
    route: Route,
    *,
    price: Decimal | None,
    is_cheapest: bool,
    initial: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The routed shipment (``orders.shipment``); ``initial`` keeps the first promise."""
    quote: ShippingQuote = route.chosen
    earliest, latest = _day(quote.min_delivery_date), _day(quote.max_delivery_date)
    first_min, first_max = initial or (earliest, latest)
    return {
        "packageCount": quote.package_count,
        "shipmentMethodUid": quote.method_uid,
        "shipmentMethodName": quote.method_name,
        "isCheapest": is_cheapest,
        "minDeliveryDays": quote.min_delivery_days,
        "maxDeliveryDays": quote.max_delivery_days,
        "minDeliveryDate": earliest,
        "maxDeliveryDate": latest,
        "totalWeight": quote.total_weight,
        "price": None if price is None else _money(price),
        "fulfillmentCountry": route.facility_country,
        "fulfillmentFacilityId": route.facility_id,
        "initialMinDeliveryDate": first_min,
        "initialMaxDeliveryDate": first_max,
        "serviceType": quote.service_type,
    }


#: A stored receipt line: kind, reference, title, amount, then these money fields.
_LINE_MONEY = ("priceBase", "priceInitial", "discount", "price", "vat", "priceInclVat")
_TOTAL_OF = {"product": "products", "shipment": "shipping", "packaging": "packaging"}
_TOTAL_PREFIXES = ("products", "digitization", "shipping", "packaging")
_TOTAL_SUFFIXES = ("PriceInitial", "PriceDiscount", "Price", "PriceVat", "PriceInclVat")


def receipt_document(receipt: Receipt, *, now: datetime) -> dict[str, Any]:
    """The receipt as stored (``orders.receipt``): its lines as rows and nothing a reader
    can derive; ``receipt_view`` rebuilds seed 000's shape and totals."""
    return {
        "id": str(uuid.uuid4()),
        "createdAt": iso(now),
        "currency": receipt.currency,
        "lines": [
            [
                line.type.value, line.reference_id, line.title, line.amount,
                float(line.price_base), float(line.price_initial), float(line.discount),
                float(line.price), float(line.vat), float(line.price_incl_vat),
            ]
            for line in receipt.lines
        ],
    }  # fmt: skip


def receipt_view(document: dict[str, Any], order_id: str, client_id: str) -> dict[str, Any]:
    """Seed 000's receipt from the stored rows; totals are sums of the rounded lines."""
    receipt_id, stamp, currency = document["id"], document["createdAt"], document["currency"]
    sums = {prefix: [0.0] * 5 for prefix in _TOTAL_PREFIXES}
    items = []
    for index, (kind, reference, title, amount, *money) in enumerate(document["lines"]):
        running = sums[_TOTAL_OF[kind]]
        for position, value in enumerate(money[1:]):  # every money field but priceBase
            running[position] += value
        items.append(
            {
                "id": f"{receipt_id[:-2]}{index:02x}",  # unique within the receipt
                "receiptId": receipt_id,
                "orderId": order_id,
                "clientId": client_id,
                "type": kind,
                "referenceId": reference,
                "title": title,
                "currency": currency,
                "amount": amount,
                **dict(zip(_LINE_MONEY, money, strict=True)),
                "pricePlanId": None,
                "createdAt": stamp,
                "updatedAt": stamp,
            }
        )
    totals: dict[str, float] = {}
    grand = [0.0] * 5
    for prefix, values in sums.items():
        for position, (suffix, value) in enumerate(zip(_TOTAL_SUFFIXES, values, strict=True)):
            # Lines have at most 3 decimals, so rounding the float sum gives the exact total.
            totals[f"{prefix}{suffix}"] = round(value, 4)
            grand[position] += value
    initial, discount, price, vat, incl = (round(value, 4) for value in grand)
    return {
        "id": receipt_id,
        "orderId": order_id,
        "type": "contract",
        "currency": currency,
        "items": items,
        "createdAt": stamp,
        "updatedAt": stamp,
        "receiptNumber": None,
        "billingEntity": None,
        "billingTag": None,
        "transactionType": "purchase",
        **totals,
        "discount": discount,
        "discountVat": 0.0,
        "discountInclVat": discount,
        "totalInitial": initial,
        "total": price,
        "totalVat": vat,
        "totalInclVat": incl,
        "isCalculated": True,
    }


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


_UNRESOLVED: dict[str, Any] = dict.fromkeys(
    ("productName", "category", "productCategoryUid", "productTypeUid", "productNameUid"),
) | {"attributes": []}  # fmt: skip


def item_view(row: OrderRow, catalog: Catalog) -> dict[str, Any]:
    files = [_file_view(entry) for entry in row.item_files]
    variant = row.item_product_variant or {}
    planned = row.item_product
    product = product_details(catalog, planned["finalProductUid"]) if planned else _UNRESOLVED
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
        "category": product["category"],
        "productCategoryUid": product["productCategoryUid"],
        "productTypeUid": product["productTypeUid"],
        "productNameUid": product["productNameUid"],
        # The customer's own product name when the item used one, else the catalog's.
        "productName": row.item_product_name or product["productName"],
        "fulfillmentStatus": row.item_fulfillment_status,
        "pageCount": None,
        "printJobs": [],
        "eventLog": [],
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


def shipment_view(row: OrderRow) -> dict[str, Any]:
    """The stored routed shipment over the unresolved defaults (an order no facility
    could make has none)."""
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
        **(row.shipment or {}),
    }


def shipment_summary_view(row: OrderRow) -> dict[str, Any]:
    """The shipment part of the Update Shipment response."""
    full = shipment_view(row)
    keys = (
        "shipmentMethodUid", "shipmentMethodName", "fulfillmentCountry", "fulfillmentFacilityId",
        "packageCount", "initialMinDeliveryDate", "initialMaxDeliveryDate", "serviceType",
    )  # fmt: skip
    return {key: full[key] for key in keys}


def order_view(
    row: OrderRow, items: list[OrderRow], customer_reference_id: str, catalog: Catalog
) -> dict[str, Any]:
    client_id, order_id = str(row.customer_id), str(row.id)
    return {
        "id": order_id,
        "clientId": client_id,
        "orderReferenceId": row.order_reference_id,
        "customerReferenceId": customer_reference_id,
        "fulfillmentStatus": row.fulfillment_status,
        "financialStatus": row.financial_status,
        "currency": row.currency,
        "shippingAddress": address_view(row),
        "items": [item_view(item, catalog) for item in items],
        "shipment": shipment_view(row),
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


def quote_view(
    order: Any,
    route: Route,
    products: list[ResolvedProduct],
    receipts: list[Receipt],
    *,
    retail_prices: bool,
) -> dict[str, Any]:
    """Quote response: the facility, every matching method with its totals, the products
    priced with the cheapest method (``receipts`` follow ``route.quotes``)."""
    cheapest = receipts[0]
    product_lines = [line for line in cheapest.lines if line.type == "product"]
    return {
        "orderReferenceId": order.order_reference_id,
        "currency": order.currency,
        "fulfillmentFacilityId": route.facility_id,
        "fulfillmentFacilityName": route.facility_name,
        "fulfillmentCountry": route.facility_country,
        # Submitting without them would store the order as failed (seed 000).
        "retailPricesRequired": crosses_customs_border(
            route.facility_country, order.shipping_address.country
        ),
        "retailPricesMissing": not retail_prices,
        "products": [
            {
                "itemReferenceId": item.item_reference_id,
                "finalProductUid": product.product_uid,
                "productName": product.name,
                "quantity": item.quantity,
                "unitPrice": _money(line.price_base),
                "price": _money(line.price),
                "vat": _money(line.vat),
                "priceInclVat": _money(line.price_incl_vat),
            }
            for item, product, line in zip(order.items, products, product_lines, strict=True)
        ],
        "shipmentMethods": [
            _quote_method(quote, receipt, is_cheapest=index == 0)
            for index, (quote, receipt) in enumerate(zip(route.quotes, receipts, strict=True))
        ],
    }


def _quote_method(quote: ShippingQuote, receipt: Receipt, *, is_cheapest: bool) -> dict[str, Any]:
    shipping = next(line for line in receipt.lines if line.type == "shipment")
    totals = receipt.totals()
    return {
        "shipmentMethodUid": quote.method_uid,
        "shipmentMethodName": quote.method_name,
        "carrier": quote.carrier,
        "tier": quote.tier,
        "serviceType": quote.service_type,
        "tracked": quote.tracked,
        "isCheapest": is_cheapest,
        "packageCount": quote.package_count,
        "totalWeight": quote.total_weight,
        "minDeliveryDays": quote.min_delivery_days,
        "maxDeliveryDays": quote.max_delivery_days,
        "minDeliveryDate": _day(quote.min_delivery_date),
        "maxDeliveryDate": _day(quote.max_delivery_date),
        "price": _money(shipping.price),
        "priceInclVat": _money(shipping.price_incl_vat),
        "total": _money(totals["total"]),
        "totalVat": _money(totals["totalVat"]),
        "totalInclVat": _money(totals["totalInclVat"]),
    }


def method_offer_view(offer: Any) -> dict[str, Any]:
    return {
        "shipmentMethodUid": offer.uid,
        "name": offer.name,
        "carrier": offer.carrier,
        "tier": offer.tier,
        "serviceType": offer.service_type,
        "tracked": offer.tracked,
        "minDeliveryDays": offer.min_days,
        "maxDeliveryDays": offer.max_days,
        "originCountries": list(offer.origin_countries),
    }
