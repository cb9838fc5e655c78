"""Linked templates on the submit and cancel endpoints (issue 6): customer formats in and out."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.testclient import TestClient

from pressline.accounts import repository as accounts_repository
from pressline.accounts import service as accounts
from pressline.db import Database, utcnow
from pressline.templates import read_csv, samples, store
from pressline.templates.formats import Format
from pressline.templates.model import TemplateType
from tests.conftest import Caller

SAMPLES = samples()
POSTER = "large-posters_pf_500x700-mm_pt_170-gsm-coated-silk_cl_4-0_ver"
FLYER = "flat_product_pf_a4_pt_200-gsm-uncoated_cl_4-0_ct_none_prt_none_sft_none_set_none_hor"


def _customer_id(database: Database, caller: Caller) -> uuid.UUID:
    with database.transaction() as conn:
        return accounts.customer_id(conn, caller.customer_reference_id)


def add_template(
    database: Database,
    caller: Caller,
    name: str,
    source: str,
    type_: TemplateType,
    *,
    input_format: Format = Format.JSON,
    output_format: Format = Format.JSON,
) -> None:
    with database.transaction() as conn:
        store.create_template(
            conn,
            customer_id=accounts.customer_id(conn, caller.customer_reference_id),
            name=name,
            kind=type_,
            input_format=input_format,
            output_format=output_format,
            source=source,
            now=utcnow(),
        )


def link(
    client: TestClient,
    database: Database,
    caller: Caller,
    endpoint: str,
    role: str,
    name: str,
    version: int | None = None,
) -> None:
    with database.transaction() as conn:
        connector = accounts_repository.connector_by_prefix(conn, caller.prefix)
        assert connector is not None
        store.link(
            conn,
            connector_id=connector.id,
            customer_id=accounts.customer_id(conn, caller.customer_reference_id),
            endpoint=endpoint,
            role=role,
            name=name,
            version=version,
            now=utcnow(),
        )
    client.app.state.templates.invalidate()  # type: ignore[attr-defined]


def import_sample_lookups(database: Database, caller: Caller) -> None:
    with database.transaction() as conn:
        customer_id = accounts.customer_id(conn, caller.customer_reference_id)
        for name, fallback in (("sku", None), ("shipping", None)):
            data = (SAMPLES / "lookups" / f"{name}.csv").read_bytes()
            table = read_csv(data, name=name, fallback=fallback)
            store.save_lookup(conn, customer_id=customer_id, table=table, now=utcnow())


def shopify_export(number: int | None = None) -> dict[str, Any]:
    export: dict[str, Any] = json.loads((SAMPLES / "shopify_order.json").read_text())
    export["order"]["order_number"] = number or uuid.uuid4().int % 10**9
    return export


def link_shopify(client: TestClient, database: Database, caller: Caller) -> Caller:
    """Make ``caller``'s submit endpoint apply the Shopify example template."""
    import_sample_lookups(database, caller)
    source = (SAMPLES / "shopify_submit.j2").read_text()
    add_template(database, caller, "shopify-submit", source, TemplateType.ORDER_SUBMIT_REQUEST)
    link(client, database, caller, "submit", "request", "shopify-submit")
    return caller


@pytest.fixture
def shopify(client: TestClient, database: Database, caller: Caller) -> Caller:
    return link_shopify(client, database, caller)


def test_a_shopify_export_through_the_linked_template_becomes_the_right_order(
    shopify: Caller,
) -> None:
    export = shopify_export()
    answer = shopify.submit(export)
    assert answer.status_code == 200, answer.text
    created = answer.json()
    assert created["orderReferenceId"] == f"shopify-{export['order']['order_number']}"

    order = shopify.get(created["id"]).json()
    assert [(item["productUid"], item["quantity"]) for item in order["items"]] == [
        (POSTER, 2),
        (FLYER, 1),
    ]
    address = order["shippingAddress"]
    assert (address["addressLine1"], address["city"], address["postCode"], address["country"]) == (
        "Torstraße 118", "Berlin", "10119", "DE",
    )  # fmt: skip
    assert order["shipment"]["shipmentMethodUid"] == "dhl_paket"


def test_the_same_export_without_a_link_is_a_validation_error(caller: Caller) -> None:
    answer = caller.submit(shopify_export())
    assert answer.status_code == 400
    body = answer.json()
    params = {item["param"] for item in body["errors"]}
    assert {"orderReferenceId", "shippingAddress", "items"} <= params
    assert "Template" not in body["message"]


def test_a_template_that_is_stored_but_not_linked_is_not_applied(
    database: Database, caller: Caller
) -> None:
    source = (SAMPLES / "shopify_submit.j2").read_text()
    add_template(database, caller, "unlinked", source, TemplateType.ORDER_SUBMIT_REQUEST)
    assert caller.submit(shopify_export()).status_code == 400


