"""``GET {base}/{orderId}/postbacks``: an order's delivery log, for its customer only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from pressline.config import Settings
from pressline.db import Database, utcnow
from pressline.postbacks.events import EventType
from pressline.worker import DeliveryWorker
from tests.support.postbacks import FixedRandom, new_shop
from tests.support.receiver import Receiver, running_receiver

SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def test_the_log_lists_each_postback_with_its_attempts(
    fresh_client: TestClient,
    fresh_database: Database,
    postback_settings: Settings,
    receiver: Receiver,
) -> None:
    shop = new_shop(fresh_client, fresh_database)
    receiver.script = [503]
    order_id = shop.submit(orderReferenceId="shop-1001")
    shop.trigger(url=f"{receiver.url}/hook")
    shop.trigger("order.delivered", email="ops@example.org", destination="email")
    start = utcnow()
    shop.enqueue(order_id, EventType.ORDER_SHIPPED, now=start)
    worker = DeliveryWorker(
        fresh_database, postback_settings, rng=FixedRandom(0.5), run_timers=False
    )
    worker.step(start)
    worker.step(start + timedelta(seconds=5))  # the first retry's cap

    for key in (order_id, "shop-1001"):
        response = fresh_client.get(
            f"{shop.caller.base}/{key}/postbacks", headers=shop.caller.headers
        )
        assert response.status_code == 200, response.text
        (postback,) = response.json()["postbacks"]
        assert postback["id"] == receiver.requests[0].headers["webhook-id"]
        assert postback["event"] == "order.shipped"
        assert postback["status"] == "delivered"
        assert postback["url"] == f"{receiver.url}/hook"
        assert [a["statusCode"] for a in postback["attempts"]] == [503, 200]
        assert [a["outcome"] for a in postback["attempts"]] == ["retry", "delivered"]
        assert postback["attempts"][0]["error"] == "HTTP 503"
        assert postback["attemptCount"] == 2 and postback["deliveredAt"] is not None
        times = [postback["createdAt"], postback["deliveredAt"], postback["attempts"][0]["at"]]
        assert all(SECONDS.fullmatch(time) for time in times), times  # as Get Order's


def test_another_customer_sees_no_such_order(
    fresh_client: TestClient, fresh_database: Database, receiver: Receiver
) -> None:
    owner = new_shop(fresh_client, fresh_database)
    stranger = new_shop(fresh_client, fresh_database)
    order_id = owner.submit()
    owner.trigger(url=f"{receiver.url}/hook")
    owner.enqueue(order_id, EventType.ORDER_SHIPPED)

    mine = fresh_client.get(
        f"{owner.caller.base}/{order_id}/postbacks", headers=owner.caller.headers
    )
    assert mine.status_code == 200 and len(mine.json()["postbacks"]) == 1
    assert mine.json()["postbacks"][0]["status"] == "pending"

    theirs = fresh_client.get(
        f"{stranger.caller.base}/{order_id}/postbacks", headers=stranger.caller.headers
    )
    assert theirs.status_code == 404
    assert theirs.json()["errors"][0]["code"] == "order_not_found"
    # Nor through the owner's prefix with the stranger's key.
    crossed = fresh_client.get(
        f"{owner.caller.base}/{order_id}/postbacks", headers=stranger.caller.headers
    )
    assert crossed.status_code == 401


def test_an_order_without_postbacks_has_an_empty_log_and_get_order_still_works(
    fresh_client: TestClient, fresh_database: Database
) -> None:
    shop = new_shop(fresh_client, fresh_database)
    order_id = shop.submit()
    response = fresh_client.get(
        f"{shop.caller.base}/{order_id}/postbacks", headers=shop.caller.headers
    )
    assert response.status_code == 200 and response.json() == {"postbacks": []}
    assert shop.caller.get(order_id).json()["id"] == order_id
    missing = fresh_client.get(
        f"{shop.caller.base}/no-such-order/postbacks", headers=shop.caller.headers
    )
    assert missing.status_code == 404
