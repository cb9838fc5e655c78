"""orders stored before the lifecycle (0006) take part in it

Migration 0006 added the intake timers and ``handed_off_at`` but gave the orders already
stored neither: after the upgrade, orders still ``created`` never passed intake, and
orders already past it (``passed`` and on) were invisible to their facility, which finds
its orders by ``handed_off_at``. This gives each ``created`` order without one an intake
timer, due now, and each non-sandbox order past intake with a facility the hand-off time
it would have had (its last change). On a database whose orders all came after 0006,
it finds nothing to do.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

#: The statuses an order reaches only after intake (domain.md §2).
PAST_INTAKE = (
    "passed",
    "in_production",
    "printed",
    "shipped",
    "in_transit",
    "delivered",
    "returned",
)

orders = sa.table(
    "orders",
    sa.column("id", sa.Uuid()),
    sa.column("connector_id", sa.Uuid()),
    sa.column("fulfillment_status", sa.String()),
    sa.column("fulfillment_facility_id", sa.String()),
    sa.column("handed_off_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
timers = sa.table(
    "order_timers",
    sa.column("order_id", sa.Uuid()),
    sa.column("kind", sa.String()),
    sa.column("due_at", sa.DateTime(timezone=True)),
)
connectors = sa.table("connectors", sa.column("id", sa.Uuid()), sa.column("sandbox", sa.Boolean()))


def upgrade() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":  # stored as naive UTC there (pressline.db.UTCDateTime)
        now = now.replace(tzinfo=None)
    has_intake = sa.exists().where(timers.c.order_id == orders.c.id, timers.c.kind == "intake")
    waiting = sa.select(
        orders.c.id, sa.literal("intake"), sa.literal(now, sa.DateTime(timezone=True))
    ).where(orders.c.fulfillment_status == "created", ~has_intake)
    bind.execute(timers.insert().from_select(["order_id", "kind", "due_at"], waiting))
    sandboxes = sa.select(connectors.c.id).where(connectors.c.sandbox)
    bind.execute(
        orders.update()
        .where(
            orders.c.handed_off_at.is_(None),
            orders.c.fulfillment_facility_id.is_not(None),
            orders.c.fulfillment_status.in_(PAST_INTAKE),
            orders.c.connector_id.not_in(sandboxes),
        )
        .values(handed_off_at=orders.c.updated_at)
    )


def downgrade() -> None:
    """Nothing to undo: the timers and times it gave are what the orders should have."""
