"""Helpers for postback tests: a customer with an order, triggers, the delivery log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.testclient import TestClient

from pressline.accounts import service as accounts
from pressline.db import AnyRow, Database, utcnow
from pressline.postbacks import deliveries, triggers
from pressline.postbacks.events import EventType
from pressline.postbacks.outbox import enqueue_order_events
from tests.conftest import Caller, new_caller, order_body


@dataclass
class Shop:
    """A customer (with an API caller) on a fresh database."""

    database: Database
    caller: Caller
    customer_id: uuid.UUID

    def submit(self, **changes: Any) -> str:
        response = self.caller.submit(order_body(**changes))
        assert response.status_code == 200, response.text
        order_id: str = response.json()["id"]
        return order_id

    def trigger(self, event: str = "order.shipped", **spec: Any) -> triggers.NewTrigger:
        with self.database.transaction() as conn:
            return triggers.create_trigger(
                conn,
                customer_id=self.customer_id,
                spec=triggers.TriggerSpec(event_type=event, **spec),
                now=utcnow(),
            )

    def enqueue(self, order_id: str, *events: EventType, now: datetime | None = None) -> int:
        with self.database.transaction() as conn:
            return enqueue_order_events(
                conn, order_id=uuid.UUID(order_id), events=events, now=now or utcnow()
            )

    def deliveries(self, **filters: Any) -> list[AnyRow]:
        with self.database.transaction() as conn:
            return deliveries.list_deliveries(conn, customer_id=self.customer_id, **filters)

    def attempts(self, delivery_id: uuid.UUID) -> list[AnyRow]:
        with self.database.transaction() as conn:
            return deliveries.attempts_of(conn, [delivery_id])[delivery_id]

    def trigger_row(self, trigger_id: uuid.UUID) -> AnyRow:
        with self.database.transaction() as conn:
            return triggers.get_trigger(conn, trigger_id)


def new_shop(client: TestClient, database: Database) -> Shop:
    caller = new_caller(client, database)
    with database.transaction() as conn:
        customer_id = accounts.customer_id(conn, caller.customer_reference_id)
    return Shop(database, caller, customer_id)


class FixedRandom:
    """A jitter draw that is always ``value`` (the schedule's caps times ``value``)."""

    def __init__(self, value: float = 0.5) -> None:
        self.value = value

    def random(self) -> float:
        return self.value
