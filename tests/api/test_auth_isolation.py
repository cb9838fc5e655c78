"""API keys (reliability.md 1-3) and isolation between customers (reliability.md 4)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from pressline.accounts import service as accounts
from pressline.accounts.keys import parse_header
from pressline.accounts.tables import api_keys
from pressline.db import Database, utcnow
from tests.conftest import Caller, order_body


def unauthorized(response: Any) -> dict[str, Any]:
    """The one 401 body (without its requestId), checked for the documented shape."""
    assert response.status_code == 401, response.text
    body = without_request_id(response)
    assert (body["code"], body["type"]) == (401, "authentication")
    assert [(item["code"], item["param"]) for item in body["errors"]] == [("invalid_api_key", None)]
    assert "X-API-KEY" in body["message"]
    return body


def without_request_id(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    request_id = body.pop("requestId")
    assert response.headers["request-id"] == request_id
    return body


def key_and_secret(caller: Caller) -> tuple[str, str]:
    parsed = parse_header(caller.api_key)
    assert parsed is not None
    return parsed


def get_with_key(caller: Caller, header: str | None, order_key: str = "anything") -> Any:
    headers = {} if header is None else {"X-API-KEY": header}
    return caller.client.get(f"{caller.base}/{order_key}", headers=headers)


# --- every key problem gets the same 401 ----------------------------------------------


def _bad_headers(caller: Caller) -> dict[str, str | None]:
    key, secret = key_and_secret(caller)
    wrong_secret = "sk_" + ("A" if secret[3] != "A" else "B") + secret[4:]
    unknown_key = "pk_" + uuid.uuid4().hex[:24]
    return {
        "missing": None,
        "empty": "",
        "no separator": key + secret,
        "garbage": "let-me-in",
        "key only": key,
        "secret only": secret,
        "unknown key": f"{unknown_key}:{secret}",
        "wrong secret": f"{key}:{wrong_secret}",
        "swapped": f"{secret}:{key}",
    }


@pytest.mark.parametrize(
    "problem",
    ["missing", "empty", "no separator", "garbage", "key only", "secret only",
     "unknown key", "wrong secret", "swapped"],
)  # fmt: skip
def test_every_key_problem_gets_the_same_401(caller: Caller, problem: str) -> None:
    order_id = caller.submit(order_body()).json()["id"]
    response = get_with_key(caller, _bad_headers(caller)[problem], order_id)
    assert unauthorized(response) == unauthorized(get_with_key(caller, None, order_id))


@pytest.mark.parametrize("endpoint", ["submit", "search", "cancel", "update"])
def test_every_endpoint_requires_a_key(caller: Caller, endpoint: str) -> None:
    order_id = caller.submit(order_body()).json()["id"]
    client, base = caller.client, caller.base
    response = {
        "submit": lambda: client.post(f"{base}/order", json=order_body()),
        "search": lambda: client.post(f"{base}/search", json={}),
        "cancel": lambda: client.post(f"{base}/{order_id}/cancel"),
        "update": lambda: client.put(f"{base}/{order_id}", json={"shipmentMethodUid": "x"}),
    }[endpoint]()
    assert unauthorized(response) == unauthorized(get_with_key(caller, None, order_id))
    assert caller.get(order_id).json()["fulfillmentStatus"] == "created"
    assert caller.get(order_id).json()["shipmentMethodUid"] is None


def test_a_revoked_key_is_refused_on_the_next_request(caller: Caller, database: Database) -> None:
    assert caller.search({}).status_code == 200
    key, _ = key_and_secret(caller)
    with database.transaction() as conn:
        accounts.revoke_key(conn, key=key, now=utcnow())
    assert unauthorized(caller.search({})) == unauthorized(get_with_key(caller, None))


def test_a_rotated_key_works_until_its_grace_ends(caller: Caller, database: Database) -> None:
    key, _ = key_and_secret(caller)
    with database.transaction() as conn:
        new = accounts.rotate_key(conn, key=key, grace=timedelta(hours=1), now=utcnow()).key
    assert caller.search({}).status_code == 200  # old key, within grace
    response = get_with_key(caller, new.header_value, "x")
    assert response.status_code == 404  # authenticated: the order simply does not exist
    created = caller.client.post(
        f"{caller.base}/order", json=order_body(), headers={"X-API-KEY": new.header_value}
    )
    assert created.status_code == 200
    assert caller.get(created.json()["id"]).status_code == 200  # same customer


def test_a_rotated_key_past_its_grace_is_refused(caller: Caller, database: Database) -> None:
    key, _ = key_and_secret(caller)
    long_ago = utcnow() - timedelta(days=2)
    with database.transaction() as conn:
        new = accounts.rotate_key(conn, key=key, grace=timedelta(days=1), now=long_ago).key
    assert unauthorized(caller.search({})) == unauthorized(get_with_key(caller, None))
    assert get_with_key(caller, new.header_value, "x").status_code == 404


def test_a_key_is_refused_on_another_connectors_prefix(
    caller: Caller, other_caller: Caller, database: Database
) -> None:
    sibling = f"{caller.prefix}-b"
    with database.transaction() as conn:
        created = accounts.create_connector(
            conn,
            customer_reference_id=caller.customer_reference_id,
            prefix=sibling,
            name=sibling,
            now=utcnow(),
        )
    for prefix in (other_caller.prefix, sibling):
        response = caller.client.post(f"/api/{prefix}/search", json={}, headers=caller.headers)
        assert unauthorized(response) == unauthorized(get_with_key(caller, None)), prefix
    own = caller.client.post(
        f"/api/{sibling}/search", json={}, headers={"X-API-KEY": created.key.header_value}
    )
    assert own.status_code == 200


def test_only_a_sha256_of_the_secret_is_stored(caller: Caller, database: Database) -> None:
    key, secret = key_and_secret(caller)
    with database.transaction() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.key == key)).one()
    stored = " ".join(str(value) for value in row)
    assert secret not in stored
    assert secret[3:] not in stored
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()


# --- another customer's orders do not exist for you -----------------------------------


def _as_missing(response: Any, order_key: str) -> dict[str, Any]:
    """The body with the requested key blanked out, to compare two 404s."""
    body = without_request_id(response)
    text = repr(body).replace(order_key, "<key>")
    return {"status": response.status_code, "body": text}


@pytest.mark.parametrize("by", ["id", "reference"])
@pytest.mark.parametrize("action", ["get", "cancel", "update"])
def test_another_customers_order_looks_exactly_like_a_missing_one(
    caller: Caller, other_caller: Caller, by: str, action: str
) -> None:
    theirs = other_caller.submit(order_body()).json()
    key = theirs["id"] if by == "id" else theirs["orderReferenceId"]
    missing = str(uuid.uuid4()) if by == "id" else f"missing-{uuid.uuid4().hex[:8]}"

    def attempt(order_key: str) -> Any:
        if action == "get":
            return caller.get(order_key)
        if action == "cancel":
            return caller.cancel(order_key)
        return caller.update(order_key, {"shipmentMethodUid": "express"})

    response = attempt(key)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "order_not_found"
    assert _as_missing(response, key) == _as_missing(attempt(missing), missing)
    order = other_caller.get(theirs["id"]).json()
    assert order["fulfillmentStatus"] == "created"
    assert order["shipmentMethodUid"] is None


def test_search_never_returns_another_customers_orders(
    caller: Caller, other_caller: Caller
) -> None:
    reference = f"same-{uuid.uuid4().hex[:8]}"
    theirs = other_caller.submit(order_body(reference)).json()
    other_caller.submit(order_body())
    mine = caller.submit(order_body(reference)).json()
    searches: list[dict[str, Any]] = [
        {},
        {"orderReferenceId": reference},
        {"orderReferenceIds": [reference, theirs["orderReferenceId"]]},
        {"countries": ["US"], "fulfillmentStatus": ["created"], "financialStatus": ["pending"]},
    ]
    for search in searches:
        found = caller.search(search).json()["orders"]
        assert [order["id"] for order in found] == [mine["id"]], search


def test_a_caller_cannot_reach_orders_through_another_customers_prefix(
    client: TestClient, caller: Caller, other_caller: Caller
) -> None:
    theirs = other_caller.submit(order_body()).json()
    response = client.get(f"{other_caller.base}/{theirs['id']}", headers=caller.headers)
    assert unauthorized(response) == unauthorized(get_with_key(caller, None))
