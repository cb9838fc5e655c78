"""Forgetting rows past their retention: in the background of every API process.

Idempotency keys and request-log entries age out the same way. Each pass deletes in
chunks through the batching writer, so it never holds the write lock (SQLite) or a
long transaction (PostgreSQL) for more than a chunk; the CLI's ``purge`` commands do
the same from cron (:func:`purge_in_chunks`), finished postback deliveries too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from sqlalchemy import Connection

from pressline.db import Database, utcnow

log = logging.getLogger(__name__)

#: Rows deleted per transaction.
CHUNK = 1000


class Purge(Protocol):
    """Delete up to ``limit`` rows older than ``before``; how many."""

    def __call__(self, conn: Connection, *, before: datetime, limit: int) -> int: ...


def purge_in_chunks(
    transaction: Callable[[], AbstractContextManager[Connection]], purge: Purge, *, before: datetime
) -> int:
    """Delete every row older than ``before``, a chunk per ``transaction()``; how many."""
    total = 0
    while True:
        with transaction() as conn:
            deleted = purge(conn, before=before, limit=CHUNK)
        total += deleted
        if deleted < CHUNK:
            return total


async def purge_expired(db: Database, purge: Purge, *, retention: timedelta) -> int:
    """Delete every row older than ``retention``, a chunk per write; how many."""
    total = 0
    while True:
        deleted = await db.write(partial(purge, before=utcnow() - retention, limit=CHUNK))
        total += deleted
        if deleted < CHUNK:
            return total


async def _periodically(
    db: Database, purge: Purge, *, retention: timedelta, interval: float, what: str
) -> None:
    # The first pass comes at a random point of the first interval, so the processes
    # of a deployment, started together, do not all purge at the same moment.
    await asyncio.sleep(random.uniform(0, interval))  # noqa: S311 - spreading, not secrecy
    while True:
        try:
            deleted = await purge_expired(db, purge, retention=retention)
        except Exception:
            # The database may be away for a moment; the next pass catches up.
            log.exception("purging expired %s failed", what)
        else:
            if deleted:
                log.info("purged expired %s", what, extra={"deleted": deleted})
        await asyncio.sleep(interval)


def start(
    db: Database, purge: Purge, *, retention: timedelta, interval: float, what: str
) -> asyncio.Task[None] | None:
    """This process's background purge of ``what`` (None when ``interval`` is 0: off)."""
    if interval <= 0:
        return None
    return asyncio.create_task(
        _periodically(db, purge, retention=retention, interval=interval, what=what),
        name=f"pressline-purge-{what.replace(' ', '-')}",
    )


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