def test_an_invalid_output_names_the_template_version_and_canonical_params(
    client: TestClient, database: Database, shopify: Caller
) -> None:
    with database.transaction() as conn:
        customer_id = accounts.customer_id(conn, shopify.customer_reference_id)
        source = (SAMPLES / "shopify_submit.j2").read_text()
        broken = source.replace('"email": {{ order.email | json }},', "")
        store.add_version(
            conn, customer_id=customer_id, name="shopify-submit", source=broken, now=utcnow()
        )
    client.app.state.templates.invalidate()  # type: ignore[attr-defined]
    answer = shopify.submit(shopify_export())
    assert answer.status_code == 400
    body = answer.json()
    assert body["message"].startswith("Template 'shopify-submit' v2 produced an invalid order")
    assert ("required", "shippingAddress.email") in {
        (item["code"], item["param"]) for item in body["errors"]
    }


def test_a_link_pinned_to_a_version_keeps_it_after_an_edit(
    client: TestClient, database: Database, shopify: Caller
) -> None:
    link(client, database, shopify, "submit", "request", "shopify-submit", version=1)
    with database.transaction() as conn:
        customer_id = accounts.customer_id(conn, shopify.customer_reference_id)
        store.add_version(
            conn, customer_id=customer_id, name="shopify-submit", source="{{ nope", now=utcnow()
        )
    client.app.state.templates.invalidate()  # type: ignore[attr-defined]
    assert shopify.submit(shopify_export()).status_code == 200


def test_an_unknown_sku_is_a_lookup_error_with_the_template_line(shopify: Caller) -> None:
    export = shopify_export()
    export["order"]["line_items"][0]["sku"] = "MUG-11OZ"
    answer = shopify.submit(export)
    assert answer.status_code == 400
    body = answer.json()
    assert body["errors"][0]["code"] == "lookup_not_found"
    assert "Template 'shopify-submit' v1, line" in body["message"]
    assert "'MUG-11OZ'" in body["message"]


def test_the_response_template_changes_the_submit_response(
    client: TestClient, database: Database, shopify: Caller
) -> None:
    source = (SAMPLES / "submit_response_xml.j2").read_text()
    add_template(
        database, shopify, "ack", source, TemplateType.SUBMIT_RESPONSE, output_format=Format.XML
    )
    link(client, database, shopify, "submit", "response", "ack")
    export = shopify_export()
    answer = shopify.submit(export)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    text = answer.text
    reference = f"shopify-{export['order']['order_number']}"
    assert f"<PurchaseOrderNumber>{reference}</PurchaseOrderNumber>" in text
    order_id = text.split("<SupplierOrderId>")[1].split("<")[0]
    assert shopify.get(order_id).json()["orderReferenceId"] == reference


def test_a_failing_response_template_still_answers_the_stored_order(
    client: TestClient, database: Database, shopify: Caller
) -> None:
    add_template(database, shopify, "bad-ack", "{{ missing.field }}", TemplateType.SUBMIT_RESPONSE)
    link(client, database, shopify, "submit", "response", "bad-ack")
    answer = shopify.submit(shopify_export())
    assert answer.status_code == 200
    assert "'missing' is undefined" in answer.headers["response-template-error"]
    assert shopify.get(answer.json()["id"]).status_code == 200


