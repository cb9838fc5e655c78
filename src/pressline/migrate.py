"""Schema migrations (Alembic), callable from the CLI and the tests."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

#: The PostgreSQL advisory lock held while migrating (any number unique to Pressline).
MIGRATION_LOCK = 0x7072_6573_736C_696E  # "presslin" in ASCII: a positive bigint


@dataclass(frozen=True, slots=True)
class Migrated:
    """Where the schema was and is; ``ahead`` when the database is at a revision this
    Pressline does not know: a newer version migrated it (a rolling upgrade), so this
    one leaves it alone."""

    before: str | None
    after: str | None
    ahead: bool = False


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("pressline") / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> Migrated:
    """Bring the database behind ``engine`` to ``revision`` (idempotent), in one
    transaction that other migrating processes wait for (on SQLite the write lock does
    that; on PostgreSQL an advisory lock)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several nodes starting at once, or a deploy's `migrate` beside `serve`'s own:
            # the others wait here, then find nothing left to do. However long that takes:
            # a statement_timeout on Pressline's role (deploy.md) must not fail them.
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        before = MigrationContext.configure(conn).get_current_revision()
        if before is not None and before not in known:  # the CLI says so
            return Migrated(before, before, ahead=True)
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        return Migrated(before, MigrationContext.configure(conn).get_current_revision())
