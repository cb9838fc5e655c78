"""Which facility makes an order, and the shipping file that says so (``catalog.routing``)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from pressline.catalog import documents
from pressline.catalog.model import Parcel, Unresolvable
from pressline.catalog.shipping import ShippingFile, ShippingNetwork, Zone
from pressline.errors import InvalidReferenceFile

STARTER = Path(__file__).parents[2] / "src/pressline/catalog/data/shipping.yaml"
BERLIN = "db0622e7-d7af-4453-b39f-cdf1b67f3daa"
US_FACILITIES = {"3c9a1f2e-7b6d-4e5c-8a4b-1f0e9d8c7b60", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c70"}
MONDAY_MORNING = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
POSTER = Parcel("wall-art", 800)
FLYER = Parcel("printed-products", 20)

#: A country in every zone, to ask each facility about.
ZONE_SAMPLES = {Zone.EU: "SE", Zone.UK: "GB", Zone.US: "US", Zone.CA: "CA", Zone.AU: "AU"}


@pytest.fixture(scope="module")
def starter() -> ShippingNetwork:
    parsed = documents.parse(ShippingFile, STARTER.read_text(), source="shipping.yaml")
    return ShippingNetwork.from_file(parsed)


# --- the starter network ------------------------------------------------------------


def test_every_facility_ships_everywhere_with_a_normal_method(starter: ShippingNetwork) -> None:
    for facility in starter.facilities:
        destinations = {facility.country, "CH", *ZONE_SAMPLES.values()}
        for country in destinations:
            quotes = starter.select(country, facility, 800, "normal", MONDAY_MORNING)
            assert quotes, f"{facility.name} has no normal method to {country}"


def test_every_facility_offers_express_at_home(starter: ShippingNetwork) -> None:
    for facility in starter.facilities:
        quotes = starter.select(facility.country, facility, 800, "express", MONDAY_MORNING)
        assert quotes, f"{facility.name} has no express method at home"


def test_the_seven_starter_facilities_are_the_agreed_ones(starter: ShippingNetwork) -> None:
    named = {(facility.name, facility.country) for facility in starter.facilities}
    assert named == {
        ("Berlin Print Works", "DE"),
        ("Amsterdam Canvas & Frame", "NL"),
        ("London Press", "GB"),
        ("New Jersey Print Hub", "US"),
        ("Los Angeles Apparel", "US"),
        ("Toronto Print Co", "CA"),
        ("Sydney Print House", "AU"),
    }
    assert "wall-art" not in starter.facility("8e7f6a5b-4c3d-4b2a-9f1e-0d9c8b7a6f50").categories


def test_a_gb_poster_is_made_in_berlin_and_sent_with_dhl_global_parcel(
    starter: ShippingNetwork,
) -> None:
    # Seed 000's cross-border example: London Press makes no wall art.
    route = starter.route("GB", [POSTER], None, MONDAY_MORNING)
    assert (route.facility_id, route.facility_country) == (BERLIN, "DE")
    assert route.chosen.method_uid == "dhl_global_parcel"
    assert route.chosen.service_type == "normal"


def test_the_seed_s_swedish_selector_matches_through_its_tiers(starter: ShippingNetwork) -> None:
    route = starter.route("SE", [FLYER], "normal,standard,fed_ex_2_day", MONDAY_MORNING)
    assert route.facility_country in {"DE", "NL"}
    assert {quote.tier for quote in route.quotes} <= {"normal", "standard"}


def test_us_apparel_and_a_mug_are_made_in_the_us(starter: ShippingNetwork) -> None:
    parcels = [Parcel("apparel", 400), Parcel("home-and-living", 350)]
    route = starter.route("US", parcels, None, MONDAY_MORNING)
    assert route.facility_id in US_FACILITIES
    assert route.chosen.total_weight == 750


def test_a_route_lists_every_allowed_quote_cheapest_first(starter: ShippingNetwork) -> None:
    route = starter.route("GB", [POSTER], None, MONDAY_MORNING)
    prices = [quote.price for quote in route.quotes]
    assert prices == sorted(prices)
    assert route.chosen == route.quotes[0]
    assert len(route.quotes) > 1


def test_a_category_nobody_makes_cannot_be_produced(starter: ShippingNetwork) -> None:
    with pytest.raises(Unresolvable) as caught:
        starter.route("DE", [Parcel("calendars", 300)], None, MONDAY_MORNING)
    assert caught.value.code == "cannot_produce_at_single_location"
    assert "calendars: no facility" in caught.value.message


def test_no_matching_method_lists_what_reaches_the_destination(starter: ShippingNetwork) -> None:
    with pytest.raises(Unresolvable) as caught:
        starter.route("SE", [FLYER], "fed_ex_2_day", MONDAY_MORNING)
    assert caught.value.code == "no_matching_shipment_method"
    message = caught.value.message
    assert "'fed_ex_2_day'" in message
    assert "deutsche_post_warenpost" in message and "dhl_parcel_connect" in message
    assert "tiers normal, standard, express" in message


def test_an_order_without_parcels_is_a_programming_error(starter: ShippingNetwork) -> None:
    with pytest.raises(ValueError, match="at least one parcel"):
        starter.route("DE", [], None, MONDAY_MORNING)


# --- the algorithm, on small networks ----------------------------------------------


def facility(id_: str, country: str, categories: list[str], lead_days: int = 1) -> dict[str, Any]:
    zones = {"DE": "Europe/Berlin", "NL": "Europe/Amsterdam", "FR": "Europe/Paris"}
    return {
        "id": id_,
        "name": f"Plant {id_[:4]}",
        "country": country,
        "timezone": zones[country],
        "categories": categories,
        "lead_days": lead_days,
        "cut_off": "14:00",
    }


def post(rates: dict[str, dict[str, tuple[str, int]]]) -> dict[str, Any]:
    """A method with ``origin -> zone -> (price, max_days)`` rates."""
    return {
        "uid": "post",
        "name": "Post",
        "carrier": "Post",
        "tier": "normal",
        "service_type": "normal",
        "tracked": True,
        "max_package_weight": 10000,
        "rates": {
            origin: {
                zone: {"min_days": 1, "max_days": days, "bands": [{"up_to": 10000, "price": price}]}
                for zone, (price, days) in zones.items()
            }
            for origin, zones in rates.items()
        },
    }


def small(facilities: list[dict[str, Any]], *methods: dict[str, Any]) -> ShippingNetwork:
    data = {"currency": "EUR", "facilities": facilities, "shipment_methods": list(methods)}
    return ShippingNetwork.from_file(ShippingFile.model_validate(data))


A = "00000000-0000-4000-8000-00000000000a"
B = "00000000-0000-4000-8000-00000000000b"


def test_a_facility_in_the_destination_country_wins_even_if_slower_and_dearer() -> None:
    net = small(
        [facility(A, "NL", ["wall-art"], lead_days=0), facility(B, "DE", ["wall-art"], 3)],
        post({"NL": {"eu": ("3.00", 1)}, "DE": {"domestic": ("9.00", 5)}}),
    )
    assert net.route("DE", [POSTER], None, MONDAY_MORNING).facility_id == B


def test_a_local_facility_without_an_allowed_method_loses_to_one_abroad() -> None:
    express = post({"DE": {"domestic": ("20.00", 1)}}) | {"uid": "express", "tier": "express"}
    net = small(
        [facility(A, "NL", ["wall-art"]), facility(B, "DE", ["wall-art"])],
        post({"NL": {"eu": ("7.00", 3)}}),
        express,
    )
    assert net.route("DE", [POSTER], "normal", MONDAY_MORNING).facility_id == A


def test_abroad_the_earliest_delivery_wins_over_the_cheaper_price() -> None:
    net = small(
        [facility(A, "NL", ["wall-art"]), facility(B, "DE", ["wall-art"])],
        post({"NL": {"eu": ("5.00", 6)}, "DE": {"eu": ("8.00", 2)}}),
    )
    assert net.route("FR", [POSTER], None, MONDAY_MORNING).facility_id == B


def test_on_equal_delivery_dates_the_cheaper_facility_wins() -> None:
    net = small(
        [facility(A, "NL", ["wall-art"]), facility(B, "DE", ["wall-art"])],
        post({"NL": {"eu": ("8.00", 3)}, "DE": {"eu": ("6.00", 3)}}),
    )
    assert net.route("FR", [POSTER], None, MONDAY_MORNING).facility_id == B


@pytest.mark.parametrize("order", [[A, B], [B, A]])
def test_equal_facilities_tie_break_on_the_lower_id_whatever_the_file_order(
    order: list[str],
) -> None:
    net = small(
        [facility(id_, "DE", ["wall-art"]) for id_ in order],
        post({"DE": {"domestic": ("5.00", 2)}}),
    )
    assert net.route("DE", [POSTER], None, MONDAY_MORNING).facility_id == A


def test_items_no_single_facility_makes_cannot_be_produced_together() -> None:
    net = small(
        [facility(A, "DE", ["apparel"]), facility(B, "DE", ["photo-books"])],
        post({"DE": {"domestic": ("5.00", 2)}}),
    )
    parcels = [Parcel("apparel", 300), Parcel("photo-books", 900)]
    with pytest.raises(Unresolvable) as caught:
        net.route("DE", parcels, None, MONDAY_MORNING)
    assert caught.value.code == "cannot_produce_at_single_location"
    message = caught.value.message
    assert message.startswith(
        "No single production facility can make every item of this order (apparel, photo-books)"
    )
    assert f"apparel: Plant {A[:4]} (DE)" in message


def test_an_order_over_every_band_says_no_method_can_carry_it() -> None:
    capped = post({"DE": {"domestic": ("5.00", 2)}})
    capped["rates"]["DE"]["domestic"]["bands"] = [{"up_to": 500, "price": "5.00"}]
    net = small([facility(A, "DE", ["wall-art"])], capped)
    with pytest.raises(Unresolvable) as caught:
        net.route("DE", [POSTER], None, MONDAY_MORNING)
    assert caught.value.code == "no_matching_shipment_method"
    assert caught.value.message == (
        "No shipment method can carry this order (800 g) to DE from the facilities "
        f"that make it: Plant {A[:4]} (DE)."
    )


# --- invalid files ------------------------------------------------------------------


def starter_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(STARTER.read_text())
    return data


def locations(data: dict[str, Any]) -> list[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as caught:
        ShippingFile.model_validate(data)
    return [tuple(error["loc"]) for error in caught.value.errors()]


def method_index(data: dict[str, Any], uid: str) -> int:
    return next(i for i, entry in enumerate(data["shipment_methods"]) if entry["uid"] == uid)


def test_an_unknown_zone_is_reported_at_its_key() -> None:
    data = starter_data()
    index = method_index(data, "dhl_global_parcel")
    data["shipment_methods"][index]["rates"]["DE"]["moon"] = data["shipment_methods"][index][
        "rates"
    ]["DE"]["uk"]
    assert locations(data) == [("shipment_methods", index, "rates", "DE", "moon", "[key]")]


def test_an_unknown_category_is_reported_at_the_entry() -> None:
    data = starter_data()
    data["facilities"][2]["categories"].append("calendars")
    assert locations(data) == [("facilities", 2, "categories", 2)]


def test_a_bad_time_zone_is_reported_at_the_facility() -> None:
    data = starter_data()
    data["facilities"][1]["timezone"] = "Europe/Amsterdan"
    assert locations(data) == [("facilities", 1, "timezone")]


def test_bands_out_of_order_are_reported_at_the_band() -> None:
    data = starter_data()
    index = method_index(data, "dhl_paket")
    bands = data["shipment_methods"][index]["rates"]["DE"]["domestic"]["bands"]
    bands[1]["up_to"] = bands[0]["up_to"]
    assert locations(data) == [
        ("shipment_methods", index, "rates", "DE", "domestic", "bands", 1, "up_to")
    ]


def test_a_band_above_the_package_limit_is_reported_at_the_band() -> None:
    data = starter_data()
    index = method_index(data, "deutsche_post_warenpost")
    data["shipment_methods"][index]["max_package_weight"] = 800
    assert ("shipment_methods", index, "rates", "DE", "eu", "bands", 1, "up_to") in locations(data)


def test_a_duplicate_method_uid_is_reported_at_the_second_one() -> None:
    data = starter_data()
    data["shipment_methods"].append(copy.deepcopy(data["shipment_methods"][0]))
    last = len(data["shipment_methods"]) - 1
    assert locations(data) == [("shipment_methods", last, "uid")]


def test_a_duplicate_facility_id_is_reported_at_the_second_one() -> None:
    data = starter_data()
    data["facilities"][3]["id"] = data["facilities"][0]["id"].upper()
    assert locations(data) == [("facilities", 3, "id")]


def test_a_rate_from_a_country_without_a_facility_is_refused_as_a_typo() -> None:
    data = starter_data()
    index = method_index(data, "royal_mail_tracked_48")
    rates = data["shipment_methods"][index]["rates"]
    rates["IE"] = rates["GB"]
    assert locations(data) == [("shipment_methods", index, "rates", "IE")]


def test_a_rate_to_a_country_zone_from_that_country_is_refused() -> None:
    data = starter_data()
    index = method_index(data, "royal_mail_tracked_48")
    rates = data["shipment_methods"][index]["rates"]["GB"]
    rates["uk"] = rates["domestic"]
    assert locations(data) == [("shipment_methods", index, "rates", "GB", "uk")]


def test_max_days_below_min_days_is_reported_at_max_days() -> None:
    data = starter_data()
    index = method_index(data, "dhl_paket")
    data["shipment_methods"][index]["rates"]["DE"]["domestic"]["max_days"] = 0
    assert locations(data) == [("shipment_methods", index, "rates", "DE", "domestic", "max_days")]


def test_a_facility_closed_all_week_is_refused() -> None:
    data = starter_data()
    data["facilities"][0]["closed_weekdays"] = [
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    ]  # fmt: skip
    assert locations(data) == [("facilities", 0, "closed_weekdays")]


def test_an_unquoted_cut_off_is_refused_with_a_line_number() -> None:
    text = STARTER.read_text().replace('cut_off: "12:00"', "cut_off: 12:00", 1)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "cut_off: 12:00" in row)
    with pytest.raises(InvalidReferenceFile) as caught:
        documents.parse(ShippingFile, text, source="shipping.yaml")
    (error,) = caught.value.field_errors
    assert error.param == "facilities.2.cut_off"
    assert error.message.startswith(f"line {line}: ")
    assert "quoted" in error.message


def test_a_bad_band_is_reported_at_its_yaml_line() -> None:
    text = STARTER.read_text()
    bad = text.replace(
        "{up_to: 500, price: 3.79}, {up_to: 1000", "{up_to: 500, price: 3.79}, {up_to: 400"
    )
    line = next(n for n, row in enumerate(bad.splitlines(), 1) if "{up_to: 400" in row)
    with pytest.raises(InvalidReferenceFile) as caught:
        documents.parse(ShippingFile, bad, source="shipping.yaml")
    (error,) = caught.value.field_errors
    assert error.message.startswith(f"line {line}: ")
