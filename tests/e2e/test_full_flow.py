"""From submit to shipped through a real ``pressline serve`` and its embedded worker.

The customer submits an order over HTTPS; the worker passes it through intake and hands
it to its facility's ``orderSubmitUrl`` (a receiver on 127.0.0.1, signed with the
facility's secret); the facility reports received, printed and shipped with tracking
through the production API; the customer's receiver gets the signed postbacks of its
triggers, in order, each verified with ``standardwebhooks``.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.conftest import order_body
from tests.e2e.conftest import PRESSLINE, Server, new_server
from tests.support.receiver import Receiver, running_receiver

pytestmark = pytest.mark.e2e

EVENTS = ("order.received", "order.printed", "order.package_status_updated", "order.shipped")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = new_server(
        tmp_path / "serve",
        plain_http=False,
        PRESSLINE_RATE_LIMIT="off",
        PRESSLINE_POSTBACK_ALLOW_HTTP="true",
        PRESSLINE_POSTBACK_ALLOWED_NETWORKS="127.0.0.0/8",
        PRESSLINE_WORKER_POLL_SECONDS="0.1",
    )
    running.args = ()
    running.start()
    try:
        yield running
    finally:
        assert running.stop() == 0, running.logs()


@pytest.fixture
def customer_receiver() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


@pytest.fixture
def facility_receiver() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


def cli(server: Server, *args: str) -> Any:
    """``pressline ARGS --json`` against the server's database, parsed."""
    done = subprocess.run(
        [PRESSLINE, *args, "--json"],
        cwd=server.cwd,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_submit_to_shipped_with_signed_postbacks_in_order(
    server: Server, customer_receiver: Receiver, facility_receiver: Receiver
) -> None:
    cli(server, "customers", "create", "flow-shop")
    api_key = cli(server, "connectors", "create", "flow-shop", "flow")["apiKey"]
    secrets = {
        event: cli(
            server, "triggers", "create", "flow-shop", "--event", event,
            "--url", f"{customer_receiver.url}/{event}",
        )["secret"]
        for event in EVENTS
    }  # fmt: skip
    facility_secrets = {
        facility["id"]: cli(
            server, "facilities", "subscribe", facility["id"],
            "--submit-url", f"{facility_receiver.url}/{facility['id']}/orders",
        )["signingSecret"]
        for facility in cli(server, "facilities", "list")
    }  # fmt: skip

    with server.client() as client:
        submitted = client.post(
            "/api/flow/order", json=order_body(), headers={"X-API-KEY": api_key}
        )
        assert submitted.status_code == 200, submitted.text
        order_id = submitted.json()["id"]

        # The worker passes the order through intake and pushes it to its facility.
        (handoff,) = facility_receiver.wait_for(1)
        facility_id = handoff.path.split("/")[1]
        pushed = Webhook(facility_secrets[facility_id]).verify(handoff.body, handoff.headers)
        assert order_id in json.dumps(pushed)
        order = client.get(f"/api/flow/{order_id}", headers={"X-API-KEY": api_key}).json()
        assert order["shipment"]["fulfillmentFacilityId"] == facility_id

        facility_key = cli(server, "facilities", "credentials", "create", facility_id)["apiKey"]
        for status, extra in (
            ("received", {}),
            ("printed", {}),
            ("shipped", {"trackingCode": "TRK-FLOW-1",
                         "trackingLink": "https://track.example/TRK-FLOW-1"}),
        ):  # fmt: skip
            reported = client.post(
                "/production/v2/order/status",
                json={"orderId": order_id, "status": status, **extra},
                headers={"X-API-KEY": facility_key},
            )
            assert reported.status_code == 200, reported.text

        requests = customer_receiver.wait_for(len(EVENTS))
        events = []
        for request in requests:
            event_type = request.path.lstrip("/")
            event = Webhook(secrets[event_type]).verify(request.body, request.headers)
            assert event["type"] == event_type and event["id"] == request.headers["webhook-id"]
            assert event["data"]["order"]["id"] == order_id
            events.append(event)
        assert [event["type"] for event in events] == list(EVENTS)
        assert [event["timestamp"] for event in events] == sorted(e["timestamp"] for e in events)
        shipped = events[-1]
        assert shipped["data"]["order"]["fulfillmentStatus"] == "shipped"
        (package,) = shipped["data"]["packages"]
        assert package["trackingCode"] == "TRK-FLOW-1"
        assert package["trackingUrl"] == "https://track.example/TRK-FLOW-1"

        # The receiver has the last request before the worker records its answer.
        deadline = time.monotonic() + 10
        while True:
            log = client.get(f"/api/flow/{order_id}/postbacks", headers={"X-API-KEY": api_key})
            assert log.status_code == 200
            listed = log.json()["postbacks"]
            if all(p["status"] != "pending" for p in listed) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert [p["event"] for p in listed] == list(EVENTS)
        assert all(p["status"] == "delivered" for p in listed), listed
        assert [p["id"] for p in listed] == [event["id"] for event in events]
    assert len(facility_receiver.requests) == 1  # handed off once
