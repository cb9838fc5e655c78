"""Facilities, shipment methods and the choice of a method for a parcel (pure).

The operator's shipping file (``data/shipping.yaml``, format in its header) is validated
by :class:`ShippingFile` and compiled once into a :class:`ShippingNetwork`, which answers
per-order questions from dict lookups.

A method's rates are keyed by origin country (where a facility is) and destination
**zone**: ``domestic`` (same country as the facility), ``eu`` (another EU member state),
``uk``, ``us``, ``ca``, ``au`` (those single countries) and ``row`` (everything else).
An order heavier than a method's ``max_package_weight`` travels as several packages of
(almost) equal weight, each priced by its weight band; a package heavier than a zone's
last band makes the method unavailable for that order.

``shipmentMethodUid`` (seed 000, "Selecting a Shipping Method") is a selector: empty
means any method; otherwise comma-separated tokens, each naming a method uid, a carrier
(case-insensitive; spaces, ``-`` and ``_`` ignored) or a tier, and the union of what
they name is allowed. The cheapest allowed method wins. Delivery dates follow
:mod:`pressline.catalog.calendar`.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Final, NamedTuple, Self
from zoneinfo import ZoneInfo

from pressline.catalog import routing
from pressline.catalog.calendar import ProductionCalendar, add_business_days
from pressline.catalog.model import EU_MEMBER_STATES, Parcel, Route, ShippingQuote
from pressline.catalog.shipping_file import (
    COUNTRY_ZONES,
    WEEKDAY_NUMBERS,
    FacilityEntry,
    ShippingFile,
    Tier,
    Zone,
    ZoneRate,
)

__all__ = [
    "Cheapest",
    "Facility",
    "MethodOffer",
    "MethodSelector",
    "ShipmentMethod",
    "ShippingFile",
    "ShippingNetwork",
    "Tier",
    "Zone",
    "parse_selector",
    "zone_of",
]

_TIER_ORDER: Final = {tier: index for index, tier in enumerate(Tier)}


def zone_of(origin: str, destination: str) -> Zone:
    """The rate zone a parcel from ``origin`` to ``destination`` (alpha-2 codes) falls in."""
    if origin == destination:
        return Zone.DOMESTIC
    if destination in EU_MEMBER_STATES:
        return Zone.EU
    return COUNTRY_ZONES.get(destination, Zone.ROW)


# --- the compiled network ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facility:
    """A production site: what it makes and when its parcels leave."""

    id: str
    name: str
    country: str
    region: str | None
    categories: frozenset[str]
    calendar: ProductionCalendar


@dataclass(frozen=True, slots=True)
class ShipmentMethod:
    """What a quote says about its method, whatever the origin and zone."""

    uid: str
    name: str
    carrier: str
    tier: Tier
    service_type: str
    tracked: bool
    max_package_weight: int  # grams
    carrier_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "carrier_key", _carrier_key(self.carrier))


@dataclass(frozen=True, slots=True)
class MethodOffer:
    """A method that can reach a country from at least one facility."""

    uid: str
    name: str
    carrier: str
    tier: str
    service_type: str
    tracked: bool
    min_days: int  # the fastest origin's
    max_days: int  # the slowest origin's
    origin_countries: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Rate:
    method: ShipmentMethod
    limits: tuple[int, ...]  # each band's up_to, ascending
    prices: tuple[Decimal, ...]
    min_days: int
    max_days: int

    def cost(self, weight: int) -> tuple[Decimal, int] | None:
        """Price and package count for ``weight`` grams; ``None`` if a package is too heavy."""
        limits = self.limits
        if weight <= self.method.max_package_weight:  # the usual case: one package
            if weight > limits[-1]:
                return None
            return self.prices[bisect_left(limits, weight)], 1
        count = -(-weight // self.method.max_package_weight)
        light, heavier = divmod(weight, count)  # ``heavier`` packages weigh one gram more
        heaviest = light + 1 if heavier else light
        if heaviest > limits[-1]:
            return None
        price = self.prices[bisect_left(limits, light)] * (count - heavier)
        if heavier:
            price += self.prices[bisect_left(limits, heaviest)] * heavier
        return price, count


class _Priced(NamedTuple):
    """A method priced for one order; sorts cheapest first (uids are unique per group)."""

    price: Decimal
    max_delivery_date: date
    uid: str
    rate: _Rate
    package_count: int
    dispatch: date


class Cheapest(NamedTuple):
    """What routing compares facilities by: their cheapest allowed method's promise."""

    max_delivery_date: date
    price: Decimal


def _carrier_key(text: str) -> str:
    return text.lower().replace(" ", "").replace("-", "").replace("_", "")