def test_xml_in_and_xml_out(client: TestClient, database: Database, caller: Caller) -> None:
    import_sample_lookups(database, caller)
    add_template(
        database, caller, "erp", (SAMPLES / "xml_submit.j2").read_text(),
        TemplateType.ORDER_SUBMIT_REQUEST, input_format=Format.XML,
    )  # fmt: skip
    add_template(
        database, caller, "erp-ack", (SAMPLES / "submit_response_xml.j2").read_text(),
        TemplateType.SUBMIT_RESPONSE, output_format=Format.XML,
    )  # fmt: skip
    link(client, database, caller, "submit", "request", "erp")
    link(client, database, caller, "submit", "response", "erp-ack")
    xml = (SAMPLES / "order.xml").read_bytes()
    headers = {**caller.headers, "Content-Type": "application/xml"}

    answer = caller.client.post(f"{caller.base}/order", content=xml, headers=headers)
    assert answer.status_code == 200, answer.text
    assert "<PurchaseOrderNumber>PO-88231</PurchaseOrderNumber>" in answer.text
    order = caller.get("PO-88231").json()
    assert [(i["productUid"], i["quantity"]) for i in order["items"]] == [(POSTER, 3), (FLYER, 250)]

    as_json = {**caller.headers, "Content-Type": "application/json"}
    wrong_type = caller.client.post(f"{caller.base}/order", content=xml, headers=as_json)
    assert wrong_type.status_code == 415
    assert "application/xml" in wrong_type.json()["message"]

    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    refused = caller.client.post(f"{caller.base}/order", content=bomb, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "template_input_invalid"


def test_a_cancel_request_template_names_the_order_and_the_response_template_answers(
    client: TestClient, database: Database, shopify: Caller
) -> None:
    export = shopify_export()
    number = export["order"]["order_number"]
    assert shopify.submit(export).status_code == 200
    add_template(
        database, shopify, "cancel-in", (SAMPLES / "cancel_request.j2").read_text(),
        TemplateType.CANCEL_REQUEST,
    )  # fmt: skip
    add_template(
        database, shopify, "cancel-out", (SAMPLES / "cancel_response.j2").read_text(),
        TemplateType.CANCEL_RESPONSE,
    )  # fmt: skip
    link(client, database, shopify, "cancel", "request", "cancel-in")
    link(client, database, shopify, "cancel", "response", "cancel-out")
    body = {"cancellation": {"order_number": number, "reason": "changed mind"}}

    answer = shopify.client.post(
        f"{shopify.base}/from-the-shop/cancel", json=body, headers=shopify.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"cancelled": True, "order_number": number, "detail": "OK"}
    assert shopify.get(f"shopify-{number}").json()["fulfillmentStatus"] == "canceled"

    # The order key a template produces is checked as one in the URL (a NUL was a 500
    # on PostgreSQL), and a JSON body in another charset than UTF-8 is 415 here too.
    nul = {"cancellation": {"order_number": "12\u00003", "reason": "x"}}
    refused = shopify.client.post(
        f"{shopify.base}/from-the-shop/cancel", json=nul, headers=shopify.headers
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["errors"][0]["code"] == "invalid_characters"
    latin = {**shopify.headers, "Content-Type": "application/json; charset=latin-1"}
    wrong = shopify.client.post(
        f"{shopify.base}/from-the-shop/cancel", content=json.dumps(body), headers=latin
    )
    assert wrong.status_code == 415


def test_idempotency_keys_still_replay_through_a_template(shopify: Caller) -> None:
    export = shopify_export()
    headers = {**shopify.headers, "Idempotency-Key": f"k-{uuid.uuid4()}"}
    url = f"{shopify.base}/order"
    first = shopify.client.post(url, json=export, headers=headers)
    again = shopify.client.post(url, json=export, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    export["order"]["email"] = "other@example.org"
    reused = shopify.client.post(url, json=export, headers=headers)
    assert reused.status_code == 422


RUNAWAYS = {
    "huge string": ("{{ 'a' * 10**9 }}", "template_limit_exceeded"),
    "huge power": ("{{ 2 ** (10 ** 7) }}", "template_limit_exceeded"),
    "nested loops": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        "template_limit_exceeded",
    ),
    "class escape": ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "template_forbidden"),
    "globals escape": ("{{ lookups.__globals__ }}", "template_forbidden"),
    "include": ("{% include '/etc/passwd' %}", "template_forbidden"),
    "in-place change": ("{% set x = [] %}{{ x.append(1) }}", "template_forbidden"),
    "syntax": ("{% for %}", "template_error"),
}


@pytest.mark.parametrize("case", sorted(RUNAWAYS))
def test_escapes_and_runaways_are_contained_to_their_request(
    client: TestClient, database: Database, caller: Caller, case: str
) -> None:
    source, code = RUNAWAYS[case]
    add_template(database, caller, "hostile", source, TemplateType.ORDER_SUBMIT_REQUEST)
    link(client, database, caller, "submit", "request", "hostile")
    answer = caller.submit({"anything": 1})
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["errors"][0]["code"] == code
    assert body["message"].startswith("Template 'hostile' v1")
    # The server keeps serving, templated and plain requests alike.
    assert caller.submit({"anything": 1}).status_code == 400
    plain = caller.client.get(f"{caller.base}/no-such-order", headers=caller.headers)
    assert plain.status_code == 404


def test_a_runaway_template_does_not_hold_up_other_requests(
    client: TestClient, database: Database, caller: Caller, other_caller: Caller
) -> None:
    source, _ = RUNAWAYS["nested loops"]
    add_template(database, caller, "hostile", source, TemplateType.ORDER_SUBMIT_REQUEST)
    link(client, database, caller, "submit", "request", "hostile")
    assert caller.submit({"anything": 1}).status_code == 400  # render workers are up
    with ThreadPoolExecutor(1) as runner:
        runaway = runner.submit(caller.submit, {"anything": 1})
        time.sleep(0.1)  # it is rendering: the time limit is 1 s
        latencies = []
        while not runaway.done():
            started = time.monotonic()
            answer = other_caller.get("no-such-order")
            latencies.append(time.monotonic() - started)
            assert answer.status_code == 404
        stopped = runaway.result()
    assert stopped.status_code == 400
    assert stopped.json()["errors"][0]["code"] == "template_limit_exceeded"
    assert len(latencies) >= 5
    assert max(latencies) < 0.5  # answered while the runaway rendered, not after it
