"""The database handle survives dropped connections, shuts down cleanly, and plans well."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text

from pressline.config import Settings
from pressline.db import Database
from pressline.migrate import upgrade
from pressline.orders.repository import search_orders
from pressline.worker import DeliveryWorker
from tests.support.pg_fixtures import postgres_url
from tests.support.pgcluster import PostgresCluster


@pytest.fixture
def pg_database(postgres_cluster: PostgresCluster) -> Iterator[Database]:
    db = Database(postgres_url(postgres_cluster, f"resilience_{uuid.uuid4().hex[:8]}"))
    upgrade(db.write_engine)
    yield db
    db.close()


def _drop_every_other_session(url: str) -> int:
    """Terminate this database's other sessions, as a server restart or failover would."""
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        dropped = conn.execute(
            text(f"SELECT count(pg_terminate_backend(pid)) {others}")
        ).scalar_one()
        # pg_terminate_backend only signals: wait (bounded) until those sessions are gone.
        for _ in range(100):
            if conn.execute(text(f"SELECT count(*) {others}")).scalar_one() == 0:
                break
            time.sleep(0.05)
    engine.dispose()
    return int(dropped)


def _backend_pid(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _insert_customer(conn: Connection) -> str:
    reference = f"c-{uuid.uuid4().hex[:8]}"
    conn.execute(
        text(
            "INSERT INTO customers (id, reference_id, name, created_at) VALUES (:i, :r, :r, now())"
        ),
        {"i": uuid.uuid4(), "r": reference},
    )
    return reference


@pytest.mark.postgres
def test_a_read_after_the_server_dropped_its_connection_succeeds(pg_database: Database) -> None:
    async def scenario() -> tuple[int, int]:
        before = await pg_database.read(_backend_pid)
        assert _drop_every_other_session(pg_database.url) >= 1
        return before, await pg_database.read(_backend_pid)

    before, after = asyncio.run(scenario())
    assert before != after  # a fresh connection answered


@pytest.mark.postgres
def test_the_workers_polls_after_the_server_dropped_their_connections_succeed(
    pg_database: Database,
) -> None:
    worker = DeliveryWorker(pg_database, Settings(database_url=pg_database.url))
    assert (worker.run_timers(), worker.step()) == (0, 0)  # the read pool holds connections
    assert _drop_every_other_session(pg_database.url) >= 1
    assert (worker.run_timers(), worker.step()) == (0, 0)  # not an error: read again


@pytest.mark.postgres
def test_a_write_after_the_server_dropped_its_connection_is_committed(
    pg_database: Database,
) -> None:
    async def scenario() -> str:
        await pg_database.write(_backend_pid)  # the writer now holds a pooled connection
        assert _drop_every_other_session(pg_database.url) >= 1
        return await pg_database.write(_insert_customer)

    reference = asyncio.run(scenario())
    engine = create_engine(pg_database.url)
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM customers WHERE reference_id = :r"), {"r": reference}
        ).scalar_one()
    engine.dispose()
    assert stored == 1


@pytest.mark.postgres
def test_closing_the_database_leaves_no_reader_threads(postgres_cluster: PostgresCluster) -> None:
    before = set(threading.enumerate())
    db = Database(postgres_url(postgres_cluster, f"threads_{uuid.uuid4().hex[:8]}"))

    async def many_reads() -> None:
        await asyncio.gather(*(db.read(_backend_pid) for _ in range(20)))

    asyncio.run(many_reads())
    started = [t.name for t in set(threading.enumerate()) - before]
    assert any(name.startswith("pressline-read") for name in started)
    db.close()
    assert [t.name for t in set(threading.enumerate()) - before if t.is_alive()] == []


