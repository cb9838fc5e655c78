"""A PostgreSQL server that does not answer costs a request CONNECT_TIMEOUT_SECONDS (libpq is
asked for it; it waits for ever by default); which database errors are passing (503)."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from pressline.db import CONNECT_TIMEOUT_SECONDS, create_engines, unavailable


@pytest.mark.parametrize(
    ("query", "timeout"), [("", CONNECT_TIMEOUT_SECONDS), ("?connect_timeout=3", "3")]
)
def test_new_connections_are_opened_with_a_timeout(
    monkeypatch: pytest.MonkeyPatch, query: str, timeout: object
) -> None:
    asked: list[dict[str, Any]] = []

    def connect(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs)
        raise psycopg.OperationalError("not reached")

    monkeypatch.setattr(psycopg, "connect", connect)
    engines = create_engines(f"postgresql+psycopg://pressline@127.0.0.1:1/pressline{query}")
    for engine in engines:
        with pytest.raises(OperationalError):
            engine.connect()
        engine.dispose()
    assert [kwargs["connect_timeout"] for kwargs in asked] == [timeout, timeout]


def _psycopg_error(state: str | None) -> OperationalError:
    class Raised(psycopg.OperationalError):
        sqlstate = state

    return OperationalError("SELECT 1", {}, Raised("the server's words"))


@pytest.mark.parametrize(
    ("error", "passing"),
    [
        (_psycopg_error(None), True),  # no server answered: refused, unreachable
        (_psycopg_error("08006"), True),  # connection failure
        (_psycopg_error("53300"), True),  # too many connections
        (_psycopg_error("57P01"), True),  # administrator shutdown
        (_psycopg_error("57014"), True),  # statement cancelled (a timeout)
        (_psycopg_error("40P01"), True),  # deadlock, after the writer's own retries
        (_psycopg_error("54000"), False),  # a value too large for an index: every time
        (_psycopg_error("42P01"), False),
        (OperationalError("x", {}, sqlite3.OperationalError("database is locked")), True),
        (OperationalError("x", {}, sqlite3.OperationalError("no such table: orders")), False),
        (SQLAlchemyTimeoutError("QueuePool limit reached"), True),
        (ValueError("not the database's"), False),
    ],
)
def test_only_a_database_that_cannot_serve_now_is_unavailable(
    error: Exception, passing: bool
) -> None:
    """A 503 with Retry-After for what passes; a statement that always fails is a 500
    with its traceback, not something clients retry for ever."""
    assert unavailable(error) is passing
