"""The sample payloads and example templates shipped with Pressline do what they say."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, cast

import pytest

from pressline.orders.planning import has_retail_prices
from pressline.orders.schemas import OrderCreate
from pressline.templates import (
    Format,
    LookupNotFound,
    LookupTables,
    Rendered,
    RenderPool,
    TemplateSource,
    TemplateType,
    read_csv,
    samples,
    validate_output,
)

POSTER = "large-posters_pf_500x700-mm_pt_170-gsm-coated-silk_cl_4-0_ver"
FLYER = "flat_product_pf_a4_pt_200-gsm-uncoated_cl_4-0_ct_none_prt_none_sft_none_set_none_hor"

SAMPLES = samples()
#: The operator's tables, as the shipped CSVs import them (shipping gets a fallback tier).
TABLES = LookupTables(
    [
        read_csv((SAMPLES / "lookups" / "sku.csv").read_bytes(), name="sku"),
        read_csv(
            (SAMPLES / "lookups" / "shipping.csv").read_bytes(),
            name="shipping",
            fallback="standard",
        ),
    ]
)


def sample_template(
    file: str, kind: TemplateType, *, input_format: Format = Format.JSON,
    output_format: Format = Format.JSON,
) -> TemplateSource:  # fmt: skip
    name = file.removesuffix(".j2").replace("_", "-")
    return TemplateSource(name, 1, kind, input_format, output_format, (SAMPLES / file).read_text())


def render_sample(
    pool: RenderPool, template: TemplateSource, payload_file: str, **kw: Any
) -> Rendered:
    return pool.render(template, (SAMPLES / payload_file).read_bytes(), lookups=TABLES, **kw)


SHOPIFY = sample_template("shopify_submit.j2", TemplateType.ORDER_SUBMIT_REQUEST)
WOOCOMMERCE = sample_template("woocommerce_submit.j2", TemplateType.ORDER_SUBMIT_REQUEST)
XML_ORDER = sample_template(
    "xml_submit.j2", TemplateType.ORDER_SUBMIT_REQUEST, input_format=Format.XML
)


def test_a_shopify_export_becomes_a_valid_order_with_products_from_the_sku_table(
    pool: RenderPool,
) -> None:
    order = validate_output(render_sample(pool, SHOPIFY, "shopify_order.json"), OrderCreate)
    assert order.order_reference_id == "shopify-1042"
    assert [(i.product_uid, i.quantity) for i in order.items] == [(POSTER, 2), (FLYER, 1)]
    assert [i.retail_price_incl_vat for i in order.items] == [Decimal("24.95"), Decimal("19.00")]
    assert order.items[0].files[0].url == "https://cdn.example.com/prints/1042/city-map-50x70.pdf"
    assert order.shipment_method_uid == "dhl_paket"
    address = order.shipping_address
    assert (address.address_line1, address.city, address.country) == (
        "Torstraße 118", "Berlin", "DE",
    )  # fmt: skip
    assert address.phone == "+49 30 12345678"  # the customer's, as the address has none


def test_a_woocommerce_export_becomes_a_valid_us_order(pool: RenderPool) -> None:
    order = validate_output(render_sample(pool, WOOCOMMERCE, "woocommerce_order.json"), OrderCreate)
    assert order.order_reference_id == "woo-727"
    assert [(i.product_uid, i.quantity) for i in order.items] == [(FLYER, 50), (POSTER, 1)]
    assert (order.shipping_address.state, order.shipping_address.company_name) == (
        "CA", "Doe Events LLC",
    )  # fmt: skip
    assert order.shipment_method_uid == "usps_ground_advantage"
    assert order.retail_shipping_price_incl_vat == Decimal("6.50")


def test_an_xml_purchase_order_becomes_a_valid_order(pool: RenderPool) -> None:
    order = validate_output(render_sample(pool, XML_ORDER, "order.xml"), OrderCreate)
    assert [(i.item_reference_id, i.product_uid, i.quantity) for i in order.items] == [
        ("PO-88231-1", POSTER, 3),
        ("PO-88231-2", FLYER, 250),
    ]
    assert order.shipping_address.company_name == "Apollo & Partners"
    assert order.metadata[1].value == "14/04/2025"


@pytest.mark.parametrize(
    ("sample", "payload"),
    [(SHOPIFY, "shopify_order.json"), (WOOCOMMERCE, "woocommerce_order.json"),
     (XML_ORDER, "order.xml")],
    ids=["shopify", "woocommerce", "xml"],
)  # fmt: skip
def test_every_sample_order_carries_its_retail_prices(
    pool: RenderPool, sample: Any, payload: str
) -> None:
    """A facility abroad declares them to customs: without them (retailCurrency was
    missing from every sample) an order that crosses a border is refused at intake."""
    order = validate_output(render_sample(pool, sample, payload), OrderCreate)
    assert order.retail_currency == order.currency
    assert has_retail_prices(order.retail_currency, order.retail_shipping_price_incl_vat,
                             order.items)  # fmt: skip


def test_an_xml_purchase_order_with_one_line_still_has_a_list_of_items(pool: RenderPool) -> None:
    xml = (SAMPLES / "order.xml").read_text()
    one_line = xml[: xml.index('    <Line no="2">')] + xml[xml.index("  </Lines>") :]
    rendered = pool.render(XML_ORDER, one_line.encode(), lookups=TABLES)
    assert [item.item_reference_id for item in validate_output(rendered, OrderCreate).items] == [
        "PO-88231-1"
    ]


def test_an_unmapped_sku_names_itself_and_the_template_line(pool: RenderPool) -> None:
    export = json.loads((SAMPLES / "shopify_order.json").read_text())
    export["order"]["line_items"][1]["sku"] = "MUG-11OZ"
    with pytest.raises(LookupNotFound) as caught:
        pool.render(SHOPIFY, json.dumps(export).encode(), lookups=TABLES)
    line = next(
        number
        for number, text in enumerate(SHOPIFY.source.splitlines(), start=1)
        if 'lookups({"sku"' in text
    )
    assert caught.value.line == line
    assert "key 'MUG-11OZ' in table 'sku'" in caught.value.message
    assert caught.value.message.startswith("Template 'shopify-submit' v1")


def test_an_unknown_shipping_name_takes_the_table_fallback(pool: RenderPool) -> None:
    export = json.loads((SAMPLES / "woocommerce_order.json").read_text())
    export["shipping_lines"][0]["method_id"] = "local_pickup"
    rendered = pool.render(WOOCOMMERCE, json.dumps(export).encode(), lookups=TABLES)
    assert validate_output(rendered, OrderCreate).shipment_method_uid == "standard"


def test_a_cancel_request_names_the_order_by_its_reference(pool: RenderPool) -> None:
    template = sample_template("cancel_request.j2", TemplateType.CANCEL_REQUEST)
    assert render_sample(pool, template, "cancel_request.json").value == {"orderId": "shopify-1042"}


def test_a_submit_response_is_turned_into_xml(pool: RenderPool) -> None:
    template = sample_template(
        "submit_response_xml.j2", TemplateType.SUBMIT_RESPONSE, output_format=Format.XML
    )
    rendered = render_sample(pool, template, "submit_response.json")
    assert rendered.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert rendered.value == {
        "OrderAcknowledgement": {
            "PurchaseOrderNumber": "PO-88231",
            "SupplierOrderId": "32884a3e-bd09-42be-8225-c5cea7d24611",
            "Accepted": "true",
            "ReceivedOn": "2025-04-14 09:00",
        }
    }


def test_a_cancel_response_reads_the_original_request(pool: RenderPool) -> None:
    template = sample_template("cancel_response.j2", TemplateType.CANCEL_RESPONSE)
    request = json.loads((SAMPLES / "cancel_request.json").read_text())
    rendered = render_sample(pool, template, "cancel_response.json", variables={"request": request})
    assert rendered.value == {"cancelled": True, "order_number": 1042, "detail": "OK"}


def test_a_webhook_body_lists_each_parcel_once(pool: RenderPool) -> None:
    template = sample_template("webhook_body.j2", TemplateType.WEBHOOK_BODY)
    body: dict[str, Any] = json.loads(render_sample(pool, template, "postback_event.json").body)
    assert (body["type"], body["order_number"]) == ("shipped", 1042)
    [parcel] = body["parcels"]
    assert parcel["tracking_number"] == "00340434161094042557"


def test_the_sample_event_has_the_shape_postbacks_build() -> None:
    """A template tried on the sample must work on live postbacks: same keys, same nesting."""
    from datetime import UTC, datetime

    from pressline.postbacks.events import EventType, build_event

    sample = json.loads((SAMPLES / "postback_event.json").read_text())
    data = sample["data"]
    built = build_event(
        event_id=sample["id"],
        event_type=EventType(sample["type"]),
        timestamp=datetime(2025, 4, 16, 13, 45, 10, tzinfo=UTC),
        order=data["order"],
        items=data["items"],
        packages=data["packages"],
        metadata=data["metadata"],
    )
    assert json.loads(json.dumps(built)) == sample
    # Each part has the fields the outbox's views give it (values here are placeholders).
    from types import SimpleNamespace
    from uuid import uuid4

    from pressline.orders.views import package_view, summary_view
    from pressline.postbacks.outbox import _item

    moment = datetime(2025, 4, 16, tzinfo=UTC)
    # Stand-ins for database rows: the views read them by position or attribute.
    summary = summary_view(
        cast(Any, (uuid4(), "r", "shipped", "paid", "EUR", None, "order", "api", "A", "B", "DE", 1,
         moment, moment, moment, None)),
        "client", "customer",
    )  # fmt: skip
    package = package_view(cast(Any, SimpleNamespace(
        id="p", tracking_code="t", tracking_url="u", carrier="c", status="shipped", items=[],
        created_at=moment, updated_at=moment,
    )))  # fmt: skip
    item = _item(cast(Any, SimpleNamespace(
        item_id=uuid4(), item_item_reference_id="i", item_fulfillment_status="shipped",
        item_quantity=1, item_quantity_canceled=0,
    )))  # fmt: skip
    assert set(data["order"]) == set(summary)
    assert all(set(entry) == set(package) for entry in data["packages"])
    assert all(set(entry) == set(item) for entry in data["items"])


def test_an_email_body_is_well_formed_xhtml_with_escaped_links(pool: RenderPool) -> None:
    template = sample_template("email_body.j2", TemplateType.EMAIL_BODY, output_format=Format.XML)
    rendered = render_sample(pool, template, "postback_event.json")
    assert b"piececode=00340434161094042557&amp;lang=de" in rendered.body
    assert b"16.04.2025" in rendered.body


@pytest.mark.parametrize(
    "file", sorted(entry.name for entry in SAMPLES.iterdir() if entry.name.endswith(".j2"))
)
def test_every_example_template_compiles(pool: RenderPool, file: str) -> None:
    output = Format.XML if file in ("submit_response_xml.j2", "email_body.j2") else Format.JSON
    pool.check(sample_template(file, TemplateType.WEBHOOK_BODY, output_format=output))


def test_every_sample_payload_parses() -> None:
    from pressline.templates.formats import parse

    payloads = [entry for entry in SAMPLES.iterdir() if entry.name.endswith((".json", ".xml"))]
    assert len(payloads) == 7
    for entry in payloads:
        fmt = Format.XML if entry.name.endswith(".xml") else Format.JSON
        assert isinstance(parse(entry.read_bytes(), fmt), dict)