@pytest.mark.parametrize(
    ("filters", "ranges", "index"),
    [
        ({"countries": ["ZW"]}, 1, "ix_orders_customer_country"),
        ({"fulfillment_statuses": ["failed", "on_hold"]}, 2, "ix_orders_customer_fulfillment"),
        (
            {"financial_statuses": ["refunded"], "countries": ["US"]},
            1,
            "ix_orders_customer_financial",
        ),
        ({"references": ["a", "b"], "fulfillment_statuses": ["created"]}, 2, "orders_2"),
    ],
)
def test_a_list_filter_is_searched_one_index_range_per_value(
    tmp_path: Path, filters: dict[str, list[str]], ranges: int, index: str
) -> None:
    """Without statistics SQLite would walk every order of the customer newest first."""
    db = Database(f"sqlite:///{tmp_path / 'plans.db'}")
    upgrade(db.write_engine)
    executed: list[str] = []
    arguments: dict[str, Any] = {
        "fulfillment_statuses": [], "financial_statuses": [], "references": [], "countries": [],
        "start": None, "end": None, "limit": 50, "offset": 0, **filters,
    }  # fmt: skip
    with db.read_engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.set_trace_callback(executed.append)  # the statement with its values filled in
        search_orders(conn, uuid.uuid4(), **arguments)
        raw.set_trace_callback(None)
        plan = [str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {executed[-1]}")]
    db.close()
    scans = [step for step in plan if step.startswith(("SEARCH orders", "SCAN orders"))]
    assert len(scans) == ranges, plan
    assert all(index in step for step in scans), plan


@pytest.mark.postgres
def test_a_batch_chosen_as_deadlock_victim_runs_again_and_commits(pg_database: Database) -> None:
    """Two transactions lock two rows in opposite orders: PostgreSQL aborts one with
    40P01. When that is the writer's batch, it runs again instead of failing a request."""
    first = asyncio.run(pg_database.write(_insert_customer))
    second = asyncio.run(pg_database.write(_insert_customer))
    rename = text("UPDATE customers SET name = :n WHERE reference_id = :r")
    writer_holds_first = threading.Event()
    runs: list[int] = []

    def job(conn: Connection) -> int:
        runs.append(_backend_pid(conn))
        conn.execute(rename, {"n": "writer", "r": first})
        writer_holds_first.set()
        conn.execute(rename, {"n": "writer", "r": second})  # waits for the other session
        return len(runs)

    other = create_engine(pg_database.url)
    other_failed: list[BaseException] = []

    def other_session() -> None:
        try:
            with other.begin() as conn:
                conn.execute(rename, {"n": "other", "r": second})
                holding_second.set()
                assert writer_holds_first.wait(10)
                time.sleep(0.3)  # the writer waits first, so its deadlock check fires first
                conn.execute(rename, {"n": "other", "r": first})
        except BaseException as exc:  # reported by the assertion below
            other_failed.append(exc)

    holding_second = threading.Event()
    thread = threading.Thread(target=other_session)
    thread.start()
    assert holding_second.wait(10)
    result = asyncio.run(pg_database.write(job))
    thread.join(20)

    assert other_failed == []  # the other session won: it was never the victim
    assert result == len(runs) >= 2  # the writer's batch ran again after 40P01
    with other.connect() as conn:
        names = set(
            conn.execute(
                text("SELECT name FROM customers WHERE reference_id IN (:a, :b)"),
                {"a": first, "b": second},
            ).scalars()
        )
    other.dispose()
    assert names == {"writer"}  # the retried batch committed after the other


def test_a_failed_statement_does_not_carry_its_values_into_logs(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'hidden.db'}")
    upgrade(db.write_engine)

    def insert_twice(conn: Connection) -> None:
        statement = text(
            "INSERT INTO customers (id, reference_id, name, created_at) "
            "VALUES (:i, :r, :n, CURRENT_TIMESTAMP)"
        )
        conn.execute(statement, {"i": uuid.uuid4().hex, "r": "dup", "n": "whsec_TOPSECRET"})
        conn.execute(statement, {"i": uuid.uuid4().hex, "r": "dup", "n": "whsec_TOPSECRET"})

    try:
        with pytest.raises(Exception) as caught:
            asyncio.run(db.write(insert_twice))
    finally:
        db.close()
    assert "UNIQUE" in str(caught.value)
    assert "TOPSECRET" not in str(caught.value)


@pytest.mark.postgres
def test_postgresql_sessions_read_times_in_pythons_own_utc(pg_database: Database) -> None:
    """A session in UTC hands times over as they are; any other zone (even ``Etc/UTC``)
    made every time read convert twice."""
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    for engine in (pg_database.read_engine, pg_database.write_engine):
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW TIME ZONE").scalar() == "UTC"
            read = conn.execute(text("SELECT CAST(:moment AS timestamptz)"), {"moment": moment})
            value = read.scalar_one()
        assert value == moment
        assert value.tzinfo is UTC
