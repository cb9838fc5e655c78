"""Pytest fixtures for the throwaway PostgreSQL server (see ``pgcluster.py``).

Register from ``tests/conftest.py`` with::

    pytest_plugins = ["tests.support.pg_fixtures"]

When PostgreSQL cannot be started, tests that need it are *skipped* on a
developer machine but *fail* when ``PRESSLINE_REQUIRE_POSTGRES=1`` or ``CI`` is
set, so CI can never go green by skipping the database tests.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pgcluster import PostgresCluster, PostgresUnavailable

__all__ = ["postgres_cluster", "postgres_required", "postgres_url", "start_cluster"]

REQUIRE_ENV = "PRESSLINE_REQUIRE_POSTGRES"


def postgres_required() -> bool:
    """True when a missing/broken PostgreSQL must fail the run instead of skipping."""
    return os.environ.get(REQUIRE_ENV) == "1" or bool(os.environ.get("CI"))


def start_cluster(base_dir: Path) -> PostgresCluster:
    """Start a cluster under ``base_dir``, or fail/skip the current test with the reason.

    The caller must call ``stop()`` on the returned cluster.
    """
    cluster = PostgresCluster(base_dir)
    try:
        cluster.start()
    except PostgresUnavailable as exc:
        reason = f"PostgreSQL unavailable: {exc}"
        if postgres_required():
            pytest.fail(
                f"{reason}\n({REQUIRE_ENV}=1 or CI is set, so this is an error)", pytrace=False
            )
        pytest.skip(reason)
    return cluster


@pytest.fixture(scope="session")
def postgres_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    """One PostgreSQL server for the whole test session; stopped at the end."""
    cluster = start_cluster(tmp_path_factory.mktemp("postgres"))
    try:
        yield cluster
    finally:
        cluster.stop()


def postgres_url(cluster: PostgresCluster, name: str) -> str:
    """Create a fresh database for ``name`` and return its SQLAlchemy URL.

    ``name`` may be anything readable, e.g. a module's ``__name__``
    (``tests.api.test_orders`` -> database ``tests_api_test_orders``); it is turned
    into a valid database name.  Each name can be used once per cluster.
    """
    dbname = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "db"
    if not re.match(r"[a-z_]", dbname):
        dbname = f"db_{dbname}"
    if len(dbname) > 63:  # PostgreSQL's identifier limit; keep names distinct when cutting
        digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]
        dbname = f"{dbname[:54]}_{digest}"
    return cluster.create_database(dbname)
