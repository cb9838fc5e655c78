"""Forgetting expired keys: in the background of every API process, or from the CLI.

A key older than the retention window no longer replays (``service.run`` takes it over
as new), so deleting it changes no answer; purging only keeps the table small. Each
pass deletes in chunks through the batching writer, so it never holds the write lock
(SQLite) or a long transaction (PostgreSQL) for more than a chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import timedelta
from functools import partial

from pressline.db import Database, utcnow
from pressline.idempotency import service

log = logging.getLogger(__name__)

#: Keys deleted per transaction.
CHUNK = 1000


async def purge_expired(db: Database, *, retention: timedelta) -> int:
    """Delete every key older than ``retention``, a chunk per write; how many."""
    total = 0
    while True:
        before = utcnow() - retention
        deleted = await db.write(partial(service.purge, before=before, limit=CHUNK))
        total += deleted
        if deleted < CHUNK:
            return total


async def purge_periodically(db: Database, *, retention: timedelta, interval: float) -> None:
    """Purge every ``interval`` seconds until cancelled.

    The first pass comes at a random point of the first interval, so the processes of
    a deployment, started together, do not all purge at the same moment.
    """
    await asyncio.sleep(random.uniform(0, interval))  # noqa: S311 - spreading, not secrecy
    while True:
        try:
            deleted = await purge_expired(db, retention=retention)
        except Exception:
            # The database may be away for a moment; the next pass catches up.
            log.exception("purging expired idempotency keys failed")
        else:
            if deleted:
                log.info("purged expired idempotency keys", extra={"deleted": deleted})
        await asyncio.sleep(interval)


def start(db: Database, *, retention_hours: int, interval: float) -> asyncio.Task[None] | None:
    """The background purge of this process (None when ``interval`` is 0: turned off)."""
    if interval <= 0:
        return None
    retention = timedelta(hours=retention_hours)
    return asyncio.create_task(
        purge_periodically(db, retention=retention, interval=interval),
        name="pressline-idempotency-purge",
    )


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
