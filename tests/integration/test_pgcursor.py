"""The PostgreSQL cursor's lazily built description says what psycopg's own would."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from sqlalchemy import Integer, String, literal, select

from pressline.db import Database
from pressline.pgcursor import Cursor
from tests.support.pg_fixtures import postgres_url
from tests.support.pgcluster import PostgresCluster


@pytest.fixture
def pg(postgres_cluster: PostgresCluster) -> Iterator[Database]:
    db = Database(postgres_url(postgres_cluster, f"pgcursor_{uuid.uuid4().hex[:8]}"))
    yield db
    db.close()


@contextmanager
def _raw(db: Database) -> Iterator[psycopg.Connection[Any]]:
    with db.read_engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        yield raw


SQL = "SELECT 1::int AS n, 'x'::text AS word, now() AS at, NULL::numeric(10, 2) AS price"


def test_the_engines_use_it(pg: Database) -> None:
    with _raw(pg) as raw:
        assert isinstance(raw.cursor(), Cursor)


def test_it_describes_what_psycopg_describes(pg: Database) -> None:
    with _raw(pg) as raw:
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
    with _raw(pg) as raw:
        cursor = raw.cursor()
        assert cursor.description is None  # nothing run yet
        cursor.execute("SET application_name TO 'pressline-test'")
        assert cursor.description is None
        cursor.execute("SELECT 1 WHERE false")
        assert cursor.description is not None and len(cursor.description) == 1


def test_an_old_description_refuses_to_describe_the_next_result(pg: Database) -> None:
    with _raw(pg) as raw:
        cursor = raw.cursor()
        cursor.execute("SELECT 1 AS first")
        old = cursor.description
        cursor.execute("SELECT 2 AS second, 3 AS third")
        assert old is not None and len(old) == 1
        with pytest.raises(psycopg.InterfaceError, match="earlier result"):
            old[0]
        new = cursor.description
        assert new is not None and [column.name for column in new] == ["second", "third"]


def test_a_cached_statement_never_builds_the_description(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLAlchemy matches the columns once; after that it only asks whether rows came."""
    built: list[int] = []
    theirs = psycopg.Cursor.description

    def counting(cursor: psycopg.Cursor[Any]) -> Any:
        built.append(1)
        return theirs.__get__(cursor)

    with pg.read_engine.connect():
        pass  # the first connection's set-up reads (textual SQL) are not counted
    monkeypatch.setattr(psycopg.Cursor, "description", property(counting))
    statement = select(literal(1, Integer).label("n"), literal("x", String).label("word"))
    for run in range(3):
        with pg.read_engine.connect() as conn:
            result = conn.execute(statement)
            assert [tuple(row) for row in result] == [(1, "x")]
            assert result.keys() == ["n", "word"]
        assert len(built) == 1, f"run {run}"  # the first run only
