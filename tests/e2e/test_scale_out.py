"""Two real API processes on one PostgreSQL and one Redis: no duplicates, whoever answers.

Issue 4 §3, reliability.md 12: the same batch of orders goes through both processes at
once, each order several times: plain resubmits of one reference, shared
``Idempotency-Key`` values, ``"preventDuplicate": true``, both together, and keys
reused for a different order. Afterwards the database holds exactly one order per
reference and per key, and every answer agrees with it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from pressline.accounts.tables import customers
from pressline.idempotency.tables import idempotency_keys
from pressline.orders import examples
from pressline.orders.tables import orders
from tests.e2e.conftest import Server, new_server
from tests.support.pg_fixtures import postgres_url
from tests.support.pgcluster import PostgresCluster
from tests.support.redisserver import RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ORDERS_PER_KIND = 8
CLIENTS_PER_SERVER = 4  # each sends the whole batch: every request goes 8 times
RETRIES = 20


@dataclass(frozen=True, eq=False)  # one request of the plan: compared by identity
class Planned:
    kind: str  # plain, key, flag, key+flag, reused
    reference: str
    key: str | None
    body: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    planned: Planned
    server: str
    status: int
    body: dict[str, Any]
    replayed: bool


def _order(reference: str, **extra: Any) -> dict[str, Any]:
    return {**examples.SUBMIT["reference"], "orderReferenceId": reference, **extra}


def _plan(run: str) -> list[Planned]:
    """Every request of the batch."""
    planned: list[Planned] = []
    for n in range(ORDERS_PER_KIND):
        ref = f"{run}-{n}"
        planned += [
            Planned("plain", f"{ref}-plain", None, _order(f"{ref}-plain")),
            Planned("key", f"{ref}-key", f"{ref}-k1", _order(f"{ref}-key")),
            Planned("flag", f"{ref}-flag", None, _order(f"{ref}-flag", preventDuplicate=True)),
            Planned(
                "key+flag", f"{ref}-both", f"{ref}-k2", _order(f"{ref}-both", preventDuplicate=True)
            ),
            # One key, two different orders: only one of them may ever exist.
            Planned("reused", f"{ref}-reused-a", f"{ref}-k3", _order(f"{ref}-reused-a")),
            Planned("reused", f"{ref}-reused-b", f"{ref}-k3", _order(f"{ref}-reused-b")),
        ]
    return planned


def _send(
    server: Server,
    api_key: str,
    batch: list[Planned],
    start: threading.Barrier,
    answers: list[Answer],
) -> None:
    with server.client() as client:
        start.wait()
        for planned in batch:
            headers = {"X-API-KEY": api_key}
            if planned.key is not None:
                headers["Idempotency-Key"] = planned.key
            for _ in range(RETRIES):
                response = client.post("/api/sandbox/order", json=planned.body, headers=headers)
                if not _in_use(response):
                    break
                time.sleep(0.05)  # as documented: retry with the same key
            answers.append(
                Answer(
                    planned,
                    server.base_url,
                    response.status_code,
                    response.json(),
                    response.headers.get("idempotent-replayed") == "true",
                )
            )


def _in_use(response: httpx.Response) -> bool:
    """409 idempotency_key_in_use: two processes' transactions waited on each other."""
    if response.status_code != 409:
        return False
    return any(e["code"] == "idempotency_key_in_use" for e in response.json()["errors"])


