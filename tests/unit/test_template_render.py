"""The renderer: payload in, JSON or XML out, every failure naming its template and line."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from pressline.errors import ValidationFailed
from pressline.orders.schemas import OrderCreate
from pressline.templates import (
    Format,
    Limits,
    RenderPool,
    TemplateError,
    TemplateForbidden,
    TemplateInputInvalid,
    TemplateLimitExceeded,
    TemplateOutputInvalid,
    TemplateSource,
    TemplateType,
    validate_output,
)


def template(
    source: str,
    *,
    kind: TemplateType = TemplateType.WEBHOOK_BODY,
    input_format: Format = Format.JSON,
    output_format: Format = Format.JSON,
    name: str = "shop-export",
    version: int = 3,
) -> TemplateSource:
    return TemplateSource(name, version, kind, input_format, output_format, source)


def value(pool: RenderPool, source: str, payload: bytes | dict[str, Any], **kw: Any) -> Any:
    return pool.render(template(source), payload, **kw).value


# --- context -----------------------------------------------------------------------------


def test_top_level_keys_of_a_json_payload_are_template_variables(pool: RenderPool) -> None:
    out = value(pool, '{"ref": {{ order.id | json }}}', b'{"order": {"id": "A-1"}}')
    assert out == {"ref": "A-1"}


def test_dot_reads_keys_but_a_dict_method_name_stays_the_method_as_in_jinja(
    pool: RenderPool,
) -> None:
    source = (
        '[{{ order.ref | json }}, {{ (order["items"] | length) | json }}, '
        "{{ order.items is callable | json }}]"
    )
    payload = b'{"order": {"ref": "A-1", "items": [1, 2, 3]}}'
    assert value(pool, source, payload) == ["A-1", 3, True]


def test_a_payload_key_named_like_a_private_attribute_is_still_refused(pool: RenderPool) -> None:
    with pytest.raises(TemplateForbidden, match="is unsafe"):
        pool.render(template("{{ payload.__class__ }}"), b'{"__class__": "harmless?"}')


def test_payload_holds_the_whole_input_even_when_it_is_a_list(pool: RenderPool) -> None:
    out = value(pool, "{{ payload | length }}", b'[{"id": 1}, {"id": 2}, {"id": 3}]')
    assert out == 3


def test_integrator_variables_and_lookups_win_over_payload_keys(pool: RenderPool) -> None:
    source = "[{{ request | json }}, {{ (lookups is callable) | json }}]"
    payload = b'{"request": "from the customer", "lookups": "not a function"}'
    out = value(pool, source, payload, variables={"request": "from pressline"})
    assert out == ["from pressline", True]


def test_an_already_parsed_payload_is_rendered_as_given(pool: RenderPool) -> None:
    response = {"id": "7f1c", "orderReferenceId": "R-9", "createdAt": "2025-04-14T08:00:02+00:00"}
    source = '{"ack": {{ orderReferenceId | json }}, "at": {{ createdAt | date | json }}}'
    assert value(pool, source, response) == {"ack": "R-9", "at": "2025-04-14"}


def test_json_numbers_with_a_fraction_stay_exact_decimals(pool: RenderPool) -> None:
    out = pool.render(template("{{ price | json }}"), b'{"price": 19.90}')
    assert out.body == b"19.90"
    assert out.value == Decimal("19.90")


# --- XML ---------------------------------------------------------------------------------


def test_xml_input_is_a_dict_of_attributes_text_and_repeated_elements(pool: RenderPool) -> None:
    source = (
        '{"id": {{ Order["@id"] | json }}, "note": {{ Order.Note["#text"] | json }}, '
        '"skus": {{ Order.Line | map(attribute="Sku") | list | json }}}'
    )
    xml = b'<Order id="9"><Note lang="en">Fragile</Note><Line><Sku>A</Sku></Line>' + (
        b"<Line><Sku>B</Sku></Line></Order>"
    )
    out = pool.render(template(source, input_format=Format.XML), xml).value
    assert out == {"id": "9", "note": "Fragile", "skus": ["A", "B"]}


def test_as_list_makes_one_xml_element_and_many_look_the_same(pool: RenderPool) -> None:
    source = '{{ Order.Line | as_list | map(attribute="Sku") | list | json }}'
    xml_template = template(source, input_format=Format.XML)
    one = pool.render(xml_template, b"<Order><Line><Sku>A</Sku></Line></Order>").value
    none = pool.render(xml_template, b"<Order></Order>").value
    assert (one, none) == (["A"], [])


def test_json_in_xml_out_escapes_every_value_as_xml_text(pool: RenderPool) -> None:
    source = "<Ack><Name>{{ name }}</Name><Note>{{ note | json }}</Note></Ack>"
    payload = b'{"name": "Smith & Sons <Ltd>", "note": "a \\"quote\\""}'
    rendered = pool.render(template(source, output_format=Format.XML), payload)
    assert b"Smith &amp; Sons &lt;Ltd&gt;" in rendered.body
    assert rendered.value == {"Ack": {"Name": "Smith & Sons <Ltd>", "Note": '"a \\"quote\\""'}}
    assert rendered.media_type == "application/xml"


def test_xml_output_replaces_what_xml_cannot_hold_whatever_the_data(pool: RenderPool) -> None:
    """U+FFFE, U+FFFF and C0 controls have no XML form, not even escaped: one in the data
    made the output a document no parser reads. Escaped text stays escaped; a list or a
    dict is written as its repr, which escapes them itself."""
    source = (
        "<Ack><Name>{{ name }}</Name><Raw>{{ '<b/>' | safe }}</Raw><Tags>{{ tags }}</Tags>"
        "<N>{{ n }}</N></Ack>"
    )
    payload = b'{"name": "Sch\\ufffemidt\\u0001 & \\uffff", "tags": ["a\\uffff"], "n": 7}'
    rendered = pool.render(template(source, output_format=Format.XML), payload)
    assert rendered.value == {"Ack": {
        "Name": "Sch\ufffdmidt\ufffd & \ufffd", "Raw": {"b": None}, "Tags": "['a\\uffff']",
        "N": "7",
    }}  # fmt: skip


def test_xml_with_a_document_type_declaration_is_refused(pool: RenderPool) -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'.encode() for i in range(1, 10)
        ).replace(b"&lol0;", b"&lol;")
        + b"]><lolz>&lol9;</lolz>"
    )
    started = time.monotonic()
    with pytest.raises(TemplateInputInvalid, match="document type declaration"):
        pool.render(template("{{ payload }}", input_format=Format.XML), laughs)
    assert time.monotonic() - started < 0.5


def test_xml_external_entities_are_never_fetched(pool: RenderPool) -> None:
    xxe = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    with pytest.raises(TemplateInputInvalid) as caught:
        pool.render(template("{{ payload }}", input_format=Format.XML), xxe)
    assert "root:" not in caught.value.message


def test_xml_that_is_not_well_formed_is_an_input_error_with_its_line(pool: RenderPool) -> None:
    with pytest.raises(TemplateInputInvalid, match=r"line 2, column"):
        pool.render(template("{{ payload }}", input_format=Format.XML), b"<a>\n<b></a>")


# --- filters -----------------------------------------------------------------------------


def test_json_filter_writes_a_valid_literal_for_every_json_type(pool: RenderPool) -> None:
    tricky = 'He said "hi"\n\tand left \\ \u00e9\u2028 </script>'
    payload = {"s": tricky, "d": Decimal("0.10"), "n": None, "b": False, "l": [1, {"k": "v"}]}
    source = "[{% for key in ['s', 'd', 'n', 'b', 'l'] %}{{ payload[key] | json }},{% endfor %}0]"
    out = value(pool, source, payload)
    assert out == [tricky, Decimal("0.10"), None, False, [1, {"k": "v"}], 0]


def test_json_filter_refuses_values_json_cannot_hold(pool: RenderPool) -> None:
    with pytest.raises(TemplateError, match="NaN"):
        value(pool, "{{ x | json }}", {}, variables={"x": Decimal("NaN")})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'19.995' | money", "20.00"),
        ("19.9 | money", "19.90"),
        ("7 | money", "7.00"),
        ("'1234.5' | money('JPY')", "1235"),
        ("'2.0005' | money('KWD')", "2.001"),
        ("'-0.125' | money('EUR')", "-0.13"),
    ],
)
def test_money_rounds_half_up_to_the_currency_minor_unit(
    pool: RenderPool, expression: str, expected: str
) -> None:
    assert value(pool, "{{ (" + expression + ") | json }}", {}) == expected


def test_money_refuses_text_that_is_not_a_number(pool: RenderPool) -> None:
    with pytest.raises(TemplateError, match="money: '12,50' is not a number"):
        value(pool, "{{ '12,50' | money }}", {})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'2025-04-14' | date('%d.%m.%Y')", "14.04.2025"),
        ("'2025-04-14T23:30:00Z' | date('%Y-%m-%d %H:%M', tz='Europe/Berlin')", "2025-04-15 01:30"),
        ("'2025-04-14T09:12:45+02:00' | date('iso', tz='UTC')", "2025-04-14T07:12:45+00:00"),
        ("'2025-04-14T10:21:07' | date('%H:%M', tz='America/New_York')", "06:21"),
    ],
)
def test_date_formats_iso_dates_and_converts_time_zones(
    pool: RenderPool, expression: str, expected: str
) -> None:
    assert value(pool, "{{ (" + expression + ") | json }}", {}) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("'2025-04-14' | date('%-d')", "may use only"),
        ("'14/04/2025' | date", "not an ISO 8601 date"),
        ("'2025-04-14T10:00:00' | date(tz='Mars/Olympus')", "unknown time zone"),
    ],
)
def test_date_refuses_what_it_cannot_format_the_same_everywhere(
    pool: RenderPool, expression: str, message: str
) -> None:
    with pytest.raises(TemplateError, match=message):
        value(pool, "{{ " + expression + " }}", {})


def test_digits_cut_and_stock_string_filters(pool: RenderPool) -> None:
    source = (
        "[{{ '+49 (30) 123-45' | digits | json }}, {{ 'Hauptstraße 1' | cut(5) | json }}, "
        "{{ '  x ' | trim | upper | json }}, {{ none | default('-', true) | json }}]"
    )
    assert value(pool, source, {}) == ["493012345", "Haupt", "X", "-"]


# --- errors name the template, its version and the line -------------------------------------


def test_syntax_error_names_template_version_and_line(pool: RenderPool) -> None:
    source = '{\n  "a": 1,\n  "b": {{ order.id | json }\n}'
    with pytest.raises(TemplateError) as caught:
        pool.render(template(source), b"{}")
    error = caught.value
    assert (error.template_name, error.template_version, error.line) == ("shop-export", 3, 3)
    assert error.message.startswith("Template 'shop-export' v3, line 3: syntax error:")


def test_undefined_variable_is_an_error_at_the_line_that_uses_it(pool: RenderPool) -> None:
    source = '{\n  "a": {{ order.id | json }},\n  "b": {{ order.missing | json }}\n}'
    with pytest.raises(TemplateError) as caught:
        pool.render(template(source), b'{"order": {"id": 1}}')
    assert caught.value.line == 3
    assert "has no attribute 'missing'" in caught.value.message
    assert type(caught.value) is TemplateError


def test_runtime_error_inside_a_loop_reports_the_loop_body_line(pool: RenderPool) -> None:
    source = "[\n{% for n in numbers %}\n{{ 10 // n }},\n{% endfor %}0]"
    with pytest.raises(TemplateError, match="ZeroDivisionError") as caught:
        pool.render(template(source), b'{"numbers": [5, 2, 0]}')
    assert caught.value.line == 3


@pytest.mark.parametrize(
    "tag",
    ["{% include 'other' %}", "{% import 'macros' as m %}", "{% from 'm' import x %}",
     "{% extends 'base' %}"],
)  # fmt: skip
def test_templates_cannot_load_other_templates(pool: RenderPool, tag: str) -> None:
    with pytest.raises(TemplateForbidden, match="a template stands alone") as caught:
        pool.check(template("{}\n" + tag))
    assert caught.value.line == 2


def test_check_reports_a_syntax_error_without_rendering(pool: RenderPool) -> None:
    pool.check(template("{{ order.id | json }}"))  # compiles, although 'order' is missing
    with pytest.raises(TemplateError, match="line 1: syntax error"):
        pool.check(template("{% for x in y %}"))


def test_output_that_is_not_json_is_reported_at_its_output_line(pool: RenderPool) -> None:
    source = '{\n  "a": {{ name }}\n}'  # a string written without the json filter
    with pytest.raises(TemplateOutputInvalid, match=r"not valid JSON: .*line 2"):
        pool.render(template(source), b'{"name": "Anna"}')


def test_output_that_is_not_well_formed_xml_is_reported(pool: RenderPool) -> None:
    with pytest.raises(TemplateOutputInvalid, match="not well-formed XML"):
        pool.render(template("<a><b></a>", output_format=Format.XML), b"{}")


def test_malformed_json_input_is_an_input_error(pool: RenderPool) -> None:
    with pytest.raises(TemplateInputInvalid, match=r"not valid JSON: .*line 1, column 11"):
        pool.render(template("{}"), b'{"order": }')


def test_input_over_the_limit_is_refused_before_rendering(pool: RenderPool) -> None:
    limits = Limits(input_bytes=100)
    with pytest.raises(TemplateLimitExceeded, match="the input is 121 bytes; the limit is 100"):
        pool.render(template("{}"), b"[" + b"1," * 59 + b"1]", limits=limits)


def test_a_template_error_is_a_validation_failure_with_one_field_error(pool: RenderPool) -> None:
    with pytest.raises(ValidationFailed) as caught:
        pool.render(template("{{ nope }}"), b"{}")
    [field_error] = caught.value.field_errors
    assert (field_error.code, field_error.param) == ("template_error", None)
    assert field_error.message == "Template 'shop-export' v3, line 1: 'nope' is undefined"


def test_request_templates_must_output_json() -> None:
    with pytest.raises(ValueError, match="must output JSON"):
        template("<o/>", kind=TemplateType.ORDER_SUBMIT_REQUEST, output_format=Format.XML)


def test_template_fields_accept_their_stored_values() -> None:
    stored = TemplateSource("t", 1, "cancel_request", "xml", "json", "{}")  # type: ignore[arg-type]
    assert (stored.type, stored.input_format) == (TemplateType.CANCEL_REQUEST, Format.XML)


# --- validating the output as a canonical request -------------------------------------------


ORDER = {
    "orderReferenceId": "R-1",
    "currency": "EUR",
    "shippingAddress": {
        "country": "DE", "firstName": "Anna", "lastName": "Schmidt",
        "addressLine1": "Torstraße 118", "city": "Berlin", "postCode": "10119",
        "email": "anna@example.com", "phone": "+49 30 12345678",
    },
    "items": [{"itemReferenceId": "1", "productUid": "p", "quantity": 1,
               "files": [{"type": "default", "url": "https://example.com/a.pdf"}]}],
}  # fmt: skip


def order_template(source: str) -> TemplateSource:
    return template(source, kind=TemplateType.ORDER_SUBMIT_REQUEST, name="shopify-submit")


def test_valid_output_becomes_the_canonical_order(pool: RenderPool) -> None:
    rendered = pool.render(order_template("{{ payload | json }}"), ORDER)
    order = validate_output(rendered, OrderCreate)
    assert order.shipping_address.city == "Berlin"
    assert order.items[0].product_uid == "p"


def test_invalid_output_keeps_canonical_params_and_names_the_template(pool: RenderPool) -> None:
    bad = json.loads(json.dumps(ORDER))
    bad["items"][0]["productUid"] = ""
    del bad["shippingAddress"]["email"]
    rendered = pool.render(order_template("{{ payload | json }}"), bad)
    with pytest.raises(ValidationFailed) as caught:
        validate_output(rendered, OrderCreate)
    params = {error.param for error in caught.value.errors}
    assert params == {"shippingAddress.email", "items[0].productUid"}
    assert caught.value.message.startswith(
        "Template 'shopify-submit' v3 produced an invalid order: shippingAddress.email: "
    )
    assert caught.value.message.endswith("(and 1 more)")


def test_output_of_the_wrong_shape_is_a_body_level_error(pool: RenderPool) -> None:
    class CancelRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        orderId: str

    rendered = pool.render(template("[1]", kind=TemplateType.CANCEL_REQUEST, name="cancel"), b"{}")
    with pytest.raises(ValidationFailed, match="Template 'cancel' v3 produced an invalid cancel"):
        validate_output(rendered, CancelRequest)
