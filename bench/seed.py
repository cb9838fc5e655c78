"""Fill a migrated database with many realistic orders, fast.

Rows are built from what the application itself would store: one submit body per
country is validated by the real request model and turned into rows by
``pressline.orders.service.prepare_order``; each seeded order is a copy of one of
those rows with its own ids, reference, names, dates and statuses. They are bulk
inserted through the real table definitions (SQLAlchemy Core executemany), oldest
first, in large chunks.

The request log holds the submit of every order of the last 30 days (its default
retention), as a live installation's does: a benchmark on an empty log would measure
query plans made for an empty table (PostgreSQL scans a table it believes empty).

Spread: the benchmark customer owns ``count`` orders, four other customers share
another fifth as many; one item each; created over the last year; statuses follow
an order's age (recent ones in production, older ones delivered, a few drafts,
canceled and failed); countries weighted like a US/EU print shop's.
"""

from __future__ import annotations

import copy
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

import phonenumbers
from sqlalchemy import Connection, String, cast, func, insert, literal, select

from bench.report import note
from pressline.accounts import service as accounts
from pressline.accounts.keys import Principal
from pressline.accounts.tables import customers
from pressline.catalog.service import starter_reference
from pressline.db import Database
from pressline.orders import examples
from pressline.orders.schemas import OrderCreate
from pressline.orders.service import PreparedOrder, prepare_order
from pressline.orders.tables import order_items, orders
from pressline.requestlog.tables import request_log

#: Bump when the generated data changes shape, so cached databases are rebuilt.
SEED_VERSION = 2
BENCH_CUSTOMER = "bench-customer"
OTHER_CUSTOMERS = ("acme-prints", "north-wind", "blue-harbor", "maple-goods")
SPAN = timedelta(days=365)
#: The request log's default retention: the seeded log covers the orders of this span.
LOGGED = timedelta(days=30)
CHUNK = 20_000
PROGRESS_EVERY = 200_000

# country: (weight, city, post code, state)
COUNTRIES: dict[str, tuple[int, str, str, str]] = {
    "US": (38, "New York", "10001", "NY"),
    "GB": (12, "London", "SW1A 1AA", ""),
    "DE": (10, "Berlin", "10115", ""),
    "CA": (7, "Toronto", "M5V 2T6", "ON"),
    "FR": (6, "Paris", "75001", ""),
    "AU": (5, "Sydney", "2000", "NSW"),
    "NL": (4, "Amsterdam", "1012 AB", ""),
    "ES": (3, "Madrid", "28001", ""),
    "IT": (3, "Roma", "00184", ""),
    "SE": (2, "Stockholm", "111 22", ""),
    "IE": (2, "Dublin", "D02 X285", ""),
    "JP": (2, "Tokyo", "100-0001", ""),
    "BE": (2, "Brussels", "1000", ""),
    "AT": (2, "Wien", "1010", ""),
    "DK": (1, "Copenhagen", "1050", ""),
    "NO": (1, "Oslo", "0150", ""),
}
FIRST_NAMES = ("John", "Maria", "Liam", "Emma", "Noah", "Olivia", "Lucas", "Mia", "Ella", "Jan")
LAST_NAMES = ("Doe", "Smith", "Müller", "Martin", "Rossi", "Jansen", "Garcia", "Berg", "Kim", "Ng")

