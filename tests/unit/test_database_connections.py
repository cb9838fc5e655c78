"""A PostgreSQL server that does not answer costs a request CONNECT_TIMEOUT_SECONDS, not
for ever (libpq's default)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from pressline.db import CONNECT_TIMEOUT_SECONDS, create_engines


@pytest.mark.parametrize(
    ("query", "timeout"), [("", CONNECT_TIMEOUT_SECONDS), ("?connect_timeout=3", "3")]
)
def test_new_connections_give_up_after_the_timeout(
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
