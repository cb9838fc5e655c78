"""From intake to delivery through HTTP: intake timers, the production API, the event
log in Get Order, partial cancels, drafts, the sandbox and the delayed check.

Timers run through ``pressline.orders.timers.run_due`` with an explicit ``now`` (no
sleeping); postbacks and facility hand-offs are observed by recording what the order
side asks the outbox to queue.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from pressline.accounts import repository as accounts_repository
from pressline.app import create_app
from pressline.config import Settings
from pressline.db import Database, utcnow
from pressline.orders import journal, operator, repository, timers
from pressline.orders.statuses import FinancialStatus, FulfillmentStatus
from pressline.postbacks import outbox
from pressline.production import service as production
from pressline.production import views as production_views
from pressline.production.tables import facility_subscriptions
from tests.conftest import GB_ADDRESS, Caller, new_caller, order_body

#: The billing state the timers give shipped orders here (the default setting's).
BILLING = FinancialStatus.TO_BE_INVOICED

PRODUCT = "flat_product_pf_a4_pt_200-gsm-uncoated_cl_4-0_ct_none_prt_none_sft_none_set_none_hor"
ITEM = {
    "productUid": PRODUCT,
    "files": [{"type": "default", "url": "https://example.com/files/printfile.pdf"}],
}


@dataclass
class Outbox:
    """What the order side queued: postback events per order and HTTP deliveries."""

    events: dict[str, list[str]] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def of(self, order_id: str) -> list[str]:
        return self.events.get(order_id, [])


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    """Records every call to the outbox, then lets it do its work."""
    record = Outbox()
    enqueue_events, enqueue_delivery = outbox.enqueue_order_events, outbox.enqueue_delivery

    def events(conn: Any, *, order_id: uuid.UUID, events: Any, **kwargs: Any) -> int:
        record.events.setdefault(str(order_id), []).extend(str(e) for e in events)
        return enqueue_events(conn, order_id=order_id, events=events, **kwargs)

    def delivery(conn: Any, **kwargs: Any) -> uuid.UUID:
        record.deliveries.append(kwargs)
        return enqueue_delivery(conn, **kwargs)

    monkeypatch.setattr(outbox, "enqueue_order_events", events)
    monkeypatch.setattr(outbox, "enqueue_delivery", delivery)
    return record


def drain(database: Database, now: datetime | None = None) -> None:
    """Run every timer due at ``now`` (other tests' orders share the database)."""
    while timers.run_due(database, now=now or utcnow(), billing=BILLING, limit=500):
        pass


@dataclass
class Facility:
    client: TestClient
    facility_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.api_key}

    def queue(self, status: str = "passed", **params: Any) -> Any:
        return self.client.get(
            "/production/v2/orders", params={"status": status, **params}, headers=self.headers
        )

    def queued(self, status: str = "passed") -> dict[str, dict[str, Any]]:
        """Every order of the queue in ``status``, page by page (oldest first)."""
        found: dict[str, dict[str, Any]] = {}
        while True:
            page = self.queue(status, limit=100, offset=len(found))
            assert page.status_code == 200, page.text
            orders = page.json()["orders"]
            if not orders:
                return found
            found.update((order["id"], order) for order in orders)

    def report(self, order_id: str, status: str, **fields: Any) -> Any:
        body = {"orderId": order_id, "status": status, **fields}
        return self.client.post("/production/v2/order/status", json=body, headers=self.headers)


def facility_for(client: TestClient, database: Database, facility_id: str) -> Facility:
    with database.transaction() as conn:
        new = production.create_key(conn, facility_id=facility_id, now=utcnow())
    return Facility(client, facility_id, new.header_value)


def submit(caller: Caller, *quantities: int, **changes: Any) -> str:
    items = [
        {**copy.deepcopy(ITEM), "itemReferenceId": f"line-{n}", "quantity": quantity}
        for n, quantity in enumerate(quantities or (1,), start=1)
    ]
    response = caller.submit(order_body(items=items, **changes))
    assert response.status_code == 200, response.text
    order_id: str = response.json()["id"]
    return order_id


@pytest.fixture
def handed_off(
    caller: Caller, client: TestClient, database: Database, queued: Outbox
) -> Iterator[tuple[str, Facility]]:
    """An order of two lines (3 and 2 copies) past intake, and its facility (what the
    outbox is asked to queue is recorded from the submit on)."""
    order_id = submit(caller, 3, 2)
    drain(database)
    facility_id = caller.get(order_id).json()["shipment"]["fulfillmentFacilityId"]
    yield order_id, facility_for(client, database, facility_id)


@pytest.fixture
def subscribed(caller: Caller, database: Database) -> Iterator[str]:
    """The facility the caller's orders go to, subscribed for pushed orders and cancels
    while the test runs (other tests' orders of this facility are pulled)."""
    probe = caller.get(submit(caller, orderType="draft")).json()
    facility_id: str = probe["shipment"]["fulfillmentFacilityId"]
    with database.transaction() as conn:
        production.subscribe(
            conn, facility_id=facility_id, submit_url="https://mis.example/orders",
            cancel_url="https://mis.example/cancels", secret=None, now=utcnow(),
        )  # fmt: skip
    yield facility_id
    with database.transaction() as conn:
        table = facility_subscriptions
        conn.execute(table.delete().where(table.c.facility_id == facility_id))


def order_row(conn: Any, order_id: str) -> Any:
    """The order's stored row (locked, as the order side reads it)."""
    row = journal.lock_order(conn, uuid.UUID(order_id))
    assert row is not None
    return row


def statuses(order: dict[str, Any]) -> tuple[str, list[str]]:
    return order["fulfillmentStatus"], [item["fulfillmentStatus"] for item in order["items"]]


