"""Submit Order validation through the HTTP API (issue 2 §4, domain.md §3, reliability.md 5/8).

Every rejection is a 400 in the standard error body, and lists each bad field with its
dotted ``param`` (as a client addresses it in its own request) and a stable ``code``.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

import pytest

from pressline.config import get_settings
from pressline.orders.statuses import FileType
from tests.conftest import Caller, order_body

MISSING = object()
UID = "flat_product_pf_a4_pt_200-gsm-uncoated_cl_4-0_ct_none_prt_none_sft_none_set_none_hor"
PDF = "https://example.com/files/printfile.pdf"


def _body(**edits: Any) -> dict[str, Any]:
    """Seed 001's basic US order, fresh reference, with ``{"dotted.path[0]": value}`` edits."""
    body = copy.deepcopy(order_body())
    for path, value in edits.items():
        _edit(body, path, value)
    return body


def _edit(body: dict[str, Any], path: str, value: Any) -> None:
    keys: list[Any] = [
        int(part[1:-1]) if part.startswith("[") else part
        for part in re.findall(r"\[\d+\]|[^.\[\]]+", path)
    ]
    target: Any = body
    for key in keys[:-1]:
        target = target[key]
    if value is MISSING:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value


def _rejected(response: Any) -> set[tuple[str | None, str]]:
    """The (param, code) pairs of a 400 in the standard error body."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"code", "message", "type", "errors", "requestId"}
    assert (body["code"], body["type"]) == (400, "invalid_request")
    assert body["requestId"] == response.headers["Request-Id"]
    assert body["message"] and body["errors"]
    for error in body["errors"]:
        assert set(error) == {"type", "code", "param", "message"}
        assert error["type"] == "invalid_request"
        assert isinstance(error["message"], str) and error["message"]
    return {(error["param"], error["code"]) for error in body["errors"]}


def _accepted(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    response = caller.submit(body)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    assert created["orderReferenceId"] == body["orderReferenceId"]
    return created


def _item(reference: str, **changes: Any) -> dict[str, Any]:
    item = {
        "itemReferenceId": reference,
        "productUid": UID,
        "quantity": 1,
        "files": [{"type": "default", "url": PDF}],
    }
    item.update(changes)
    return item


def _metadata(count: int) -> list[dict[str, str]]:
    return [{"key": f"k{n}", "value": f"v{n}"} for n in range(count)]


# --- required fields ---------------------------------------------------------------------

TOP_REQUIRED = ["orderReferenceId", "currency", "shippingAddress", "items"]
ADDRESS_REQUIRED = ["country", "firstName", "lastName", "addressLine1", "city", "postCode"]
ITEM_REQUIRED = ["itemReferenceId", "quantity", "files", "files[0].type", "files[0].url"]
REQUIRED = [
    *TOP_REQUIRED,
    *(f"shippingAddress.{name}" for name in [*ADDRESS_REQUIRED, "email", "phone"]),
    *(f"items[0].{name}" for name in ITEM_REQUIRED),
]


@pytest.mark.parametrize("path", REQUIRED)
def test_missing_required_field_is_reported_at_its_path(caller: Caller, path: str) -> None:
    assert _rejected(caller.submit(_body(**{path: MISSING}))) == {(path, "required")}


BLANKABLE = ["orderReferenceId", *(f"shippingAddress.{name}" for name in ADDRESS_REQUIRED[1:])]


@pytest.mark.parametrize("path", BLANKABLE)
@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_required_text_counts_as_missing(caller: Caller, path: str, blank: str) -> None:
    assert _rejected(caller.submit(_body(**{path: blank}))) == {(path, "required")}


# --- lengths -----------------------------------------------------------------------------

MAX_LENGTHS = [
    ("shippingAddress.firstName", 25),
    ("shippingAddress.lastName", 25),
    ("shippingAddress.companyName", 60),
    ("shippingAddress.addressLine1", 35),
    ("shippingAddress.addressLine2", 35),
    ("shippingAddress.city", 30),
    ("shippingAddress.postCode", 15),
    ("shippingAddress.state", 35),
    ("shippingAddress.phone", 25),
    ("orderReferenceId", 100),
    ("items[0].itemReferenceId", 100),
]


def _text_of_length(path: str, length: int) -> str:
    if path == "shippingAddress.phone":  # a dialable number padded with spaces
        return "+1" + " " * (length - 12) + "2025550123"
    if path == "orderReferenceId":  # references are unique per customer
        return uuid.uuid4().hex.ljust(length, "r")
    return "x" * length


@pytest.mark.parametrize(("path", "limit"), MAX_LENGTHS)
def test_text_up_to_the_maximum_length_is_accepted_and_one_more_is_too_long(
    caller: Caller, path: str, limit: int
) -> None:
    # A free-text state is for countries without state codes (GB, with a GB phone).
    where = {"shippingAddress.country": "GB", "shippingAddress.phone": "+442071234567"}
    edits = where if path == "shippingAddress.state" else {}
    body = _body(**edits, **{path: _text_of_length(path, limit)})
    _accepted(caller, body)
    if path.startswith("shippingAddress."):
        field = path.split(".")[1]
        stored = caller.get(body["orderReferenceId"]).json()["shippingAddress"]
        assert stored[field] == body["shippingAddress"][field]
    body = _body(**edits, **{path: _text_of_length(path, limit + 1)})
    assert _rejected(caller.submit(body)) == {(path, "too_long")}


@pytest.mark.parametrize("path", ["shippingAddress.city", "orderReferenceId"])
def test_the_maximum_length_counts_the_blanks_the_text_is_stripped_of(
    caller: Caller, path: str
) -> None:
    """maxLength in the published schema is the text as sent: padding is no way past it."""
    limit = dict(MAX_LENGTHS)[path]
    padded = " " * limit + "x"
    assert _rejected(caller.submit(_body(**{path: padded}))) == {(path, "too_long")}


# --- state -------------------------------------------------------------------------------


@pytest.mark.parametrize("country", ["US", "CA", "AU"])
@pytest.mark.parametrize("state", [MISSING, "", "  "])
def test_state_is_required_in_the_us_canada_and_australia(
    caller: Caller, country: str, state: object
) -> None:
    edits = {"shippingAddress.country": country, "shippingAddress.phone": "+47222222"}
    body = _body(**edits, **{"shippingAddress.state": state})
    assert _rejected(caller.submit(body)) == {("shippingAddress.state", "state_required")}


@pytest.mark.parametrize(
    ("country", "state"),
    [("US", "Narnia"), ("US", "ZZ"), ("CA", "NY"), ("AU", "Victoria"), ("US", "ny")],
)
def test_the_state_must_be_a_code_of_the_country(caller: Caller, country: str, state: str) -> None:
    """Seed 000: "State or province code"; an unknown one cannot be routed or delivered."""
    edits = {"shippingAddress.country": country, "shippingAddress.phone": "+47222222"}
    response = caller.submit(_body(**edits, **{"shippingAddress.state": state}))
    assert _rejected(response) == {("shippingAddress.state", "invalid_state")}


@pytest.mark.parametrize(("country", "state"), [("US", "DC"), ("CA", " ON "), ("AU", "NSW")])
def test_a_state_code_is_accepted_and_stored(caller: Caller, country: str, state: str) -> None:
    edits = {"shippingAddress.country": country, "shippingAddress.phone": "+47222222"}
    body = _body(**edits, **{"shippingAddress.state": state})
    stored = caller.get(_accepted(caller, body)["id"]).json()["shippingAddress"]
    assert stored["state"] == state.strip()


@pytest.mark.parametrize("country", ["GB", "SE"])
def test_state_is_optional_elsewhere(caller: Caller, country: str) -> None:
    edits = {"shippingAddress.country": country, "shippingAddress.phone": "+47222222"}
    _accepted(caller, _body(**edits, **{"shippingAddress.state": MISSING}))


# --- single-field values -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "code"),
    [
        ("shippingAddress.country", "UK", "invalid_country"),
        ("shippingAddress.country", "us", "invalid_format"),
        ("shippingAddress.country", "USA", "invalid_format"),
        ("currency", "XYZ", "invalid_currency"),
        ("currency", "usd", "invalid_format"),
        ("retailCurrency", "ABC", "invalid_currency"),
        ("retailCurrency", "pounds", "invalid_format"),
        ("shippingAddress.email", "john.doe", "invalid_email"),
        ("shippingAddress.email", "john@doe@example.com", "invalid_email"),
        ("shippingAddress.phone", "call me maybe", "invalid_phone"),
        ("shippingAddress.phone", "12", "invalid_phone"),
        ("shippingAddress.phone", "+999 123456789", "invalid_phone"),
        ("items[0].files[0].type", "poster", "invalid_value"),
        ("items[0].files[0].url", "ftp://example.com/a.pdf", "invalid_url"),
        ("items[0].files[0].url", "/files/printfile.pdf", "invalid_url"),
        ("items[0].files[0].url", "https:///printfile.pdf", "invalid_url"),
        ("items[0].files[0].url", "https://example.com/print file.pdf", "invalid_url"),
        ("orderType", "sample", "invalid_value"),
        ("orderType", "DRAFT", "invalid_value"),
        ("retailShippingPriceInclVat", -0.01, "too_small"),
        ("items[0].retailPriceInclVat", -1, "too_small"),
        # quantity: a JSON integer >= 1 (JSON Schema "integer", so 1.0 too); fractions,
        # strings and booleans are client bugs, rejected rather than coerced.
        ("items[0].quantity", 0, "too_small"),
        ("items[0].quantity", -1, "too_small"),
        ("items[0].quantity", 100_001, "too_large"),
        ("items[0].quantity", 1.5, "invalid_type"),
        ("items[0].quantity", "1", "invalid_type"),
        ("items[0].quantity", True, "invalid_type"),
        ("items[0].quantity", None, "invalid_type"),
    ],
)
def test_invalid_value_is_reported_with_its_code(
    caller: Caller, path: str, value: Any, code: str
) -> None:
    assert _rejected(caller.submit(_body(**{path: value}))) == {(path, code)}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("retailCurrency", "GBP"),
        ("orderType", "order"),
        ("orderType", "draft"),
        ("items[0].retailPriceInclVat", 0),
        ("retailShippingPriceInclVat", 6.99),
        ("shippingAddress.email", "first.last+tag@mail.example.co.uk"),
        ("shippingAddress.phone", "+1 (202) 555-0123"),
        ("items[0].quantity", 1.0),
        ("items[0].quantity", 100_000),
    ],
)
def test_valid_values_are_accepted(caller: Caller, path: str, value: Any) -> None:
    _accepted(caller, _body(**{path: value}))


def test_every_print_file_type_of_the_seed_is_accepted(caller: Caller) -> None:
    types = [file_type.value for file_type in FileType]
    assert len(types) == 16
    files = [{"type": file_type, "url": PDF} for file_type in types]
    body = _body(**{"items[0].files": files})
    _accepted(caller, body)
    stored = caller.get(body["orderReferenceId"]).json()
    assert [file["type"] for file in stored["items"][0]["files"]] == types


LOCAL_FILES = [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://127.0.0.1/a.pdf",
    "https://localhost:8443/a.pdf",
    "http://files.localhost/a.pdf",
    "http://[::1]/a.pdf",
    "http://10.0.0.5/a.pdf",
    "http://192.168.1.20/a.pdf",
    "http://[::ffff:127.0.0.1]/a.pdf",  # an IPv4 loopback inside IPv6
    "http://0.0.0.0/a.pdf",
    # IPv4 as browsers, curl and inet_aton also read it (WHATWG: a numeric last label)
    "http://127.1/a.pdf",
    "http://2130706433/a.pdf",
    "http://0x7f.1/a.pdf",
    "http://0177.0.0.1/a.pdf",
    "http://10.1/a.pdf",
    # Unicode lookalikes that IDNA (curl, httpx) maps to an address
    "http://127\u30020\u30020\u30021/a.pdf",  # ideographic full stops
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/a.pdf",  # fullwidth digits
]


@pytest.mark.parametrize("url", LOCAL_FILES)
def test_a_print_file_on_a_local_or_private_host_is_refused(caller: Caller, url: str) -> None:
    """reliability.md 17: whoever fetches print files must not be sent inside a network."""
    response = caller.submit(_body(**{"items[0].files[0].url": url}))
    assert _rejected(response) == {("items[0].files[0].url", "file_url_refused")}


@pytest.mark.parametrize(
    "url",
    [
        "http://1.2.3.4.5/a.pdf",
        # Hosts other parsers read as 127.0.0.1: WHATWG takes "\\" for "/", and some
        # clients decode a percent-encoded host.
        "http://127.0.0.1\\@files.example.com/a.pdf",
        "http://127.0.0.1%2e/a.pdf",
        "http://%31%32%37.0.0.1/a.pdf",
    ],
)
def test_a_host_that_is_no_address_or_name_is_an_invalid_url(caller: Caller, url: str) -> None:
    response = caller.submit(_body(**{"items[0].files[0].url": url}))
    assert _rejected(response) == {("items[0].files[0].url", "invalid_url")}
    message = response.json()["errors"][0]["message"]
    assert "{" not in message  # the template's placeholders are filled in


def test_a_print_file_on_a_public_address_or_name_is_accepted(caller: Caller) -> None:
    files = [
        {"type": "default", "url": "http://93.184.215.14/a.pdf"},
        {"type": "back", "url": "https://files.example.com/b.pdf"},  # names are not resolved
        {"type": "front", "url": "https://b\u00fccher.example/f%C3%BCr.pdf"},  # IDN, path %
    ]
    _accepted(caller, _body(**{"items[0].files": files}))


def test_a_network_the_operator_allowed_may_hold_print_files(
    caller: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRESSLINE_POSTBACK_ALLOWED_NETWORKS", "127.0.0.0/8")
    get_settings.cache_clear()
    try:
        _accepted(caller, _body(**{"items[0].files[0].url": "http://127.0.0.1:9000/a.pdf"}))
        refused = caller.submit(_body(**{"items[0].files[0].url": "http://10.0.0.5/a.pdf"}))
        assert _rejected(refused) == {("items[0].files[0].url", "file_url_refused")}
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


# --- control characters ---------------------------------------------------------------------

CONTROL_CASES = {
    "nul in a name": ("shippingAddress.firstName", "Jo\u0000hn"),
    "tab in an address": ("shippingAddress.addressLine1", "Main\tStreet 1"),
    "line break in a city": ("shippingAddress.city", "New\nYork"),
    "escape in a reference": ("orderReferenceId", "ref\u001b[31m"),
    "nul in an item reference": ("items[0].itemReferenceId", "item\u0000"),
    "delete in a metadata key": ("metadata[0].key", "k\u007f"),
    "nul in a metadata value": ("metadata[0].value", "v\u0000"),
    # noncharacters XML cannot hold: stored, they broke the order's XML postbacks
    "U+FFFE in a name": ("shippingAddress.lastName", "Sch\ufffemidt"),
    "U+FFFF in a metadata value": ("metadata[0].value", "v\uffff"),
}


@pytest.mark.parametrize(("path", "value"), CONTROL_CASES.values(), ids=list(CONTROL_CASES))
def test_control_characters_are_refused_where_they_cannot_belong(
    caller: Caller, path: str, value: str
) -> None:
    """NUL and the other C0 controls are never part of a name, an address or a
    reference (and PostgreSQL cannot store NUL: it answered 500)."""
    body = _body(metadata=[{"key": "k", "value": "v"}])
    _edit(body, path, value)
    assert _rejected(caller.submit(body)) == {(path, "invalid_characters")}


def test_free_text_keeps_its_line_breaks_and_blanks_at_the_ends_are_stripped(
    caller: Caller,
) -> None:
    body = _body(**{
        "metadata": [{"key": "giftMessage", "value": "Happy birthday!\nLove,\tAnna"}],
        "shippingAddress.city": " New York\n",
    })  # fmt: skip
    order = caller.get(_accepted(caller, body)["id"]).json()
    assert order["metadata"] == [{"key": "giftMessage", "value": "Happy birthday!\nLove,\tAnna"}]
    assert order["shippingAddress"]["city"] == "New York"


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("PUT", ""), ("POST", "/cancel"), ("DELETE", "")]
)
def test_an_order_key_with_a_control_character_is_a_400(
    caller: Caller, method: str, suffix: str
) -> None:
    response = caller.client.request(
        method, f"{caller.base}/ref%00x{suffix}", headers=caller.headers,
        json={"shipmentMethodUid": "normal"} if method == "PUT" else None,
    )  # fmt: skip
    assert _rejected(response) == {("orderId", "invalid_characters")}


def test_a_search_for_a_reference_with_a_nul_is_a_400(caller: Caller) -> None:
    response = caller.search({"orderReferenceId": "a\u0000b", "orderReferenceIds": ["c\u0000"]})
    assert _rejected(response) == {
        ("orderReferenceId", "invalid_characters"),
        ("orderReferenceIds[0]", "invalid_characters"),
    }


# --- counts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "make", "limit", "too_few"),
    [
        ("items", lambda n: [_item(f"i{k}") for k in range(n)], 100, True),
        ("items[0].files", lambda n: [{"type": "default", "url": PDF}] * n, 20, True),
        ("metadata", _metadata, 20, False),
        ("items[0].metadata", _metadata, 20, False),
    ],
)
def test_lists_are_capped_at_their_documented_maximum(
    caller: Caller, path: str, make: Any, limit: int, too_few: bool
) -> None:
    _accepted(caller, _body(**{path: make(limit)}))
    assert _rejected(caller.submit(_body(**{path: make(limit + 1)}))) == {(path, "too_many")}
    if too_few:
        assert _rejected(caller.submit(_body(**{path: make(0)}))) == {(path, "too_few")}


@pytest.mark.parametrize("where", ["metadata", "items[0].metadata"])
@pytest.mark.parametrize(("part", "blank_code"), [("key", "required"), ("value", None)])
def test_metadata_keys_and_values_are_at_most_100_characters(
    caller: Caller, where: str, part: str, blank_code: str | None
) -> None:
    entry = {"key": "k", "value": "v"}
    _accepted(caller, _body(**{where: [{**entry, part: "x" * 100}]}))
    long = _body(**{where: [entry, {**entry, part: "x" * 101}]})
    assert _rejected(caller.submit(long)) == {(f"{where}[1].{part}", "too_long")}
    blank = _body(**{where: [{**entry, part: ""}]})
    if blank_code is None:
        _accepted(caller, blank)
    else:
        assert _rejected(caller.submit(blank)) == {(f"{where}[0].{part}", blank_code)}


# --- items -------------------------------------------------------------------------------


def test_each_repeated_item_reference_is_reported_at_that_item(caller: Caller) -> None:
    items = [_item("A"), _item("B"), _item("A"), _item(" B ")]
    assert _rejected(caller.submit(_body(items=items))) == {
        ("items[2].itemReferenceId", "duplicate_item_reference"),
        ("items[3].itemReferenceId", "duplicate_item_reference"),
    }


def test_repeated_item_references_are_reported_beside_the_items_other_errors(
    caller: Caller,
) -> None:
    """A repeat is found in the items as sent, even when another item is invalid."""
    bad_file = [{"type": "poster", "url": PDF}]
    items = [_item("A", files=bad_file), _item("A", quantity=0), _item(" A "), _item("B")]
    items[3]["itemReferenceId"] = 7  # not a string: its own error, not a repeat
    body = _body(items=items, shippingAddress={**_body()["shippingAddress"], "email": "x"})
    assert _rejected(caller.submit(body)) == {
        ("shippingAddress.email", "invalid_email"),
        ("items[0].files[0].type", "invalid_value"),
        ("items[1].quantity", "too_small"),
        ("items[1].itemReferenceId", "duplicate_item_reference"),
        ("items[2].itemReferenceId", "duplicate_item_reference"),
        ("items[3].itemReferenceId", "invalid_type"),
    }


U, N, V = {"productUid": UID}, {"productName": "Card"}, {"productVariant": {"Size": "A4"}}
PRODUCT_CASES = {
    "all-three": ({**U, **N, **V}, "productUid", "product_ambiguous"),
    "uid+name": ({**U, **N}, "productUid", "product_ambiguous"),
    "uid+variant": ({**U, **V}, "productVariant", "name_required"),
    "neither": ({}, "productUid", "product_required"),
    "name-only": (N, "productVariant", "variant_required"),
    "empty-variant": ({**N, "productVariant": {}}, "productVariant", "variant_required"),
    "variant-only": (V, "productVariant", "name_required"),
}


@pytest.mark.parametrize(
    ("product", "param", "code"), PRODUCT_CASES.values(), ids=list(PRODUCT_CASES)
)
def test_an_item_names_its_product_by_uid_or_by_name_and_variant_never_both(
    caller: Caller, product: dict[str, Any], param: str, code: str
) -> None:
    item = _naming("I1", product)
    assert _rejected(caller.submit(_body(items=[item]))) == {(f"items[0].{param}", code)}


def _naming(reference: str, product: dict[str, Any]) -> dict[str, Any]:
    """An item that names its product only as ``product`` does (no default productUid)."""
    item = _item(reference, **product)
    if "productUid" not in product:
        del item["productUid"]
    return item


@pytest.mark.parametrize(
    ("product", "param", "code"),
    [PRODUCT_CASES["neither"], PRODUCT_CASES["name-only"]],
    ids=["neither", "name-only"],
)
def test_a_missing_product_is_named_beside_the_items_other_errors(
    caller: Caller, product: dict[str, Any], param: str, code: str
) -> None:
    item, second = _naming("I1", product), _naming("I2", product)
    item["quantity"] = 0
    assert _rejected(caller.submit(_body(items=[item, second]))) == {
        ("items[0].quantity", "too_small"),
        (f"items[0].{param}", code),
        (f"items[1].{param}", code),  # once, though both checks find it
    }


# --- unknown and server-owned fields -------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "shippingAddress.nick",
        "items[0].colour",
        "items[0].fulfillmentStatus",  # server-owned on items too
        "items[0].files[0].size",
        "metadata[0].x",
    ],
)
def test_unknown_nested_fields_are_rejected_at_their_path(caller: Caller, path: str) -> None:
    body = _body(metadata=[{"key": "k", "value": "v"}])
    _edit(body, path, "x")
    assert _rejected(caller.submit(body)) == {(path, "unknown_field")}


def test_a_misspelt_field_is_named_not_silently_dropped(caller: Caller) -> None:
    body = _body()
    body["shippingAdress"] = body.pop("shippingAddress")
    assert _rejected(caller.submit(body)) == {
        ("shippingAdress", "unknown_field"),
        ("shippingAddress", "required"),
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", str(uuid.uuid4())),
        ("createdAt", "2024-07-17T10:23:28+00:00"),
        ("fulfillmentStatus", "delivered"),
        ("financialStatus", "paid"),
        ("clientId", str(uuid.uuid4())),
    ],
)
def test_server_owned_fields_are_rejected_and_nothing_is_stored(
    caller: Caller, field: str, value: str
) -> None:
    body = _body(**{field: value})
    assert _rejected(caller.submit(body)) == {(field, "unknown_field")}
    reference = body["orderReferenceId"]
    assert caller.search({"orderReferenceId": reference}).json() == {"orders": []}
    assert caller.get(reference).status_code == 404


def test_a_bad_variant_key_names_the_variant_and_quotes_the_key(caller: Caller) -> None:
    item = {**_item("A"), "productVariant": {"": "a", "k" * 101: "b"}, "productName": "Card"}
    del item["productUid"]
    errors = caller.submit(_body(items=[item])).json()["errors"]
    assert [(e["param"], e["code"]) for e in errors] == [
        ("items[0].productVariant", "required"), ("items[0].productVariant", "too_long")
    ]  # fmt: skip
    assert errors[0]["message"].startswith("Key '': ")
    assert errors[1]["message"].startswith(f"Key '{'k' * 101}': ")


def test_a_price_of_the_wrong_json_type_is_described_in_json_terms(caller: Caller) -> None:
    [error] = caller.submit(_body(**{"items[0].retailPriceInclVat": True})).json()["errors"]
    assert (error["param"], error["code"]) == ("items[0].retailPriceInclVat", "invalid_type")
    assert error["message"] == "Input should be a number"


# --- every bad field at once ---------------------------------------------------------------


def test_one_request_reports_every_invalid_field(caller: Caller) -> None:
    body = _body(
        **{
            "orderReferenceId": "",
            "orderType": "sample",
            "currency": "XYZ",
            "retailCurrency": "gbp",
            "retailShippingPriceInclVat": -5,
            "metadata": _metadata(21),
            "shippingAddress.country": "UK",  # the national-format phone is not blamed too
            "shippingAddress.firstName": "x" * 26,
            "shippingAddress.email": "john.doe",
            "shippingAddress.city": MISSING,
            "items[0].quantity": 0,
            "items[0].files": [{"type": "default", "url": "ftp://x/a.pdf"}, {"type": "poster"}],
            "items[0].metadata": [{"key": "k" * 101, "value": "v"}],
            "giftWrap": True,
        }
    )
    body["items"].append(_item("ITEM-002", quantity=1.5, retailPriceInclVat=-1))
    assert _rejected(caller.submit(body)) == {
        ("orderReferenceId", "required"),
        ("orderType", "invalid_value"),
        ("currency", "invalid_currency"),
        ("retailCurrency", "invalid_format"),
        ("retailShippingPriceInclVat", "too_small"),
        ("metadata", "too_many"),
        ("shippingAddress.country", "invalid_country"),
        ("shippingAddress.firstName", "too_long"),
        ("shippingAddress.email", "invalid_email"),
        ("shippingAddress.city", "required"),
        ("items[0].quantity", "too_small"),
        ("items[0].files[0].url", "invalid_url"),
        ("items[0].files[1].type", "invalid_value"),
        ("items[0].files[1].url", "required"),
        ("items[0].metadata[0].key", "too_long"),
        ("items[1].quantity", "invalid_type"),
        ("items[1].retailPriceInclVat", "too_small"),
        ("giftWrap", "unknown_field"),
    }


# --- drafts versus orders ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order_type", "fulfillment", "financial", "is_ordered"),
    [("order", "created", "pending", True), ("draft", "draft", "draft", False)],
)
def test_order_type_decides_the_initial_statuses(
    caller: Caller, order_type: str, fulfillment: str, financial: str, is_ordered: bool
) -> None:
    body = _body(orderType=order_type)
    created = _accepted(caller, body)
    order = caller.get(created["id"]).json()
    [found] = caller.search({"orderReferenceId": body["orderReferenceId"]}).json()["orders"]
    assert found["id"] == created["id"]
    for seen in (order, found):  # the full order and its search summary agree
        assert (seen["fulfillmentStatus"], seen["financialStatus"]) == (fulfillment, financial)
        assert seen["orderType"] == order_type
        assert (seen["orderedAt"] is not None) is is_ordered
    if order_type == "draft":
        assert found["totalInclVat"] == "0.00"
