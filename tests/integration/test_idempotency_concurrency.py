"""Idempotency keys under concurrency, expiry and purging, on SQLite and PostgreSQL.

The jobs are what the routes queue (``idempotency.service`` around
``orders.service.submit_order``). A second ``Database`` on the same PostgreSQL
database has its own writer thread and connections: a second API process.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, func, select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from pressline import purging
from pressline.accounts.keys import Principal
from pressline.app import create_app
from pressline.catalog.service import starter_reference
from pressline.cli import app as cli_app
from pressline.config import Settings, get_settings
from pressline.db import Database, utcnow
from pressline.errors import DuplicateOrderReference, IdempotencyKeyInUse
from pressline.idempotency import repository, service
from pressline.idempotency.keys import KeyedRequest, KeyKind, Outcome, Refused, fingerprint
from pressline.idempotency.tables import idempotency_keys
from pressline.migrate import upgrade
from pressline.orders import examples
from pressline.orders import service as orders
from pressline.orders.schemas import OrderCreate
from pressline.orders.tables import orders as orders_table
from tests.integration import test_batch_writer as batch_writer
from tests.integration.test_batch_writer import in_one_batch
from tests.support.pg_fixtures import postgres_url
from tests.support.pgcluster import PostgresCluster

DAY = timedelta(hours=24)
STARTER = starter_reference()


def new_principal(database: Database) -> Principal:
    return batch_writer.new_principal(database, "ik")


@pytest.fixture
def principal(database: Database) -> Principal:
    return new_principal(database)


@pytest.fixture(scope="module")
def two_processes(postgres_cluster: PostgresCluster) -> Iterator[tuple[Database, Database]]:
    """Two handles on one PostgreSQL database, each with its own writer: two API
    processes. (The embedded SQLite database runs one process by design.)"""
    url = postgres_url(postgres_cluster, "tests_integration_idempotency_two_processes")
    first = Database(url)
    upgrade(first.write_engine)
    second = Database(url)
    yield first, second
    second.close()
    first.close()


def body(reference: str, **changes: Any) -> bytes:
    return orjson.dumps(
        {**examples.SUBMIT["guide_basic"], "orderReferenceId": reference, **changes}
    )


def keyed(key: str, raw: bytes, kind: KeyKind = KeyKind.HEADER) -> KeyedRequest:
    return KeyedRequest(kind, key, fingerprint("POST", "/api/x/order", raw))


def submission(principal: Principal, raw: bytes, *, now: datetime | None = None) -> Any:
    """What the submit route queues for ``raw`` without a key (with ``preventDuplicate``
    when the body says so)."""
    order = OrderCreate.model_validate_json(raw)
    prepared = orders.prepare_order(principal, order, now=utcnow(), reference=STARTER)
    duplicate = None
    if order.prevent_duplicate:
        duplicate = keyed(order.order_reference_id, raw, KeyKind.ORDER_REFERENCE)
    return partial(
        service.submit_order,
        prepared=prepared,
        duplicate=duplicate,
        now=now or utcnow(),
        retention=DAY,
    )


def submit_with_key(
    principal: Principal, key: str, raw: bytes, *, now: datetime | None = None
) -> Any:
    """What the submit route queues for a request with ``Idempotency-Key: key``."""
    return partial(
        service.run,
        customer_id=principal.customer_id,
        request=keyed(key, raw),
        operation=submission(principal, raw, now=now),
        now=now or utcnow(),
        retention=DAY,
    )


def stored_orders(database: Database, principal: Principal, reference: str) -> int:
    with database.read_engine.connect() as conn:
        count: int = conn.execute(
            select(func.count()).where(
                orders_table.c.customer_id == principal.customer_id,
                orders_table.c.order_reference_id == reference,
            )
        ).scalar_one()
    return count


def stored_keys(database: Database, principal: Principal) -> dict[str, str]:
    with database.read_engine.connect() as conn:
        rows = conn.execute(
            select(idempotency_keys.c.key, idempotency_keys.c.fingerprint).where(
                idempotency_keys.c.customer_id == principal.customer_id
            )
        )
        return {row.key: row.fingerprint for row in rows}


async def gather(writes: list[Any]) -> list[Any]:
    return list(await asyncio.gather(*writes, return_exceptions=True))


# --- concurrent requests with one key -------------------------------------------------


def test_concurrent_submits_with_one_key_create_one_order_and_replay_it(
    database: Database, principal: Principal
) -> None:
    reference, key = f"race-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    raw = body(reference)

    outcomes = asyncio.run(
        gather([database.write(submit_with_key(principal, key, raw)) for _ in range(12)])
    )

    assert all(isinstance(outcome, Outcome) for outcome in outcomes), outcomes
    assert len({outcome.body for outcome in outcomes}) == 1
    assert [outcome.replayed for outcome in outcomes].count(False) == 1
    assert stored_orders(database, principal, reference) == 1


@pytest.mark.postgres
def test_two_processes_racing_with_one_key_create_one_order(
    two_processes: tuple[Database, Database],
) -> None:
    database, second_process = two_processes
    principal = new_principal(database)
    reference, key = f"race2-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    raw = body(reference)
    handles = [database, second_process] * 8

    outcomes = asyncio.run(
        gather([db.write(submit_with_key(principal, key, raw)) for db in handles])
    )

    assert all(isinstance(outcome, Outcome) for outcome in outcomes), outcomes
    assert len({outcome.body for outcome in outcomes}) == 1
    assert [outcome.replayed for outcome in outcomes].count(False) == 1
    assert stored_orders(database, principal, reference) == 1


@pytest.mark.postgres
def test_two_processes_racing_with_prevent_duplicate_create_one_order(
    two_processes: tuple[Database, Database],
) -> None:
    database, second_process = two_processes
    principal = new_principal(database)
    reference = f"race3-{uuid.uuid4().hex[:8]}"
    raw = body(reference, preventDuplicate=True)
    handles = [database, second_process] * 8

    outcomes = asyncio.run(gather([db.write(submission(principal, raw)) for db in handles]))

    assert all(isinstance(outcome, Outcome) for outcome in outcomes), outcomes
    assert len({outcome.body for outcome in outcomes}) == 1
    assert [outcome.replayed for outcome in outcomes].count(False) == 1
    assert stored_orders(database, principal, reference) == 1


@pytest.mark.postgres
def test_when_two_processes_wait_on_each_others_keys_one_is_told_to_retry(
    two_processes: tuple[Database, Database],
) -> None:
    """Each writer holds one key and wants the other's: PostgreSQL cancels one of them
    (a deadlock), which is answered 409 idempotency_key_in_use; its retry replays."""
    database, second_process = two_processes
    principal = new_principal(database)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    both_hold_one = threading.Barrier(2, timeout=30)

    def claim(key: str, conn: Connection) -> Any:
        return service.run(
            conn,
            customer_id=principal.customer_id,
            request=keyed(key, b"{}"),
            operation=lambda _: Outcome(200, orjson.dumps({"key": key})),
            now=utcnow(),
            retention=DAY,
        )

    def crosswise(mine: str, theirs: str, conn: Connection) -> list[Outcome]:
        held = claim(mine, conn)
        both_hold_one.wait()
        return [held, claim(theirs, conn)]

    results = asyncio.run(
        gather(
            [
                database.write(partial(crosswise, first, second)),
                second_process.write(partial(crosswise, second, first)),
            ]
        )
    )

    refused = [result for result in results if isinstance(result, IdempotencyKeyInUse)]
    done = [result for result in results if isinstance(result, list)]
    assert len(refused) == 1 and len(done) == 1, results
    assert [outcome.replayed for outcome in done[0]] == [False, False]
    retried = asyncio.run(database.write(partial(claim, first)))
    assert retried.replayed and retried.body == orjson.dumps({"key": first})


@pytest.mark.postgres
def test_a_refused_duplicate_names_the_order_that_was_committed_not_a_rolled_back_one(
    two_processes: tuple[Database, Database],
) -> None:
    """A batch holds two submits of one reference and a job that fails. Its first
    attempt is rolled back; before the re-run, the other process commits the reference.
    Both submits must then name that order, not the first attempt's (never committed)."""
    database, second_process = two_processes
    principal = new_principal(database)
    reference = f"phantom-{uuid.uuid4().hex[:8]}"
    first_try, theirs_committed = threading.Event(), threading.Event()
    mine = submission(principal, body(reference))
    calls = 0

    def ours(conn: Connection) -> Any:
        nonlocal calls
        calls += 1
        if calls > 1:  # the re-run, after the failing neighbour was taken out
            assert theirs_committed.wait(30)
        result = mine(conn)
        first_try.set()
        return result

    def failing(conn: Connection) -> None:
        raise RuntimeError("a neighbour that fails after both submits ran")

    async def scenario() -> tuple[list[Any], Outcome]:
        batch = asyncio.ensure_future(
            in_one_batch(database, [ours, submission(principal, body(reference)), failing])
        )
        assert await asyncio.to_thread(first_try.wait, 30)
        theirs = await second_process.write(submission(principal, body(reference)))
        theirs_committed.set()
        return await batch, theirs

    results, theirs = asyncio.run(scenario())

    assert isinstance(theirs, Outcome) and not theirs.replayed
    committed = orjson.loads(theirs.body)["id"]
    assert isinstance(results[2], RuntimeError)
    for refused in results[:2]:
        assert isinstance(refused, Refused) and isinstance(refused.error, DuplicateOrderReference)
        assert refused.error.existing_id == committed
    assert stored_orders(database, principal, reference) == 1


