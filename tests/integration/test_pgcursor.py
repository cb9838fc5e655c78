"""The PostgreSQL cursor's lazily built description says what psycopg's own would."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text

from pressline.db import Database
from pressline.pgcursor import Cursor
from tests.support.pg_fixtures import postgres_url
from tests.support.pgcluster import PostgresCluster


@pytest.fixture
def pg(postgres_cluster: PostgresCluster) -> Iterator[Database]:
    db = Database(postgres_url(postgres_cluster, f"pgcursor_{uuid.uuid4().hex[:8]}"))
    yield db
    db.close()


def _raw(db: Database) -> Iterator[psycopg.Connection]:
    with db.read_engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        yield raw


SQL = "SELECT 1::int AS n, 'x'::text AS word, now() AS at, NULL::numeric(10, 2) AS price"


def test_the_engines_use_it(pg: Database) -> None:
    for raw in _raw(pg):
        assert isinstance(raw.cursor(), Cursor)


def test_it_describes_what_psycopg_describes(pg: Database) -> None:
    for raw in _raw(pg):
        ours, theirs = raw.cursor(), psycopg.Cursor(raw)
        ours.execute(SQL)
        theirs.execute(SQL)
        described, expected = ours.description, theirs.description
        assert described is not None and expected is not None
        assert len(described) == 4
        assert [tuple(column) for column in described] == [tuple(c) for c in expected]
        assert [column.name for column in described] == ["n", "word", "at", "price"]
        assert described[-1].precision == 10
        assert [column.name for column in described[1:3]] == ["word", "at"]
        assert described == list(described) and described != list(expected)[:1]


def test_no_rows_means_no_description(pg: Database) -> None:
    for raw in _raw(pg):
        cursor = raw.cursor()
        assert cursor.description is None  # nothing run yet
        cursor.execute("SET application_name TO 'pressline-test'")
        assert cursor.description is None
        cursor.execute("SELECT 1 WHERE false")
        assert cursor.description is not None and len(cursor.description) == 1


def test_an_old_description_refuses_to_describe_the_next_result(pg: Database) -> None:
    for raw in _raw(pg):
        cursor = raw.cursor()
        cursor.execute("SELECT 1 AS first")
        old = cursor.description
        cursor.execute("SELECT 2 AS second, 3 AS third")
        assert old is not None and len(old) == 1
        with pytest.raises(psycopg.InterfaceError, match="earlier result"):
            old[0]
        new = cursor.description
        assert new is not None and [column.name for column in new] == ["second", "third"]


def test_sqlalchemy_results_are_keyed_by_column(pg: Database) -> None:
    """A statement run twice: first SQLAlchemy reads the description, then only its length."""
    for _ in range(2):
        with pg.read_engine.connect() as conn:
            row = conn.execute(text(SQL)).one()
            assert (row.n, row.word, row.price) == (1, "x", None)
            assert row._mapping["at"] is not None
