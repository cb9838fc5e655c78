"""Prices, conversion, VAT and receipts (``pressline.catalog.pricing``), without a database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from importlib.resources import files
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from pressline.catalog.model import (
    EU_MEMBER_STATES,
    PriceTier,
    ResolvedProduct,
    ShippingQuote,
    Unresolvable,
)
from pressline.catalog.pricing import PriceBook, ProductLine, RatesFile, Receipt

D = Decimal

#: A small rates table with round numbers, so expected amounts can be worked out by hand.
RATES: dict[str, Any] = {
    "base_currency": "EUR",
    "exchange_rates": {"EUR": 1, "USD": "1.25", "GBP": "0.80", "SEK": "10", "JPY": "160"},
    "vat_rates": {
        **dict.fromkeys(EU_MEMBER_STATES, "0.20"),
        "DE": "0.19",
        "SE": "0.25",
        "GB": "0.20",
        "US": "0",
    },
    "packaging_per_package": "0.50",
    "reverse_charge": True,
}

#: Every total key of seed 000's receipt.
SEED_TOTAL_KEYS = {
    f"{prefix}{suffix}"
    for prefix in ("productsPrice", "digitizationPrice", "shippingPrice", "packagingPrice")
    for suffix in ("Initial", "Discount", "", "Vat", "InclVat")
} | {
    "discount", "discountVat", "discountInclVat", "totalInitial", "total", "totalVat",
    "totalInclVat",
}  # fmt: skip


def book(**changes: Any) -> PriceBook:
    return PriceBook.from_file(RatesFile.model_validate({**RATES, **changes}))


def product(
    uid: str = "flyers_pf_a5", prices: dict[str, tuple[PriceTier, ...]] | None = None
) -> ResolvedProduct:
    return ResolvedProduct(
        product_uid=uid,
        prefix=uid.split("_")[0],
        name="Flyer",
        name_uid="flyer",
        category="Printed products",
        category_uid="printed-products",
        type_uid="flyer",
        attributes=(),
        unit_weight=10,
        prices=prices if prices is not None else {"EUR": (PriceTier(1, D("10.00")),)},
    )


def eur(price: str) -> dict[str, tuple[PriceTier, ...]]:
    return {"EUR": (PriceTier(1, D(price)),)}


def quote(price: str = "4.00", packages: int = 1) -> ShippingQuote:
    return ShippingQuote(
        method_uid="dhl_global_parcel",
        method_name="DHL Global Parcel",
        carrier="DHL",
        tier="normal",
        service_type="normal",
        tracked=True,
        price=D(price),
        currency="EUR",
        package_count=packages,
        total_weight=500,
        min_delivery_days=1,
        max_delivery_days=2,
        min_delivery_date=date(2024, 12, 3),
        max_delivery_date=date(2024, 12, 4),
    )


def receipt(
    lines: list[ProductLine],
    *,
    prices: PriceBook | None = None,
    currency: str = "EUR",
    destination: str = "DE",
    facility: str = "DE",
    is_business: bool = False,
    tax_id: str | None = None,
    shipping: ShippingQuote | None = None,
    charged: bool = True,
) -> Receipt:
    return (prices or book()).price_order(
        lines=lines,
        shipping=shipping or quote(),
        shipment_id="ship-1",
        currency=currency,
        destination_country=destination,
        facility_country=facility,
        is_business=is_business,
        tax_id=tax_id,
        charged=charged,
    )


def one_item(
    quantity: int = 1, prices: dict[str, tuple[PriceTier, ...]] | None = None
) -> list[ProductLine]:
    return [ProductLine("item-1", product(prices=prices), quantity)]


# --- unit prices and conversion --------------------------------------------------------

TIERED: dict[str, tuple[PriceTier, ...]] = {
    "EUR": (PriceTier(1, D("10.00")), PriceTier(10, D("8.00")), PriceTier(100, D("6.00")))
}


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [(1, "10.00"), (9, "10.00"), (10, "8.00"), (99, "8.00"), (100, "6.00"), (5000, "6.00")],
)
def test_unit_price_comes_from_the_highest_tier_the_quantity_reaches(
    quantity: int, expected: str
) -> None:
    assert book().unit_price(product(prices=TIERED), quantity, "EUR") == D(expected)


def test_the_catalogs_own_currency_price_wins_over_a_converted_one() -> None:
    priced = product(prices={**eur("10.00"), "USD": (PriceTier(1, D("11.00")),)})
    assert book().unit_price(priced, 1, "USD") == D("11.00")  # not 10.00 x 1.25


def test_a_currency_the_catalog_lacks_is_converted_from_the_base_price() -> None:
    assert book().unit_price(product(prices=TIERED), 10, "GBP") == D("6.40")  # 8.00 x 0.80


def test_conversion_works_both_ways_and_between_foreign_currencies_via_the_base() -> None:
    prices = book()
    assert prices.convert(D("10"), "EUR", "USD") == D("12.5")
    assert prices.convert(D("12.5"), "USD", "EUR") == D("10")
    assert prices.convert(D("12.5"), "USD", "GBP") == D("8")
    assert prices.convert(D("3.33"), "SEK", "SEK") == D("3.33")


def test_an_unsupported_currency_is_refused_with_the_supported_list() -> None:
    with pytest.raises(Unresolvable) as error:
        book().convert(D("1"), "EUR", "CHF")
    assert error.value.code == "unsupported_currency"
    assert "'CHF'" in error.value.message
    assert "EUR, GBP, JPY, SEK, USD" in error.value.message


def test_pricing_an_order_in_an_unsupported_currency_is_refused() -> None:
    with pytest.raises(Unresolvable) as error:
        receipt(one_item(), currency="CHF")
    assert error.value.code == "unsupported_currency"


def test_a_product_without_a_usable_price_is_unresolvable() -> None:
    with pytest.raises(Unresolvable) as error:
        book().unit_price(product(prices={"USD": (PriceTier(1, D("1")),)}), 1, "GBP")
    assert error.value.code == "product_not_priced"


# --- receipt lines ---------------------------------------------------------------------


def test_a_receipt_has_product_lines_then_shipment_then_packaging() -> None:
    lines = [ProductLine("item-1", product("a_x"), 2), ProductLine("item-2", product("b_y"), 1)]
    result = receipt(lines, shipping=quote("4.00", packages=3))
    assert [(ln.type, ln.reference_id, ln.title, ln.amount) for ln in result.lines] == [
        ("product", "item-1", "2x a_x", 2),
        ("product", "item-2", "1x b_y", 1),
        ("shipment", "ship-1", "Delivery using DHL Global Parcel", 1),
        ("packaging", "ship-1", "Packaging", 3),
    ]
    item, _, shipment, packaging = result.lines
    assert (item.price_base, item.price_initial, item.price) == (D("10.00"), D("20.00"), D("20.00"))
    assert (item.vat, item.price_incl_vat) == (D("3.80"), D("23.80"))
    assert (shipment.price, shipment.vat) == (D("4.00"), D("0.76"))
    assert (packaging.price_base, packaging.price) == (D("0.50"), D("1.50"))


def test_shipping_and_packaging_are_converted_into_the_order_currency() -> None:
    result = receipt(one_item(), currency="USD", shipping=quote("4.00", packages=2))
    _, shipment, packaging = result.lines
    assert shipment.price == D("5.00")
    assert packaging.price == D("1.25")  # 2 x 0.50 EUR x 1.25
    assert {line.currency for line in result.lines} == {"USD"}


def test_a_line_is_rounded_once_from_the_unrounded_unit_price() -> None:
    # 0.01 EUR is 0.0125 USD: three pieces are 0.0375 -> 0.04, not 3 x 0.01.
    (line, *_) = receipt(one_item(3, eur("0.01")), currency="USD").lines
    assert line.price_base == D("0.01")
    assert line.price_initial == D("0.04")


def test_totals_add_up_rounded_lines_instead_of_rounding_the_sum() -> None:
    # Each line is 0.0125 -> 0.01; the unrounded sum 0.0375 would round to 0.04.
    lines = [ProductLine(f"item-{n}", product(prices=eur("0.01")), 1) for n in range(3)]
    totals = receipt(lines, currency="USD").totals()
    assert totals["productsPrice"] == D("0.03")


def test_vat_is_rounded_per_line() -> None:
    # 0.03 x 19 % = 0.0057 -> 0.01 per line; 0.09 x 19 % = 0.0171 would give 0.02.
    lines = [ProductLine(f"item-{n}", product(prices=eur("0.03")), 1) for n in range(3)]
    totals = receipt(lines).totals()
    assert totals["productsPriceVat"] == D("0.03")


def test_zero_decimal_currencies_round_to_whole_units() -> None:
    result = receipt(one_item(1, eur("10.00")), currency="JPY", shipping=quote("4.99"))
    item, shipment, packaging = result.lines
    assert str(item.price) == "1600"
    assert str(shipment.price) == "798"  # 4.99 x 160 = 798.4
    assert str(shipment.vat) == "152"  # 798 x 19 % = 151.62
    assert str(packaging.price) == "80"
    assert str(result.totals()["totalInclVat"]) == "2949"  # 1600 + 304 + 798 + 152 + 80 + 15


# --- VAT --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "rate", "vat"),
    [("DE", "0.19", "1.90"), ("GB", "0.20", "2.00"), ("US", "0", "0.00"), ("BR", "0", "0.00")],
)
def test_vat_follows_the_destination_country(destination: str, rate: str, vat: str) -> None:
    result = receipt(one_item(), destination=destination)
    assert result.vat_rate == D(rate)
    assert result.lines[0].vat == D(vat)
    assert result.reverse_charge is False


def test_an_eu_business_in_another_member_state_pays_no_vat_by_reverse_charge() -> None:
    result = receipt(one_item(), facility="DE", destination="FR", is_business=True, tax_id="FR1")
    assert result.reverse_charge is True
    assert result.vat_rate == 0
    assert result.totals()["totalVat"] == 0


@pytest.mark.parametrize(
    ("facility", "destination", "is_business", "tax_id", "rate"),
    [
        ("DE", "DE", True, "DE123", "0.19"),  # same member state: domestic VAT
        ("DE", "FR", True, None, "0.20"),  # no tax id: treated as a consumer
        ("DE", "FR", True, "   ", "0.20"),
        ("DE", "FR", False, "FR1", "0.20"),  # a consumer who typed a tax id
        ("DE", "GB", True, "GB123", "0.20"),  # GB is outside the EU VAT area
        ("GB", "DE", True, "DE123", "0.19"),  # facility outside the EU
    ],
)
def test_reverse_charge_applies_only_to_eu_businesses_across_member_states(
    facility: str, destination: str, is_business: bool, tax_id: str | None, rate: str
) -> None:
    result = receipt(
        one_item(), facility=facility, destination=destination,
        is_business=is_business, tax_id=tax_id,
    )  # fmt: skip
    assert result.reverse_charge is False
    assert result.vat_rate == D(rate)


def test_reverse_charge_can_be_switched_off_by_the_operator() -> None:
    prices = book(reverse_charge=False)
    result = receipt(one_item(), prices=prices, destination="FR", is_business=True, tax_id="FR1")
    assert result.reverse_charge is False
    assert result.vat_rate == D("0.20")


# --- totals and unpaid receipts -------------------------------------------------------


def test_totals_have_seed_000s_keys_and_equal_the_sums_of_their_lines() -> None:
    lines = [ProductLine("i1", product(prices=TIERED), 12), ProductLine("i2", product(), 1)]
    result = receipt(lines, currency="SEK", destination="SE", shipping=quote("7.35", 2))
    totals = result.totals()
    assert set(totals) == SEED_TOTAL_KEYS
    by_type = {
        prefix: [ln for ln in result.lines if ln.type == kind]
        for prefix, kind in [("products", "product"), ("shipping", "shipment"),
                             ("packaging", "packaging")]
    }  # fmt: skip
    for prefix, lines_of_type in by_type.items():
        assert totals[f"{prefix}Price"] == sum(ln.price for ln in lines_of_type)
        assert totals[f"{prefix}PriceVat"] == sum(ln.vat for ln in lines_of_type)
        assert totals[f"{prefix}PriceInclVat"] == sum(ln.price_incl_vat for ln in lines_of_type)
    assert totals["productsPrice"] == D("1060.00")  # 12 x 80.00 + 100.00
    assert totals["shippingPrice"] == D("73.50")
    assert totals["packagingPrice"] == D("10.00")
    assert totals["total"] == D("1143.50")
    assert totals["totalVat"] == D("285.88")  # 265.00 + 18.38 + 2.50
    assert totals["totalInclVat"] == totals["total"] + totals["totalVat"]
    assert totals["digitizationPriceInclVat"] == totals["discount"] == 0


def test_an_uncharged_order_keeps_its_lines_with_every_amount_zero() -> None:
    lines = [ProductLine("item-1", product(), 2)]
    charged = receipt(lines, shipping=quote("4.00", 2))
    free = receipt(lines, shipping=quote("4.00", 2), charged=False)
    shape = [(ln.type, ln.reference_id, ln.title, ln.amount) for ln in free.lines]
    assert shape == [(ln.type, ln.reference_id, ln.title, ln.amount) for ln in charged.lines]
    for line in free.lines:
        amounts = (line.price_base, line.price_initial, line.price, line.vat, line.price_incl_vat)
        assert set(amounts) == {D(0)}
    assert free.charged is False
    assert set(free.totals().values()) == {0}
    assert str(free.totals()["totalInclVat"]) == "0.00"


# --- the rates file ---------------------------------------------------------------------


def test_the_starter_rates_file_validates() -> None:
    text = (files("pressline.catalog") / "data" / "rates.yaml").read_text(encoding="utf-8")
    rates = RatesFile.model_validate(yaml.safe_load(text))
    assert rates.exchange_rates[rates.base_currency] == 1
    assert rates.vat_rates.keys() >= EU_MEMBER_STATES
    assert rates.exchange_rates.keys() >= {"USD", "GBP", "JPY", "SEK"}
    assert rates.vat_rates["NO"] == D("0.25")  # quoted, not read as a boolean


def _fx(code: str, rate: object) -> dict[str, Any]:
    return {"exchange_rates": {**RATES["exchange_rates"], code: rate}}


def _vat(code: object, rate: object) -> dict[str, Any]:
    return {"vat_rates": {**RATES["vat_rates"], code: rate}}


def _without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        (_fx("USD", 0), ("exchange_rates", "USD")),
        (_fx("usd", 1), ("exchange_rates", "usd", "[key]")),
        (_fx("XQQ", 1), ("exchange_rates", "XQQ", "[key]")),
        (_fx("EUR", "1.1"), ("exchange_rates", "EUR")),
        ({"exchange_rates": _without(RATES["exchange_rates"], "EUR")}, ("exchange_rates",)),
        ({"base_currency": "EURO"}, ("base_currency",)),
        (_vat("DE", 19), ("vat_rates", "DE")),
        (_vat("CH", "-0.1"), ("vat_rates", "CH")),
        (_vat("UK", "0.2"), ("vat_rates", "UK", "[key]")),
        ({"vat_rates": _without(RATES["vat_rates"], "AT")}, ("vat_rates",)),
        ({"packaging_per_package": "-0.50"}, ("packaging_per_package",)),
        ({"surcharge": 1}, ("surcharge",)),
    ],
)  # fmt: skip
def test_an_invalid_rates_file_is_rejected_at_the_offending_entry(
    changes: dict[str, Any], loc: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as error:
        RatesFile.model_validate({**RATES, **changes})
    assert [e["loc"] for e in error.value.errors()] == [loc]


def test_a_missing_eu_vat_rate_names_the_member_state() -> None:
    with pytest.raises(ValidationError, match="'AT'"):
        RatesFile.model_validate({**RATES, "vat_rates": _without(RATES["vat_rates"], "AT")})


def test_an_unquoted_norway_code_gets_a_hint_to_quote_it() -> None:
    with pytest.raises(ValidationError, match='quote country codes such as "NO"'):
        RatesFile.model_validate({**RATES, "vat_rates": {**RATES["vat_rates"], False: "0.25"}})