# --- intake and the event log ---------------------------------------------------------


def test_intake_passes_a_new_order_and_logs_each_change(
    caller: Caller, database: Database, queued: Outbox
) -> None:
    order_id = submit(caller)
    assert caller.get(order_id).json()["fulfillmentStatus"] == "created"
    assert queued.of(order_id) == ["order.received"]

    drain(database)

    order = caller.get(order_id).json()
    assert statuses(order) == ("passed", ["passed"])
    history = [(e["actor"], e["fromStatus"], e["toStatus"]) for e in order["history"]]
    assert history == [("customer", None, "created"), ("system", "created", "passed")]
    [entry] = order["items"][0]["eventLog"]
    assert (entry["type"], entry["actor"], entry["toStatus"]) == ("status_changed", "system",
                                                                   "passed")  # fmt: skip
    assert queued.of(order_id) == ["order.received"]  # passed fires no postback


def test_a_draft_is_neither_passed_nor_announced(
    caller: Caller, database: Database, queued: Outbox
) -> None:
    order_id = submit(caller, orderType="draft")
    drain(database)
    assert statuses(caller.get(order_id).json()) == ("draft", ["draft"])
    assert queued.of(order_id) == []


def test_intake_passes_orders_in_batches_each_as_it_would_alone(
    caller: Caller,
    sandbox_caller: Caller,
    subscribed: str,
    database: Database,
    queued: Outbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches of three: orders pushed to a subscribed facility, a sandbox order, a held
    one and a draft, each ends as the one-by-one intake would leave it."""
    drain(database)
    monkeypatch.setattr(timers, "INTAKE_BATCH", 3)

    def one_by_one(*args: Any) -> None:
        raise AssertionError("an order went through the one-by-one intake")

    monkeypatch.setattr(timers, "_intake", one_by_one)
    pushed = [submit(caller, 2, 1) for _ in range(4)]
    played = submit(sandbox_caller)
    held = submit(caller)
    with database.transaction() as conn:
        row = order_row(conn, held)
        operator.move(conn, row, FulfillmentStatus.ON_HOLD, now=utcnow(), reason="Artwork",
                      billing_state=FinancialStatus.TO_BE_INVOICED)  # fmt: skip
    draft = submit(caller, orderType="draft")

    drain(database)

    for order_id in pushed:
        order = caller.get(order_id).json()
        assert statuses(order) == ("passed", ["passed", "passed"])
        history = [(e["actor"], e["fromStatus"], e["toStatus"]) for e in order["history"]]
        assert history == [("customer", None, "created"), ("system", "created", "passed")]
        assert [len(item["eventLog"]) for item in order["items"]] == [1, 1]
    submitted = {
        str(d["order_id"]): json.loads(d["body"])
        for d in queued.deliveries if d["purpose"] == "facility.submit"
    }  # fmt: skip
    assert sorted(submitted) == sorted(pushed)
    assert [statuses(body) for body in submitted.values()] == [("passed", ["passed"] * 2)] * 4
    assert all(body["handedOffAt"] for body in submitted.values())  # pushed as they now are
    with database.transaction() as conn:
        handed = {o: order_row(conn, o).handed_off_at for o in (*pushed, played, held)}
    assert all(handed[o] is not None for o in pushed)  # written with the move itself
    assert (handed[played], handed[held]) == (None, None)  # the sandbox plays; held waits
    assert statuses(sandbox_caller.get(played).json()) == ("passed", ["passed"])
    with database.transaction() as conn:
        kinds = {o: [t.kind for t in journal.timers_of(conn, uuid.UUID(o))] for o in (played, held)}
    assert sorted(kinds[played]) == ["delayed", "sandbox"]
    assert kinds[held] == ["delayed"]  # its intake timer is gone: a release makes a new one
    assert caller.get(held).json()["fulfillmentStatus"] == "on_hold"
    assert caller.get(draft).json()["fulfillmentStatus"] == "draft"


def test_an_order_that_fails_intake_does_not_hold_up_its_batch(
    caller: Caller,
    subscribed: str,
    database: Database,
    queued: Outbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drain(database)
    first, bad, last = submit(caller), submit(caller), submit(caller)
    order_view = production_views.order_view

    def broken(order: Any, items: Any) -> dict[str, Any]:
        if str(order.id) == bad:
            raise RuntimeError("the facility's view of this order cannot be built")
        return order_view(order, items)

    monkeypatch.setattr(production_views, "order_view", broken)
    now = utcnow()
    drain(database, now)

    assert [caller.get(o).json()["fulfillmentStatus"] for o in (first, bad, last)] == [
        "passed", "created", "passed"
    ]  # fmt: skip
    with database.transaction() as conn:
        [timer] = [t for t in journal.timers_of(conn, uuid.UUID(bad)) if t.kind == "intake"]
    assert (timer.attempts, timer.due_at) == (1, now + timedelta(minutes=1))

    later = now + timedelta(minutes=1)
    drain(database, later)  # fails again: the next try waits twice as long
    with database.transaction() as conn:
        [timer] = [t for t in journal.timers_of(conn, uuid.UUID(bad)) if t.kind == "intake"]
    assert (timer.attempts, timer.due_at) == (2, later + timedelta(minutes=2))

    monkeypatch.setattr(production_views, "order_view", order_view)
    drain(database, later + timedelta(minutes=2))
    assert caller.get(bad).json()["fulfillmentStatus"] == "passed"
    # Alone in its batch, the order's row comes back from the update itself.
    [body] = [
        json.loads(d["body"]) for d in queued.deliveries
        if d["purpose"] == "facility.submit" and str(d["order_id"]) == bad
    ]  # fmt: skip
    assert statuses(body)[0] == "passed" and body["handedOffAt"]


def test_a_failing_timer_waits_longer_after_each_failure_up_to_an_hour() -> None:
    waits = [timers.retry_after(failures) for failures in range(9)]
    assert [int(w.total_seconds() // 60) for w in waits] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_two_workers_pass_each_order_once(
    caller: Caller,
    subscribed: str,
    database: Database,
    queued: Outbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two workers at once (PostgreSQL: SKIP LOCKED; SQLite: one writer) never pass an
    order twice nor push it to its facility twice."""
    drain(database)
    monkeypatch.setattr(timers, "INTAKE_BATCH", 4)
    orders = [submit(caller) for _ in range(24)]
    start = threading.Barrier(2)

    def work() -> None:
        start.wait()
        while timers.run_due(database, now=utcnow(), billing=BILLING):
            pass

    workers = [threading.Thread(target=work) for _ in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(60)

    for order_id in orders:
        passed = [e for e in caller.get(order_id).json()["history"] if e["toStatus"] == "passed"]
        assert len(passed) == 1
    pushed = [str(d["order_id"]) for d in queued.deliveries if d["purpose"] == "facility.submit"]
    assert sorted(pushed) == sorted(orders)


# --- the production API ---------------------------------------------------------------


def test_facility_pulls_its_queue_and_reports_through_to_delivery(
    caller: Caller, handed_off: tuple[str, Facility], queued: Outbox
) -> None:
    order_id, facility = handed_off
    mine = facility.queued()[order_id]
    assert [(i["itemReferenceId"], i["quantityToProduce"]) for i in mine["items"]] == [
        ("line-1", 3), ("line-2", 2)
    ]  # fmt: skip
    assert mine["items"][0]["files"] == [ITEM["files"][0]]
    assert mine["shippingAddress"]["country"] == "US"

    assert facility.report(order_id, "received").status_code == 200
    assert order_id not in facility.queued()
    assert order_id in facility.queued("in_production")
    assert facility.report(order_id, "printed").status_code == 200
    shipped = facility.report(
        order_id, "shipped", trackingCode="TRK123", trackingLink="https://track.example/TRK123"
    )
    assert shipped.status_code == 200, shipped.text
    assert facility.report(order_id, "delivered").status_code == 200

    order = caller.get(order_id).json()
    assert statuses(order) == ("delivered", ["delivered", "delivered"])
    assert order["financialStatus"] == "to_be_invoiced"
    [package] = order["shipment"]["packages"]
    assert (package["trackingCode"], package["trackingUrl"], package["status"]) == (
        "TRK123", "https://track.example/TRK123", "delivered"
    )  # fmt: skip
    assert sorted(line["quantity"] for line in package["items"]) == [2, 3]
    assert queued.of(order_id) == [
        "order.received", "order.printed", "order.package_status_updated", "order.shipped",
        "order.package_status_updated", "order.delivered",
    ]  # fmt: skip
    actors = {entry["actor"] for entry in order["history"][2:]}
    assert actors == {"facility"}


def test_the_queue_pages_oldest_hand_off_first(
    caller: Caller, client: TestClient, database: Database
) -> None:
    first = submit(caller)
    drain(database)
    second = submit(caller)
    drain(database)
    facility_id = caller.get(first).json()["shipment"]["fulfillmentFacilityId"]
    queue = list(facility_for(client, database, facility_id).queued())
    assert queue.index(first) < queue.index(second)


def test_a_resent_shipped_report_changes_nothing(
    handed_off: tuple[str, Facility], caller: Caller, queued: Outbox
) -> None:
    order_id, facility = handed_off
    for _ in range(2):
        response = facility.report(order_id, "shipped", trackingCode="SAME-1", carrier="UPS")
        assert response.status_code == 200, response.text
    order = caller.get(order_id).json()
    assert [p["trackingCode"] for p in order["shipment"]["packages"]] == ["SAME-1"]
    assert [e["type"] for e in order["history"]].count("package_updated") == 1
    assert queued.of(order_id).count("order.package_status_updated") == 1

    facility.report(order_id, "shipped", trackingCode="SAME-1", carrier="DHL")
    [package] = caller.get(order_id).json()["shipment"]["packages"]
    assert package["carrier"] == "DHL"
    assert queued.of(order_id).count("order.package_status_updated") == 2


def test_an_illegal_report_is_409_naming_the_status_and_what_may_follow(
    handed_off: tuple[str, Facility], caller: Caller
) -> None:
    order_id, facility = handed_off
    facility.report(order_id, "shipped", trackingCode="T-1")

    response = facility.report(order_id, "printed")

    assert response.status_code == 409
    body = response.json()
    assert [e["code"] for e in body["errors"]] == ["illegal_status_transition"]
    assert "'shipped'" in body["message"]
    assert "in_transit, delivered, returned" in body["message"]
    assert caller.get(order_id).json()["fulfillmentStatus"] == "shipped"


def test_per_item_reports_and_the_order_follows_its_least_advanced_item(
    handed_off: tuple[str, Facility], caller: Caller, queued: Outbox
) -> None:
    order_id, facility = handed_off
    facility.report(order_id, "received")
    response = facility.report(order_id, "shipped", items=[{"itemId": "line-1"}],
                               trackingCode="PART-1")  # fmt: skip
    assert response.status_code == 200, response.text
    order = caller.get(order_id).json()
    assert statuses(order) == ("in_production", ["shipped", "in_production"])
    assert order["financialStatus"] == "pending"
    assert "order.shipped" not in queued.of(order_id)

    item_two = order["items"][1]["id"]  # Pressline's item id works as well as the reference
    facility.report(order_id, "shipped", items=[{"itemId": item_two}], trackingCode="PART-2")

    order = caller.get(order_id).json()
    assert statuses(order) == ("shipped", ["shipped", "shipped"])
    assert order["financialStatus"] == "to_be_invoiced"
    assert [p["trackingCode"] for p in order["shipment"]["packages"]] == ["PART-1", "PART-2"]
    assert queued.of(order_id).count("order.shipped") == 1


def test_carrier_progress_for_an_item_moves_only_its_package(
    handed_off: tuple[str, Facility], caller: Caller
) -> None:
    order_id, facility = handed_off
    facility.report(order_id, "received")
    facility.report(order_id, "shipped", items=[{"itemId": "line-1"}], trackingCode="PART-1")
    facility.report(order_id, "shipped", items=[{"itemId": "line-2"}], trackingCode="PART-2")

    response = facility.report(order_id, "delivered", items=[{"itemId": "line-1"}])

    assert response.status_code == 200, response.text
    order = caller.get(order_id).json()
    assert statuses(order) == ("shipped", ["delivered", "shipped"])
    packages = {p["trackingCode"]: p["status"] for p in order["shipment"]["packages"]}
    assert packages == {"PART-1": "delivered", "PART-2": "shipped"}
    facility.report(order_id, "delivered")  # the whole order: every package
    packages = {
        p["trackingCode"]: p["status"] for p in caller.get(order_id).json()["shipment"]["packages"]
    }
    assert packages == {"PART-1": "delivered", "PART-2": "delivered"}


def test_packages_that_list_their_items_ship_only_those_items(
    handed_off: tuple[str, Facility], caller: Caller, queued: Outbox
) -> None:
    order_id, facility = handed_off
    packages = [{"id": "box-1", "trackingCode": "T-1", "items": [{"itemId": "line-1"}]}]
    response = facility.report(order_id, "shipped", packages=packages)
    assert response.status_code == 200, response.text
    order = caller.get(order_id).json()
    assert statuses(order) == ("passed", ["shipped", "passed"])
    assert "order.shipped" not in queued.of(order_id)
    rest = [{"id": "box-2", "trackingCode": "T-2", "items": [{"itemId": "line-2"}]}]
    assert facility.report(order_id, "shipped", packages=rest).status_code == 200
    assert statuses(caller.get(order_id).json()) == ("shipped", ["shipped", "shipped"])
    assert queued.of(order_id).count("order.shipped") == 1


def test_the_rest_of_an_item_already_in_transit_ships_in_a_later_package(
    handed_off: tuple[str, Facility], caller: Caller
) -> None:
    order_id, facility = handed_off
    first = [{"id": "box-1", "items": [{"itemId": "line-1", "quantity": 1}]}]
    assert facility.report(order_id, "shipped", packages=first).status_code == 200
    assert facility.report(order_id, "in_transit", items=[{"itemId": "line-1"}]).status_code == 200
    rest = [{"id": "box-2", "items": [{"itemId": "line-1", "quantity": 2}, {"itemId": "line-2"}]}]

    response = facility.report(order_id, "shipped", packages=rest)

    assert response.status_code == 200, response.text
    order = caller.get(order_id).json()
    assert statuses(order) == ("shipped", ["in_transit", "shipped"])  # line-1 stays ahead
    assert [p["id"] for p in order["shipment"]["packages"]] == ["box-1", "box-2"]


def test_partial_cancel_by_item_quantity(
    handed_off: tuple[str, Facility], caller: Caller, queued: Outbox
) -> None:
    order_id, facility = handed_off
    facility.report(order_id, "received")

    response = facility.report(
        order_id, "cancelled", items=[{"itemId": "line-1", "quantity": 2}], message="Damaged"
    )

    assert response.status_code == 200, response.text
    line = response.json()["items"][0]
    assert (line["quantityCanceled"], line["quantityToProduce"]) == (2, 1)
    order = caller.get(order_id).json()
    assert statuses(order) == ("in_production", ["in_production", "in_production"])
    assert order["items"][0]["quantityCanceled"] == 2
    entry = order["items"][0]["eventLog"][-1]
    assert (entry["type"], entry["actor"], entry["details"]) == (
        "partially_canceled", "facility", {"quantity": 2, "quantityCanceled": 2}
    )  # fmt: skip
    assert "Damaged" in entry["message"]

    too_many = facility.report(order_id, "cancelled", items=[{"itemId": "line-1", "quantity": 2}])
    assert too_many.status_code == 400
    assert [(e["code"], e["param"]) for e in too_many.json()["errors"]] == [
        ("quantity_exceeds_remaining", "items[0].quantity")
    ]

    facility.report(order_id, "cancelled", items=[{"itemId": "line-2"}])
    order = caller.get(order_id).json()
    assert statuses(order) == ("in_production", ["in_production", "canceled"])
    facility.report(order_id, "cancelled")
    order = caller.get(order_id).json()
    assert statuses(order) == ("canceled", ["canceled", "canceled"])
    # Production had started: the facility's work is billed.
    assert order["financialStatus"] == "to_be_invoiced"
    assert queued.of(order_id)[-1] == "order.canceled"


def test_a_quantity_is_refused_on_anything_but_a_cancel(handed_off: tuple[str, Facility]) -> None:
    order_id, facility = handed_off
    response = facility.report(order_id, "printed", items=[{"itemId": "line-1", "quantity": 1}])
    assert response.status_code == 400
    assert response.json()["errors"][0]["param"] == "items[0].quantity"


def test_packages_hold_the_quantities_reported_however_items_are_named(
    caller: Caller, handed_off: tuple[str, Facility]
) -> None:
    order_id, facility = handed_off
    line_one = caller.get(order_id).json()["items"][0]["id"]
    packages = [
        {"id": "box-1", "trackingCode": "T-1",
         "items": [{"itemId": line_one.upper(), "quantity": 2}]},
        {"id": "box-2", "trackingCode": "T-2",
         "items": [{"itemId": "line-1", "quantity": 1}, {"itemId": "line-2"}]},
    ]  # fmt: skip
    response = facility.report(order_id, "shipped", packages=packages)
    assert response.status_code == 200, response.text
    order = caller.get(order_id).json()
    by_ref = {item["id"]: item["itemReferenceId"] for item in order["items"]}
    held = {
        package["id"]: [(by_ref[line["itemId"]], line["quantity"]) for line in package["items"]]
        for package in order["shipment"]["packages"]
    }
    assert held == {"box-1": [("line-1", 2)], "box-2": [("line-1", 1), ("line-2", 2)]}


def test_packages_never_hold_more_of_an_item_than_is_left_to_produce(
    caller: Caller, handed_off: tuple[str, Facility]
) -> None:
    """line-1 has 3 copies: two boxes of 2 are one too many; a later box of 1 more, too;
    a box resent with its own contents replaces itself rather than adding to it."""
    order_id, facility = handed_off
    too_many = [
        {"id": "box-1", "items": [{"itemId": "line-1", "quantity": 2}]},
        {"id": "box-2", "items": [{"itemId": "line-1", "quantity": 2}]},
    ]
    refused = facility.report(order_id, "shipped", trackingCode="T", packages=too_many)
    assert refused.status_code == 400
    assert [(e["param"], e["code"]) for e in refused.json()["errors"]] == [
        ("packages[0].items[0].quantity", "quantity_exceeds_remaining"),
        ("packages[1].items[0].quantity", "quantity_exceeds_remaining"),
    ]
    assert caller.get(order_id).json()["shipment"]["packages"] == []

    first = [{"id": "box-1", "items": [{"itemId": "line-1", "quantity": 3}]}]
    assert facility.report(order_id, "shipped", trackingCode="T", packages=first).status_code == 200
    assert facility.report(order_id, "shipped", trackingCode="T", packages=first).status_code == 200
    more = [{"id": "box-2", "items": [{"itemId": "line-1", "quantity": 1}]}]
    assert facility.report(order_id, "shipped", trackingCode="T", packages=more).status_code == 400


def test_packages_and_tracking_come_only_with_shipping_reports(
    handed_off: tuple[str, Facility],
) -> None:
    order_id, facility = handed_off
    response = facility.report(order_id, "received", trackingCode="T-0", packages=[{"id": "b"}])
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["code"], e["param"]) for e in errors] == [
        ("packages_only_when_shipped", "trackingCode"), ("packages_only_when_shipped", "packages")
    ]  # fmt: skip
    assert facility.queued("passed")[order_id]["fulfillmentStatus"] == "passed"  # unchanged


