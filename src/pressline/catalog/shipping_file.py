"""The shipping file model: what an operator's ``shipping.yaml`` may say.

Every consistency check sits in a validator on the entry it is about (a band's
``up_to``, a rate's origin, a method's uid), so the importer can point at the offending
line; checks that need a wider view still report at the entry's own location.
``pressline.catalog.shipping`` compiles a valid file into a ``ShippingNetwork``.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Mapping
from datetime import date, time
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Final, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pressline.catalog.documents import fail_at, repeats
from pressline.catalog.product_file import PRODUCT_TYPES


class Tier(StrEnum):
    """Speed classes, slowest first (the order ``methods_for`` lists them in)."""

    NORMAL = "normal"
    STANDARD = "standard"
    EXPRESS = "express"


class Zone(StrEnum):
    """Destination zones, as seen from a facility's country (see ``shipping.zone_of``)."""

    DOMESTIC = "domestic"
    EU = "eu"
    UK = "uk"
    US = "us"
    CA = "ca"
    AU = "au"
    ROW = "row"


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"


#: The zones that stand for one country.
COUNTRY_ZONES: Final[Mapping[str, Zone]] = {
    "GB": Zone.UK,
    "US": Zone.US,
    "CA": Zone.CA,
    "AU": Zone.AU,
}
#: ``date.weekday()`` numbers.
WEEKDAY_NUMBERS: Final[Mapping[Weekday, int]] = {day: index for index, day in enumerate(Weekday)}


Loc = tuple[str | int, ...]


def _not_a_yaml_boolean(value: object) -> object:
    # YAML 1.1 reads a bare NO (Norway) as false; say so instead of "not a string".
    if isinstance(value, bool):
        raise ValueError(f'{value!r} is a YAML boolean; quote country codes such as "NO"')
    return value


def _country_code(value: str) -> str:
    if pycountry.countries.get(alpha_2=value) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (GB, not UK)")
    return value


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    return value


def _facility_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))  # canonical lower-case form
    except ValueError:
        raise ValueError(f"{value!r} is not a UUID") from None


def _category(value: str) -> str:
    if value not in PRODUCT_TYPES:
        raise ValueError(f"unknown productCategoryUid {value!r}; one of {sorted(PRODUCT_TYPES)}")
    return value


CountryCode = Annotated[
    str,
    BeforeValidator(_not_a_yaml_boolean),
    StringConstraints(pattern=r"^[A-Z]{2}$"),
    AfterValidator(_country_code),
]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Days = Annotated[int, Field(ge=0, le=90)]


