"""Alembic migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect

import pressline.accounts.tables
import pressline.catalog.tables
import pressline.idempotency.tables
import pressline.orders.tables
import pressline.postbacks.tables
import pressline.production.tables
import pressline.requestlog.tables
import pressline.templates.tables  # noqa: F401  (register every table on the metadata)
from pressline.accounts import service as accounts
from pressline.db import create_engines, metadata, utcnow
from pressline.migrate import alembic_config, upgrade
from tests.conftest import BACKENDS
from tests.support.pg_fixtures import postgres_url
from tests.support.pgcluster import PostgresCluster


@pytest.fixture(params=BACKENDS)
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Engine]:
    """The write engine of a brand-new, empty database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        cluster = request.getfixturevalue("postgres_cluster")
        url = postgres_url(cluster, f"migrations_{uuid.uuid4().hex[:10]}")
    read, write = create_engines(url)
    yield write
    read.dispose()
    write.dispose()


def schema_diff(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    script = ScriptDirectory.from_config(alembic_config(engine.url.render_as_string()))
    return script.get_current_head()


def _index(index: Any) -> str:
    """An index as text: a partial index's condition as its SQL, not the object's repr."""
    options = {name: str(value) for name, value in index.get("dialect_options", {}).items()}
    return str(sorted({**index, "dialect_options": options}.items()))


def schema_snapshot(engine: Engine) -> dict[str, Any]:
    inspector = inspect(engine)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted(_index(ix) for ix in inspector.get_indexes(table)),
            sorted(str(sorted(uq.items())) for uq in inspector.get_unique_constraints(table)),
        )
        for table in sorted(inspector.get_table_names())
    }


def test_a_fresh_database_is_empty_before_and_matches_the_code_after(
    fresh_engine: Engine,
) -> None:
    assert current_revision(fresh_engine) is None
    assert schema_diff(fresh_engine)  # sanity: an empty database does differ

    upgrade(fresh_engine)

    assert schema_diff(fresh_engine) == []
    assert current_revision(fresh_engine) == head_revision(fresh_engine)
    tables = set(inspect(fresh_engine).get_table_names())
    assert tables == {*metadata.tables, "alembic_version"}


def test_upgrading_twice_changes_nothing_and_keeps_data(fresh_engine: Engine) -> None:
    upgrade(fresh_engine)
    before = schema_snapshot(fresh_engine)
    with fresh_engine.begin() as conn:
        accounts.create_customer(conn, reference_id="kept", name="Kept", now=utcnow())

    upgrade(fresh_engine)

    assert schema_snapshot(fresh_engine) == before
    assert current_revision(fresh_engine) == head_revision(fresh_engine)
    assert schema_diff(fresh_engine) == []
    with fresh_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT name FROM customers").scalars().all() == ["Kept"]


def test_search_indexes_lead_with_the_customer(fresh_engine: Engine) -> None:
    upgrade(fresh_engine)
    indexes = {ix["name"]: ix["column_names"] for ix in inspect(fresh_engine).get_indexes("orders")}
    for name in (
        "ix_orders_customer_created",
        "ix_orders_customer_fulfillment",
        "ix_orders_customer_financial",
        "ix_orders_customer_country",
    ):
        assert indexes[name][0] == "customer_id", name
        assert "created_at" in indexes[name], name
    uniques = inspect(fresh_engine).get_unique_constraints("orders")
    assert [uq["column_names"] for uq in uniques] == [["customer_id", "order_reference_id"]]


def test_the_migrate_command_upgrades_a_database(fresh_engine: Engine) -> None:
    from typer.testing import CliRunner

    from pressline.cli import app
    from pressline.config import get_settings

    url = fresh_engine.url.render_as_string(hide_password=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["migrate"], env={"PRESSLINE_DATABASE_URL": url})
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert current_revision(fresh_engine) == head_revision(fresh_engine)
    engine = create_engine(url)
    try:
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def _body_compression(engine: Engine) -> set[str]:
    """How PostgreSQL compresses the request log's bodies: 'l' lz4, '' the default."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT attcompression FROM pg_attribute WHERE attrelid = 'request_log'::regclass"
            " AND attname IN ('request_body', 'transformed_request', 'response_body')"
        )
        return {row[0] for row in rows}


@pytest.mark.postgres
def test_request_log_bodies_are_compressed_with_lz4_on_postgresql(
    postgres_cluster: PostgresCluster,
) -> None:
    engine = create_engine(postgres_url(postgres_cluster, "tests_migrations_lz4"))
    try:
        upgrade(engine)
        assert _body_compression(engine) == {"l"}
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0009")
        assert _body_compression(engine) == {""}
        upgrade(engine)
        assert _body_compression(engine) == {"l"}
    finally:
        engine.dispose()


def test_the_request_logs_order_indexes_skip_entries_that_name_no_order(
    fresh_engine: Engine,
) -> None:
    upgrade(fresh_engine)
    indexes = {ix["name"]: ix for ix in inspect(fresh_engine).get_indexes("request_log")}
    for name, column in (
        ("ix_request_log_order_id_at", "order_id"),
        ("ix_request_log_customer_order_key_at", "order_key"),
    ):
        options = indexes[name]["dialect_options"]
        condition = options.get("postgresql_where", options.get("sqlite_where"))
        assert f"{column} IS NOT NULL" in str(condition), (name, options)
