"""Choosing shipment methods for one facility and parcel (``catalog.shipping``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pressline.catalog import documents
from pressline.catalog.shipping import (
    Facility,
    ShippingFile,
    ShippingNetwork,
    Zone,
    parse_selector,
    zone_of,
)

BERLIN = "db0622e7-d7af-4453-b39f-cdf1b67f3daa"
#: Monday 15 June 2026, 09:00 UTC: before the cut-off in Berlin.
MONDAY_MORNING = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
STARTER = Path(__file__).parents[2] / "src/pressline/catalog/data/shipping.yaml"


def rate(bands: list[tuple[int, str]], min_days: int = 1, max_days: int = 2) -> dict[str, Any]:
    return {
        "min_days": min_days,
        "max_days": max_days,
        "bands": [{"up_to": up_to, "price": price} for up_to, price in bands],
    }


def method(
    uid: str, carrier: str, tier: str, max_weight: int, domestic: dict[str, Any]
) -> dict[str, Any]:
    return {
        "uid": uid,
        "name": uid.replace("_", " ").title(),
        "carrier": carrier,
        "tier": tier,
        "service_type": "express" if tier == "express" else "normal",
        "tracked": True,
        "max_package_weight": max_weight,
        "rates": {"DE": {"domestic": domestic}},
    }


def network(*methods: dict[str, Any]) -> ShippingNetwork:
    data = {
        "currency": "EUR",
        "facilities": [
            {
                "id": BERLIN,
                "name": "Berlin",
                "country": "DE",
                "timezone": "Europe/Berlin",
                "categories": ["wall-art"],
                "lead_days": 1,
                "cut_off": "14:00",
            }
        ],
        "shipment_methods": list(methods),
    }
    return ShippingNetwork.from_file(ShippingFile.model_validate(data))


LETTER = method(
    "post_letter", "Deutsche Post", "normal", 1000, rate([(500, "4.00"), (1000, "5.00")])
)
PARCEL = method("dhl_parcel", "DHL", "standard", 10000, rate([(2000, "6.00"), (10000, "9.00")]))
EXPRESS = method("ups_express", "UPS", "express", 10000, rate([(10000, "20.00")], 1, 1))


@pytest.fixture
def three() -> ShippingNetwork:
    return network(LETTER, PARCEL, EXPRESS)


def uids(net: ShippingNetwork, selector: str | None, weight: int = 400) -> list[str]:
    quotes = net.select("DE", net.facility(BERLIN), weight, selector, MONDAY_MORNING)
    return [quote.method_uid for quote in quotes]


# --- the selector -------------------------------------------------------------------


@pytest.mark.parametrize("selector", [None, "", "  ", ", ,"])
def test_no_selector_allows_every_method_cheapest_first(
    three: ShippingNetwork, selector: str | None
) -> None:
    assert uids(three, selector) == ["post_letter", "dhl_parcel", "ups_express"]


def test_a_method_uid_selects_that_method(three: ShippingNetwork) -> None:
    assert uids(three, "dhl_parcel") == ["dhl_parcel"]


@pytest.mark.parametrize("carrier", ["DHL", "dhl", "Dhl"])
def test_a_carrier_name_selects_its_methods_in_any_case(
    three: ShippingNetwork, carrier: str
) -> None:
    assert uids(three, carrier) == ["dhl_parcel"]


@pytest.mark.parametrize("carrier", ["deutsche post", "Deutsche_Post", "DEUTSCHEPOST"])
def test_a_carrier_name_ignores_spaces_and_underscores(
    three: ShippingNetwork, carrier: str
) -> None:
    assert uids(three, carrier) == ["post_letter"]


@pytest.mark.parametrize("tier", ["express", "Express"])
def test_a_tier_selects_its_methods(three: ShippingNetwork, tier: str) -> None:
    assert uids(three, tier) == ["ups_express"]


def test_a_comma_list_allows_the_union_cheapest_first(three: ShippingNetwork) -> None:
    assert uids(three, " express , UPS,post_letter ") == ["post_letter", "ups_express"]


def test_tokens_that_match_nothing_are_ignored_when_others_match(three: ShippingNetwork) -> None:
    assert uids(three, "normal,standard,fed_ex_2_day") == ["post_letter", "dhl_parcel"]


def test_a_selector_matching_nothing_gives_no_quotes(three: ShippingNetwork) -> None:
    assert uids(three, "fed_ex_2_day") == []


def test_an_empty_selector_parses_to_any_method() -> None:
    assert parse_selector(" , ") is None
    assert parse_selector("DHL") is not None


# --- prices, packages and weight ----------------------------------------------------


def quote_of(net: ShippingNetwork, uid: str, weight: int) -> tuple[Decimal, int] | None:
    quotes = net.select("DE", net.facility(BERLIN), weight, uid, MONDAY_MORNING)
    return (quotes[0].price, quotes[0].package_count) if quotes else None


def test_a_band_covers_weights_up_to_and_including_its_limit(three: ShippingNetwork) -> None:
    assert quote_of(three, "post_letter", 500) == (Decimal("4.00"), 1)
    assert quote_of(three, "post_letter", 501) == (Decimal("5.00"), 1)


def test_a_weightless_order_pays_the_first_band(three: ShippingNetwork) -> None:
    assert quote_of(three, "post_letter", 0) == (Decimal("4.00"), 1)


def test_an_order_over_the_package_limit_is_split_into_equal_packages(
    three: ShippingNetwork,
) -> None:
    # 2,500 g in 1,000 g packages: three of 834/833/833 g, each in the top band.
    assert quote_of(three, "post_letter", 2500) == (Decimal("15.00"), 3)


def test_each_package_is_priced_by_its_own_weight(three: ShippingNetwork) -> None:
    # 1,001 g: packages of 501 and 500 g, in different bands.
    assert quote_of(three, "post_letter", 1001) == (Decimal("9.00"), 2)


def test_package_count_and_weight_are_on_the_quote(three: ShippingNetwork) -> None:
    (quote,) = three.select("DE", three.facility(BERLIN), 2500, "post_letter", MONDAY_MORNING)
    assert (quote.package_count, quote.total_weight, quote.currency) == (3, 2500, "EUR")


def test_two_letters_can_cost_more_than_one_parcel(three: ShippingNetwork) -> None:
    # 1,800 g: two 900 g letters cost 10.00, one parcel 6.00.
    assert uids(three, None, weight=1800) == ["dhl_parcel", "post_letter", "ups_express"]


def test_a_package_beyond_the_last_band_makes_the_method_unavailable() -> None:
    capped = method("capped", "DHL", "normal", 30000, rate([(5000, "7.00")]))
    net = network(capped)
    assert quote_of(net, "capped", 5000) == (Decimal("7.00"), 1)
    assert quote_of(net, "capped", 5001) is None


def test_a_negative_weight_is_a_programming_error(three: ShippingNetwork) -> None:
    with pytest.raises(ValueError, match="negative"):
        three.select("DE", three.facility(BERLIN), -1, None, MONDAY_MORNING)


def test_equal_prices_go_to_the_faster_method_then_the_uid() -> None:
    slow = method("a_slow", "DHL", "normal", 1000, rate([(1000, "5.00")], 2, 5))
    fast = method("z_fast", "DHL", "normal", 1000, rate([(1000, "5.00")], 1, 2))
    twin = method("y_fast", "DHL", "normal", 1000, rate([(1000, "5.00")], 1, 2))
    assert uids(network(slow, fast, twin), None) == ["y_fast", "z_fast", "a_slow"]


# --- dates and zones ----------------------------------------------------------------


def test_delivery_dates_count_transit_business_days_after_dispatch(
    three: ShippingNetwork,
) -> None:
    # Monday before the cut-off, 1 lead day: dispatch Tuesday 16 June; 1-2 transit days.
    (quote,) = three.select("DE", three.facility(BERLIN), 400, "dhl_parcel", MONDAY_MORNING)
    assert (quote.min_delivery_date, quote.max_delivery_date) == (
        date(2026, 6, 17),
        date(2026, 6, 18),
    )
    assert (quote.min_delivery_days, quote.max_delivery_days) == (1, 2)


def test_a_destination_outside_every_rate_gets_no_quotes(three: ShippingNetwork) -> None:
    facility: Facility = three.facility(BERLIN)
    assert three.select("FR", facility, 400, None, MONDAY_MORNING) == ()


@pytest.mark.parametrize(
    ("origin", "destination", "zone"),
    [
        ("DE", "DE", Zone.DOMESTIC),
        ("DE", "FR", Zone.EU),
        ("GB", "FR", Zone.EU),
        ("DE", "GB", Zone.UK),
        ("GB", "GB", Zone.DOMESTIC),
        ("DE", "US", Zone.US),
        ("CA", "US", Zone.US),
        ("US", "CA", Zone.CA),
        ("US", "AU", Zone.AU),
        ("DE", "CH", Zone.ROW),
        ("DE", "NO", Zone.ROW),
        ("AU", "NZ", Zone.ROW),
    ],
)
def test_zones_follow_origin_and_destination(origin: str, destination: str, zone: Zone) -> None:
    assert zone_of(origin, destination) is zone


# --- what reaches a country (GET shipment-methods) ----------------------------------


@pytest.fixture(scope="module")
def starter() -> ShippingNetwork:
    parsed = documents.parse(ShippingFile, STARTER.read_text(), source="shipping.yaml")
    return ShippingNetwork.from_file(parsed)


def test_methods_for_a_country_are_listed_by_tier_then_uid(starter: ShippingNetwork) -> None:
    offers = starter.methods_for("GB")
    order = {"normal": 0, "standard": 1, "express": 2}
    assert offers == sorted(offers, key=lambda offer: (order[offer.tier], offer.uid))
    assert {offer.tier for offer in offers} == {"normal", "standard", "express"}


def test_methods_for_name_the_origins_they_reach_from(starter: ShippingNetwork) -> None:
    offers = {offer.uid: offer for offer in starter.methods_for("gb")}
    assert offers["dhl_global_parcel"].origin_countries == ("DE",)
    assert offers["royal_mail_tracked_48"].origin_countries == ("GB",)
    assert "AU" in offers["dhl_express_worldwide"].origin_countries


def test_methods_for_span_the_fastest_and_slowest_origin(starter: ShippingNetwork) -> None:
    offers = {offer.uid: offer for offer in starter.methods_for("GB")}
    ups = offers["ups_standard"]  # GB domestic 1-2, DE/NL to the UK 2-4
    assert (ups.min_days, ups.max_days) == (1, 4)


def test_fedex_2_day_is_offered_inside_the_us_only(starter: ShippingNetwork) -> None:
    assert "fed_ex_2_day" in {offer.uid for offer in starter.methods_for("US")}
    assert "fed_ex_2_day" not in {offer.uid for offer in starter.methods_for("SE")}
    assert "fed_ex_2_day" not in {offer.uid for offer in starter.methods_for("CA")}
