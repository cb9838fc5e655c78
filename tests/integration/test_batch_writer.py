"""The batching writer: one failing job never costs the others, and acknowledged means committed.

Jobs are the real order use cases (``orders.service.submit_order``) on both backends.
To put several jobs in one batch, the writer is first held inside a job that waits on
a gate; everything queued meanwhile is committed together once the gate opens.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, func, select, text

from pressline.accounts import service as accounts
from pressline.accounts.keys import Principal
from pressline.accounts.repository import find_key
from pressline.catalog.service import starter_reference
from pressline.db import Bulk, Database, utcnow
from pressline.errors import DuplicateOrderReference
from pressline.idempotency import service as idempotency
from pressline.idempotency.keys import Outcome, Refused
from pressline.orders import examples, repository, service
from pressline.orders.schemas import OrderCreate
from pressline.orders.tables import order_items, orders
from tests.support.pg_fixtures import postgres_url

Job = Callable[[Connection], Any]


STARTER = starter_reference()


def new_principal(database: Database, name: str = "bw") -> Principal:
    """A fresh customer with a connector: the principal its key authenticates as."""
    suffix = uuid.uuid4().hex[:10]
    with database.transaction() as conn:
        accounts.create_customer(conn, reference_id=f"{name}-{suffix}", name=name, now=utcnow())
        created = accounts.create_connector(
            conn,
            customer_reference_id=f"{name}-{suffix}",
            prefix=f"{name}-{suffix}",
            name=name,
            now=utcnow(),
        )
        record = find_key(conn, created.key.key)
    assert record is not None
    return record.principal


@pytest.fixture
def principal(database: Database) -> Principal:
    return new_principal(database)


def prepared(principal: Principal, reference: str | None = None) -> service.PreparedOrder:
    body = {**examples.SUBMIT["guide_basic"], "orderReferenceId": reference or uuid.uuid4().hex}
    return service.prepare_order(
        principal, OrderCreate.model_validate(body), now=utcnow(), reference=STARTER
    )


def counted(calls: Counter[str], name: str, job: Job) -> Job:
    def run(conn: Connection) -> Any:
        calls[name] += 1
        return job(conn)

    return run


async def in_one_batch(database: Database, jobs: list[Job]) -> list[Any]:
    """Run ``jobs`` in a single batch; each one's result or exception, in order."""
    return await in_one_batch_of(database, [partial(database.write, job) for job in jobs])


async def in_one_batch_of(
    database: Database, calls: Sequence[Callable[[], Awaitable[Any]]]
) -> list[Any]:
    """Make ``calls`` (writes: ``write``, ``write_together``) queue into a single batch;
    each one's result or exception, in order."""
    entered, gate = threading.Event(), threading.Event()

    def hold(conn: Connection) -> None:
        entered.set()
        assert gate.wait(30)

    held = asyncio.ensure_future(database.write(hold))
    assert await asyncio.to_thread(entered.wait, 30)
    tasks = [asyncio.ensure_future(call()) for call in calls]
    for _ in range(10):  # let every task queue its job
        await asyncio.sleep(0)
    gate.set()
    await held
    return list(await asyncio.gather(*tasks, return_exceptions=True))


def stored_orders(database: Database, principal: Principal) -> Counter[str]:
    with database.read_engine.connect() as conn:
        rows = conn.execute(
            select(orders.c.order_reference_id).where(orders.c.customer_id == principal.customer_id)
        )
        return Counter(row.order_reference_id for row in rows)


def submit_job(order: service.PreparedOrder) -> Job:
    return partial(service.submit_order, prepared=order)


def test_a_domain_error_is_answered_alone_while_the_batch_commits(
    database: Database, principal: Principal
) -> None:
    existing = prepared(principal)
    first = asyncio.run(database.write(submit_job(existing)))
    before, clash, after = prepared(principal), prepared(principal), prepared(principal)
    clash.order["order_reference_id"] = existing.order["order_reference_id"]
    calls: Counter[str] = Counter()

    results = asyncio.run(
        in_one_batch(
            database,
            [
                counted(calls, "before", submit_job(before)),
                counted(calls, "clash", submit_job(clash)),
                counted(calls, "after", submit_job(after)),
            ],
        )
    )

    assert results[0]["id"] == str(before.order["id"])
    assert isinstance(results[1], DuplicateOrderReference)
    assert results[1].existing_id == first["id"]
    assert results[2]["id"] == str(after.order["id"])
    assert calls == {"before": 2, "clash": 1, "after": 1}  # rolled back once, re-run once
    assert stored_orders(database, principal) == {
        existing.order["order_reference_id"]: 1,
        before.order["order_reference_id"]: 1,
        after.order["order_reference_id"]: 1,
    }