def test_unknown_items_are_listed_in_one_400(handed_off: tuple[str, Facility]) -> None:
    order_id, facility = handed_off
    response = facility.report(order_id, "received", items=[{"itemId": "nope"}, {"itemId": "x"}])
    assert response.status_code == 400
    assert [e["param"] for e in response.json()["errors"]] == ["items[0].itemId", "items[1].itemId"]


def test_control_characters_in_a_report_are_a_400_and_a_message_keeps_its_lines(
    handed_off: tuple[str, Facility],
) -> None:
    """PostgreSQL cannot store NUL: a report carrying one answered 500."""
    order_id, facility = handed_off
    response = facility.report(
        order_id, "shipped", trackingCode="T\u00001", carrier="DHL\n", packages=[{"id": "p\u0007"}]
    )
    assert response.status_code == 400
    assert {(e["code"], e["param"]) for e in response.json()["errors"]} == {
        ("invalid_characters", "trackingCode"),
        ("invalid_characters", "packages[0].id"),
    }  # fmt: skip (the carrier's trailing line break is stripped, not refused)
    assert facility.report(f"{order_id}\u0000", "received").status_code == 400
    accepted = facility.report(order_id, "received", message="Paper jam,\nreprinting")
    assert accepted.status_code == 200, accepted.text


