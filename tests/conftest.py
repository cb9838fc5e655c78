"""Shared fixtures: a migrated database per backend, and API callers with their own keys.

``backend`` runs a test once on SQLite and once on PostgreSQL (a throwaway cluster
the suite starts itself). Every caller is a fresh customer with its own connector,
so tests share a database per backend yet never see each other's orders.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from pressline.accounts import service as accounts
from pressline.app import create_app
from pressline.catalog import service as catalog
from pressline.config import Settings
from pressline.db import Database, utcnow
from pressline.migrate import upgrade
from pressline.orders import examples
from tests.support.pgcluster import PostgresCluster
from tests.support.redisserver import RedisServer, start_redis

pytest_plugins = ["tests.support.pg_fixtures"]

BACKENDS = ["sqlite", "postgres"]

#: A valid address other than the seed examples' (for changes and country filters).
GB_ADDRESS = {
    "country": "GB",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "addressLine1": "12 St James's Square",
    "city": "London",
    "postCode": "SW1Y 4JH",
    "email": "ada@example.org",
    "phone": "+44 20 7946 0958",
}


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'pressline.db'}"
    from tests.support.pg_fixtures import postgres_url

    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return postgres_url(cluster, "pressline_tests")


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    upgrade(db.write_engine)
    yield db
    db.close()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # The shared app serves thousands of requests a second with a handful of keys (the
    # fuzz run uses one); the rate-limit tests build apps of their own with limits on.
    return Settings(database_url=database_url, rate_limit="off")


@pytest.fixture(scope="session")
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    app = create_app(settings, database=database)
    with TestClient(
        app, base_url="https://testserver", raise_server_exceptions=False
    ) as test_client:
        yield test_client


@dataclass
class Caller:
    """A customer with a connector and a key, talking to the API."""

    client: TestClient
    customer_reference_id: str
    prefix: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.api_key}

    @property
    def base(self) -> str:
        return f"/api/{self.prefix}"

    def submit(self, body: dict[str, Any], **kwargs: Any) -> Any:
        return self.client.post(f"{self.base}/order", json=body, headers=self.headers, **kwargs)

    def get(self, order_key: str) -> Any:
        return self.client.get(f"{self.base}/{order_key}", headers=self.headers)

    def cancel(self, order_key: str) -> Any:
        return self.client.post(f"{self.base}/{order_key}/cancel", headers=self.headers)

    def update(self, order_key: str, body: dict[str, Any]) -> Any:
        return self.client.put(f"{self.base}/{order_key}", json=body, headers=self.headers)

    def search(self, body: dict[str, Any]) -> Any:
        return self.client.post(f"{self.base}/search", json=body, headers=self.headers)


def new_caller(client: TestClient, database: Database) -> Caller:
    suffix = uuid.uuid4().hex[:10]
    reference, prefix = f"cust-{suffix}", f"conn-{suffix}"
    with database.transaction() as conn:
        accounts.create_customer(conn, reference_id=reference, name=reference, now=utcnow())
        created = accounts.create_connector(
            conn, customer_reference_id=reference, prefix=prefix, name=prefix, now=utcnow()
        )
    return Caller(client, reference, prefix, created.key.header_value)


@pytest.fixture
def caller(client: TestClient, database: Database) -> Caller:
    return new_caller(client, database)


@pytest.fixture
def other_caller(client: TestClient, database: Database) -> Caller:
    return new_caller(client, database)


@pytest.fixture
def shop_caller(client: TestClient, database: Database) -> Caller:
    """A customer with the example customer products (the seed guide's Business Card)."""
    shop = new_caller(client, database)
    text = catalog.example_customer_products()
    with database.transaction() as conn:
        catalog.import_customer_products(
            conn,
            customer_reference_id=shop.customer_reference_id,
            text=text,
            source="example",
            now=utcnow(),
        )
    client.app.state.reference.refresh()  # type: ignore[attr-defined]
    return shop


def order_body(reference: str | None = None, **changes: Any) -> dict[str, Any]:
    """Seed 001's basic US order with a fresh reference; ``changes`` replace top-level fields."""
    body = copy.deepcopy(examples.SUBMIT["guide_basic"])
    body["orderReferenceId"] = reference or f"ord-{uuid.uuid4().hex[:12]}"
    body.update(changes)
    return body


@pytest.fixture
def tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One throwaway Redis for the session (skipped without redis-server, failed on CI)."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


# --- postbacks (issue 5 §4): a fresh database per test, so a worker sees only its own work.


@pytest.fixture(params=BACKENDS)
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A new, migrated database for this test alone (the delivery worker claims every
    due delivery of its database: the shared one holds other tests' deliveries)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        from tests.support.pg_fixtures import postgres_url

        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        url = postgres_url(cluster, f"fresh_{uuid.uuid4().hex[:12]}")
    db = Database(url)
    upgrade(db.write_engine)
    yield db
    db.close()


@pytest.fixture
def postback_settings(fresh_database: Database) -> Settings:
    """Settings that let webhooks reach receivers on 127.0.0.1 over plain HTTP."""
    return Settings(
        database_url=fresh_database.url,
        rate_limit="off",
        postback_allow_http=True,
        postback_allowed_networks=["127.0.0.0/8"],
        postback_timeout_seconds=5,
        embedded_worker=False,
    )


@pytest.fixture
def fresh_client(postback_settings: Settings, fresh_database: Database) -> Iterator[TestClient]:
    app = create_app(postback_settings, database=fresh_database)
    with TestClient(
        app, base_url="https://testserver", raise_server_exceptions=False
    ) as test_client:
        yield test_client


def without_requests(order: dict[str, Any]) -> dict[str, Any]:
    """Get Order's answer without ``requests``, the log of calls that touched the order:
    it grows with every call (the Get itself included), so "the order is unchanged"
    compares everything else."""
    return {key: value for key, value in order.items() if key != "requests"}
