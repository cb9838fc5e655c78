"""How an order will be made: products, facility, shipment method, prices (pure).

Submit, quote and shipment updates all ask the same questions of the in-memory
reference data, in this order: which product is each item (catalog, or the
customer's own product names), which single facility makes them all and how they
travel (routing), what it costs (pricing), and whether seed 000's cross-border rule
refuses the order. Answers the integrator must fix are ``ValidationFailed`` with the
request's ``param``; refusals the order is stored with are a ``Refusal``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Protocol

from pressline.catalog.customer_products import CustomerProductSpec, resolve_variant
from pressline.catalog.customs import crosses_customs_border
from pressline.catalog.model import Parcel, ResolvedProduct, Route, ShippingQuote, Unresolvable
from pressline.catalog.pricing import ProductLine, Receipt
from pressline.catalog.reference import Reference
from pressline.errors import FieldError, ValidationFailed
from pressline.orders.schemas import (
    MAX_ITEMS,
    MAX_NAME_LENGTH,
    MAX_UID_LENGTH,
    MAX_VARIANT_OPTIONS,
    MAX_VARIANT_TEXT,
    product_naming_gap,
    sent_field,
)

CANNOT_PRODUCE = "cannot_produce_at_single_location"
MISSING_RETAIL_PRICES = "missing_retail_prices"
#: Seed 000's wording for the cross-border refusal, kept verbatim for integrators who match on it.
MISSING_RETAIL_PRICES_REASON = (
    "Order is failing as it’s going to be cross border and product retail prices are missing."  # noqa: RUF001
)


class ItemLike(Protocol):
    @property
    def product_uid(self) -> str | None: ...
    @property
    def product_name(self) -> str | None: ...
    @property
    def product_variant(self) -> Mapping[str, str] | None: ...
    @property
    def quantity(self) -> int: ...
    @property
    def retail_price_incl_vat(self) -> Decimal | None: ...


class AddressLike(Protocol):
    @property
    def country(self) -> str: ...
    @property
    def is_business(self) -> bool: ...
    @property
    def federal_tax_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    products: list[ResolvedProduct]
    route: Route | None  # None when no single facility can make the order
    receipt: Receipt | None  # what the order is charged (all zero for drafts and refusals)
    priced: Receipt | None  # the prices shown on items and shipment (zero for refusals)
    refusal: Refusal | None
    is_cheapest: bool


def resolve_items(
    reference: Reference, customer_id: uuid.UUID, items: Sequence[ItemLike]
) -> list[ResolvedProduct]:
    """Every item's product, or one ``ValidationFailed`` naming each bad item."""
    own = reference.products_of(customer_id)
    products: list[ResolvedProduct] = []
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        found = _resolve_item(
            reference, own, index, item.product_uid, item.product_name, item.product_variant
        )
        if isinstance(found, FieldError):
            errors.append(found)
        else:
            products.append(found)
    if errors:
        raise ValidationFailed(errors)
    return products


def _resolve_item(
    reference: Reference,
    own: Mapping[str, CustomerProductSpec],
    index: int,
    product_uid: str | None,
    product_name: str | None,
    product_variant: Mapping[str, str] | None,
) -> ResolvedProduct | FieldError:
    field = "productUid"
    try:
        if product_uid is not None:
            return reference.catalog.resolve(product_uid)
        field = "productName"
        spec = _customer_product(own, product_name or "")
        field = "productVariant"
        uid = resolve_variant(spec, product_variant or {})
        field = "productName"  # the customer product points at a bad uid
        return reference.catalog.resolve(uid)
    except Unresolvable as exc:
        return FieldError(exc.code, f"items[{index}].{field}", exc.message)


def with_catalog_errors(
    failed: ValidationFailed, reference: Reference, customer_id: uuid.UUID, sent: object
) -> ValidationFailed:
    """``failed`` (the schema's errors about an order body) plus what the reference data
    says of the parts that were well-formed: each item's product and the currency.

    Without this, an unknown product surfaced only once the rest of the body was fixed,
    and one request must report every invalid field. A field the schema already faults
    keeps only the schema's error.
    """
    if not isinstance(sent, dict):
        return failed
    own = reference.products_of(customer_id)
    found: list[FieldError] = []
    items = sent.get("items")
    # Only what the schema would let through to the catalog: at most MAX_ITEMS items and
    # names within their lengths (a 1 MiB productUid took the catalog a minute).
    for index, item in enumerate(items[:MAX_ITEMS] if isinstance(items, list) else []):
        gap = product_naming_gap(*_sent_naming(item)) if isinstance(item, dict) else None
        if gap is not None:
            field, error = gap
            found.append(FieldError(error.type, f"items[{index}].{field}", error.message()))
        named = _sent_product(item)
        if named is not None and _within_limits(*named):
            resolved = _resolve_item(reference, own, index, *named)
            if isinstance(resolved, FieldError):
                found.append(resolved)
    currency = sent.get("currency")
    if isinstance(currency, str) and currency not in reference.prices.exchange_rates:
        exc = reference.prices.unsupported(currency)
        found.append(FieldError(exc.code, "currency", exc.message))
    faulted = [error.param or "" for error in failed.errors]
    extra = [error for error in found if not _covered(error.param or "", faulted)]
    return ValidationFailed(failed.errors + extra) if extra else failed


def _covered(param: str, faulted: list[str]) -> bool:
    """Whether the schema already faulted ``param`` or a part of it (a variant's value)."""
    return any(f == param or f.startswith((f"{param}.", f"{param}[")) for f in faulted)