def test_an_unexpected_error_after_a_partial_write_leaves_nothing_and_loses_no_one(
    database: Database, principal: Principal
) -> None:
    ok_before, broken, ok_after = prepared(principal), prepared(principal), prepared(principal)

    def half_written(conn: Connection) -> None:
        assert repository.insert_orders(conn, [broken.order]) == {broken.order["id"]}
        repository.insert_items(conn, broken.items)
        raise RuntimeError("disk on fire after the order row was written")

    results = asyncio.run(
        in_one_batch(database, [submit_job(ok_before), half_written, submit_job(ok_after)])
    )

    assert results[0]["id"] == str(ok_before.order["id"])
    assert isinstance(results[1], RuntimeError)
    assert results[2]["id"] == str(ok_after.order["id"])
    assert stored_orders(database, principal) == {
        ok_before.order["order_reference_id"]: 1,
        ok_after.order["order_reference_id"]: 1,
    }
    with database.read_engine.connect() as conn:
        items = conn.execute(
            select(func.count()).where(order_items.c.order_id == broken.order["id"])
        ).scalar_one()
    assert items == 0


def test_concurrent_submits_of_one_reference_make_exactly_one_order(
    database: Database, principal: Principal
) -> None:
    reference = f"race-{uuid.uuid4().hex[:8]}"
    contenders = [prepared(principal, reference) for _ in range(12)]

    async def race() -> list[Any]:
        writes: list[Awaitable[Any]] = [database.write(submit_job(p)) for p in contenders]
        return list(await asyncio.gather(*writes, return_exceptions=True))

    results = asyncio.run(race())

    winners = [result for result in results if isinstance(result, dict)]
    losers = [result for result in results if isinstance(result, DuplicateOrderReference)]
    assert len(winners) == 1 and len(losers) == len(contenders) - 1
    assert {loser.existing_id for loser in losers} == {winners[0]["id"]}
    assert stored_orders(database, principal) == {reference: 1}


def test_each_caller_gets_its_own_result(database: Database) -> None:
    async def many() -> list[Any]:
        return list(
            await asyncio.gather(
                *(
                    database.write(
                        partial(lambda conn, n: conn.execute(text(f"SELECT {n}")).scalar(), n=n)
                    )
                    for n in range(40)
                )
            )
        )

    assert asyncio.run(many()) == list(range(40))


def test_a_write_is_visible_to_a_fresh_connection_once_acknowledged(
    database: Database, principal: Principal
) -> None:
    order = prepared(principal)
    created = asyncio.run(database.write(submit_job(order)))
    fresh = create_engine(database.url)
    try:
        with fresh.connect() as conn:
            found = conn.execute(
                select(orders.c.id, orders.c.items_count).where(
                    orders.c.order_reference_id == order.order["order_reference_id"]
                )
            ).one()
    finally:
        fresh.dispose()
    assert str(found.id) == created["id"]
    assert found.items_count == 1


def test_closing_the_database_commits_every_queued_write(
    database: Database, principal: Principal
) -> None:
    own = Database(database.url)
    batch = [prepared(principal) for _ in range(20)]

    async def write_then_close() -> list[Any]:
        tasks = [asyncio.ensure_future(own.write(submit_job(p))) for p in batch]
        for _ in range(10):
            await asyncio.sleep(0)
        await asyncio.to_thread(own.close)
        return list(await asyncio.gather(*tasks))

    results = asyncio.run(write_then_close())

    assert [r["id"] for r in results] == [str(p.order["id"]) for p in batch]
    assert stored_orders(database, principal) == {p.order["order_reference_id"]: 1 for p in batch}


def test_commits_are_durable(database: Database) -> None:
    with database.write_engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        else:
            assert conn.dialect.name == "postgresql"
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    with database.read_engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_writes_commit_synchronously_even_where_the_server_default_is_off(
    database: Database, request: pytest.FixtureRequest
) -> None:
    """A server (or database) tuned with synchronous_commit=off must not weaken a 2xx."""
    if database.write_engine.dialect.name == "sqlite":
        url = database.url.replace(".db", f"-{uuid.uuid4().hex[:6]}.db")
    else:
        cluster = request.getfixturevalue("postgres_cluster")
        url = postgres_url(cluster, f"sync_off_{uuid.uuid4().hex[:8]}")
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                name = conn.exec_driver_sql("SELECT current_database()").scalar()
                conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
                assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
        finally:
            admin.dispose()
    own = Database(url)
    try:
        for engine in (own.write_engine, own.read_engine):
            with engine.connect() as conn:
                if conn.dialect.name == "sqlite":
                    assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
                else:
                    assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    finally:
        own.close()


def test_a_caller_whose_event_loop_closed_does_not_stop_the_writer(database: Database) -> None:
    """A job finishing after its caller's loop closed (a process shutting down) is
    committed, its answer dropped, and the writer goes on serving others."""
    started, release = threading.Event(), threading.Event()

    def slow(conn: Connection) -> int:
        started.set()
        assert release.wait(10)
        return int(conn.execute(text("SELECT 1")).scalar_one())

    abandoned: list[asyncio.Future[int]] = []

    async def abandon() -> None:
        abandoned.append(asyncio.ensure_future(database.write(slow)))
        await asyncio.to_thread(started.wait, 10)

    asyncio.run(abandon())  # the loop closes while the job still runs
    release.set()
    after = database.write(lambda conn: conn.execute(text("SELECT 2")).scalar())
    assert asyncio.run(asyncio.wait_for(after, 10)) == 2  # a dead writer would never answer


