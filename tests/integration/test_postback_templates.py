"""Triggers with the customer's own body template (rendered once, in the sandbox)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from standardwebhooks import Webhook
from starlette.testclient import TestClient

from pressline.config import Settings
from pressline.db import Database, utcnow
from pressline.errors import ValidationFailed
from pressline.postbacks.events import EventType
from pressline.templates import LookupTable, store
from pressline.templates.formats import Format
from pressline.templates.model import TemplateType
from pressline.worker import DeliveryWorker
from tests.support.postbacks import FixedRandom, Shop, new_shop
from tests.support.receiver import Receiver, running_receiver

SHOP_BODY = """\
{"kind": {{ type | json }},
 "order": {{ data.order.orderReferenceId | json }},
 "status": {{ data.order.fulfillmentStatus | json }},
 "lines": {{ data["items"] | length }},
 "source": {{ lookups({"sources": data.metadata.channel}, default="other") | json }}}"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def shop(fresh_client: TestClient, fresh_database: Database) -> Shop:
    return new_shop(fresh_client, fresh_database)


def add_template(
    shop: Shop, name: str, source: str, *, kind: TemplateType = TemplateType.WEBHOOK_BODY
) -> None:
    with shop.database.transaction() as conn:
        store.create_template(
            conn, customer_id=shop.customer_id, name=name, kind=kind,
            input_format=Format.JSON, output_format=Format.JSON, source=source, now=utcnow(),
        )  # fmt: skip


def test_a_template_shapes_the_body_once_and_every_retry_sends_it(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    add_template(shop, "shop-hook", SHOP_BODY)
    with shop.database.transaction() as conn:
        table = LookupTable.from_rows("sources", [("web", "webshop")])
        store.save_lookup(conn, customer_id=shop.customer_id, table=table, now=utcnow())
    order_id = shop.submit(orderReferenceId="tpl-1", metadata=[{"key": "channel", "value": "web"}])
    new = shop.trigger(url=f"{receiver.url}/hook", template_name="shop-hook")
    receiver.script = [500]
    start = utcnow()
    shop.enqueue(order_id, EventType.ORDER_SHIPPED, now=start)
    worker = DeliveryWorker(shop.database, postback_settings, rng=FixedRandom(), run_timers=False)

    assert worker.step(start) == 1
    with shop.database.transaction() as conn:  # a new version does not change what was queued
        store.add_version(conn, customer_id=shop.customer_id, name="shop-hook",
                          source='{"changed": true}', now=utcnow())  # fmt: skip
    assert worker.step(start + timedelta(seconds=5)) == 1

    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["content-type"] == "application/json"
    body = Webhook(new.secret).verify(second.body, second.headers)
    assert body == {
        "kind": "order.shipped",
        "order": "tpl-1",
        "status": body["status"],
        "lines": 1,
        "source": "webshop",
    }
    (row,) = shop.deliveries()
    assert row.status == "delivered" and row.template_name is None


def test_a_failing_template_gives_the_delivery_up_with_its_error(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    add_template(shop, "broken", '{"order": {{ data.order.orderReferenceId }} }')  # not JSON
    order_id = shop.submit()
    shop.trigger(url=f"{receiver.url}/hook", template_name="broken")
    shop.enqueue(order_id, EventType.ORDER_SHIPPED)

    assert DeliveryWorker(shop.database, postback_settings, run_timers=False).step() == 1

    assert receiver.requests == []
    (row,) = shop.deliveries()
    assert row.status == "failed"
    (attempt,) = shop.attempts(row.id)
    assert attempt.outcome == "failed" and attempt.error.startswith("template: ")
    assert "broken" in attempt.error


def test_a_trigger_names_an_existing_template_of_the_right_kind(shop: Shop) -> None:
    with pytest.raises(ValidationFailed, match="was not found"):
        shop.trigger(url="https://hooks.example/x", template_name="missing")
    add_template(shop, "mail", "{}", kind=TemplateType.EMAIL_BODY)
    with pytest.raises(ValidationFailed, match="not webhook_body"):
        shop.trigger(url="https://hooks.example/x", template_name="mail")
    shop.trigger(destination="email", email="a@shop.example", template_name="mail")


def test_template_payload_is_the_documented_event(
    shop: Shop, receiver: Receiver, postback_settings: Settings
) -> None:
    add_template(shop, "echo", "{{ {'id': id, 'data': data} | json }}")
    order_id = shop.submit()
    shop.trigger(url=f"{receiver.url}/hook", template_name="echo")
    shop.enqueue(order_id, EventType.ORDER_SHIPPED)
    DeliveryWorker(shop.database, postback_settings, run_timers=False).step()
    (request,) = receiver.requests
    echoed = json.loads(request.body)
    assert echoed["id"] == request.headers["webhook-id"]
    assert echoed["data"]["order"]["id"] == order_id