def _sent_naming(item: object) -> tuple[object, object, object]:
    """A sent item's productUid, productName and productVariant, as sent."""
    return (
        sent_field(item, "productUid", "product_uid"),
        sent_field(item, "productName", "product_name"),
        sent_field(item, "productVariant", "product_variant"),
    )


def _sent_product(item: object) -> tuple[str | None, str | None, dict[str, str] | None] | None:
    """How a sent item names its product, when it names it in exactly one well-typed way."""
    uid, name, variant = _sent_naming(item)
    if isinstance(uid, str) and name is None and variant is None:
        return uid.strip(), None, None
    if (
        uid is None
        and isinstance(name, str)
        and isinstance(variant, dict)
        and variant  # an empty one is the schema's error
        and all(isinstance(value, str) for value in variant.values())
    ):
        return (
            None,
            name.strip(),
            {str(key).strip(): str(value).strip() for key, value in variant.items()},
        )
    return None


def _within_limits(uid: str | None, name: str | None, variant: dict[str, str] | None) -> bool:
    return (
        len(uid or "") <= MAX_UID_LENGTH
        and len(name or "") <= MAX_NAME_LENGTH
        and len(variant or {}) <= MAX_VARIANT_OPTIONS
        and all(
            len(key) <= MAX_VARIANT_TEXT and len(value) <= MAX_VARIANT_TEXT
            for key, value in (variant or {}).items()
        )
    )


def _customer_product(own: Mapping[str, CustomerProductSpec], name: str) -> CustomerProductSpec:
    spec = own.get(name)
    if spec is None:
        known = ", ".join(f"'{known}'" for known in sorted(own)) or "none yet"
        raise Unresolvable(
            "unknown_product_name",
            f"You have no product named '{name}'. Your products: {known}.",
        )
    return spec


def route_order(
    reference: Reference,
    products: Sequence[ResolvedProduct],
    quantities: Sequence[int],
    *,
    country: str,
    selector: str | None,
    ordered_at: datetime,
) -> Route | Refusal:
    """The facility and methods for the whole order, or the refusal to store it with."""
    parcels = [
        Parcel(product.category_uid, product.unit_weight * quantity)
        for product, quantity in zip(products, quantities, strict=True)
    ]
    try:
        return reference.shipping.route(country, parcels, selector, ordered_at)
    except Unresolvable as exc:
        if exc.code == CANNOT_PRODUCE:
            return Refusal(exc.code, exc.message)
        raise ValidationFailed([FieldError(exc.code, "shipmentMethodUid", exc.message)]) from None


def has_retail_prices(
    retail_currency: str | None, shipping_retail: Decimal | None, items: Sequence[ItemLike]
) -> bool:
    """Seed 000: a cross-border order needs every retail price, shipping included."""
    return (
        retail_currency is not None
        and shipping_retail is not None
        and all(item.retail_price_incl_vat is not None for item in items)
    )


def price(
    reference: Reference,
    *,
    products: Sequence[ResolvedProduct],
    quantities: Sequence[int],
    item_ids: Sequence[str],
    quote: ShippingQuote,
    route: Route,
    shipment_id: str,
    currency: str,
    address: AddressLike,
    charged: bool,
) -> Receipt:
    lines = [
        ProductLine(reference_id=item_id, product=product, quantity=quantity)
        for item_id, product, quantity in zip(item_ids, products, quantities, strict=True)
    ]
    try:
        return reference.prices.price_order(
            lines=lines,
            shipping=quote,
            shipment_id=shipment_id,
            currency=currency,
            destination_country=address.country,
            facility_country=route.facility_country,
            is_business=address.is_business,
            tax_id=address.federal_tax_id,
            charged=charged,
        )
    except Unresolvable as exc:
        raise ValidationFailed([FieldError(exc.code, "currency", exc.message)]) from None


def plan_order(
    reference: Reference,
    *,
    products: list[ResolvedProduct],
    items: Sequence[ItemLike],
    item_ids: Sequence[str],
    shipment_id: str,
    address: AddressLike,
    selector: str | None,
    currency: str,
    retail_prices: bool,
    ordered_at: datetime,
    charged: bool,
) -> Plan:
    """Route, price and check the cross-border rule for resolved ``products``."""
    quantities = [item.quantity for item in items]
    routed = route_order(
        reference, products, quantities,
        country=address.country, selector=selector, ordered_at=ordered_at,
    )  # fmt: skip
    if isinstance(routed, Refusal):
        return Plan(products, None, None, None, routed, False)
    refusal = None
    if not retail_prices and crosses_customs_border(routed.facility_country, address.country):
        refusal = Refusal(MISSING_RETAIL_PRICES, MISSING_RETAIL_PRICES_REASON)
    priced_with = partial(
        price,
        reference,
        products=products,
        quantities=quantities,
        item_ids=item_ids,
        quote=routed.chosen,
        route=routed,
        shipment_id=shipment_id,
        currency=currency,
        address=address,
    )
    priced = priced_with(charged=refusal is None)
    # A draft shows its prices but charges nothing until it is converted.
    receipt = priced if charged or refusal is not None else priced_with(charged=False)
    # Without a selector the choice is the cheapest of all by definition.
    cheapest = selector is None or _is_cheapest(reference, routed, address, ordered_at)
    return Plan(products, routed, receipt, priced, refusal, cheapest)


def _is_cheapest(
    reference: Reference, route: Route, address: AddressLike, ordered_at: datetime
) -> bool:
    """Whether the chosen method is the cheapest of every method from that facility,
    not only of the ones the request allowed (seed 000's ``isCheapest``)."""
    facility = reference.shipping.facility(route.facility_id)
    cheapest = reference.shipping.cheapest(
        address.country, facility, route.chosen.total_weight, None, ordered_at
    )
    return cheapest is None or route.chosen.price <= cheapest.price