@dataclass(frozen=True, slots=True)
class MethodSelector:
    """A parsed ``shipmentMethodUid``: the method uids, tiers and carriers it allows."""

    names: frozenset[str]  # lower-case tokens, compared with uids and tiers
    carriers: frozenset[str]  # the same tokens as carrier keys

    def allows(self, method: ShipmentMethod) -> bool:
        return (
            method.uid in self.names
            or method.tier.value in self.names
            or method.carrier_key in self.carriers
        )


@lru_cache(maxsize=256)
def parse_selector(text: str | None) -> MethodSelector | None:
    """``text`` as a selector; ``None`` (any method) when it names nothing."""
    tokens = frozenset(token.strip().lower() for token in (text or "").split(","))
    tokens -= {""}
    if not tokens:
        return None
    return MethodSelector(tokens, frozenset(_carrier_key(token) for token in tokens))


class ShippingNetwork:
    """The facilities and every method's rates, compiled for per-order lookups."""

    __slots__ = ("_facilities", "_makers", "_methods", "_rates", "currency")

    def __init__(
        self,
        *,
        currency: str,
        facilities: Iterable[Facility],
        rates: Mapping[tuple[str, Zone], Sequence[_Rate]],
    ) -> None:
        self.currency = currency
        ordered = sorted(facilities, key=lambda facility: facility.id)
        self._facilities = {facility.id: facility for facility in ordered}
        self._rates = {key: tuple(group) for key, group in rates.items()}
        self._makers = _makers_by_category_set(ordered)
        self._methods = _methods_by_uid(self._rates)

    @classmethod
    def from_file(cls, file: ShippingFile) -> Self:
        rates: dict[tuple[str, Zone], list[_Rate]] = {}
        for entry in file.shipment_methods:
            method = ShipmentMethod(
                entry.uid, entry.name, entry.carrier, entry.tier,
                entry.service_type, entry.tracked, entry.max_package_weight,
            )  # fmt: skip
            for origin, zones in entry.rates.items():
                for zone, rate in zones.items():
                    rates.setdefault((origin, zone), []).append(_compile_rate(method, rate))
        facilities = [_compile_facility(entry) for entry in file.facilities]
        return cls(currency=file.currency, facilities=facilities, rates=rates)

    @property
    def facilities(self) -> tuple[Facility, ...]:
        """Every facility, by id."""
        return tuple(self._facilities.values())

    def facility(self, facility_id: str) -> Facility:
        """The facility with ``facility_id``; ``KeyError`` if the file has none."""
        return self._facilities[facility_id]

    def makers(self, categories: Iterable[str]) -> tuple[Facility, ...]:
        """The facilities (by id) that make every one of ``categories``."""
        return self._makers.get(frozenset(categories), ())

    def select(
        self,
        destination_country: str,
        facility: Facility,
        total_weight: int,
        selector: str | None,
        ordered_at: datetime,
    ) -> tuple[ShippingQuote, ...]:
        """Every method ``selector`` allows from ``facility`` to the country, cheapest first.

        Ties go to the earlier latest delivery date, then the method uid.
        """
        priced = self._priced(destination_country, facility, total_weight, selector, ordered_at)
        return tuple(self._quote(offer, total_weight) for offer in priced)

    def cheapest(
        self,
        destination_country: str,
        facility: Facility,
        total_weight: int,
        selector: str | None,
        ordered_at: datetime,
    ) -> Cheapest | None:
        """``select(...)[0]``'s latest delivery date and price, at a fraction of the cost.

        Routing asks this of every candidate facility, so it dates only the cheapest
        methods and builds no quotes.
        """
        costs = self._costs(destination_country, facility, total_weight, selector)
        if not costs:
            return None
        price = min(cost[0] for cost in costs)
        fastest = min(cost[1].max_days for cost in costs if cost[0] == price)
        dispatch = facility.calendar.dispatch_date(ordered_at)
        return Cheapest(add_business_days(dispatch, fastest), price)

    def route(
        self,
        destination_country: str,
        parcels: Sequence[Parcel],
        selector: str | None,
        ordered_at: datetime,
    ) -> Route:
        """The facility for a whole order and its quotes; see :func:`routing.route`."""
        return routing.route(self, destination_country, parcels, selector, ordered_at)

    def methods_for(self, country: str) -> list[MethodOffer]:
        """Every method that reaches ``country`` from some facility, by tier then uid."""
        country = country.upper()
        offers = []
        for method, by_origin in self._methods.values():
            reaching = {
                origin: rate
                for origin, rates in by_origin.items()
                if (rate := rates.get(zone_of(origin, country))) is not None
            }
            if reaching:
                offers.append(_offer(method, reaching))
        offers.sort(key=lambda offer: (_TIER_ORDER[Tier(offer.tier)], offer.uid))
        return offers

    def _costs(
        self, destination: str, facility: Facility, weight: int, selector: str | None
    ) -> list[tuple[Decimal, _Rate, int]]:
        """Price, rate and package count of every allowed method that can carry ``weight``."""
        if weight < 0:
            raise ValueError("total_weight cannot be negative")
        zone = zone_of(facility.country, destination.upper())
        allowed = parse_selector(selector)
        costs = []
        for rate in self._rates.get((facility.country, zone), ()):
            if allowed is None or allowed.allows(rate.method):
                cost = rate.cost(weight)
                if cost is not None:
                    costs.append((cost[0], rate, cost[1]))
        return costs

    def _priced(
        self,
        destination: str,
        facility: Facility,
        weight: int,
        selector: str | None,
        ordered_at: datetime,
    ) -> list[_Priced]:
        costs = self._costs(destination, facility, weight, selector)
        if not costs:
            return []
        dispatch = facility.calendar.dispatch_date(ordered_at)
        priced = [
            _Priced(price, add_business_days(dispatch, rate.max_days), rate.method.uid, rate,
                    count, dispatch)
            for price, rate, count in costs
        ]  # fmt: skip
        priced.sort()
        return priced

    def _quote(self, offer: _Priced, weight: int) -> ShippingQuote:
        method = offer.rate.method
        return ShippingQuote(
            method_uid=method.uid,
            method_name=method.name,
            carrier=method.carrier,
            tier=method.tier.value,
            service_type=method.service_type,
            tracked=method.tracked,
            price=offer.price,
            currency=self.currency,
            package_count=offer.package_count,
            total_weight=weight,
            min_delivery_days=offer.rate.min_days,
            max_delivery_days=offer.rate.max_days,
            min_delivery_date=add_business_days(offer.dispatch, offer.rate.min_days),
            max_delivery_date=offer.max_delivery_date,
        )


