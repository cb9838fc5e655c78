"""The reusable field checks of ``pressline.orders.fields``, seen through the request models.

Pure: no database, no HTTP. Each rejection asserts the pydantic error ``type`` (our stable
code where we raise one) and its ``loc`` (wire names, as the 400 body's ``param`` shows them).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import ValidationError

from pressline.orders import examples
from pressline.orders.schemas import OrderCreate, PrintFile, ShippingAddress

Loc = tuple[int | str, ...]


#: A state where one is required, for checks of other fields.
_STATES = {"US": "NY", "CA": "ON", "AU": "NSW"}


def _address(**changes: Any) -> dict[str, Any]:
    """Seed 000's Swedish address (no state needed) with ``changes``."""
    address: dict[str, Any] = copy.deepcopy(examples.SUBMIT["reference"]["shippingAddress"])
    address.update(changes)
    return address


def _order_json(**changes: Any) -> str:
    order = copy.deepcopy(examples.SUBMIT["reference"])
    order.update(changes)
    return json.dumps(order)


def _errors(exc: pytest.ExceptionInfo[ValidationError]) -> set[tuple[str, Loc]]:
    return {(error["type"], tuple(error["loc"])) for error in exc.value.errors()}


# --- country: ISO 3166-1 alpha-2 -------------------------------------------------------------


@pytest.mark.parametrize("country", ["GB", "SE", "DE", "NO", "JP"])
def test_iso_country_codes_are_accepted(country: str) -> None:
    assert ShippingAddress.model_validate(_address(country=country)).country == country


def test_uk_is_rejected_because_the_iso_code_is_gb() -> None:
    with pytest.raises(ValidationError) as exc:
        ShippingAddress.model_validate(_address(country="UK"))
    assert _errors(exc) == {("invalid_country", ("country",))}