# --- production API authentication and isolation ----------------------------------------


def test_customer_keys_and_facility_keys_each_work_only_on_their_own_api(
    caller: Caller, handed_off: tuple[str, Facility], client: TestClient
) -> None:
    order_id, facility = handed_off
    as_customer = client.get("/production/v2/orders", headers=caller.headers)
    as_facility = client.get(f"{caller.base}/{order_id}", headers=facility.headers)
    nobody = client.post("/production/v2/order/status", json={"orderId": order_id,
                                                              "status": "received"})  # fmt: skip
    assert (as_customer.status_code, as_facility.status_code, nobody.status_code) == (401, 401, 401)
    assert as_customer.json()["errors"][0]["code"] == "invalid_api_key"


def test_a_revoked_facility_key_is_refused(
    handed_off: tuple[str, Facility], database: Database
) -> None:
    _, facility = handed_off
    assert facility.queue().status_code == 200
    with database.transaction() as conn:
        production.revoke_key(
            conn, facility_id=facility.facility_id, key=facility.api_key.split(":")[0],
            now=utcnow(),
        )  # fmt: skip
    assert facility.queue().status_code == 401


def test_another_facilitys_order_and_an_unknown_one_are_404(
    handed_off: tuple[str, Facility], client: TestClient, database: Database, caller: Caller
) -> None:
    order_id, facility = handed_off
    elsewhere = facility_for(client, database, "5b1c2d8e-0a4f-4c7e-9e61-2f3a9d7c1b10")
    assert elsewhere.facility_id != facility.facility_id
    assert order_id not in elsewhere.queued()
    for key in (order_id, str(uuid.uuid4()), "not-an-id"):
        response = elsewhere.report(key, "received")
        assert response.status_code == 404, key
        assert response.json()["errors"][0]["code"] == "order_not_found"
    assert caller.get(order_id).json()["fulfillmentStatus"] == "passed"