def _compile_rate(method: ShipmentMethod, rate: ZoneRate) -> _Rate:
    return _Rate(
        method=method,
        limits=tuple(band.up_to for band in rate.bands),
        prices=tuple(band.price for band in rate.bands),
        min_days=rate.min_days,
        max_days=rate.max_days,
    )


def _compile_facility(entry: FacilityEntry) -> Facility:
    calendar = ProductionCalendar(
        timezone=ZoneInfo(entry.timezone),
        cut_off=entry.cut_off,
        lead_days=entry.lead_days,
        closed_weekdays=frozenset(WEEKDAY_NUMBERS[day] for day in entry.closed_weekdays),
        holidays=frozenset(entry.holidays),
    )
    return Facility(
        entry.id, entry.name, entry.country, entry.region, frozenset(entry.categories), calendar
    )


def _makers_by_category_set(
    facilities: Sequence[Facility],
) -> dict[frozenset[str], tuple[Facility, ...]]:
    # Every subset of the categories (the fixed five the file accepts: 31 subsets), so that
    # finding the facilities for an order is one dict lookup.
    known = sorted(set().union(*(facility.categories for facility in facilities)))
    makers: dict[frozenset[str], tuple[Facility, ...]] = {}
    for size in range(1, len(known) + 1):
        for subset in map(frozenset, itertools.combinations(known, size)):
            found = tuple(facility for facility in facilities if subset <= facility.categories)
            if found:
                makers[subset] = found
    return makers


def _methods_by_uid(
    rates: Mapping[tuple[str, Zone], Sequence[_Rate]],
) -> dict[str, tuple[ShipmentMethod, dict[str, dict[Zone, _Rate]]]]:
    methods: dict[str, tuple[ShipmentMethod, dict[str, dict[Zone, _Rate]]]] = {}
    for (origin, zone), group in rates.items():
        for rate in group:
            _, by_origin = methods.setdefault(rate.method.uid, (rate.method, {}))
            by_origin.setdefault(origin, {})[zone] = rate
    return methods


def _offer(method: ShipmentMethod, reaching: Mapping[str, _Rate]) -> MethodOffer:
    return MethodOffer(
        uid=method.uid,
        name=method.name,
        carrier=method.carrier,
        tier=method.tier.value,
        service_type=method.service_type,
        tracked=method.tracked,
        min_days=min(rate.min_days for rate in reaching.values()),
        max_days=max(rate.max_days for rate in reaching.values()),
        origin_countries=tuple(sorted(reaching)),
    )