@pytest.mark.parametrize("country", ["gb", "GBR", "G", "", "1A", "XX"])
def test_malformed_or_unassigned_country_codes_are_rejected(country: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ShippingAddress.model_validate(_address(country=country))
    [(kind, loc)] = _errors(exc)
    assert loc == ("country",)
    # Shape errors come from the pattern, unknown two-letter codes from the ISO list.
    assert kind == ("invalid_country" if country == "XX" else "string_pattern_mismatch")


# --- currency: ISO 4217 ----------------------------------------------------------------------


@pytest.mark.parametrize("currency", ["EUR", "USD", "GBP", "SEK", "JPY"])
def test_iso_currency_codes_are_accepted(currency: str) -> None:
    order = OrderCreate.model_validate_json(_order_json(currency=currency, retailCurrency=currency))
    assert (order.currency, order.retail_currency) == (currency, currency)


@pytest.mark.parametrize(
    ("currency", "kind"),
    [
        ("XYZ", "invalid_currency"),
        ("ABC", "invalid_currency"),
        ("eur", "string_pattern_mismatch"),
        ("EURO", "string_pattern_mismatch"),
        ("€", "string_pattern_mismatch"),
    ],
)
@pytest.mark.parametrize("field", ["currency", "retailCurrency"])
def test_non_iso_currencies_are_rejected(currency: str, kind: str, field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        OrderCreate.model_validate_json(_order_json(**{field: currency}))
    assert _errors(exc) == {(kind, (field,))}


# --- email -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email", ["customer@example.com", "first.last+tag@mail.example.co.uk", "  padded@example.com "]
)
def test_valid_emails_are_accepted_and_trimmed(email: str) -> None:
    assert ShippingAddress.model_validate(_address(email=email)).email == email.strip()


@pytest.mark.parametrize(
    "email", ["john.doe", "john@", "@example.com", "john doe@example.com", "a@@example.com"]
)
def test_invalid_emails_are_rejected(email: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ShippingAddress.model_validate(_address(email=email))
    assert _errors(exc) == {("invalid_email", ("email",))}


# --- phone -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "country"),
    [
        ("+47222222", "SE"),  # seed 000's own example: short, but a courier can dial it
        ("123-456-7890", "US"),  # seed 001's example, national format
        ("(202) 555-0123", "US"),
        ("+44 20 7946 0958", "GB"),
        ("+34 111444111", "GB"),  # seed 000's update example: foreign number, GB address
    ],
)
def test_dialable_phone_numbers_are_accepted(phone: str, country: str) -> None:
    address = ShippingAddress.model_validate(
        _address(country=country, phone=phone, state=_STATES.get(country, ""))
    )
    assert address.phone == phone


@pytest.mark.parametrize(
    ("phone", "country"),
    [
        ("call me", "US"),  # letters
        ("+1 202 CALL NOW", "US"),
        ("12", "US"),  # too short
        ("+1 202 555 0123 4567 890", "US"),  # too long for any plan
        ("+999 123456789", "US"),  # no such country calling code
        ("+", "US"),
        ("++1 212 555 0100", "US"),  # phonenumbers alone reads it as +1
        ("+1 212 +555 0100", "US"),
    ],
)
def test_undialable_phone_numbers_are_rejected(phone: str, country: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ShippingAddress.model_validate(
            _address(country=country, phone=phone, state=_STATES.get(country, ""))
        )
    assert _errors(exc) == {("invalid_phone", ("phone",))}


def test_phone_longer_than_25_characters_is_too_long() -> None:
    with pytest.raises(ValidationError) as exc:
        ShippingAddress.model_validate(_address(phone="+47 222 222 222 222 222 22"))
    assert _errors(exc) == {("string_too_long", ("phone",))}


@pytest.mark.parametrize("country", ["UK", None])
def test_a_bad_country_does_not_also_fail_a_national_phone_number(country: str | None) -> None:
    address = _address(country=country, phone="123-456-7890")
    if country is None:
        del address["country"]
    with pytest.raises(ValidationError) as exc:
        ShippingAddress.model_validate(address)
    assert [loc for _, loc in _errors(exc)] == [("country",)]


def test_an_international_phone_is_still_checked_when_the_country_is_bad() -> None:
    with pytest.raises(ValidationError) as exc:
        ShippingAddress.model_validate(_address(country="UK", phone="+999 123456789"))
    assert _errors(exc) == {("invalid_country", ("country",)), ("invalid_phone", ("phone",))}


# --- print file url: absolute http(s) ------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/files/printfile.pdf",
        "http://example.com",
        "HTTPS://Example.com/a.pdf?sig=abc&exp=1#page=2",
        "https://cdn.example.com:8443/a.pdf",
        "https://[2606:4700:4700::1111]/a.pdf",
        "https://bücher.example/ä.pdf",
    ],
)
def test_absolute_http_urls_are_accepted(url: str) -> None:
    assert PrintFile.model_validate({"type": "default", "url": url}).url == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.pdf",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "/files/printfile.pdf",  # relative
        "example.com/printfile.pdf",  # no scheme
        "https:example.com/a.pdf",
        "https://",  # no host
        "https:///a.pdf",
        "https://:443/a.pdf",
        "https://#fragment",
        "https://?q=1",
        "https://exa mple.com/a.pdf",  # whitespace
        "https://example.com/print file.pdf",
        "https://example.com/a\tb.pdf",
        "https://example.com/a\nb.pdf",
        "https://example.com:99999/a.pdf",  # no such port
        "https://[2001:db8::1/a.pdf",
    ],
)
def test_non_absolute_or_non_http_urls_are_rejected(url: str) -> None:
    with pytest.raises(ValidationError) as exc:
        PrintFile.model_validate({"type": "default", "url": url})
    assert _errors(exc) == {("invalid_url", ("url",))}


def test_surrounding_whitespace_of_a_url_is_trimmed_not_rejected() -> None:
    url = "https://example.com/a.pdf"
    assert PrintFile.model_validate({"type": "front", "url": f"  {url}\n"}).url == url


# --- money -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "kind"),
    [(-0.01, "greater_than_equal"), (1.23456, "decimal_max_places"), (1e10, "less_than_equal")],
)
def test_retail_prices_must_be_non_negative_amounts(price: float, kind: str) -> None:
    with pytest.raises(ValidationError) as exc:
        OrderCreate.model_validate_json(_order_json(retailShippingPriceInclVat=price))
    assert _errors(exc) == {(kind, ("retailShippingPriceInclVat",))}
