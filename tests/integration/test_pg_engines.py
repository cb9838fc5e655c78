"""PostgreSQL: reads have their own pool, in autocommit for good; writes keep transactions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, text

from pressline.db import Database
from pressline.pgcursor import Cursor
from tests.support.pg_fixtures import postgres_url
from tests.support.pgcluster import PostgresCluster


@pytest.fixture
def pg(postgres_cluster: PostgresCluster) -> Iterator[Database]:
    db = Database(
        postgres_url(postgres_cluster, f"engines_{uuid.uuid4().hex[:8]}"), read_pool_size=2
    )
    yield db
    db.close()


def _raw(conn: Connection) -> psycopg.Connection[Any]:
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw


def test_reads_and_writes_have_separate_pools(pg: Database) -> None:
    assert pg.read_engine.pool is not pg.write_engine.pool
    assert pg.read_engine.pool.size() == 2  # type: ignore[attr-defined]
    for engine in (pg.read_engine, pg.write_engine):
        with engine.connect() as conn:
            assert isinstance(_raw(conn).cursor(), Cursor)
            assert conn.exec_driver_sql("SHOW TIME ZONE").scalar() == "UTC"


def test_a_read_connection_stays_in_autocommit_in_and_out_of_the_pool(pg: Database) -> None:
    """Set once when it connects: checking it out or in neither switches nor rolls back."""
    with pg.read_engine.connect() as conn:
        raw = _raw(conn)
        assert raw.autocommit
        conn.exec_driver_sql("SELECT 1")
    assert raw.autocommit  # back in the pool, as it was
    with pg.read_engine.connect() as conn:
        assert _raw(conn) is raw  # the same connection, reused as it is
        assert raw.autocommit


def test_a_write_connection_runs_in_a_transaction(pg: Database) -> None:
    with pg.transaction() as conn:
        raw = _raw(conn)
        assert not raw.autocommit
        conn.exec_driver_sql("SELECT 1")
        assert raw.info.transaction_status == TransactionStatus.INTRANS


def test_reads_leave_no_transaction_open_on_the_server(pg: Database) -> None:
    """An idle read connection in a transaction would hold locks (and block migrations)."""

    def backend(conn: Connection) -> int:
        assert _raw(conn).info.transaction_status == TransactionStatus.IDLE
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())

    async def reads() -> set[int]:
        return set(await asyncio.gather(*(pg.read(backend) for _ in range(6))))

    pids = asyncio.run(reads())
    with pg.write_engine.connect() as conn:
        states = conn.execute(
            text(
                "SELECT state FROM pg_stat_activity"
                " WHERE pid = ANY(:pids) AND pid <> pg_backend_pid()"
            ),
            {"pids": list(pids)},
        ).scalars()
        assert set(states) == {"idle"}
