"""Collecting request-log entries at the edge and writing them in batches.

The edge hands over each finished ``/api/…`` exchange (``record``): a list append,
nothing more, on the request path. A background task writes what has gathered every
``interval`` seconds as one job of the batching writer, which also redacts the
bodies (``redact``), off the event loop. So logging costs a request microseconds, and
the writer one insert of many rows a few times a second.

An entry is in memory until its batch commits: a crash loses at most the last
``interval`` of the log, never an order. Past ``max_pending`` entries (the database
away for a while) the oldest are dropped and counted in a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection

from pressline.db import Database, log_failure
from pressline.requestlog import store
from pressline.requestlog.redact import redact

log = logging.getLogger(__name__)

#: Characters of each body kept (a request body may be up to 1 MiB).
MAX_BODY_CHARS = 64 * 1024


@dataclass(slots=True)
class Entry:
    id: str
    at: datetime
    prefix: str
    customer_reference_id: str | None
    method: str
    path: str
    status: int
    latency_us: int
    order_id: str | None
    order_key: str | None
    template: str | None
    request_body: bytes | None
    transformed_request: bytes | None
    response_body: bytes | None

    def row(self) -> dict[str, Any]:
        try:
            order_id = uuid.UUID(self.order_id) if self.order_id else None
        except ValueError:
            order_id = None
        return {
            "id": self.id,
            "at": self.at,
            "prefix": self.prefix[:64],
            "customer_reference_id": (self.customer_reference_id or None)
            and self.customer_reference_id[:100],
            "method": self.method[:8],
            "path": self.path[:1024],
            "status": self.status,
            "latency_us": self.latency_us,
            "order_id": order_id,
            "order_key": self.order_key[:100] if self.order_key else None,
            "template": self.template[:100] if self.template else None,
            "request_body": redact(self.request_body, limit=MAX_BODY_CHARS),
            "transformed_request": redact(
                self.transformed_request, limit=MAX_BODY_CHARS, scrub=False
            ),
            "response_body": redact(self.response_body, limit=MAX_BODY_CHARS, scrub=False),
        }


def _write(conn: Connection, entries: list[Entry]) -> int:
    return store.insert_entries(conn, [entry.row() for entry in entries])


class RequestRecorder:
    """Entries waiting to be written, and the task that writes them."""

    def __init__(self, *, interval: float = 0.25, max_pending: int = 20_000) -> None:
        self.interval = interval
        self.max_pending = max_pending
        self._pending: list[Entry] = []
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None
        self._db: Database | None = None
        self._flushing = asyncio.Lock()

    def record(self, entry: Entry) -> None:
        """Keep ``entry`` for the next batch (called on the event loop: no I/O)."""
        self._pending.append(entry)
        if len(self._pending) > self.max_pending:
            excess = len(self._pending) - self.max_pending
            del self._pending[:excess]
            self.dropped += excess

    async def flush(self) -> int:
        """Write every waiting entry now; how many. When it returns, every entry recorded
        before the call is written, including those a flush already under way (the
        periodic one) had taken: it waits for that one first."""
        async with self._flushing:
            if self._db is None or not self._pending:
                return 0
            entries, self._pending = self._pending, []
            try:
                return await self._db.write(partial(_write, entries=entries))
            except Exception as exc:
                log_failure(log, exc, "writing %d request-log entries failed; they are lost",
                            len(entries))  # fmt: skip
                return 0

    def start(self, db: Database) -> None:
        self._db = db
        self._task = asyncio.create_task(self._run(), name="pressline-request-log")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self.dropped:
                log.warning("request log fell behind: %d entries dropped", self.dropped)
                self.dropped = 0
            await self.flush()

    async def stop(self) -> None:
        """Stop the task and write what is left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