# --- what is stored, and for how long ----------------------------------------------------


def test_a_failed_request_leaves_no_key_behind(database: Database, principal: Principal) -> None:
    key = str(uuid.uuid4())

    def broken(conn: Connection) -> Outcome:
        raise RuntimeError("the write failed after the key was claimed")

    job = partial(
        service.run,
        customer_id=principal.customer_id,
        request=keyed(key, b"{}"),
        operation=broken,
        now=utcnow(),
        retention=DAY,
    )
    with pytest.raises(RuntimeError):
        asyncio.run(database.write(job))

    assert key not in stored_keys(database, principal)


def test_a_duplicate_reference_gives_its_new_key_back(
    database: Database, principal: Principal
) -> None:
    reference = f"dup-{uuid.uuid4().hex[:8]}"
    raw = body(reference)
    first = asyncio.run(database.write(submit_with_key(principal, str(uuid.uuid4()), raw)))
    later = str(uuid.uuid4())

    refused = asyncio.run(database.write(submit_with_key(principal, later, raw)))

    assert isinstance(refused, Refused)
    assert isinstance(refused.error, DuplicateOrderReference)
    assert refused.error.existing_id == orjson.loads(first.body)["id"]
    assert later not in stored_keys(database, principal)


def test_an_expired_key_is_a_new_key(database: Database, principal: Principal) -> None:
    key, then = str(uuid.uuid4()), utcnow() - DAY - timedelta(minutes=1)
    first = body(f"old-{uuid.uuid4().hex[:8]}")
    asyncio.run(database.write(submit_with_key(principal, key, first, now=then)))
    another = body(f"new-{uuid.uuid4().hex[:8]}")

    outcome = asyncio.run(database.write(submit_with_key(principal, key, another)))

    assert not outcome.replayed
    assert stored_keys(database, principal)[key] == keyed(key, another).fingerprint


