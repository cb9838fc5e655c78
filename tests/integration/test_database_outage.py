"""PostgreSQL going away and coming back while the API serves: each request meanwhile is a
503 a client may retry (``Retry-After``), in the error body, with one log line and no
traceback; the first request after it is back succeeds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from pressline.app import create_app
from pressline.config import Settings
from pressline.db import Database, unavailable
from pressline.migrate import upgrade
from tests.conftest import Caller, new_caller, order_body
from tests.support.pg_fixtures import postgres_url
from tests.support.pgcluster import PostgresCluster
from tests.support.relay import Relay

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def relay(postgres_cluster: PostgresCluster) -> Iterator[Relay]:
    assert postgres_cluster.port is not None
    with Relay(postgres_cluster.port) as opened:
        yield opened


@pytest.fixture(scope="module")
def database(postgres_cluster: PostgresCluster, relay: Relay) -> Iterator[Database]:
    direct = make_url(postgres_url(postgres_cluster, __name__))
    db = Database(direct.set(port=relay.port).render_as_string(hide_password=False))
    upgrade(db.write_engine)
    yield db
    db.close()


@pytest.fixture(scope="module")
def caller(database: Database) -> Iterator[Caller]:
    app = create_app(Settings(database_url=database.url, rate_limit="off"), database=database)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        yield new_caller(client, database)


def test_requests_while_the_database_is_away_are_503_and_it_recovers(
    caller: Caller, relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    stored = caller.submit(order_body())
    assert stored.status_code == 200, stored.text
    order_id = stored.json()["id"]

    relay.cut()
    try:
        with caplog.at_level(logging.WARNING):
            answers = [
                caller.submit(order_body()),
                caller.get(order_id),
                caller.search({}),
                caller.cancel(order_id),
            ]
    finally:
        relay.restore()
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
        body = answer.json()
        assert (body["type"], body["errors"][0]["code"]) == ("api", "service_unavailable")
        assert body["requestId"] == answer.headers["request-id"]
    said = [r for r in caplog.records if r.name == "pressline.web"]
    assert [r.getMessage().startswith("database unavailable: ") for r in said] == [True] * 4
    assert not any(record.exc_info for record in caplog.records)

    assert caller.get(order_id).status_code == 200
    again = caller.submit(order_body())
    assert again.status_code == 200, again.text
    assert caller.get(again.json()["id"]).json()["fulfillmentStatus"] == "created"


def test_a_write_while_the_database_is_away_fails_with_one_line_in_the_log(
    database: Database, relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    def write(conn: Connection) -> int:
        return int(conn.execute(text("SELECT 1")).scalar_one())

    assert asyncio.run(database.write(write)) == 1
    relay.cut()
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(OperationalError) as raised:
            asyncio.run(database.write(write))
    finally:
        relay.restore()
    assert unavailable(raised.value)
    [said] = [r.getMessage() for r in caplog.records]
    assert said.startswith("write batch of 1 failed to commit (database unavailable: ")
    assert not any(record.exc_info for record in caplog.records)
    assert asyncio.run(database.write(write)) == 1
