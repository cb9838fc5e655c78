"""Get, cancel, update shipment and duplicates through the HTTP API, with operator moves.

The operator moves an order with ``orders.service.set_status`` in a transaction, the
same function ``pressline orders set-status`` runs; the CLI itself is tested once.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from typer.testing import CliRunner

from pressline.accounts import repository as accounts
from pressline.accounts.keys import Principal
from pressline.cli import app as cli_app
from pressline.config import get_settings
from pressline.db import Database, utcnow
from pressline.orders import service
from pressline.orders.statuses import FinancialStatus, FulfillmentStatus
from pressline.orders.tables import orders
from tests.conftest import GB_ADDRESS, Caller, order_body, without_requests

SHIPPED_OR_LATER = ["shipped", "in_transit", "delivered", "returned"]

NEW_ADDRESS = GB_ADDRESS


#: The happy path, as the operator walks an order along it (docs/adr/0010).
HAPPY_PATH = [
    "passed", "in_production", "printed", "shipped", "in_transit", "delivered", "returned"
]  # fmt: skip


def operator_sets_status(database: Database, caller: Caller, order_key: str, status: str) -> None:
    """What ``pressline orders set-status`` does: one move the lifecycle allows."""
    with database.transaction() as conn:
        customer = accounts.customer_by_reference(conn, caller.customer_reference_id)
        assert customer is not None
        service.set_status(
            conn,
            principal=Principal(customer.id, customer.reference_id),
            order_key=order_key,
            status=FulfillmentStatus(status),
            now=utcnow(),
            billing_state=FinancialStatus.TO_BE_INVOICED,
        )


def operator_walks_to(database: Database, caller: Caller, order_key: str, status: str) -> None:
    """Move a new order to ``status`` along the happy path, one allowed move at a time."""
    if status not in HAPPY_PATH:
        operator_sets_status(database, caller, order_key, status)
        return
    for step in HAPPY_PATH[: HAPPY_PATH.index(status) + 1]:
        operator_sets_status(database, caller, order_key, step)


def submitted(caller: Caller, **changes: Any) -> dict[str, Any]:
    response = caller.submit(order_body(**changes))
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def error_codes(response: Any) -> list[str]:
    return [item["code"] for item in response.json()["errors"]]


# --- get ---------------------------------------------------------------------------


def test_get_by_id_and_by_reference_return_the_same_order(caller: Caller) -> None:
    created = submitted(caller)
    by_id = caller.get(created["id"])
    by_reference = caller.get(created["orderReferenceId"])
    assert by_id.status_code == by_reference.status_code == 200
    assert without_requests(by_id.json()) == without_requests(by_reference.json())
    assert by_id.json()["id"] == created["id"]
    assert by_id.json()["fulfillmentStatus"] == "created"
    assert by_id.json()["financialStatus"] == "pending"


def test_a_reference_that_looks_like_a_uuid_finds_its_order(caller: Caller) -> None:
    reference = str(uuid.uuid4())
    created = submitted(caller, orderReferenceId=reference)
    assert created["id"] != reference
    order = caller.get(reference)
    assert order.status_code == 200, order.text
    assert order.json()["id"] == created["id"]
    assert order.json()["orderReferenceId"] == reference


def test_an_id_wins_over_another_orders_reference_equal_to_it(caller: Caller) -> None:
    first = submitted(caller)
    second = submitted(caller, orderReferenceId=first["id"])
    assert caller.get(first["id"]).json()["id"] == first["id"]
    assert caller.get(second["id"]).json()["id"] == second["id"]


def test_get_of_an_unknown_order_is_404(caller: Caller) -> None:
    for key in (str(uuid.uuid4()), "no-such-reference"):
        response = caller.get(key)
        assert response.status_code == 404
        assert response.json()["type"] == "not_found"
        assert error_codes(response) == ["order_not_found"]


# --- cancel ------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["created", "passed", "on_hold", "failed", "draft"])
def test_cancel_before_production_cancels_at_once(
    caller: Caller, database: Database, status: str
) -> None:
    created = submitted(caller, orderType="draft" if status == "draft" else "order")
    if status not in {"created", "draft"}:
        operator_walks_to(database, caller, created["id"], status)
    assert caller.get(created["id"]).json()["fulfillmentStatus"] == status

    response = caller.cancel(created["id"])

    assert response.status_code == 200, response.text
    assert response.json() == {"code": 200, "message": "OK"}
    order = caller.get(created["id"]).json()
    assert order["fulfillmentStatus"] == "canceled"
    assert order["financialStatus"] == "canceled"
    assert [item["fulfillmentStatus"] for item in order["items"]] == ["canceled"]


def test_cancel_by_reference_twice_is_200_both_times(caller: Caller) -> None:
    created = submitted(caller)
    first = caller.cancel(created["orderReferenceId"])
    second = caller.cancel(created["orderReferenceId"])
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json() == second.json() == {"code": 200, "message": "OK"}
    order = caller.get(created["id"]).json()
    assert (order["fulfillmentStatus"], order["financialStatus"]) == ("canceled", "canceled")
    assert {item["fulfillmentStatus"] for item in order["items"]} == {"canceled"}


@pytest.mark.parametrize("status", SHIPPED_OR_LATER)
def test_cancel_after_shipping_is_rejected(caller: Caller, database: Database, status: str) -> None:
    created = submitted(caller)
    operator_walks_to(database, caller, created["id"], status)

    response = caller.cancel(created["id"])

    assert response.status_code == 409
    body = response.json()
    assert body["type"] == "conflict"
    assert error_codes(response) == ["order_not_cancellable"]
    assert status in body["message"]
    order = caller.get(created["id"]).json()
    assert order["fulfillmentStatus"] == status
    assert order["financialStatus"] == "to_be_invoiced"  # shipped: the billing state
    assert {item["fulfillmentStatus"] for item in order["items"]} == {status}


@pytest.mark.parametrize("status", SHIPPED_OR_LATER)
def test_update_shipment_after_shipping_is_rejected(
    caller: Caller, database: Database, status: str
) -> None:
    created = submitted(caller)
    operator_walks_to(database, caller, created["id"], status)

    response = caller.update(created["id"], {"shippingAddress": NEW_ADDRESS})

    assert response.status_code == 409
    assert error_codes(response) == ["shipment_not_updatable"]
    assert caller.get(created["id"]).json()["shippingAddress"]["country"] == "US"


# --- update shipment -------------------------------------------------------------


def test_update_shipment_changes_what_get_and_search_show(caller: Caller) -> None:
    created = submitted(caller)
    change = {"shipmentMethodUid": "express", "shippingAddress": NEW_ADDRESS}

    response = caller.update(created["orderReferenceId"], change)

    assert response.status_code == 200, response.text
    assert response.json()["shippingAddress"]["city"] == "London"
    order = caller.get(created["id"]).json()
    assert order["shipmentMethodUid"] == "express"
    assert order["shippingAddress"]["country"] == "GB"
    assert order["shippingAddress"]["email"] == "ada@example.org"
    assert order["shippingAddress"]["addressLine1"] == NEW_ADDRESS["addressLine1"]
    found = caller.search({"countries": ["GB"]}).json()["orders"]
    assert [(o["id"], o["firstName"], o["lastName"]) for o in found] == [
        (created["id"], "Ada", "Lovelace")
    ]
    assert caller.search({"countries": ["US"]}).json()["orders"] == []


def test_update_shipment_method_alone_keeps_the_address(caller: Caller) -> None:
    created = submitted(caller)
    before = caller.get(created["id"]).json()["shippingAddress"]
    response = caller.update(created["id"], {"shipmentMethodUid": "standard"})
    assert response.status_code == 200, response.text
    order = caller.get(created["id"]).json()
    assert order["shipmentMethodUid"] == "standard"
    assert order["shippingAddress"] == before


def test_update_shipment_needs_at_least_one_field(caller: Caller) -> None:
    created = submitted(caller)
    response = caller.update(created["id"], {})
    assert response.status_code == 400
    assert response.json()["type"] == "invalid_request"
    assert error_codes(response) == ["nothing_to_update"]


@pytest.mark.parametrize(
    ("changes", "params"),
    [
        ({"email": "not-an-email"}, ["shippingAddress.email"]),
        ({"country": "XX"}, ["shippingAddress.country"]),
        ({"country": "US"}, ["shippingAddress.state"]),
        (
            {"firstName": "x" * 26, "city": ""},
            ["shippingAddress.firstName", "shippingAddress.city"],
        ),
        ({"favouriteColour": "blue"}, ["shippingAddress.favouriteColour"]),
    ],
)
def test_update_shipment_validates_the_address_like_submit(
    caller: Caller, changes: dict[str, Any], params: list[str]
) -> None:
    created = submitted(caller)
    response = caller.update(created["id"], {"shippingAddress": {**NEW_ADDRESS, **changes}})
    assert response.status_code == 400, response.text
    assert sorted(item["param"] for item in response.json()["errors"]) == sorted(params)
    submit = caller.submit(order_body(shippingAddress={**NEW_ADDRESS, **changes}))
    assert submit.status_code == 400
    assert [item["param"] for item in submit.json()["errors"]] == [
        item["param"] for item in response.json()["errors"]
    ]
    assert caller.get(created["id"]).json()["shippingAddress"]["country"] == "US"


def test_update_shipment_of_a_canceled_order_is_rejected(caller: Caller) -> None:
    created = submitted(caller)
    assert caller.cancel(created["id"]).status_code == 200
    response = caller.update(created["id"], {"shipmentMethodUid": "express"})
    assert response.status_code == 409
    assert error_codes(response) == ["shipment_not_updatable"]
    assert caller.get(created["id"]).json()["shipmentMethodUid"] is None


# --- duplicates ------------------------------------------------------------------


def test_duplicate_reference_is_409_naming_the_existing_order(caller: Caller) -> None:
    created = submitted(caller)
    again = order_body(created["orderReferenceId"], currency="EUR")

    response = caller.submit(again)

    assert response.status_code == 409
    body = response.json()
    assert body["type"] == "conflict"
    assert error_codes(response) == ["duplicate_order_reference"]
    assert created["id"] in body["message"]
    found = caller.search({"orderReferenceId": created["orderReferenceId"]}).json()["orders"]
    assert [order["id"] for order in found] == [created["id"]]
    assert caller.get(created["id"]).json()["currency"] == "USD"


def test_the_same_reference_is_free_for_another_customer(
    caller: Caller, other_caller: Caller
) -> None:
    reference = f"shared-{uuid.uuid4().hex[:8]}"
    mine = caller.submit(order_body(reference))
    theirs = other_caller.submit(order_body(reference))
    assert (mine.status_code, theirs.status_code) == (200, 200)
    assert mine.json()["id"] != theirs.json()["id"]
    assert caller.get(reference).json()["id"] == mine.json()["id"]
    assert other_caller.get(reference).json()["id"] == theirs.json()["id"]


# --- the operator's CLI ------------------------------------------------------------


def run_cli(database: Database, *args: str) -> Any:
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli_app, list(args), env={"PRESSLINE_DATABASE_URL": database.url})
    finally:
        get_settings.cache_clear()


def test_set_status_command_moves_an_order_so_cancel_is_refused(
    caller: Caller, database: Database
) -> None:
    created = submitted(caller)
    operator_walks_to(database, caller, created["id"], "printed")

    result = run_cli(
        database,
        "orders",
        "set-status",
        caller.customer_reference_id,
        created["orderReferenceId"],
        "shipped",
        "--json",
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "order": created["orderReferenceId"],
        "from": "printed",
        "to": "shipped",
    }
    order = caller.get(created["id"]).json()
    assert order["fulfillmentStatus"] == "shipped"
    assert {item["fulfillmentStatus"] for item in order["items"]} == {"shipped"}
    assert caller.cancel(created["id"]).status_code == 409


def test_set_status_command_cannot_reach_another_customers_order(
    caller: Caller, other_caller: Caller, database: Database
) -> None:
    created = submitted(caller)
    result = run_cli(
        database,
        "orders",
        "set-status",
        other_caller.customer_reference_id,
        created["id"],
        "shipped",
    )
    assert result.exit_code == 1
    assert caller.get(created["id"]).json()["fulfillmentStatus"] == "created"


def test_an_address_stored_under_older_rules_still_takes_a_new_method(
    caller: Caller, database: Database
) -> None:
    """Stored addresses are not validated again: one accepted before state codes were
    checked ("California") answered a later method change with 500."""
    created = caller.submit(order_body()).json()
    with database.transaction() as conn:
        stored = conn.execute(orders.select().where(orders.c.id == uuid.UUID(created["id"]))).one()
        conn.execute(
            orders.update()
            .where(orders.c.id == stored.id)
            .values(shipping_address={**stored.shipping_address, "state": "California"})
        )
    response = caller.update(created["id"], {"shipmentMethodUid": "standard"})
    assert response.status_code == 200, response.text
    assert response.json()["shippingAddress"]["state"] == "California"
