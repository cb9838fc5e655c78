"""The throwaway PostgreSQL server used by the database tests works as promised."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.support.pgcluster import PostgresCluster

# Provides the `postgres_cluster` fixture.  Harmless if tests/conftest.py registers it
# too (a plugin is loaded once).  Don't import tests.support.pg_fixtures at module level
# here: pytest must import it first (as a plugin) to assertion-rewrite it, or it warns,
# and filterwarnings=error turns that into a collection error.

pytestmark = pytest.mark.postgres


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = sa.create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()  # close pooled connections (filterwarnings=error: no ResourceWarning)


def test_cluster_serves_queries_and_stop_shuts_it_down(tmp_path: Path) -> None:
    from tests.support.pg_fixtures import start_cluster  # see pytest_plugins above

    # A private cluster, since this test stops it.
    pg = start_cluster(tmp_path)
    try:
        assert pg.pid is not None
        assert pg.url.startswith("postgresql+psycopg://")
        assert "@127.0.0.1:" in pg.url
        with engine_for(pg.url) as engine, engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
            assert conn.execute(sa.text("SHOW synchronous_commit")).scalar_one() == "on"
            assert conn.execute(sa.text("SHOW fsync")).scalar_one() == "on"
            assert conn.execute(sa.text("SHOW listen_addresses")).scalar_one() == "127.0.0.1"
            assert conn.execute(sa.text("SHOW max_connections")).scalar_one() == "200"
        url = pg.url
    finally:
        pg.stop()

    assert pg.pid is None
    with engine_for(url) as engine, pytest.raises(sa.exc.OperationalError):
        engine.connect().close()
    pg.stop()  # idempotent


def test_create_database_gives_isolated_databases(postgres_cluster: PostgresCluster) -> None:
    from tests.support.pg_fixtures import postgres_url  # see pytest_plugins above

    url_a = postgres_cluster.create_database("pgcluster_isolation_a")
    url_b = postgres_url(postgres_cluster, "tests.integration.Pgcluster-Isolation.b")
    assert url_b.endswith("/tests_integration_pgcluster_isolation_b")

    with engine_for(url_a) as engine_a, engine_a.begin() as conn:
        conn.execute(sa.text("CREATE TABLE only_in_a (id int PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO only_in_a VALUES (1)"))

    with engine_for(url_a) as engine_a:
        assert sa.inspect(engine_a).has_table("only_in_a")
    with engine_for(url_b) as engine_b:
        assert not sa.inspect(engine_b).has_table("only_in_a")
        with engine_b.connect() as conn:
            assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == (
                "tests_integration_pgcluster_isolation_b"
            )
