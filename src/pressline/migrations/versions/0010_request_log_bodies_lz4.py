"""request log: bodies compressed with lz4 on PostgreSQL

Every connector call stores its bodies; a search answer is 15-20 KB. PostgreSQL
compresses values over 2 KB with pglz by default, which cost a search with the request
log on about a fifth of its throughput on a two-core server; lz4 compresses as well
for this JSON at a fraction of the CPU. Only where the server was built with lz4
(PostgreSQL 14+, Debian's and the official images are); elsewhere, and on SQLite,
nothing changes. Rows already written keep their compression.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BODIES = ("request_body", "transformed_request", "response_body")


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    choices = bind.execute(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    ).scalar()
    return "lz4" in (choices or [])


def _set_compression(method: str) -> None:
    for column in BODIES:
        op.execute(f"ALTER TABLE request_log ALTER COLUMN {column} SET COMPRESSION {method}")


def upgrade() -> None:
    if _lz4_available():
        _set_compression("lz4")


def downgrade() -> None:
    if _lz4_available():
        _set_compression("default")