def test_an_order_not_yet_handed_off_is_not_the_facilitys(
    caller: Caller, client: TestClient, database: Database
) -> None:
    order_id = submit(caller)
    facility_id = caller.get(order_id).json()["shipment"]["fulfillmentFacilityId"]
    facility = facility_for(client, database, facility_id)
    assert facility.report(order_id, "received").status_code == 404


def test_the_queue_validates_its_query(handed_off: tuple[str, Facility]) -> None:
    _, facility = handed_off
    response = facility.queue("nonsense", limit=0)
    assert response.status_code == 400
    assert sorted(e["param"] for e in response.json()["errors"]) == ["limit", "status"]


# --- customer cancel after hand-off ------------------------------------------------------


def test_cancel_of_a_passed_order_is_immediate_and_the_subscribed_facility_is_told(
    caller: Caller, subscribed: str, database: Database, queued: Outbox
) -> None:
    order_id = submit(caller)
    drain(database)
    pushed = [d for d in queued.deliveries if d.get("order_id") == uuid.UUID(order_id)]
    assert [(d["purpose"], d["url"]) for d in pushed] == [
        ("facility.submit", "https://mis.example/orders")
    ]
    assert order_id in pushed[0]["body"]

    assert caller.cancel(order_id).status_code == 200

    assert statuses(caller.get(order_id).json()) == ("canceled", ["canceled"])
    pushed = [d for d in queued.deliveries if d.get("order_id") == uuid.UUID(order_id)]
    assert [d["purpose"] for d in pushed] == ["facility.submit", "facility.cancel"]
    assert pushed[1]["url"] == "https://mis.example/cancels"


