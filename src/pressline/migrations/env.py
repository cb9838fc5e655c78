"""Alembic environment: migrates the database named by the caller's URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import pressline.accounts.tables
import pressline.catalog.tables
import pressline.idempotency.tables
import pressline.orders.tables
import pressline.postbacks.tables
import pressline.production.tables
import pressline.requestlog.tables
import pressline.templates.tables  # noqa: F401  (registers the tables on the metadata)
from pressline.db import metadata

config = context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _migrate(conn)
    engine.dispose()


def _migrate(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
