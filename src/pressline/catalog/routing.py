"""Which facility makes and ships a whole order (pure).

An order is made at one facility: the candidates are the facilities that make every
item's productCategoryUid. A candidate in the destination country that can ship there
with an allowed method wins over any abroad (no customs, usually cheapest and fastest).
Among the remaining choice, the facility whose cheapest allowed method promises the
earliest latest-delivery date wins, then the cheaper shipping (products cost the same
everywhere, so shipping is the whole difference), then the lower facility id, so the
same order always routes the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from pressline.catalog.model import Parcel, Route, ShippingQuote, Unresolvable
from pressline.catalog.shipping_file import Tier

if TYPE_CHECKING:
    from pressline.catalog.shipping import Cheapest, Facility, ShippingNetwork

CANNOT_PRODUCE = "cannot_produce_at_single_location"
NO_MATCHING_METHOD = "no_matching_shipment_method"


def route(
    network: ShippingNetwork,
    destination_country: str,
    parcels: Sequence[Parcel],
    selector: str | None,
    ordered_at: datetime,
) -> Route:
    """The facility for the order and every allowed quote from it, cheapest first.

    ``Unresolvable`` when no facility makes every item, or none can ship the order to
    the destination with a method ``selector`` allows.
    """
    if not parcels:
        raise ValueError("an order has at least one parcel")
    destination = destination_country.upper()
    categories = frozenset(parcel.category_uid for parcel in parcels)
    weight = sum(parcel.weight for parcel in parcels)
    candidates = network.makers(categories)
    if not candidates:
        raise _cannot_produce(network, categories)
    # Facilities abroad are only priced when no local one can ship (most orders are local).
    local = [facility for facility in candidates if facility.country == destination]
    abroad = [facility for facility in candidates if facility.country != destination]
    options: list[tuple[Cheapest, Facility]] = []
    for group in (local, abroad):
        if len(group) == 1:  # nothing to compare: quote it straight away (the usual case)
            quotes = network.select(destination, group[0], weight, selector, ordered_at)
            if quotes:
                return _route(group[0], quotes)
            continue
        for facility in group:
            cheapest = network.cheapest(destination, facility, weight, selector, ordered_at)
            if cheapest is not None:
                options.append((cheapest, facility))
        if options:
            break
    else:
        raise _no_matching_method(network, destination, candidates, weight, selector, ordered_at)
    _, facility = min(options, key=_preference)
    return _route(facility, network.select(destination, facility, weight, selector, ordered_at))


def _route(facility: Facility, quotes: tuple[ShippingQuote, ...]) -> Route:
    return Route(
        facility_id=facility.id,
        facility_name=facility.name,
        facility_country=facility.country,
        quotes=quotes,
        chosen=quotes[0],
    )


def _preference(option: tuple[Cheapest, Facility]) -> tuple[date, Decimal, str]:
    cheapest, facility = option
    return (cheapest.max_delivery_date, cheapest.price, facility.id)


def _cannot_produce(network: ShippingNetwork, categories: frozenset[str]) -> Unresolvable:
    makers = []
    for category in sorted(categories):
        found = ", ".join(_named(facility) for facility in network.makers([category]))
        makers.append(f"{category}: {found or 'no facility'}")
    if len(categories) == 1:
        message = f"No production facility makes {makers[0]}."
    else:
        message = (
            "No single production facility can make every item of this order "
            f"({', '.join(sorted(categories))}). Made by: {'; '.join(makers)}. "
            "Split the order so that each part can be made at one facility."
        )
    return Unresolvable(CANNOT_PRODUCE, message)


def _no_matching_method(
    network: ShippingNetwork,
    destination: str,
    candidates: Sequence[Facility],
    weight: int,
    selector: str | None,
    ordered_at: datetime,
) -> Unresolvable:
    available = [
        quote
        for facility in candidates
        for quote in network.select(destination, facility, weight, None, ordered_at)
    ]
    if not available:
        return Unresolvable(
            NO_MATCHING_METHOD,
            f"No shipment method can carry this order ({weight} g) to {destination} from "
            f"the facilities that make it: {', '.join(_named(f) for f in candidates)}.",
        )
    uids = sorted({quote.method_uid for quote in available})
    carriers = sorted({quote.carrier for quote in available})
    tiers = [tier.value for tier in Tier if any(quote.tier == tier for quote in available)]
    return Unresolvable(
        NO_MATCHING_METHOD,
        f"No shipment method matching '{selector}' can carry this order to {destination}. "
        f"Available for {destination}: methods {', '.join(uids)}; "
        f"carriers {', '.join(carriers)}; tiers {', '.join(tiers)}.",
    )


def _named(facility: Facility) -> str:
    return f"{facility.name} ({facility.country})"