#: A seeded order row and its single item row.
_Pair = tuple[dict[str, Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class SeedResult:
    """What was seeded: the benchmark customer's order count, all orders, and when."""

    bench_orders: int
    total_orders: int
    seeded_at: datetime
    seconds: float


def reference_for(customer_index: int, number: int) -> str:
    """The orderReferenceId of a seeded order (customer 0 is the benchmark customer)."""
    return f"seed-c{customer_index}-{number:08d}"


def _statuses(age: timedelta, roll: float) -> tuple[str, str]:
    """(fulfillment, financial) for an order of this age; ``roll`` is uniform in [0, 1)."""
    if roll < 0.03:
        return "canceled", "canceled" if roll < 0.02 else "refunded"
    if roll < 0.035:
        return "failed", "pending"
    days = age / timedelta(days=1)
    if days < 1:
        return ("created", "passed", "in_production")[int(roll * 3) % 3], "pending"
    if days < 3:
        return ("in_production", "printed", "shipped")[int(roll * 3) % 3], "to_be_invoiced"
    if days < 10:
        return ("shipped" if roll < 0.5 else "in_transit"), "invoiced"
    return ("returned" if roll < 0.045 else "delivered"), "paid"


def _template(country: str, principal: Principal, now: datetime) -> PreparedOrder:
    """What the application stores for the seed's basic order shipped to ``country``."""
    _, city, post_code, state = COUNTRIES[country]
    example = phonenumbers.example_number(country)
    assert example is not None, f"no example phone number for {country}"
    phone = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    body = copy.deepcopy(examples.SUBMIT["guide_basic"])
    body["shippingAddress"].update(
        country=country, city=city, postCode=post_code, state=state, phone=phone
    )
    return prepare_order(
        principal, OrderCreate.model_validate(body), now=now, reference=starter_reference()
    )


def _create_customers(db: Database, now: datetime) -> list[Principal]:
    principals = []
    with db.transaction() as conn:
        for index, reference in enumerate((BENCH_CUSTOMER, *OTHER_CUSTOMERS)):
            customer_id = accounts.create_customer(
                conn, reference_id=reference, name=reference, now=now
            )
            created = accounts.create_connector(
                conn, customer_reference_id=reference, prefix=f"seed-{index}", name="seed", now=now
            )
            principals.append(Principal(customer_id, reference, created.connector_id))
    return principals


class _RowFactory:
    """Seeded (order, item) rows, oldest first, for a fixed customer mix."""

    def __init__(self, principals: list[Principal], now: datetime, rng: random.Random) -> None:
        self._principals = principals
        self._now = now
        self._rng = rng
        self._counters = [0] * len(principals)
        self._countries = list(COUNTRIES)
        self._weights = [COUNTRIES[code][0] for code in self._countries]
        self._templates = {code: _template(code, principals[0], now) for code in self._countries}

    def count_for(self, customer: int) -> int:
        """Orders generated so far for ``customer`` (0 is the benchmark customer)."""
        return self._counters[customer]

    def rows(self, total: int) -> Iterator[_Pair]:
        start = self._now - SPAN
        for position in range(total):
            # Five of every six orders are the benchmark customer's (1M of 1.2M).
            customer = 0 if position % 6 != 5 else 1 + (position // 6) % (len(self._principals) - 1)
            created = start + SPAN * ((position + self._rng.random()) / total)
            yield self._order(customer, created)

    def _order(self, customer: int, created: datetime) -> _Pair:
        rng, principal = self._rng, self._principals[customer]
        self._counters[customer] += 1
        country = rng.choices(self._countries, self._weights)[0]
        template = self._templates[country]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        roll = rng.random()
        draft = roll > 0.98
        fulfillment, financial = (
            ("draft", "draft") if draft else _statuses(self._now - created, roll)
        )
        order_id = uuid.uuid4()
        order = {
            **template.order,
            "id": order_id,
            "customer_id": principal.customer_id,
            "connector_id": principal.connector_id,
            "order_reference_id": reference_for(customer, self._counters[customer]),
            "order_type": "draft" if draft else "order",
            "fulfillment_status": fulfillment,
            "financial_status": financial,
            "total_incl_vat": 0 if draft else None,
            "first_name": first,
            "last_name": last,
            "shipping_address": {
                **template.order["shipping_address"],
                "firstName": first,
                "lastName": last,
            },
            "shipping_address_id": uuid.uuid4(),
            "shipment_id": uuid.uuid4(),
            "created_at": created,
            "updated_at": min(created + timedelta(hours=rng.random() * 72), self._now),
            "ordered_at": None if draft else created,
        }
        item = {
            **template.items[0],
            "id": uuid.uuid4(),
            "order_id": order_id,
            "fulfillment_status": fulfillment,
        }
        return order, item


def _batched(rows: Iterator[_Pair], size: int) -> Iterator[list[_Pair]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def seed(db: Database, count: int, *, now: datetime, rng_seed: int = 42) -> SeedResult:
    """Insert ``count`` orders for :data:`BENCH_CUSTOMER` plus a fifth as many for others."""
    began = time.monotonic()
    principals = _create_customers(db, now)
    factory = _RowFactory(principals, now, random.Random(rng_seed))
    total = count + count // 5
    done = 0
    for chunk in _batched(factory.rows(total), CHUNK):
        with db.transaction() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA cache_size=-1048576")  # 1 GiB while seeding
            conn.execute(orders.insert(), [order for order, _ in chunk])
            conn.execute(order_items.insert(), [item for _, item in chunk])
        done += len(chunk)
        if done % PROGRESS_EVERY < CHUNK or done == total:
            rate = done / max(time.monotonic() - began, 1e-9)
            note(f"seeded {done:,}/{total:,} orders ({rate:,.0f}/s)")
    with db.transaction() as conn:
        logged = _log_submits(conn, since=now - LOGGED)
    note(f"seeded {logged:,} request-log entries (the submits of the last {LOGGED.days} days)")
    return SeedResult(factory.count_for(0), total, now, time.monotonic() - began)


def _log_submits(conn: Connection, *, since: datetime) -> int:
    """One request-log entry per order created since ``since``: its submit, bodies left
    out (one set-based insert; the entry id is the order id's 32 hex digits)."""
    columns = (
        func.replace(cast(orders.c.id, String), "-", ""),
        orders.c.created_at,
        literal("seed"),
        customers.c.reference_id,
        literal("POST"),
        literal("/api/seed/order"),
        literal(200),
        literal(2_000),
        orders.c.id,
    )
    names = (
        "id", "at", "prefix", "customer_reference_id", "method", "path", "status",
        "latency_us", "order_id",
    )  # fmt: skip
    submits = (
        select(*columns)
        .select_from(orders.join(customers, customers.c.id == orders.c.customer_id))
        .where(orders.c.created_at >= since)
    )
    result = conn.execute(insert(request_log).from_select(names, submits))
    return int(result.rowcount)