def _fire(servers: list[Server], api_key: str, batch: list[Planned]) -> list[Answer]:
    """The whole batch from CLIENTS_PER_SERVER clients per process at once, in the same
    order: the copies of each request reach both processes at about the same time."""
    lanes = [server for server in servers for _ in range(CLIENTS_PER_SERVER)]
    start = threading.Barrier(len(lanes), timeout=60)
    answers: list[Answer] = []
    threads = [
        threading.Thread(target=_send, args=(server, api_key, batch, start, answers))
        for server in lanes
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    assert len(answers) == len(batch) * len(lanes)
    return answers


def _stored(url: str) -> tuple[dict[str, str], Counter[str]]:
    """The sandbox customer's orders (reference -> id) and how many rows each key has."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            customer = conn.execute(
                select(customers.c.id).where(customers.c.reference_id == "sandbox-customer")
            ).scalar_one()
            rows = conn.execute(
                select(orders.c.order_reference_id, orders.c.id).where(
                    orders.c.customer_id == customer
                )
            ).all()
            keys = conn.execute(
                select(idempotency_keys.c.kind, idempotency_keys.c.key).where(
                    idempotency_keys.c.customer_id == customer
                )
            ).all()
    finally:
        engine.dispose()
    by_reference = Counter(row.order_reference_id for row in rows)
    assert max(by_reference.values()) == 1, by_reference.most_common(3)
    return {row.order_reference_id: str(row.id) for row in rows}, Counter(
        f"{row.kind}:{row.key}" for row in keys
    )


def test_two_processes_on_postgresql_and_redis_store_one_order_per_reference_and_key(
    tmp_path: Path, postgres_cluster: PostgresCluster, redis_server: RedisServer
) -> None:
    url = postgres_url(postgres_cluster, "tests_e2e_scale_out")
    settings = {
        "PRESSLINE_DATABASE_URL": url,
        "PRESSLINE_REDIS_URL": redis_server.url,
        # Shared through Redis, like production, but high enough not to refuse this batch.
        "PRESSLINE_RATE_LIMIT": "5000/second",
    }
    first = new_server(tmp_path / "first", plain_http=False, **settings).start()
    second = new_server(tmp_path / "second", plain_http=False, **settings)
    second.args = ()  # the first created the sandbox connector and its key
    try:
        second.start()
        batch = _plan(f"so-{uuid.uuid4().hex[:6]}")
        answers = _fire([first, second], first.api_key(), batch)
    finally:
        second.stop()
        first.stop()

    stored, keys = _stored(url)
    assert Counter(a.status for a in answers if a.status >= 500) == Counter()
    assert {a.server for a in answers} == {first.base_url, second.base_url}
    by_request: dict[Planned, list[Answer]] = defaultdict(list)
    for answer in answers:
        by_request[answer.planned].append(answer)
    crossed = 0
    for planned, got in by_request.items():
        if planned.kind != "reused":
            crossed += _check_one_order(planned, got, stored)
    _check_reused_keys(by_request, stored)
    # The copies really raced: many orders were created by one process and answered as
    # a duplicate or a replay by the other.
    assert crossed >= len(by_request) // 4, crossed
    header_keys = {p.key for p in batch if p.key is not None}
    assert {k: n for k, n in keys.items() if k.startswith("header:")} == {
        f"header:{key}": 1 for key in header_keys
    }


def _check_one_order(planned: Planned, got: list[Answer], stored: dict[str, str]) -> bool:
    """The order exists once; every 200 names it; only the first answer is not a replay.
    Whether the other process answered some of the copies."""
    order_id = stored[planned.reference]
    created = [a for a in got if a.status == 200 and not a.replayed]
    assert len(created) == 1, (planned.kind, [(a.status, a.replayed) for a in got])
    assert created[0].body["id"] == order_id
    for answer in got:
        if planned.kind == "plain" and answer is not created[0]:
            assert answer.status == 409, answer
            assert answer.body["errors"][0]["code"] == "duplicate_order_reference"
            assert order_id in answer.body["message"]
        elif answer is not created[0]:
            assert (answer.status, answer.replayed) == (200, True), answer
            assert answer.body == created[0].body
    return any(answer.server != created[0].server for answer in got)


def _check_reused_keys(by_request: dict[Planned, list[Answer]], stored: dict[str, str]) -> None:
    """A key sent with two different orders created exactly one of them."""
    pairs: dict[str, list[Planned]] = defaultdict(list)
    for planned in by_request:
        if planned.kind == "reused" and planned.key is not None:
            pairs[planned.key].append(planned)
    assert pairs
    for pair in pairs.values():
        winners = [p for p in pair if p.reference in stored]
        assert len(winners) == 1, [p.reference for p in pair]
        winner_id = stored[winners[0].reference]
        for planned in pair:
            for answer in by_request[planned]:
                if planned is winners[0]:
                    assert answer.status == 200 and answer.body["id"] == winner_id, answer
                else:
                    assert answer.status == 422, answer
                    assert answer.body["type"] == "idempotency"
