"""Idempotency-Key and preventDuplicate through the HTTP API (reliability.md 12).

A key is the client's name for one request: the same request again gets the first
answer with ``Idempotent-Replayed: true`` and changes nothing; another request under
the key is 422 ``idempotency``. Only successes are remembered.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from starlette.testclient import TestClient

from pressline.db import Database
from tests.api.test_order_lifecycle import (
    error_codes,
    operator_sets_status,
    operator_walks_to,
    submitted,
)
from tests.conftest import GB_ADDRESS, Caller, order_body


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


def with_key(caller: Caller, key: str) -> dict[str, str]:
    return {**caller.headers, "Idempotency-Key": key}


def submit(caller: Caller, body: dict[str, Any] | bytes, key: str) -> Any:
    headers = {**with_key(caller, key), "Content-Type": "application/json"}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return caller.client.post(f"{caller.base}/order", content=content, headers=headers)


def orders_named(caller: Caller, reference: str) -> list[str]:
    found = caller.search({"orderReferenceId": reference}).json()["orders"]
    return [order["id"] for order in found]


# --- submit ------------------------------------------------------------------------


def test_a_retried_submit_replays_the_first_answer_and_creates_one_order(caller: Caller) -> None:
    body, key = order_body(), new_key()

    first = submit(caller, body, key)
    again = submit(caller, body, key)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.content == first.content
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert orders_named(caller, body["orderReferenceId"]) == [first.json()["id"]]


def test_the_same_object_with_its_keys_in_another_order_is_the_same_request(
    caller: Caller,
) -> None:
    body, key = order_body(), new_key()
    first = submit(caller, body, key)
    reordered = json.dumps(dict(reversed(body.items())), indent=2).encode()

    again = submit(caller, reordered, key)

    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


def test_a_key_reused_for_another_order_is_422_and_creates_nothing(caller: Caller) -> None:
    key = new_key()
    first = submit(caller, order_body(), key)
    other = order_body()

    reused = submit(caller, other, key)

    assert first.status_code == 200
    assert reused.status_code == 422
    body = reused.json()
    assert (body["code"], body["type"]) == (422, "idempotency")
    assert [(e["code"], e["param"]) for e in body["errors"]] == [
        ("idempotency_key_reused", "Idempotency-Key")
    ]
    assert key in body["message"]
    assert orders_named(caller, other["orderReferenceId"]) == []


def test_a_changed_value_under_the_same_key_is_another_request(caller: Caller) -> None:
    body, key = order_body(), new_key()
    assert submit(caller, body, key).status_code == 200

    changed = submit(caller, {**body, "currency": "EUR"}, key)

    assert changed.status_code == 422
    assert caller.get(body["orderReferenceId"]).json()["currency"] == "USD"


def test_keys_belong_to_one_customer(caller: Caller, other_caller: Caller) -> None:
    key, reference = new_key(), f"shared-{uuid.uuid4().hex[:8]}"

    mine = submit(caller, order_body(reference), key)
    theirs = submit(other_caller, order_body(reference), key)

    assert (mine.status_code, theirs.status_code) == (200, 200)
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_submit_without_a_key_is_still_a_409_duplicate(caller: Caller) -> None:
    body = order_body()
    assert submit(caller, body, new_key()).status_code == 200

    plain = caller.submit(body)
    other_key = submit(caller, body, new_key())

    assert error_codes(plain) == ["duplicate_order_reference"]
    assert error_codes(other_key) == ["duplicate_order_reference"]


# --- what is not remembered ---------------------------------------------------------


def test_a_request_that_failed_validation_leaves_its_key_unused(caller: Caller) -> None:
    key, body = new_key(), order_body()
    broken = {**body, "currency": "usd"}

    refused = submit(caller, broken, key)
    accepted = submit(caller, body, key)

    assert refused.status_code == 400
    assert accepted.status_code == 200
    assert "idempotent-replayed" not in accepted.headers


def test_a_refused_write_leaves_its_key_unused_and_its_retry_runs_again(caller: Caller) -> None:
    created = submitted(caller)
    key = new_key()
    nowhere = {"shipmentMethodUid": "no_such_method"}
    express = {"shipmentMethodUid": "express"}
    url = f"{caller.base}/{created['id']}"

    refused = caller.client.put(url, json=nowhere, headers=with_key(caller, key))
    changed = caller.client.put(url, json=express, headers=with_key(caller, key))

    assert error_codes(refused) == ["no_matching_shipment_method"]
    assert changed.status_code == 200
    assert "idempotent-replayed" not in changed.headers


def test_a_duplicate_reference_under_a_new_key_stays_retryable(caller: Caller) -> None:
    body, key = order_body(), new_key()
    assert caller.submit(body).status_code == 200

    first = submit(caller, body, key)
    again = submit(caller, body, key)

    assert error_codes(first) == error_codes(again) == ["duplicate_order_reference"]


# --- the header itself -------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [b"x" * 256, "caf\u00e9".encode("latin-1"), b"tab\there"],
    ids=["too-long", "not-ascii", "control-character"],
)
def test_a_key_that_is_not_1_to_255_printable_characters_is_400(
    caller: Caller, value: bytes
) -> None:
    body = order_body()
    headers = {name.encode(): text.encode() for name, text in caller.headers.items()}
    headers[b"Idempotency-Key"] = value

    response = caller.client.post(f"{caller.base}/order", json=body, headers=headers)

    assert response.status_code == 400
    assert [(e["code"], e["param"]) for e in response.json()["errors"]] == [
        ("invalid_idempotency_key", "Idempotency-Key")
    ]
    assert orders_named(caller, body["orderReferenceId"]) == []


def test_two_keys_are_400_and_store_nothing(caller: Caller) -> None:
    body = order_body()
    headers = [*caller.headers.items(), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    response = caller.client.post(f"{caller.base}/order", json=body, headers=headers)
    assert response.status_code == 400
    assert [(e["code"], e["param"]) for e in response.json()["errors"]] == [
        ("repeated_header", "Idempotency-Key")
    ]
    assert orders_named(caller, body["orderReferenceId"]) == []


def test_an_empty_key_is_400(caller: Caller) -> None:
    response = caller.client.post(
        f"{caller.base}/order", json=order_body(), headers={**caller.headers, "Idempotency-Key": ""}
    )
    assert error_codes(response) == ["invalid_idempotency_key"]


def test_a_key_of_255_printable_characters_with_spaces_and_quotes_is_accepted(
    caller: Caller,
) -> None:
    key = ('"quoted key" ' + uuid.uuid4().hex).ljust(255, "~")
    body = order_body()

    first, again = submit(caller, body, key), submit(caller, body, key)

    assert (first.status_code, again.headers.get("idempotent-replayed")) == (200, "true")


def test_an_unauthenticated_request_with_a_bad_key_is_still_401(caller: Caller) -> None:
    response = caller.client.post(
        f"{caller.base}/order",
        json=order_body(),
        headers={"X-API-KEY": "pk_nobody:sk_nothing", "Idempotency-Key": ""},
    )
    assert response.status_code == 401


# --- cancel and update shipment ------------------------------------------------------


def test_a_replayed_cancel_answers_as_before_without_cancelling_again(
    caller: Caller, database: Database
) -> None:
    created, key = submitted(caller), new_key()
    url = f"{caller.base}/{created['id']}/cancel"
    # In production the cancel is a request to the facility, which ships instead.
    operator_walks_to(database, caller, created["id"], "in_production")
    first = caller.client.post(url, headers=with_key(caller, key))
    operator_sets_status(database, caller, created["id"], "shipped")

    replayed = caller.client.post(url, headers=with_key(caller, key))
    unkeyed = caller.cancel(created["id"])

    assert first.json() == replayed.json() == {"code": 200, "message": "OK"}
    assert replayed.headers["idempotent-replayed"] == "true"
    assert error_codes(unkeyed) == ["order_not_cancellable"]
    assert caller.get(created["id"]).json()["fulfillmentStatus"] == "shipped"


def test_a_replayed_shipment_update_is_not_applied_twice(caller: Caller) -> None:
    created, key = submitted(caller), new_key()
    url = f"{caller.base}/{created['id']}"
    change = {"shippingAddress": GB_ADDRESS}
    first = caller.client.put(url, json=change, headers=with_key(caller, key))
    updated_at = caller.get(created["id"]).json()["updatedAt"]

    replayed = caller.client.put(url, json=change, headers=with_key(caller, key))

    assert first.status_code == replayed.status_code == 200
    assert replayed.content == first.content
    assert replayed.headers["idempotent-replayed"] == "true"
    assert first.json()["shippingAddress"]["country"] == "GB"
    assert caller.get(created["id"]).json()["updatedAt"] == updated_at


def test_one_key_for_two_operations_is_422(caller: Caller) -> None:
    key = new_key()
    created = submit(caller, order_body(), key).json()

    cancel = caller.client.post(
        f"{caller.base}/{created['id']}/cancel", headers=with_key(caller, key)
    )

    assert cancel.status_code == 422
    assert cancel.json()["type"] == "idempotency"
    assert caller.get(created["id"]).json()["fulfillmentStatus"] == "created"


def test_one_key_for_two_orders_cancel_is_422(caller: Caller) -> None:
    key = new_key()
    first, second = submitted(caller), submitted(caller)
    assert caller.client.post(
        f"{caller.base}/{first['id']}/cancel", headers=with_key(caller, key)
    ).is_success

    other = caller.client.post(
        f"{caller.base}/{second['id']}/cancel", headers=with_key(caller, key)
    )

    assert other.status_code == 422
    assert caller.get(second["id"]).json()["fulfillmentStatus"] == "created"


def test_the_key_is_ignored_where_requests_change_nothing(caller: Caller) -> None:
    key, created = new_key(), submitted(caller)

    got = caller.client.get(f"{caller.base}/{created['id']}", headers=with_key(caller, key))
    again = caller.client.get(f"{caller.base}/{created['id']}", headers=with_key(caller, key))

    assert got.status_code == again.status_code == 200
    assert "idempotent-replayed" not in again.headers


# --- preventDuplicate ---------------------------------------------------------------


def test_prevent_duplicate_replays_the_original_order_instead_of_409(caller: Caller) -> None:
    body = order_body(preventDuplicate=True)

    first = caller.submit(body)
    again = caller.submit(body)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert orders_named(caller, body["orderReferenceId"]) == [first.json()["id"]]


def test_prevent_duplicate_with_another_order_under_the_reference_is_422(
    caller: Caller,
) -> None:
    body = order_body(preventDuplicate=True)
    first = caller.submit(body)

    other = caller.submit({**body, "currency": "EUR"})

    assert first.status_code == 200
    assert other.status_code == 422
    assert [(e["code"], e["param"]) for e in other.json()["errors"]] == [
        ("idempotency_key_reused", "orderReferenceId")
    ]
    assert "preventDuplicate" in other.json()["message"]
    assert caller.get(first.json()["id"]).json()["currency"] == "USD"


def test_prevent_duplicate_does_not_adopt_an_order_submitted_without_it(caller: Caller) -> None:
    body = order_body()
    assert caller.submit(body).status_code == 200

    flagged = caller.submit({**body, "preventDuplicate": True})

    assert error_codes(flagged) == ["duplicate_order_reference"]


def test_prevent_duplicate_and_a_key_together_replay_under_either(caller: Caller) -> None:
    body, key = order_body(preventDuplicate=True), new_key()
    first = submit(caller, body, key)

    by_key = submit(caller, body, key)
    by_reference = caller.submit(body)
    by_new_key = submit(caller, body, new_key())

    for again in (by_key, by_reference, by_new_key):
        assert again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
    assert orders_named(caller, body["orderReferenceId"]) == [first.json()["id"]]


def test_prevent_duplicate_references_are_per_customer(
    caller: Caller, other_caller: Caller
) -> None:
    body = order_body(preventDuplicate=True)

    mine, theirs = caller.submit(body), other_caller.submit(body)

    assert (mine.status_code, theirs.status_code) == (200, 200)
    assert "idempotent-replayed" not in theirs.headers


# --- the published contract ---------------------------------------------------------


def test_openapi_documents_the_key_and_the_replay_header_on_the_three_writes(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    keyed = {
        (method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
    }

    assert keyed == {
        ("post", "/api/{prefix}/order"),
        ("post", "/api/{prefix}/{orderId}/cancel"),
        ("put", "/api/{prefix}/{orderId}"),
    }
    for method, path in keyed:
        responses = document["paths"][path][method]["responses"]
        assert "Idempotent-Replayed" in responses["200"]["headers"]
        assert "idempotency_key_reused" in responses["422"]["description"]
        assert "idempotency_key_in_use" in responses["409"]["description"]
