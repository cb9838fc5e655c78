"""Customer-agnostic ("All Customers") connectors: each request names its customer (issue 6 §3)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from pressline.accounts import service as accounts
from pressline.db import Database, utcnow
from pressline.requestlog import store
from tests.api.test_request_log import flush
from tests.conftest import Caller, order_body


@dataclass
class Platform:
    """An all-customers connector's key, and two customers it serves."""

    client: TestClient
    base: str
    api_key: str
    first: str
    second: str

    def headers(self, customer: str | None) -> dict[str, str]:
        headers = {"X-API-KEY": self.api_key}
        if customer is not None:
            headers["Customer-Reference-ID"] = customer
        return headers

    def submit(self, customer: str | None, body: dict[str, Any]) -> Any:
        return self.client.post(f"{self.base}/order", json=body, headers=self.headers(customer))

    def get(self, customer: str, key: str) -> Any:
        return self.client.get(f"{self.base}/{key}", headers=self.headers(customer))


@pytest.fixture
def platform(client: TestClient, database: Database) -> Platform:
    suffix = uuid.uuid4().hex[:10]
    owner, first, second = f"plat-{suffix}", f"shop-a-{suffix}", f"shop-b-{suffix}"
    with database.transaction() as conn:
        for reference in (owner, first, second):
            accounts.create_customer(conn, reference_id=reference, name=reference, now=utcnow())
        created = accounts.create_connector(
            conn, customer_reference_id=owner, prefix=f"all-{suffix}", name="all",
            now=utcnow(), all_customers=True,
        )  # fmt: skip
    return Platform(client, f"/api/all-{suffix}", created.key.header_value, first, second)


def test_the_order_belongs_to_the_customer_the_request_names(
    platform: Platform, database: Database
) -> None:
    body = order_body()
    created = platform.submit(platform.first, body)
    assert created.status_code == 200, created.text
    order_id = created.json()["id"]

    mine = platform.get(platform.first, order_id)
    assert mine.status_code == 200
    assert mine.json()["customerReferenceId"] == platform.first
    # Another customer through the same connector sees nothing of it, by id or reference.
    assert platform.get(platform.second, order_id).status_code == 404
    assert platform.get(platform.second, body["orderReferenceId"]).status_code == 404
    cancel = platform.client.post(
        f"{platform.base}/{order_id}/cancel", headers=platform.headers(platform.second)
    )
    assert cancel.status_code == 404
    found = platform.client.post(
        f"{platform.base}/search", json={}, headers=platform.headers(platform.second)
    )
    assert found.status_code == 200 and found.json()["orders"] == []
    # The same reference is free for the other customer: references are per customer.
    assert platform.submit(platform.second, body).status_code == 200


@pytest.mark.parametrize("customer", [None, "nobody-like-this"])
def test_a_missing_or_unknown_customer_is_a_400_naming_the_header(
    platform: Platform, customer: str | None
) -> None:
    for answer in (
        platform.submit(customer, order_body()),
        platform.client.post(
            f"{platform.base}/search", json={}, headers=platform.headers(customer)
        ),
        platform.client.get(f"{platform.base}/some-order", headers=platform.headers(customer)),
    ):
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert body["errors"][0]["param"] == "Customer-Reference-ID"
        assert "Customer-Reference-ID" in body["message"]


def test_two_customer_headers_name_no_customer(platform: Platform) -> None:
    headers = [*platform.headers(platform.first).items(),
               ("Customer-Reference-ID", platform.second)]  # fmt: skip
    answer = platform.client.post(f"{platform.base}/order", json=order_body(), headers=headers)
    assert answer.status_code == 400
    [error] = answer.json()["errors"]
    assert (error["code"], error["param"]) == ("unknown_customer", "Customer-Reference-ID")
    assert f"'{platform.first}, {platform.second}'" in error["message"]


def test_the_request_log_records_the_named_customer(
    platform: Platform, client: TestClient, database: Database
) -> None:
    created = platform.submit(platform.first, order_body()).json()
    assert platform.get(platform.second, created["id"]).status_code == 404
    assert platform.submit(None, order_body()).status_code == 400
    flush(client)
    with database.transaction() as conn:
        prefix = platform.base.rsplit("/", 1)[1]
        rows = store.list_entries(conn, store.Filters(prefix=prefix))
    assert [(row.status, row.customer_reference_id) for row in reversed(rows)] == [
        (200, platform.first), (404, platform.second), (400, None),
    ]  # fmt: skip


def test_a_bad_key_is_still_a_401_before_the_header_is_looked_at(platform: Platform) -> None:
    headers = {"X-API-KEY": "pk_000000000000000000000000:sk_" + "x" * 43}
    answer = platform.client.post(f"{platform.base}/order", json=order_body(), headers=headers)
    assert answer.status_code == 401


def test_an_ordinary_connector_ignores_the_header(caller: Caller, other_caller: Caller) -> None:
    headers = {**caller.headers, "Customer-Reference-ID": other_caller.customer_reference_id}
    answer = caller.client.post(f"{caller.base}/order", json=order_body(), headers=headers)
    assert answer.status_code == 200
    order = caller.get(answer.json()["id"]).json()
    assert order["customerReferenceId"] == caller.customer_reference_id
    assert other_caller.get(answer.json()["id"]).status_code == 404
