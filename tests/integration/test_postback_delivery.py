"""The outbox and the delivery worker against a real receiver on 127.0.0.1 (issue 5 §4).

Every test has a database of its own (``fresh_database``), since a worker claims every
due delivery of its database. Time is moved by passing ``now`` to ``step``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import xmltodict  # type: ignore[import-untyped]
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.testclient import TestClient

from pressline.config import Settings
from pressline.db import Database, utcnow
from pressline.migrate import upgrade
from pressline.postbacks import deliveries, triggers
from pressline.postbacks.events import EventType
from pressline.postbacks.outbox import enqueue_delivery, enqueue_order_events, message_id
from pressline.postbacks.schedule import DEFAULT_SCHEDULE, RetrySchedule
from pressline.postbacks.sending import AttemptResult, Sender
from pressline.postbacks.signing import generate_secret
from pressline.worker import DeliveryWorker, WorkerThread
from tests.support.postbacks import FixedRandom, Shop, new_shop
from tests.support.receiver import Receiver, running_receiver

SHIPPED = EventType.ORDER_SHIPPED


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def shop(fresh_client: TestClient, fresh_database: Database) -> Shop:
    return new_shop(fresh_client, fresh_database)


def worker(database: Database, settings: Settings, **options: object) -> DeliveryWorker:
    return DeliveryWorker(database, settings, rng=FixedRandom(0.5), run_timers=False, **options)  # type: ignore[arg-type]


def test_events_are_queued_in_the_callers_transaction_only(shop: Shop, receiver: Receiver) -> None:
    order_id = shop.submit()
    shop.trigger(url=f"{receiver.url}/shipped")
    shop.trigger("order.delivered", url=f"{receiver.url}/delivered")
    disabled = shop.trigger(url=f"{receiver.url}/off")
    with shop.database.transaction() as conn:
        triggers.set_enabled(conn, disabled.id, enabled=False, now=utcnow())

    class Abort(Exception):
        pass

    with pytest.raises(Abort), shop.database.transaction() as conn:
        queued = enqueue_order_events(
            conn, order_id=uuid.UUID(order_id), events=[SHIPPED], now=utcnow()
        )
        assert queued == 1  # the enabled order.shipped trigger only
        raise Abort  # the status change fails: its events must go with it
    assert shop.deliveries() == []

    assert shop.enqueue(order_id, SHIPPED) == 1
    (row,) = shop.deliveries()
    assert (row.status, row.event_type, row.url) == (
        "pending",
        "order.shipped",
        f"{receiver.url}/shipped",
    )
    assert shop.enqueue(order_id, EventType.ORDER_CANCELED) == 0  # nobody subscribed


def test_an_answer_holding_a_nul_byte_is_logged_and_delivered_once(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    receiver.body = b"ok\x00"  # PostgreSQL cannot store a NUL in a text column
    order_id = shop.submit()
    shop.trigger(url=f"{receiver.url}/hook")
    shop.enqueue(order_id, SHIPPED)
    assert worker(shop.database, postback_settings).step() == 1
    (delivery,) = shop.deliveries()
    assert delivery.status == "delivered"
    assert [a.response_excerpt for a in shop.attempts(delivery.id)] == ["ok\ufffd"]


def test_a_delivery_that_fails_unexpectedly_is_retried_on_schedule_and_the_others_are_sent(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    broken_order, fine_order = shop.submit(), shop.submit()  # two orders: two lanes
    shop.trigger(url=f"{receiver.url}/hook")
    shop.enqueue(broken_order, SHIPPED)
    shop.enqueue(fine_order, SHIPPED)
    sender = Sender(postback_settings)
    send = sender.send_webhook

    def send_webhook(*, body: str, **kwargs: Any) -> AttemptResult:
        if broken_order in body:
            raise RuntimeError("a bug while sending")
        return send(body=body, **kwargs)

    sender.send_webhook = send_webhook  # type: ignore[method-assign]
    short = RetrySchedule((timedelta(seconds=2),))
    now = utcnow()
    assert worker(shop.database, postback_settings, sender=sender, schedule=short).step(now) == 2
    by_order = {str(d.order_id): d for d in shop.deliveries()}
    assert by_order[fine_order].status == "delivered"
    broken = by_order[broken_order]
    assert (broken.status, broken.lease, broken.attempts) == ("pending", None, 1)
    assert broken.next_attempt_at > now  # not again at once, nor whenever a lease runs out
    assert shop.attempts(broken.id)[0].error.startswith("internal error: RuntimeError")

    later = now + timedelta(seconds=3)
    assert worker(shop.database, postback_settings, sender=sender, schedule=short).step(later) == 1
    assert {str(d.order_id): d.status for d in shop.deliveries()}[broken_order] == "failed"


def test_another_customers_triggers_get_nothing(
    shop: Shop, fresh_client: TestClient, fresh_database: Database, receiver: Receiver
) -> None:
    other = new_shop(fresh_client, fresh_database)
    other.trigger(url=f"{receiver.url}/other")
    order_id = shop.submit()
    assert shop.enqueue(order_id, SHIPPED) == 0
    assert other.deliveries() == []


def test_a_delivery_is_signed_verifiable_and_carries_the_order(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    order_id = shop.submit(metadata=[{"key": "shop", "value": "1001"}])
    new = shop.trigger(url=f"{receiver.url}/hook", headers={"Authorization": "Bearer abc"})
    shop.enqueue(order_id, SHIPPED)

    assert worker(shop.database, postback_settings).step() == 1

    (request,) = receiver.requests
    event = Webhook(new.secret).verify(request.body, request.headers)
    (row,) = shop.deliveries()
    assert request.headers["webhook-id"] == event["id"] == message_id(row.id)
    assert request.headers["authorization"] == "Bearer abc"
    assert request.headers["content-type"] == "application/json"
    assert request.method == "POST" and request.path == "/hook"
    assert event["type"] == "order.shipped"
    order = event["data"]["order"]
    assert order["id"] == order_id
    assert order["customerReferenceId"] == shop.caller.customer_reference_id
    assert event["data"]["metadata"] == {"shop": "1001"}
    assert [item["quantity"] for item in event["data"]["items"]] == [1]
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(request.body, request.headers)

    assert row.status == "delivered" and row.attempts == 1
    (attempt,) = shop.attempts(row.id)
    assert (attempt.number, attempt.status_code, attempt.outcome) == (1, 200, "delivered")
    assert attempt.latency_ms is not None and attempt.latency_ms >= 0
    assert attempt.response_excerpt == "ok"


def test_a_receiver_failing_four_times_gets_the_same_webhook_id(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    receiver.script = [500, 503, 502, 404]
    order_id = shop.submit()
    new = shop.trigger(url=f"{receiver.url}/hook")
    start = utcnow()
    shop.enqueue(order_id, SHIPPED, now=start)
    sender = worker(shop.database, postback_settings)

    now = start
    for attempt in range(5):
        assert sender.step(now) == 1, attempt
        if attempt < 4:
            wait = DEFAULT_SCHEDULE.caps[attempt] * 0.5  # FixedRandom(0.5)
            assert sender.step(now + wait - timedelta(milliseconds=1)) == 0  # not due yet
            now += wait + timedelta(seconds=1)  # (plus the moments the attempt took)

    assert len(receiver.requests) == 5
    assert len(set(receiver.ids())) == 1
    bodies = {request.body for request in receiver.requests}
    assert len(bodies) == 1  # byte for byte the same body on every attempt
    for request in receiver.requests:
        Webhook(new.secret).verify(request.body, request.headers)
    (row,) = shop.deliveries()
    assert row.status == "delivered" and row.attempts == 5
    codes = [a.status_code for a in shop.attempts(row.id)]
    assert codes == [500, 503, 502, 404, 200]


def test_gone_disables_the_trigger_and_stops(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    receiver.default = 410
    order_id = shop.submit()
    new = shop.trigger(url=f"{receiver.url}/gone")
    shop.enqueue(order_id, SHIPPED, EventType.ORDER_SHIPPED)
    second = shop.trigger(url=f"{receiver.url}/gone-too")
    sender = worker(shop.database, postback_settings)

    assert sender.step() == 1
    trigger = shop.trigger_row(new.id)
    assert trigger.enabled is False and "410" in trigger.disabled_reason
    assert shop.trigger_row(second.id).enabled is True
    (row,) = shop.deliveries()
    assert row.status == "disabled"
    assert sender.step(utcnow() + timedelta(days=7)) == 0  # never retried
    assert len(receiver.requests) == 1
    # Later events skip the disabled trigger.
    assert shop.enqueue(order_id, SHIPPED) == 1
    assert {d.trigger_id for d in shop.deliveries(status="pending")} == {second.id}


def test_redirects_are_not_followed(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    with running_receiver() as elsewhere:
        receiver.default = 200
        receiver.script = [(307, {"Location": f"{elsewhere.url}/stolen"})]
        order_id = shop.submit()
        shop.trigger(url=f"{receiver.url}/hook")
        shop.enqueue(order_id, SHIPPED)
        start = utcnow()

        assert worker(shop.database, postback_settings).step(start) == 1

        assert elsewhere.requests == []
        (row,) = shop.deliveries()
        assert row.status == "pending" and row.last_status_code == 307
        assert "not followed" in row.last_error
        assert row.next_attempt_at > start  # retried later, at the same URL


def test_private_addresses_are_refused_unless_the_operator_allows_them(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    order_id = shop.submit()
    shop.trigger(url=f"{receiver.url}/hook")
    shop.enqueue(order_id, SHIPPED)
    strict = postback_settings.model_copy(update={"postback_allowed_networks": []})

    assert worker(shop.database, strict).step() == 1

    assert receiver.requests == []
    (row,) = shop.deliveries()
    assert row.status == "pending" and row.last_status_code is None
    assert "loopback" in row.last_error
    (attempt,) = shop.attempts(row.id)
    assert attempt.outcome == "retry" and "127.0.0.1" in attempt.error

    assert worker(shop.database, postback_settings).step(utcnow() + timedelta(minutes=1)) == 1
    assert len(receiver.requests) == 1
    assert shop.deliveries()[0].status == "delivered"


def test_given_up_after_the_schedule_then_redelivered_with_the_same_id(
    shop: Shop, receiver: Receiver, postback_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.default = 500
    order_id = shop.submit()
    shop.trigger(url=f"{receiver.url}/hook")
    shop.enqueue(order_id, SHIPPED)
    short = RetrySchedule((timedelta(seconds=2), timedelta(seconds=2)))
    sender = worker(shop.database, postback_settings, schedule=short)
    now = utcnow()
    with caplog.at_level(logging.INFO, logger="pressline.worker"):
        for _ in range(3):
            assert sender.step(now) == 1
            now += timedelta(seconds=2)
    assert sender.step(now + timedelta(days=1)) == 0
    (row,) = shop.deliveries()
    assert (row.status, row.attempts) == ("failed", 3)
    said = [(r.levelname, r.getMessage(), r.attempt, r.error) for r in caplog.records]  # type: ignore[attr-defined]
    assert said == [
        ("INFO", "delivery attempt failed; retried later", 1, "HTTP 500"),
        ("INFO", "delivery attempt failed; retried later", 2, "HTTP 500"),
        ("WARNING", "delivery given up after its last attempt", 3, "HTTP 500"),
    ]

    receiver.default = 200
    with shop.database.transaction() as conn:
        deliveries.redeliver(conn, row.id, now=now)
    assert sender.step(now) == 1
    (row,) = shop.deliveries()
    assert row.status == "delivered"
    assert len(set(receiver.ids())) == 1 and len(receiver.requests) == 4
    assert [a.number for a in shop.attempts(row.id)] == [1, 2, 3, 4]


def test_a_rotated_secret_signs_with_both_during_the_grace_period(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    order_id = shop.submit()
    old = shop.trigger(url=f"{receiver.url}/hook")
    with shop.database.transaction() as conn:
        new_secret = triggers.rotate_secret(conn, old.id, grace=timedelta(hours=1), now=utcnow())
    shop.enqueue(order_id, SHIPPED)
    worker(shop.database, postback_settings).step()

    (request,) = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old.secret).verify(request.body, request.headers)
    Webhook(new_secret).verify(request.body, request.headers)

    with shop.database.transaction() as conn:  # the grace period is over
        triggers.rotate_secret(conn, old.id, grace=timedelta(0), now=utcnow())
        latest = triggers.get_trigger(conn, old.id).secret
    shop.enqueue(order_id, SHIPPED)
    worker(shop.database, postback_settings).step()
    last = receiver.requests[-1]
    assert len(last.headers["webhook-signature"].split(" ")) == 1
    Webhook(latest).verify(last.body, last.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret).verify(last.body, last.headers)


def test_an_xml_trigger_gets_the_event_as_xml_with_put(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    order_id = shop.submit(metadata=[{"key": "shop order", "value": "1001"}])
    new = shop.trigger(url=f"{receiver.url}/xml", format="xml", method="PUT")
    shop.enqueue(order_id, SHIPPED)
    worker(shop.database, postback_settings).step()

    (request,) = receiver.requests
    assert request.method == "PUT"
    assert request.headers["content-type"] == "application/xml"
    Webhook(new.secret).verify(request.body, request.headers, json_parse=False)
    document = xmltodict.parse(request.body)["event"]
    assert document["id"] == request.headers["webhook-id"]
    assert document["type"] == "order.shipped"
    assert document["data"]["order"]["id"] == order_id
    assert document["data"]["metadata"]["entry"] == {"@key": "shop order", "#text": "1001"}


def test_a_generic_delivery_is_signed_with_its_secret_or_unsigned(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    secret = generate_secret()
    body = json.dumps({"hello": "facility"})
    with shop.database.transaction() as conn:
        signed = enqueue_delivery(
            conn, purpose="facility_submit", url=f"{receiver.url}/submit", body=body,
            content_type="application/json", now=utcnow(), secret=secret,
            headers={"X-Facility": "f1"},
        )  # fmt: skip
        enqueue_delivery(
            conn, purpose="facility_cancel", url=f"{receiver.url}/cancel", body=body,
            content_type="application/json", now=utcnow() + timedelta(microseconds=1),
        )  # fmt: skip
    assert worker(shop.database, postback_settings).step() == 2

    # Two deliveries of no order: sent side by side, in either order.
    first, second = sorted(receiver.requests, key=lambda request: request.path != "/submit")
    assert first.path == "/submit" and first.headers["x-facility"] == "f1"
    assert Webhook(secret).verify(first.body, first.headers) == {"hello": "facility"}
    assert first.headers["webhook-id"] == message_id(signed)
    assert second.path == "/cancel" and "webhook-signature" not in second.headers
    assert second.headers["webhook-id"].startswith("msg_")


def test_two_workers_never_send_one_attempt_twice(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    order_id = shop.submit()
    for _ in range(4):
        shop.trigger(url=f"{receiver.url}/hook")
    for _ in range(10):
        shop.enqueue(order_id, SHIPPED)
    assert len(shop.deliveries(limit=100)) == 40
    workers = [worker(shop.database, postback_settings, batch=3) for _ in range(2)]
    counts = [0, 0]
    start = threading.Barrier(2)

    def drain(index: int) -> None:
        start.wait()
        while (done := workers[index].step()) > 0:
            counts[index] += done

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    ids = receiver.ids()
    assert len(ids) == 40 and len(set(ids)) == 40  # each sent exactly once
    assert sum(counts) == 40
    assert {d.status for d in shop.deliveries(limit=100)} == {"delivered"}


def test_a_stopping_worker_gives_back_what_it_did_not_attempt(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    order_id = shop.submit()
    shop.trigger(url=f"{receiver.url}/hook")
    for _ in range(3):
        shop.enqueue(order_id, SHIPPED)
    first = worker(shop.database, postback_settings)
    first.stop()  # asked to stop before its first attempt
    assert first.step() == 0
    assert all(d.lease is None and d.status == "pending" for d in shop.deliveries())
    assert worker(shop.database, postback_settings).step() == 3  # due again at once


def test_purge_deletes_old_finished_deliveries_only(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    order_id = shop.submit()
    shop.trigger(url=f"{receiver.url}/hook")
    old = utcnow() - timedelta(days=40)
    sender = worker(shop.database, postback_settings)
    shop.enqueue(order_id, SHIPPED, now=old)
    shop.enqueue(order_id, SHIPPED, now=old)
    assert sender.step(old) == 2  # delivered 40 days ago
    receiver.script = [500]
    shop.enqueue(order_id, SHIPPED, now=old)
    assert sender.step(old) == 1  # failed 40 days ago: still pending, however old
    *delivered, pending = sorted(shop.deliveries(), key=lambda d: d.status != "delivered")
    assert [d.status for d in [*delivered, pending]] == ["delivered", "delivered", "pending"]

    before = utcnow() - timedelta(days=30)
    for expected in (1, 1, 0):  # at most ``limit`` a call (the CLI's chunks)
        with shop.database.transaction() as conn:
            assert deliveries.purge(conn, before=before, limit=1) == expected
    assert [d.id for d in shop.deliveries()] == [pending.id]
    assert [shop.attempts(d.id) for d in delivered] == [[], []]
    assert len(shop.attempts(pending.id)) == 1


def test_a_claim_is_not_sent_past_its_lease(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    order_id = shop.submit()
    shop.trigger(url=f"{receiver.url}/hook")
    for _ in range(3):
        shop.enqueue(order_id, SHIPPED)
    # A lease shorter than two timeouts: after one attempt the rest could outlive it.
    tight = postback_settings.model_copy(update={"worker_lease_seconds": 1})
    sender = worker(shop.database, tight)
    assert sender.step() == 1
    assert sorted(d.status for d in shop.deliveries()) == ["delivered", "pending", "pending"]
    assert all(d.lease is None for d in shop.deliveries())  # given back, due again at once
    assert sender.step() == 1 and sender.step() == 1 and sender.step() == 0


def test_an_idle_worker_does_not_wait_for_sqlites_write_lock(tmp_path: Path) -> None:
    """SQLite only: its one write lock, held by another process, is what an idle worker
    must not queue behind."""
    import sqlite3
    import time

    path = tmp_path / "idle.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database.write_engine)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing (the API, the CLI)
    try:
        settings = Settings(database_url=database.url, embedded_worker=False)
        idle = DeliveryWorker(database, settings, rng=FixedRandom(0.5))
        started = time.monotonic()
        assert idle.run_timers() + idle.step() == 0
        # Nothing due: no write transaction, so no wait on the lock (busy_timeout is 30 s).
        assert time.monotonic() - started < 2
    finally:
        other.execute("ROLLBACK")
        other.close()
        database.close()


def test_a_facility_cancel_waits_for_the_hand_off_queued_before_it(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    order_id = uuid.UUID(shop.submit())
    receiver.script = [503]  # the hand-off's first attempt fails: its retry is pending
    queued = utcnow()
    with shop.database.transaction() as conn:
        for index, purpose in enumerate(("facility.submit", "facility.cancel")):
            enqueue_delivery(
                conn, purpose=purpose, url=f"{receiver.url}/{purpose}", body="{}",
                content_type="application/json", now=queued + timedelta(milliseconds=index),
                order_id=order_id,
            )  # fmt: skip
    sender = worker(shop.database, postback_settings)
    sender.step(queued + timedelta(seconds=1))
    # The cancel would reach a facility that does not know the order yet: it waits.
    assert [r.path for r in receiver.requests] == ["/facility.submit"]
    while sender.step(queued + timedelta(minutes=1)):
        pass
    paths = [r.path for r in receiver.requests]
    assert paths == ["/facility.submit", "/facility.submit", "/facility.cancel"]
    with shop.database.transaction() as conn:
        rows = deliveries.list_deliveries(conn, order_id=order_id)
    assert sorted((row.purpose, row.status, row.attempts) for row in rows) == [
        ("facility.cancel", "delivered", 1), ("facility.submit", "delivered", 2)
    ]  # fmt: skip


def test_subscriptions_are_read_once_per_ttl_and_forgotten_on_a_change(shop: Shop) -> None:
    """The outbox skips its query for customers without triggers; a trigger made in
    another process shows after the ttl, one made here at once (``forget``)."""
    from pressline.postbacks.outbox import Subscriptions

    own = Subscriptions(ttl=3600)
    with shop.database.transaction() as conn:
        assert not own.any(conn, shop.customer_id, ["order.shipped"])
    shop.trigger("order.shipped", url="http://127.0.0.1:9/hook")  # ``own`` is not told
    with shop.database.transaction() as conn:
        assert not own.any(conn, shop.customer_id, ["order.shipped"])  # within the ttl
        own.forget()
        assert own.any(conn, shop.customer_id, ["order.received", "order.shipped"])
        assert not own.any(conn, shop.customer_id, ["order.received"])
        assert not own.any(conn, uuid.uuid4(), ["order.shipped"])


def test_a_trigger_created_here_applies_to_the_next_change_at_once(shop: Shop) -> None:
    order_id = shop.submit()  # loads this process's subscriptions: none yet
    shop.trigger("order.shipped", url="http://127.0.0.1:9/hook")
    with shop.database.transaction() as conn:
        queued = enqueue_order_events(
            conn, order_id=uuid.UUID(order_id), events=[SHIPPED], now=utcnow(),
            customer_id=shop.customer_id,
        )  # fmt: skip
    assert queued == 1


def test_subscribing_a_facility_again_redirects_its_queued_hand_offs(shop: Shop) -> None:
    from sqlalchemy import select, update

    from pressline.orders.tables import orders
    from pressline.postbacks.tables import postback_deliveries as table
    from pressline.production import service as production

    order_id = uuid.UUID(shop.submit())
    old, new = generate_secret(), generate_secret()
    now = utcnow()
    later = now + timedelta(hours=10)  # a retry far off, for the old receiver
    with shop.database.transaction() as conn:
        facility = conn.execute(
            select(orders.c.fulfillment_facility_id).where(orders.c.id == order_id)
        ).scalar_one()
        queued = {
            purpose: enqueue_delivery(
                conn, purpose=purpose, url="https://old.example/x", body="{}",
                content_type="application/json", now=now, order_id=order_id, secret=old,
            )
            for purpose in ("facility.submit", "facility.cancel", "facility.cancel.held")
        }  # fmt: skip
        conn.execute(update(table).where(table.c.id == queued["facility.submit"])
                     .values(next_attempt_at=later))  # fmt: skip
        conn.execute(update(table).where(table.c.id == queued["facility.cancel.held"])
                     .values(purpose="facility.cancel", lease=uuid.uuid4(),
                             locked_until=later))  # a worker is sending it right now  # fmt: skip
        production.subscribe(
            conn, facility_id=facility, submit_url="https://new.example/orders",
            cancel_url=None, secret=new, now=now,
        )  # fmt: skip
        rows = {row.id: row for row in conn.execute(select(table)).all()}
    submit = rows[queued["facility.submit"]]
    assert (submit.url, submit.secret, submit.status) == (
        "https://new.example/orders",
        new,
        "pending",
    )
    assert submit.next_attempt_at == now  # due at once, at its new receiver
    # No cancel URL any more: the facility pulls cancels. One in flight finishes its attempt.
    assert rows[queued["facility.cancel"]].status == "disabled"
    assert rows[queued["facility.cancel.held"]].status == "pending"


def test_a_receiver_that_does_not_answer_holds_up_only_its_own_orders_deliveries(
    fresh_client: TestClient, fresh_database: Database, postback_settings: Settings
) -> None:
    slow_shop = new_shop(fresh_client, fresh_database)
    quick_shop = new_shop(fresh_client, fresh_database)
    with running_receiver() as slow, running_receiver() as quick:
        slow.hold = threading.Event()  # answers only once released
        slow_order, quick_order = slow_shop.submit(), quick_shop.submit()
        slow_shop.trigger(url=f"{slow.url}/hook")
        quick_shop.trigger(url=f"{quick.url}/hook")
        slow_shop.enqueue(slow_order, SHIPPED)  # claimed first
        quick_shop.enqueue(quick_order, SHIPPED)
        sender = worker(fresh_database, postback_settings)
        attempted: list[int] = []
        stepping = threading.Thread(target=lambda: attempted.append(sender.step()))
        stepping.start()
        try:
            slow.wait_for(1)
            quick.wait_for(1, timeout=3)  # while the slow receiver still holds its request
        finally:
            slow.hold.set()
            stepping.join(30)
    assert attempted == [2]
    assert [d.status for d in slow_shop.deliveries() + quick_shop.deliveries()] == [
        "delivered",
        "delivered",
    ]


def test_a_receiver_that_does_not_answer_delays_no_orders_intake(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    """The timers run beside the sends: an order submitted while a send hangs still passes
    intake (it waited for the whole batch, up to the postback timeout, each time)."""
    shop.trigger(url=f"{receiver.url}/hook")
    shop.enqueue(shop.submit(), SHIPPED)
    receiver.hold = threading.Event()
    # The send hangs all through the test: intake within 10 s cannot come after its
    # timeout (the postback settings' 5 s let the old loop run the timers in time).
    patient = postback_settings.model_copy(
        update={"postback_timeout_seconds": 60, "worker_lease_seconds": 180}
    )
    running = WorkerThread(DeliveryWorker(shop.database, patient, rng=FixedRandom(0.5)))
    running.start()
    try:
        receiver.wait_for(1)  # the send is in flight, and stays so
        later = shop.submit()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if shop.caller.get(later).json()["fulfillmentStatus"] == "passed":
                break
            time.sleep(0.05)
        assert shop.caller.get(later).json()["fulfillmentStatus"] == "passed"
        assert len(receiver.requests) == 1  # still the one send, held
    finally:
        receiver.hold.set()
        running.stop(30)


def test_stopping_lets_every_lanes_attempt_finish_and_gives_the_rest_back(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    orders = [shop.submit(), shop.submit()]  # two lanes, two deliveries each
    shop.trigger(url=f"{receiver.url}/hook")
    for order_id in orders:
        shop.enqueue(order_id, SHIPPED)
        shop.enqueue(order_id, SHIPPED)
    receiver.hold = threading.Event()
    sender = worker(shop.database, postback_settings)
    attempted: list[int] = []
    stepping = threading.Thread(target=lambda: attempted.append(sender.step()))
    stepping.start()
    try:
        receiver.wait_for(2)  # each lane's first attempt is in flight
        sender.stop()
    finally:
        receiver.hold.set()
        stepping.join(30)
    assert attempted == [2] and len(receiver.requests) == 2
    statuses = sorted(d.status for d in shop.deliveries())
    assert statuses == ["delivered", "delivered", "pending", "pending"]
    assert all(d.lease is None for d in shop.deliveries())  # given back, due again at once