def test_an_order_held_after_hand_off_still_takes_its_facilitys_reports(
    caller: Caller, handed_off: tuple[str, Facility], database: Database
) -> None:
    """No message tells a facility of a hold: what it ships has shipped (it was a 409)."""
    order_id, facility = handed_off
    with database.transaction() as conn:
        operator.move(conn, order_row(conn, order_id), FulfillmentStatus.ON_HOLD, now=utcnow(),
                      reason="Payment", billing_state=FinancialStatus.TO_BE_INVOICED)  # fmt: skip
    shipped = facility.report(order_id, "shipped", trackingCode="TRK9")
    assert shipped.status_code == 200, shipped.text
    assert statuses(caller.get(order_id).json()) == ("shipped", ["shipped", "shipped"])


def test_an_operators_cancel_is_passed_on_to_the_subscribed_facility(
    caller: Caller, subscribed: str, database: Database, queued: Outbox
) -> None:
    """As a customer's is: the facility would otherwise make (and ship) a canceled order."""
    order_id = submit(caller)
    drain(database)
    with database.transaction() as conn:
        operator.move(conn, order_row(conn, order_id), FulfillmentStatus.CANCELED, now=utcnow(),
                      reason="Fraud", billing_state=FinancialStatus.TO_BE_INVOICED)  # fmt: skip
    pushed = [d for d in queued.deliveries if d.get("order_id") == uuid.UUID(order_id)]
    assert [(d["purpose"], d["url"]) for d in pushed] == [
        ("facility.submit", "https://mis.example/orders"),
        ("facility.cancel", "https://mis.example/cancels"),
    ]


def test_an_operators_cancel_after_the_customers_request_tells_the_facility_once(
    caller: Caller, subscribed: str, handed_off: tuple[str, Facility], database: Database,
    queued: Outbox,
) -> None:  # fmt: skip
    order_id, facility = handed_off
    assert facility.report(order_id, "received").status_code == 200  # in production
    assert caller.cancel(order_id).status_code == 200  # asked: forwarded to the facility
    with database.transaction() as conn:
        operator.move(conn, order_row(conn, order_id), FulfillmentStatus.CANCELED, now=utcnow(),
                      reason="Called", billing_state=FinancialStatus.TO_BE_INVOICED)  # fmt: skip
    pushed = [d["purpose"] for d in queued.deliveries if d.get("order_id") == uuid.UUID(order_id)]
    assert pushed == ["facility.submit", "facility.cancel"]


def test_cancel_in_production_waits_for_the_facility_to_confirm(
    caller: Caller, handed_off: tuple[str, Facility], queued: Outbox
) -> None:
    order_id, facility = handed_off
    facility.report(order_id, "received")

    assert caller.cancel(order_id).status_code == 200
    assert caller.cancel(order_id).status_code == 200  # asking twice asks once

    order = caller.get(order_id).json()
    assert order["fulfillmentStatus"] == "in_production"
    requested = [e for e in order["history"] if e["type"] == "cancel_requested"]
    assert [(e["actor"]) for e in requested] == ["customer"]
    assert facility.queued("in_production")[order_id]["cancelRequestedAt"] is not None
    assert "order.canceled" not in queued.of(order_id)

    assert facility.report(order_id, "cancelled").status_code == 200

    order = caller.get(order_id).json()
    assert statuses(order) == ("canceled", ["canceled", "canceled"])
    assert queued.of(order_id)[-1] == "order.canceled"


