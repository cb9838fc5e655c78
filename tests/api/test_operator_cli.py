"""The operator's order and facility commands, on the API's own database."""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient

from pressline.db import Database
from pressline.production.tables import facility_subscriptions
from tests.api.test_order_lifecycle import run_cli
from tests.api.test_production_lifecycle import drain, submit
from tests.conftest import Caller

FACILITY = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c70"


def cli_json(database: Database, *args: str) -> Any:
    result = run_cli(database, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def history(caller: Caller, order_id: str) -> list[tuple[str, str | None, str]]:
    order = caller.get(order_id).json()
    return [(e["actor"], e["toStatus"], e["message"]) for e in order["history"]]


def test_approve_hold_and_release_follow_the_lifecycle_with_reasons(
    caller: Caller, database: Database
) -> None:
    customer = caller.customer_reference_id
    order_id = submit(caller)
    cli_json(database, "orders", "set-status", customer, order_id, "pending_approval",
             "--reason", "Large order: check the artwork")  # fmt: skip
    attention = cli_json(database, "orders", "attention", "--limit", "1000")
    assert {
        "customer": customer,
        "id": order_id,
        "fulfillmentStatus": "pending_approval",
    }.items() <= next(row for row in attention if row["id"] == order_id).items()

    approved = cli_json(database, "orders", "approve", customer, order_id)
    held = cli_json(database, "orders", "hold", customer, order_id, "--reason", "Address check")
    released = cli_json(database, "orders", "release", customer, order_id)

    assert (approved["from"], approved["to"]) == ("pending_approval", "passed")
    assert (held["from"], held["to"]) == ("passed", "on_hold")
    assert (released["from"], released["to"]) == ("on_hold", "passed")
    log = history(caller, order_id)
    assert log[1:] == [
        ("operator", "pending_approval", "Operator: Large order: check the artwork"),
        ("operator", "passed", "Set to 'passed' by the operator"),
        ("operator", "on_hold", "Operator: Address check"),
        ("operator", "passed", "Set to 'passed' by the operator"),
    ]
    rows = cli_json(database, "orders", "attention", "--limit", "1000")
    assert order_id not in [row["id"] for row in rows]


def test_approve_takes_only_an_order_waiting_for_approval(
    caller: Caller, database: Database
) -> None:
    customer = caller.customer_reference_id
    order_id = submit(caller)  # created: intake has not looked at it yet
    refused = run_cli(database, "orders", "approve", customer, order_id)
    assert refused.exit_code == 1
    assert "'created', not 'pending_approval'" in refused.output
    assert caller.get(order_id).json()["fulfillmentStatus"] == "created"
    cli_json(database, "orders", "hold", customer, order_id)
    assert run_cli(database, "orders", "approve", customer, order_id).exit_code == 1
    assert caller.get(order_id).json()["fulfillmentStatus"] == "on_hold"


def test_an_illegal_operator_move_exits_1_naming_the_allowed_ones(
    caller: Caller, database: Database
) -> None:
    order_id = submit(caller)
    result = run_cli(database, "orders", "set-status", caller.customer_reference_id, order_id,
                     "delivered")  # fmt: skip
    assert result.exit_code == 1
    assert "'created'" in result.output and "passed" in result.output
    assert caller.get(order_id).json()["fulfillmentStatus"] == "created"
    release = run_cli(database, "orders", "release", caller.customer_reference_id, order_id)
    assert release.exit_code == 1
    assert "not 'on_hold'" in release.output
    assert caller.get(order_id).json()["fulfillmentStatus"] == "created"


def test_show_prints_the_order_with_its_event_log(caller: Caller, database: Database) -> None:
    order_id = submit(caller)
    drain(database)
    shown = cli_json(database, "orders", "show", caller.customer_reference_id, order_id)
    assert shown["id"] == order_id
    assert [e["toStatus"] for e in shown["history"]] == ["created", "passed"]
    text = run_cli(database, "orders", "show", caller.customer_reference_id, order_id)
    assert text.exit_code == 0
    assert "Event log" in text.stdout and "system" in text.stdout  # intake passed it


def test_facility_credentials_are_created_listed_and_revoked(
    client: TestClient, database: Database
) -> None:
    created = cli_json(database, "facilities", "credentials", "create", FACILITY)
    headers = {"X-API-KEY": created["apiKey"]}
    assert client.get("/production/v2/orders", headers=headers).status_code == 200
    listed = cli_json(database, "facilities", "credentials", "list", FACILITY)
    assert {"key": created["key"], "state": "active"}.items() <= next(
        row for row in listed if row["key"] == created["key"]
    ).items()

    cli_json(database, "facilities", "credentials", "revoke", FACILITY, created["key"])

    assert client.get("/production/v2/orders", headers=headers).status_code == 401
    listed = cli_json(database, "facilities", "credentials", "list", FACILITY)
    assert next(row for row in listed if row["key"] == created["key"])["state"] == "revoked"


def test_an_unknown_facility_gets_no_credentials(database: Database) -> None:
    result = run_cli(database, "facilities", "credentials", "create", "no-such-facility")
    assert result.exit_code == 1
    assert "no-such-facility" in result.output


def test_subscribe_switches_a_facility_from_pull_to_push(database: Database) -> None:
    before = {row["id"]: row for row in cli_json(database, "facilities", "list")}
    assert before[FACILITY]["delivery"] == "pull"
    try:
        answer = cli_json(database, "facilities", "subscribe", FACILITY,
                          "--submit-url", "https://93.184.216.34/in",
                          "--cancel-url", "https://93.184.216.34/cancel")  # fmt: skip
        assert answer["signingSecret"].startswith("whsec_")
        after = {row["id"]: row for row in cli_json(database, "facilities", "list")}
        assert (after[FACILITY]["delivery"], after[FACILITY]["orderSubmitUrl"]) == (
            "push", "https://93.184.216.34/in"
        )  # fmt: skip
        bad = run_cli(database, "facilities", "subscribe", FACILITY, "--submit-url", "ftp://x")
        assert bad.exit_code == 1
    finally:
        with database.transaction() as conn:
            conn.execute(
                facility_subscriptions.delete().where(
                    facility_subscriptions.c.facility_id == FACILITY
                )
            )


def test_subscribe_refuses_internal_addresses_as_webhooks_do(database: Database) -> None:
    try:
        for url in ("https://169.254.169.254/latest/meta-data", "https://10.0.0.8/in"):
            refused = run_cli(database, "facilities", "subscribe", FACILITY, "--submit-url",
                              "https://93.184.216.34/in", "--cancel-url", url)  # fmt: skip
            assert refused.exit_code == 1
            assert "cancelUrl" in refused.output and "not allowed" in refused.output
        listed = {row["id"]: row for row in cli_json(database, "facilities", "list")}
        assert listed[FACILITY]["delivery"] == "pull"  # nothing was saved
    finally:
        with database.transaction() as conn:
            conn.execute(
                facility_subscriptions.delete().where(
                    facility_subscriptions.c.facility_id == FACILITY
                )
            )
