"""The documents an order keeps of its plan, and the views built from them and from
the catalog: product details, the routed shipment, the receipt, quotes and shipment
methods (seed 000 shapes; see ``read_schemas`` and docs/adr/0008)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from pressline import ids
from pressline.catalog.customs import crosses_customs_border
from pressline.catalog.model import ResolvedProduct, Route, ShippingQuote, Unresolvable
from pressline.catalog.pricing import Receipt
from pressline.catalog.products import Catalog
from pressline.catalog.shipping import MethodOffer


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


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


UNRESOLVED: dict[str, Any] = dict.fromkeys(
    ("productName", "category", "productCategoryUid", "productTypeUid", "productNameUid"),
) | {"attributes": []}  # fmt: skip


@lru_cache(maxsize=4096)
def product_details(catalog: Catalog, product_uid: str) -> dict[str, Any]:
    """Get Order's product fields for a stored uid (null once the catalog drops it)."""
    try:
        product = catalog.resolve(product_uid)
    except Unresolvable:
        return UNRESOLVED
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
        "id": str(ids.new_uuid()),
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


def method_offer_view(offer: MethodOffer) -> dict[str, Any]:
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