def test_after_hand_off_a_change_that_needs_another_facility_is_409(
    caller: Caller, handed_off: tuple[str, Facility]
) -> None:
    order_id, facility = handed_off
    before = caller.get(order_id).json()
    moved = caller.update(order_id, {"shippingAddress": GB_ADDRESS})  # routed elsewhere
    assert moved.status_code == 409, moved.text
    error = moved.json()["errors"][0]
    assert error["code"] == "facility_change_after_hand_off"
    assert facility.facility_id in error["message"]
    assert caller.get(order_id).json()["shippingAddress"] == before["shippingAddress"]
    # A change the same facility can serve is still taken.
    same = caller.update(order_id, {"shipmentMethodUid": "express"})
    assert same.status_code == 200, same.text


def test_before_hand_off_a_change_may_move_the_order_to_another_facility(
    caller: Caller, client: TestClient, database: Database
) -> None:
    """The order moves, and its dispatch day and delayed check follow the new facility's
    calendar and time zone (one check, not one per facility)."""
    order_id = submit(caller)  # intake has not run: not handed off yet
    facility = caller.get(order_id).json()["shipment"]["fulfillmentFacilityId"]
    moved = caller.update(order_id, {"shippingAddress": GB_ADDRESS})
    assert moved.status_code == 200, moved.text
    now_at = caller.get(order_id).json()["shipment"]["fulfillmentFacilityId"]
    assert now_at != facility

    shipping = client.app.state.reference.current.shipping  # type: ignore[attr-defined]
    calendar = shipping.facility(now_at).calendar
    with database.transaction() as conn:
        row = order_row(conn, order_id)
        [check] = [t for t in journal.timers_of(conn, row.id) if t.kind == "delayed"]
    assert row.expected_dispatch_date == calendar.dispatch_date(row.ordered_at)
    assert check.data == {
        "dispatch": row.expected_dispatch_date.isoformat(), "timezone": calendar.timezone.key
    }  # fmt: skip


def test_cancel_after_shipping_is_409(caller: Caller, handed_off: tuple[str, Facility]) -> None:
    order_id, facility = handed_off
    facility.report(order_id, "shipped", trackingCode="T")
    response = caller.cancel(order_id)
    assert response.status_code == 409
    assert "'shipped'" in response.json()["message"]


# --- drafts --------------------------------------------------------------------------


def test_patch_converts_a_draft_into_an_order(
    caller: Caller, client: TestClient, database: Database, queued: Outbox
) -> None:
    order_id = submit(caller, 2, orderType="draft")
    draft = caller.get(order_id).json()
    assert (draft["orderedAt"], draft["financialStatus"]) == (None, "draft")

    response = client.patch(f"{caller.base}/{order_id}", json={"orderType": "order"},
                            headers=caller.headers)  # fmt: skip

    assert response.status_code == 200, response.text
    order = response.json()
    assert (order["orderType"], order["fulfillmentStatus"], order["financialStatus"]) == (
        "order", "created", "pending"
    )  # fmt: skip
    assert order["orderedAt"] is not None
    assert order["receipts"][0]["totalInclVat"] > 0
    assert [e["toStatus"] for e in order["history"]] == ["draft", "created"]
    assert queued.of(order_id) == ["order.received"]
    drain(database)
    assert caller.get(order_id).json()["fulfillmentStatus"] == "passed"

    again = client.patch(f"{caller.base}/{order_id}", json={"orderType": "order"},
                         headers=caller.headers)  # fmt: skip
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "order_not_draft"


def test_patch_takes_only_order_type_order(caller: Caller, client: TestClient) -> None:
    order_id = submit(caller, orderType="draft")
    for body in ({"orderType": "draft"}, {"orderType": "order", "currency": "EUR"}, {}):
        response = client.patch(f"{caller.base}/{order_id}", json=body, headers=caller.headers)
        assert response.status_code == 400, body
        if body == {"orderType": "draft"}:
            assert response.json()["errors"][0]["message"] == "Input should be 'order'"
    assert caller.get(order_id).json()["orderType"] == "draft"


def test_delete_removes_a_draft_and_refuses_an_order(caller: Caller, client: TestClient) -> None:
    draft_id, order_id = submit(caller, orderType="draft"), submit(caller)

    deleted = client.delete(f"{caller.base}/{draft_id}", headers=caller.headers)
    refused = client.delete(f"{caller.base}/{order_id}", headers=caller.headers)

    assert deleted.status_code == 200
    assert caller.get(draft_id).status_code == 404
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["code"] == "order_not_draft"
    assert caller.get(order_id).status_code == 200


def test_drafts_of_another_customer_are_404(
    caller: Caller, other_caller: Caller, client: TestClient
) -> None:
    draft_id = submit(caller, orderType="draft")
    assert client.delete(f"{other_caller.base}/{draft_id}",
                         headers=other_caller.headers).status_code == 404  # fmt: skip
    assert caller.get(draft_id).json()["orderType"] == "draft"


# --- sandbox and delayed -------------------------------------------------------------


@pytest.fixture
def sandbox_caller(client: TestClient, database: Database) -> Caller:
    sandbox = new_caller(client, database)
    with database.transaction() as conn:
        accounts_repository.set_connector_sandbox(conn, sandbox.prefix, True)
    return sandbox


def test_a_sandbox_order_moves_on_its_own_on_schedule(
    sandbox_caller: Caller, database: Database, queued: Outbox
) -> None:
    order_id = submit(sandbox_caller)
    start = utcnow()
    drain(database, start)
    assert sandbox_caller.get(order_id).json()["fulfillmentStatus"] == "passed"
    drain(database, start + timedelta(seconds=30))  # the step is 60 s by default
    assert sandbox_caller.get(order_id).json()["fulfillmentStatus"] == "passed"

    seen = []
    for step in range(1, 6):
        drain(database, start + timedelta(seconds=61 * step))
        seen.append(sandbox_caller.get(order_id).json()["fulfillmentStatus"])

    assert seen == ["in_production", "printed", "shipped", "delivered", "delivered"]
    order = sandbox_caller.get(order_id).json()
    [package] = order["shipment"]["packages"]
    assert package["trackingCode"].startswith("SANDBOX")
    assert package["status"] == "delivered"
    assert queued.of(order_id) == [
        "order.received", "order.printed", "order.package_status_updated", "order.shipped",
        "order.package_status_updated", "order.delivered",
    ]  # fmt: skip


