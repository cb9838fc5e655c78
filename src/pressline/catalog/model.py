"""The values that cross between the catalog, shipping, routing and pricing modules.

Pure data: no I/O, no SQLAlchemy, no FastAPI. Each reference-data module compiles its
operator file (YAML, validated by pydantic) into immutable in-memory objects and
answers questions in these terms; the orders service strings them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


class Unresolvable(Exception):
    """A request names something the reference data cannot serve.

    ``code`` is a stable machine code, ``message`` a sentence for the integrator that
    lists what would have been accepted. The caller adds the request ``param``.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Attribute:
    """One resolved productUid segment, as Get Order's ``attributes[]`` shows it."""

    name: str  # e.g. "size"
    title: str  # e.g. "Size"
    value: str  # e.g. "500x700-mm"
    formatted_value: str  # e.g. "50 x 70 cm"


@dataclass(frozen=True, slots=True)
class PriceTier:
    """Unit price from ``min_quantity`` pieces upwards."""

    min_quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class ResolvedProduct:
    """A productUid checked against the catalog, with everything an order needs."""

    product_uid: str  # canonical form (segments in catalog order)
    prefix: str
    name: str
    name_uid: str
    category: str
    category_uid: str
    type_uid: str
    attributes: tuple[Attribute, ...]
    unit_weight: int  # grams
    # currency -> tiers sorted by min_quantity ascending, first tier at 1
    prices: dict[str, tuple[PriceTier, ...]]


@dataclass(frozen=True, slots=True)
class Parcel:
    """What routing needs to know about one order line."""

    category_uid: str
    weight: int  # grams for the whole line (unit weight x quantity)


@dataclass(frozen=True, slots=True)
class ShippingQuote:
    """One shipment method that can carry an order from one facility."""

    method_uid: str
    method_name: str
    carrier: str
    tier: str  # normal | standard | express
    service_type: str
    tracked: bool
    price: Decimal  # in the shipping network's base currency, all packages
    currency: str
    package_count: int
    total_weight: int  # grams
    min_delivery_days: int  # transit business days
    max_delivery_days: int
    min_delivery_date: date
    max_delivery_date: date


@dataclass(frozen=True, slots=True)
class Route:
    """The facility chosen for a whole order and the methods that can carry it from there."""

    facility_id: str
    facility_name: str
    facility_country: str
    quotes: tuple[ShippingQuote, ...]  # every matching method, cheapest first
    chosen: ShippingQuote  # the cheapest matching one (quotes[0])


# The EU's member states (ISO 3166-1 alpha-2), one customs union and the VAT area the
# reverse-charge rule applies in. GB, CH, NO and the rest of the world are outside it.
EU_MEMBER_STATES = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
        "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    }
)  # fmt: skip