# --- jobs that run together (plain submits) ---------------------------------------------


def counting_bulk(sizes: list[int], poison: frozenset[str] = frozenset()) -> Bulk:
    """``service.submit_orders`` that notes each call's size and raises on a poisoned one."""

    def bulk(conn: Connection, items: list[service.PreparedOrder]) -> list[Any]:
        sizes.append(len(items))
        answers = service.submit_orders(conn, items)
        if any(item.order["order_reference_id"] in poison for item in items):
            raise RuntimeError("poisoned")
        return answers

    return bulk


def test_plain_submits_in_one_batch_are_stored_by_one_call(
    database: Database, principal: Principal
) -> None:
    orders_ = [prepared(principal) for _ in range(5)]
    sizes: list[int] = []
    bulk = counting_bulk(sizes)
    calls = [partial(database.write_together, bulk, order) for order in orders_]
    results = asyncio.run(in_one_batch_of(database, calls))
    assert sizes == [5]
    assert [result["id"] for result in results] == [str(order.order["id"]) for order in orders_]
    assert stored_orders(database, principal) == {
        order.order["order_reference_id"]: 1 for order in orders_
    }
    with database.read_engine.connect() as conn:
        items = conn.execute(
            select(func.count()).where(order_items.c.order_id.in_([o.order["id"] for o in orders_]))
        ).scalar_one()
    assert items == 5


def test_a_reference_taken_within_the_batch_is_refused_naming_the_first(
    database: Database, principal: Principal
) -> None:
    first, clash, other = (prepared(principal, "twice"), prepared(principal, "twice"),
                           prepared(principal))  # fmt: skip
    sizes: list[int] = []
    bulk = counting_bulk(sizes)
    calls = [partial(database.write_together, bulk, order) for order in (first, clash, other)]
    results = asyncio.run(in_one_batch_of(database, calls))
    assert sizes == [3]
    assert results[0]["id"] == str(first.order["id"])
    assert isinstance(results[1], DuplicateOrderReference)
    assert results[1].existing_id == str(first.order["id"])
    assert results[2]["id"] == str(other.order["id"])
    assert stored_orders(database, principal) == {"twice": 1, other.order["order_reference_id"]: 1}


def test_when_jobs_run_together_fail_each_runs_alone_and_only_the_culprit_fails(
    database: Database, principal: Principal
) -> None:
    good, poisoned, also_good = prepared(principal), prepared(principal), prepared(principal)
    sizes: list[int] = []
    bulk = counting_bulk(sizes, poison=frozenset([poisoned.order["order_reference_id"]]))
    calls = [partial(database.write_together, bulk, order) for order in (good, poisoned, also_good)]
    results = asyncio.run(in_one_batch_of(database, calls))
    # Together; each alone, up to the culprit; then the others again, without it.
    assert sizes == [3, 1, 1, 1, 1]
    assert results[0]["id"] == str(good.order["id"])
    assert isinstance(results[1], RuntimeError)
    assert results[2]["id"] == str(also_good.order["id"])
    assert stored_orders(database, principal) == {
        good.order["order_reference_id"]: 1, also_good.order["order_reference_id"]: 1
    }  # fmt: skip


def test_a_job_of_another_kind_between_them_splits_the_run(
    database: Database, principal: Principal
) -> None:
    a, b, c = prepared(principal), prepared(principal), prepared(principal)
    sizes: list[int] = []
    bulk = counting_bulk(sizes)
    calls = [
        partial(database.write_together, bulk, a),
        partial(database.write, submit_job(b)),
        partial(database.write_together, bulk, c),
    ]
    results = asyncio.run(in_one_batch_of(database, calls))
    assert sizes == [1, 1]
    assert [result["id"] for result in results] == [str(o.order["id"]) for o in (a, b, c)]


def test_plain_submits_answer_through_the_idempotency_layer(
    database: Database, principal: Principal
) -> None:
    """What Submit Order queues for a plain submit: 200 with the created order, and the
    refusal (a 409 once sent) for a reference an earlier submit of the run took."""
    first, clash = prepared(principal, "taken-in-run"), prepared(principal, "taken-in-run")
    calls = [partial(database.write_together, idempotency.submit_orders, o) for o in (first, clash)]
    created, refused = asyncio.run(in_one_batch_of(database, calls))
    assert isinstance(created, Outcome)
    assert created.status == 200
    assert json.loads(created.body)["id"] == str(first.order["id"])
    assert isinstance(refused, Refused)
    assert isinstance(refused.error, DuplicateOrderReference)
    assert refused.error.existing_id == str(first.order["id"])