def test_a_key_just_inside_its_window_still_replays(
    database: Database, principal: Principal
) -> None:
    key, then = str(uuid.uuid4()), utcnow() - DAY + timedelta(minutes=1)
    raw = body(f"edge-{uuid.uuid4().hex[:8]}")
    first = asyncio.run(database.write(submit_with_key(principal, key, raw, now=then)))

    again = asyncio.run(database.write(submit_with_key(principal, key, raw)))

    assert again.replayed and again.body == first.body


def _store(database: Database, principal: Principal, key: str, created_at: datetime) -> None:
    with database.transaction() as conn:
        repository.put(
            conn,
            principal.customer_id,
            keyed(key, b"{}"),
            Outcome(200, b"{}"),
            now=created_at,
        )


def test_purging_deletes_expired_keys_in_chunks_and_keeps_live_ones(
    database: Database, principal: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = utcnow()
    expired = [f"expired-{n}-{uuid.uuid4().hex[:6]}" for n in range(5)]
    for key in expired:
        _store(database, principal, key, now - DAY - timedelta(hours=1))
    live = f"live-{uuid.uuid4().hex[:6]}"
    _store(database, principal, live, now - timedelta(hours=1))
    monkeypatch.setattr(purging, "CHUNK", 2)

    deleted = asyncio.run(purging.purge_expired(database, service.purge, retention=DAY))

    assert deleted >= len(expired)  # other tests' expired keys go too
    remaining = stored_keys(database, principal)
    assert live in remaining
    assert not set(expired) & set(remaining)


def test_every_server_process_purges_in_the_background(
    database: Database, principal: Principal
) -> None:
    key = f"background-{uuid.uuid4().hex[:6]}"
    _store(database, principal, key, utcnow() - DAY - timedelta(hours=1))
    settings = Settings(database_url=database.url, rate_limit="off", idempotency_purge_seconds=0.05)

    with TestClient(create_app(settings, database=database), base_url="https://testserver"):
        for _ in range(200):
            if key not in stored_keys(database, principal):
                break
            threading.Event().wait(0.05)

    assert key not in stored_keys(database, principal)


def test_the_purge_command_deletes_expired_keys(database: Database, principal: Principal) -> None:
    old, new = f"cli-old-{uuid.uuid4().hex[:6]}", f"cli-new-{uuid.uuid4().hex[:6]}"
    _store(database, principal, old, utcnow() - timedelta(hours=3))
    _store(database, principal, new, utcnow() - timedelta(minutes=30))
    env = {"PRESSLINE_DATABASE_URL": database.url, "PRESSLINE_IDEMPOTENCY_RETENTION_HOURS": "2"}
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["idempotency", "purge"], env=env)
        usage = CliRunner().invoke(cli_app, ["idempotency", "purge", "--help"], env=env)
        again = CliRunner().invoke(cli_app, ["idempotency", "purge", "--json"], env=env)
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 0, result.output
    assert "Deleted" in result.output
    assert json.loads(again.output)["deleted"] == 0  # nothing older is left
    remaining = stored_keys(database, principal)
    assert old not in remaining and new in remaining
    assert usage.exit_code == 0 and "RETENTION_HOURS" in usage.output