def test_a_sandbox_cancel_in_production_is_confirmed_at_once(
    sandbox_caller: Caller, database: Database
) -> None:
    order_id = submit(sandbox_caller)
    start = utcnow()
    drain(database, start)
    drain(database, start + timedelta(seconds=61))
    assert sandbox_caller.get(order_id).json()["fulfillmentStatus"] == "in_production"
    assert sandbox_caller.cancel(order_id).status_code == 200
    order = sandbox_caller.get(order_id).json()
    assert order["fulfillmentStatus"] == "canceled"
    # As with a facility: the request, then (the sandbox playing it) the confirmation.
    last = [(e["actor"], e["type"], e["toStatus"]) for e in order["history"][-2:]]
    assert last == [
        ("customer", "cancel_requested", None),
        ("system", "status_changed", "canceled"),
    ]
    assert order["financialStatus"] == "to_be_invoiced"  # billed: production had started


def test_a_sandbox_order_keeps_its_facility_once_passed_as_a_handed_off_one_does(
    sandbox_caller: Caller, database: Database
) -> None:
    order_id = submit(sandbox_caller)
    drain(database, utcnow())
    assert sandbox_caller.get(order_id).json()["fulfillmentStatus"] == "passed"
    moved = sandbox_caller.update(order_id, {"shippingAddress": GB_ADDRESS})
    assert moved.status_code == 409, moved.text
    assert moved.json()["errors"][0]["code"] == "facility_change_after_hand_off"
    same = sandbox_caller.update(order_id, {"shipmentMethodUid": "express"})
    assert same.status_code == 200, same.text


def test_a_cancel_is_billed_as_the_apps_settings_say(
    settings: Settings, database: Database
) -> None:
    paid = create_app(settings.model_copy(update={"billing_state": "paid"}), database=database)
    with TestClient(paid, base_url="https://testserver") as client:
        caller = new_caller(client, database)
        with database.transaction() as conn:
            accounts_repository.set_connector_sandbox(conn, caller.prefix, True)
        order_id = submit(caller)
        start = utcnow()
        drain(database, start)
        drain(database, start + timedelta(seconds=61))
        assert caller.cancel(order_id).status_code == 200
        assert caller.get(order_id).json()["financialStatus"] == "paid"


def test_delayed_is_raised_once_for_an_order_past_its_dispatch_day(
    handed_off: tuple[str, Facility], caller: Caller, database: Database, queued: Outbox
) -> None:
    order_id, _ = handed_off
    late = utcnow() + timedelta(days=30)

    drain(database, late)
    drain(database, late + timedelta(days=1))

    order = caller.get(order_id).json()
    delayed = [e for e in order["history"] if e["type"] == "delayed"]
    assert len(delayed) == 1
    assert order["fulfillmentStatus"] == "passed"
    assert queued.of(order_id).count("order.delayed") == 1


def test_a_check_that_finds_the_dispatch_day_moved_later_checks_again_then(
    handed_off: tuple[str, Facility], caller: Caller, database: Database, queued: Outbox
) -> None:
    order_id, _ = handed_off
    with database.transaction() as conn:
        row = order_row(conn, order_id)
        [check] = [t for t in journal.timers_of(conn, row.id) if t.kind == "delayed"]
        later = row.expected_dispatch_date + timedelta(days=5)
        repository.update_order(conn, row.id, expected_dispatch_date=later)

    drain(database, check.due_at)

    assert "order.delayed" not in queued.of(order_id)
    with database.transaction() as conn:
        [again] = [t for t in journal.timers_of(conn, row.id) if t.kind == "delayed"]
    assert again.data["dispatch"] == later.isoformat()
    drain(database, again.due_at)
    assert queued.of(order_id).count("order.delayed") == 1


def test_a_shipped_order_is_not_delayed(
    handed_off: tuple[str, Facility], caller: Caller, database: Database, queued: Outbox
) -> None:
    order_id, facility = handed_off
    facility.report(order_id, "shipped", trackingCode="T")
    drain(database, utcnow() + timedelta(days=30))
    order = caller.get(order_id).json()
    assert [e for e in order["history"] if e["type"] == "delayed"] == []
    assert "order.delayed" not in queued.of(order_id)


def test_a_crash_before_timers_commit_loses_none_of_them(
    caller: Caller, database: Database
) -> None:
    """Timers run as writer jobs; a process that dies before their batch commits leaves
    them due, and the next worker runs them."""
    drain(database)
    first, second = submit(caller), submit(caller)
    billing = FinancialStatus.TO_BE_INVOICED
    with database.write_engine.connect() as conn:
        batch = conn.begin()  # a batch of the writer, never committed: the process died
        assert timers._run_one(conn, now=utcnow(), billing=billing) is True
        assert timers._run_one(conn, now=utcnow(), billing=billing) is True
        assert timers._run_one(conn, now=utcnow(), billing=billing) is None  # none left
        batch.rollback()
    assert [statuses(caller.get(o).json())[0] for o in (first, second)] == ["created"] * 2
    assert timers.run_due(database, now=utcnow(), billing=BILLING) == 2
    assert [statuses(caller.get(o).json())[0] for o in (first, second)] == ["passed"] * 2
