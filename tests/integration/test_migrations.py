"""Alembic migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, select

import pressline.accounts.tables
import pressline.catalog.tables
import pressline.idempotency.tables
import pressline.orders.tables
import pressline.postbacks.tables
import pressline.production.tables
import pressline.requestlog.tables
import pressline.templates.tables  # noqa: F401  (register every table on the metadata)
from pressline.accounts import repository as account_records
from pressline.accounts import service as accounts
from pressline.catalog.service import starter_reference
from pressline.db import Database, create_engines, metadata, utcnow
from pressline.migrate import Migrated, alembic_config, upgrade
from pressline.orders import examples, service, timers
from pressline.orders.schemas import OrderCreate
from pressline.orders.statuses import FinancialStatus
from pressline.orders.tables import order_timers
from pressline.orders.tables import orders as orders_table
from pressline.production import repository as production
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
    head = head_revision(fresh_engine)
    assert f"Database upgraded from revision none to {head}." in result.output
    assert current_revision(fresh_engine) == head
    engine = create_engine(url)
    try:
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_processes_migrating_at_once_wait_for_each_other(fresh_engine: Engine) -> None:
    """Nodes starting together, or a deploy's `migrate` beside `serve`'s: one migrates,
    the others wait for it, then find nothing to do. (Without the wait, one failed with
    a duplicate alembic_version or a duplicate column.)"""
    url = fresh_engine.url.render_as_string(hide_password=False)
    engines = [create_engines(url)[1] for _ in range(3)]
    try:
        with ThreadPoolExecutor(len(engines)) as pool:
            done = list(pool.map(upgrade, engines))
    finally:
        for engine in engines:
            engine.dispose()
    head = head_revision(fresh_engine)
    assert sorted((d.before or "", d.after) for d in done) == [
        ("", head),
        (head, head),
        (head, head),
    ]
    assert schema_diff(fresh_engine) == []


def test_a_database_a_newer_pressline_migrated_is_left_alone(fresh_engine: Engine) -> None:
    """A node still on the older version restarts during a rolling upgrade: it serves on,
    instead of failing on a revision it does not know."""
    upgrade(fresh_engine)
    with fresh_engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    before = schema_snapshot(fresh_engine)

    assert upgrade(fresh_engine) == Migrated("9999", "9999", ahead=True)

    assert schema_snapshot(fresh_engine) == before
    assert current_revision(fresh_engine) == "9999"


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


def test_orders_stored_before_the_lifecycle_take_part_in_it(fresh_engine: Engine) -> None:
    """Migration 0012: orders from before 0006 had no intake timer and no hand-off time,
    so they stayed ``created`` for ever or were invisible to their facility."""
    url = fresh_engine.url.render_as_string(hide_password=False)
    upgrade(fresh_engine, "0011")
    db = Database(url)
    try:
        with db.transaction() as conn:
            accounts.create_customer(conn, reference_id="old", name="Old", now=utcnow())
            key = accounts.create_connector(
                conn, customer_reference_id="old", prefix="old", name="Old", now=utcnow()
            ).key
        with db.transaction() as conn:
            record = account_records.find_key(conn, key.key)
        assert record is not None
        principal = record.principal
        ids = {}
        for name in ("waiting", "printed", "canceled"):
            body = {**examples.SUBMIT["reference"], "orderReferenceId": f"old-{name}"}
            prepared = service.prepare_order(
                principal, OrderCreate.model_validate(body), now=utcnow(),
                reference=starter_reference(),
            )  # fmt: skip
            with db.transaction() as conn:
                ids[name] = uuid.UUID(service.submit_order(conn, prepared=prepared)["id"])
        with db.transaction() as conn:  # as 0006 left them
            conn.execute(order_timers.delete())
            for name, status in (("printed", "printed"), ("canceled", "canceled")):
                conn.execute(
                    orders_table.update()
                    .where(orders_table.c.id == ids[name])
                    .values(fulfillment_status=status)
                )
            assert conn.execute(select(orders_table.c.handed_off_at)).scalars().all() == [None] * 3
            facility = conn.execute(
                select(orders_table.c.fulfillment_facility_id).where(
                    orders_table.c.id == ids["printed"]
                )
            ).scalar_one()
        assert facility is not None

        upgrade(fresh_engine)

        with db.transaction() as conn:
            due = conn.execute(select(order_timers.c.order_id, order_timers.c.kind)).all()
            assert due == [(ids["waiting"], "intake")]
            handed = dict(
                conn.execute(select(orders_table.c.id, orders_table.c.handed_off_at)).all()
            )
            queue = production.queue(conn, facility, ["printed"], limit=10, offset=0)
        assert [name for name in ids if handed[ids[name]] is not None] == ["printed"]
        assert [row.id for row in queue] == [ids["printed"]]
        assert timers.run_due(db, now=utcnow(), billing=FinancialStatus.TO_BE_INVOICED) == 1
    finally:
        db.close()