class _FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FacilityEntry(_FileModel):
    id: Annotated[str, AfterValidator(_facility_id)]
    name: Text
    country: CountryCode
    region: Text | None = None
    timezone: Annotated[str, AfterValidator(_time_zone)]
    categories: tuple[Annotated[str, AfterValidator(_category)], ...] = Field(min_length=1)
    lead_days: Days
    cut_off: time  # local wall-clock time, written "HH:MM"
    closed_weekdays: tuple[Weekday, ...] = (Weekday.SATURDAY, Weekday.SUNDAY)
    holidays: tuple[date, ...] = ()

    @field_validator("cut_off", mode="before")
    @classmethod
    def _hh_mm(cls, value: object) -> object:
        # YAML 1.1 reads a bare 14:00 as the number 840 (base 60), which pydantic would
        # take for 00:14:00: only a quoted "HH:MM" is accepted.
        if not isinstance(value, str) or re.fullmatch(r"\d\d:\d\d", value) is None:
            raise ValueError(f'{value!r} is not a quoted 24-hour time like "14:00"')
        return value

    @field_validator("categories")
    @classmethod
    def _unique_categories(cls, categories: tuple[str, ...]) -> tuple[str, ...]:
        fail_at(repeats(categories, "category"), categories)
        return categories

    @field_validator("closed_weekdays")
    @classmethod
    def _open_some_day(cls, days: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        if set(days) == set(Weekday):
            raise ValueError("a facility must be open on at least one weekday")
        return days


class WeightBand(_FileModel):
    up_to: PositiveInt  # grams per package, inclusive
    price: Annotated[Decimal, Field(ge=0)]  # per package, in the file's currency


class ZoneRate(_FileModel):
    min_days: Days  # transit business days after dispatch
    max_days: Days
    bands: tuple[WeightBand, ...] = Field(min_length=1)

    @field_validator("bands")
    @classmethod
    def _ascending(cls, bands: tuple[WeightBand, ...]) -> tuple[WeightBand, ...]:
        fail_at(
            (
                ((index, "up_to"), f"up_to must be above the previous band's {previous.up_to}")
                for index, (previous, band) in enumerate(itertools.pairwise(bands), start=1)
                if band.up_to <= previous.up_to
            ),
            bands,
        )
        return bands

    @model_validator(mode="after")
    def _min_before_max(self) -> Self:
        if self.max_days < self.min_days:
            fail_at([(("max_days",), f"max_days is below min_days ({self.min_days})")], self)
        return self


class ShipmentMethodEntry(_FileModel):
    uid: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(_[a-z0-9]+)*$")]
    name: Text
    carrier: Text
    tier: Tier
    service_type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$")]
    tracked: bool
    max_package_weight: PositiveInt  # grams
    # origin country -> destination zone -> rate
    rates: dict[CountryCode, dict[Zone, ZoneRate]] = Field(min_length=1)

    @model_validator(mode="after")
    def _rates_fit_the_method(self) -> Self:
        problems: list[tuple[Loc, str]] = []
        for origin, zones in self.rates.items():
            for zone, rate in zones.items():
                where: Loc = ("rates", origin, zone.value)
                if COUNTRY_ZONES.get(origin) is zone:
                    problems.append(
                        (where, f"{zone.value} is {origin} itself: list it as domestic")
                    )
                problems.extend(
                    (
                        (*where, "bands", index, "up_to"),
                        f"above max_package_weight ({self.max_package_weight} g)",
                    )
                    for index, band in enumerate(rate.bands)
                    if band.up_to > self.max_package_weight
                )
        fail_at(problems, self)
        return self


class ShippingFile(_FileModel):
    """``shipping.yaml`` as written by the operator."""

    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    facilities: tuple[FacilityEntry, ...] = Field(min_length=1)
    shipment_methods: tuple[ShipmentMethodEntry, ...] = Field(min_length=1)

    @field_validator("facilities")
    @classmethod
    def _unique_ids(cls, facilities: tuple[FacilityEntry, ...]) -> tuple[FacilityEntry, ...]:
        fail_at(
            repeats([facility.id for facility in facilities], "facility id", at=("id",)),
            facilities,
        )
        return facilities

    @field_validator("shipment_methods")
    @classmethod
    def _unique_uids(
        cls, methods: tuple[ShipmentMethodEntry, ...]
    ) -> tuple[ShipmentMethodEntry, ...]:
        fail_at(repeats([method.uid for method in methods], "uid", at=("uid",)), methods)
        return methods

    @field_validator("shipment_methods")
    @classmethod
    def _origins_have_facilities(
        cls, methods: tuple[ShipmentMethodEntry, ...], info: ValidationInfo
    ) -> tuple[ShipmentMethodEntry, ...]:
        # A rate from a country without a facility is dead data, most often a typo.
        facilities: tuple[FacilityEntry, ...] = info.data.get("facilities", ())
        countries = sorted({facility.country for facility in facilities})
        if not countries:
            return methods  # the facilities have errors of their own
        problems: list[tuple[Loc, str]] = [
            ((index, "rates", origin), f"no facility in {origin}; facilities are in {countries}")
            for index, method in enumerate(methods)
            for origin in method.rates
            if origin not in countries
        ]
        fail_at(problems, methods)
        return methods
