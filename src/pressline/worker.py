"""The delivery worker: sends what the outbox holds, and runs the orders' due timers.

It runs as a thread inside ``pressline serve`` (unless PRESSLINE_EMBEDDED_WORKER is
false) and as ``pressline worker`` processes for scale. Any number of them may run
against one database: a delivery is claimed under a lease (``postbacks.deliveries``),
so one attempt is made by one worker. The orders' due timers (intake, sandbox
progression, delayed orders) run on a thread of their own; the main loop:

1. claims the due deliveries (:data:`CLAIM_BATCH` at a time), oldest first, and sends
   them: each order's one after another, in the order claimed, and different orders'
   side by side, so that a receiver that does not answer holds up its own order's
   deliveries in the batch, and the next batch until it times out (docs/adr/0013).
   A trigger's delivery is signed with the trigger's secret(s) of the moment, a
   template body is rendered once before the first attempt and stored; an order's
   hand-off to its facility (not a postback) waits for the ones queued before it
   (order, then cancel);
2. records each attempt and decides what follows (``schedule.classify``): delivered;
   ``410`` disables the trigger; anything else is retried with backoff and jitter until
   the schedule ends, then given up.

A stop request lets the attempts in flight finish and be recorded, and gives the other
claimed rows back. A crash instead (power loss, ``kill -9``) between the send and the
recording leaves the row claimed until its lease runs out; it is then sent again with
the same ``webhook-id`` (at least once).

``step(now)`` takes the scheduler's clock as a parameter, so tests move time forward
instead of sleeping. The signature's timestamp is always the wall clock: receivers
check it against theirs.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection

from pressline.config import Settings
from pressline.db import AnyRow, Database, log_failure, utcnow
from pressline.orders import timers
from pressline.orders.statuses import FinancialStatus
from pressline.postbacks import deliveries, triggers
from pressline.postbacks.outbox import POSTBACK, DeliveryStatus, message_id
from pressline.postbacks.schedule import DEFAULT_SCHEDULE, Outcome, RandomSource, RetrySchedule
from pressline.postbacks.sending import AttemptResult, Sender
from pressline.postbacks.signing import active_secrets, sign

log = logging.getLogger(__name__)

#: Deliveries one worker claims at a time: small, so a stopping worker gives few back
#: and a slow receiver delays few others.
CLAIM_BATCH = 10
#: How long after an earlier hand-off of the same order a later one is tried again.
_AFTER = timedelta(seconds=1)


class DeliveryWorker:
    """Claims and sends due deliveries; ``run()`` loops until :meth:`stop`."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        sender: Sender | None = None,
        rng: RandomSource | None = None,
        schedule: RetrySchedule = DEFAULT_SCHEDULE,
        batch: int = CLAIM_BATCH,
        run_timers: bool = True,
    ) -> None:
        self._db = database
        self._settings = settings
        self._sender = sender or Sender(settings)
        self._rng = rng or random.SystemRandom()
        self._schedule = schedule
        self._batch = batch
        self._run_timers = run_timers
        self._stopping = threading.Event()
        # The lanes send side by side but write one at a time, as one sender did: on
        # SQLite each write takes the file's write lock from the API's writer.
        self._writing = threading.Lock()

    # --- the loop ---------------------------------------------------------------------

    def run(self) -> None:
        """Loop until :meth:`stop`: deliveries here, and the orders' timers on a thread of
        their own, so that a receiver that does not answer (a batch waits for its slowest
        lane) never holds up an order's intake; each loop sleeps only when idle."""
        log.info("delivery worker started")
        timing = threading.Thread(
            target=self._loop, args=("timers", self.run_timers), name="pressline-timers"
        )
        if self._run_timers:
            timing.start()
        self._loop("deliveries", self.step)
        if timing.is_alive():
            timing.join()
        self._sender.close()
        log.info("delivery worker stopped")

    def _loop(self, name: str, work: Callable[[], int]) -> None:
        while not self._stopping.is_set():
            try:
                busy = work()
            except Exception as exc:  # a database hiccup must not end the worker
                log_failure(log, exc, "worker %s failed; retrying", name)
                busy = 0
            if not busy:
                self._stopping.wait(self._settings.worker_poll_seconds)

    def stop(self) -> None:
        """Ask the loop to end after the attempts in flight."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run_timers(self, now: datetime | None = None) -> int:
        """The orders' due timers; the number run."""
        if not self._run_timers:
            return 0
        billing = FinancialStatus(self._settings.billing_state)
        return timers.run_due(self._db, now=now or utcnow(), billing=billing, limit=100)

    def step(self, now: datetime | None = None) -> int:
        """Claim and attempt the deliveries due at ``now``; the number attempted."""
        now = now or utcnow()
        if not self._db.read_blocking(partial(deliveries.any_due, now=now)):
            return 0  # an idle worker polls without taking the write lock
        lease = uuid.uuid4()
        until = now + timedelta(seconds=self._settings.worker_lease_seconds)
        with self._transaction() as conn:
            claimed = deliveries.claim_due(
                conn, now=now, lease=lease, until=until, limit=self._batch
            )
        if not claimed:  # another worker claimed them first
            return 0
        # One lane per order, in the order claimed (one order's events arrive in turn);
        # the lanes side by side, all at once, so a slow receiver holds up its own lane
        # only and every lane starts well within the lease.
        lanes: dict[uuid.UUID, list[AnyRow]] = {}
        for row in claimed:
            lanes.setdefault(row.order_id or row.id, []).append(row)
        run = partial(self._lane, lease=lease, now=now, started=time.monotonic())
        if len(lanes) == 1:
            outcomes = [run(*lanes.values())]
        else:
            with ThreadPoolExecutor(len(lanes), "pressline-send") as senders:
                outcomes = list(senders.map(run, lanes.values()))
        given_back = [row.id for _, rows in outcomes for row in rows]
        if given_back:
            with self._transaction() as conn:
                deliveries.release(conn, given_back, lease)
        return sum(attempted for attempted, _ in outcomes)

    def _lane(
        self, rows: list[AnyRow], *, lease: uuid.UUID, now: datetime, started: float
    ) -> tuple[int, list[AnyRow]]:
        """Attempt ``rows`` one after another; how many, and the rows not attempted.

        A claim is sent within its lease: once the lease could run out during the next
        attempt (a slow receiver timing out again and again), the rest is given back
        rather than risk another worker sending it at the same time."""
        settings = self._settings
        budget = settings.worker_lease_seconds - 2 * settings.postback_timeout_seconds
        deadline = started + max(budget, 0.0)
        for index, row in enumerate(rows):
            if self._stopping.is_set() or (index and time.monotonic() > deadline):
                return index, rows[index:]
            # The attempt's time on the scheduler's clock: later attempts of a batch
            # start later (their retries are scheduled from when they were made).
            at = now + timedelta(seconds=time.monotonic() - started)
            try:
                self._deliver(row, lease, at)
            except Exception as exc:  # this delivery's, not the batch's: the others go on
                log.exception("delivery failed unexpectedly", extra={"delivery": str(row.id)})
                self._failed(row, lease, at, exc)
        return len(rows), []

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._writing, self._db.transaction() as conn:
            yield conn

    # --- one delivery -----------------------------------------------------------------

    def _trigger(self, trigger_id: uuid.UUID) -> AnyRow | None:
        # A plain read: on SQLite a write transaction would take the write lock.
        return self._db.read_blocking(partial(triggers.find_trigger, trigger_id=trigger_id))

    def _deliver(self, row: AnyRow, lease: uuid.UUID, now: datetime) -> None:
        if row.purpose != POSTBACK and row.order_id is not None and self._waits(row, lease, now):
            return
        trigger = None
        if row.trigger_id is not None or row.purpose == POSTBACK:
            trigger = None if row.trigger_id is None else self._trigger(row.trigger_id)
            if trigger is None or not trigger.enabled:
                self._stop_disabled(row, lease, now, trigger)
                return
        body, content_type = row.body, row.content_type
        if row.template_name is not None:
            rendered = self._render(row, lease, now)
            if rendered is None:
                return
            body, content_type = rendered
        result = self._attempt(row, trigger, body, content_type)
        self._record(row, lease, now, trigger, result)

    def _failed(self, row: AnyRow, lease: uuid.UUID, now: datetime, exc: Exception) -> None:
        """A delivery whose handling failed: an attempt of its own, retried on the
        schedule and in the end given up, like a receiver's error (left leased, it
        would be sent again whenever its lease ran out, for ever)."""
        error = f"internal error: {type(exc).__name__} (see the worker's log)"
        try:
            self._record(row, lease, now, None, AttemptResult(Outcome.RETRY, error=error))
        except Exception:  # the database itself is away: the lease gives it back
            log.exception("delivery failure not recorded", extra={"delivery": str(row.id)})

    def _waits(self, row: AnyRow, lease: uuid.UUID, now: datetime) -> bool:
        """Whether an order's hand-off queued earlier (a facility's order before its
        cancel) is still pending; this one is then put back until after it."""
        blocker = self._db.read_blocking(partial(deliveries.earlier_pending, row=row))
        if blocker is None:
            return False
        with self._transaction() as conn:
            deliveries.defer(conn, row.id, lease, until=max(blocker, now) + _AFTER)
        return True

    def _attempt(
        self, row: AnyRow, trigger: AnyRow | None, body: str, content_type: str
    ) -> AttemptResult:
        if row.destination == "email":
            return self._sender.send_email(
                to=row.email,
                subject=row.subject or "Pressline postback",
                body=body,
                content_type=content_type,
                message_id=message_id(row.id),
            )
        secrets: tuple[str, ...] = ()
        if trigger is not None:
            secrets = active_secrets(
                trigger.secret,
                trigger.previous_secret,
                trigger.previous_secret_expires_at,
                now=utcnow(),
            )
        elif row.secret:
            secrets = (row.secret,)
        headers = {**(row.headers or {}), "Content-Type": content_type}
        if secrets:
            headers.update(
                sign(message_id=message_id(row.id), timestamp=utcnow(), body=body, secrets=secrets)
            )
        else:
            headers["webhook-id"] = message_id(row.id)  # unsigned, still de-duplicable
        return self._sender.send_webhook(url=row.url, method=row.method, headers=headers, body=body)

    def _render(self, row: AnyRow, lease: uuid.UUID, now: datetime) -> tuple[str, str] | None:
        """The trigger's template over the event, stored for every later attempt; None
        (and the delivery given up) when the template cannot be loaded or fails."""
        from pressline.postbacks import templating

        try:
            loaded = self._db.read_blocking(partial(templating.load, row=row))
            body, content_type = templating.render(loaded, row)
        except templating.TemplateUnavailable as exc:
            self._give_up(row, lease, now, f"template: {exc}")
            return None
        except templating.RenderingDelayed as exc:
            self._record(row, lease, now, None, AttemptResult(Outcome.RETRY, error=str(exc)))
            return None
        with self._transaction() as conn:
            deliveries.set_body(conn, row.id, lease, body=body, content_type=content_type)
        return body, content_type

    # --- recording --------------------------------------------------------------------

    def _record(
        self,
        row: AnyRow,
        lease: uuid.UUID,
        now: datetime,
        trigger: AnyRow | None,
        result: AttemptResult,
    ) -> None:
        attempts = row.attempts + 1
        changes: dict[str, Any] = {"attempts": attempts}
        outcome = result.outcome
        if outcome is Outcome.DELIVERED:
            changes.update(status=DeliveryStatus.DELIVERED, delivered_at=now, next_attempt_at=None)
        elif outcome is Outcome.DISABLE and trigger is not None:
            changes.update(status=DeliveryStatus.DISABLED, next_attempt_at=None)
        else:
            following = self._schedule.next_attempt(attempts, now, self._rng)
            if following is None or outcome is Outcome.DISABLE:  # 410 without a trigger
                changes.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
            else:
                changes.update(next_attempt_at=following)
        with self._transaction() as conn:
            kept = deliveries.record_attempt(
                conn,
                delivery_id=row.id,
                lease=lease,
                at=now,
                status_code=result.status_code,
                latency_ms=result.latency_ms,
                outcome=outcome.value,
                error=result.error,
                response_excerpt=result.response_excerpt,
                changes=changes,
            )
            if kept and outcome is Outcome.DISABLE and trigger is not None:
                reason = f"the receiver answered 410 Gone at {now.isoformat(timespec='seconds')}"
                triggers.set_enabled(conn, trigger.id, enabled=False, now=now, reason=reason)
        if not kept:
            log.warning("delivery %s: lease lost before its attempt was recorded", row.id)
            return
        # The delivery log has every attempt; the process log says what needs a look.
        fields = {"delivery": str(row.id), "attempt": attempts, "error": result.error}
        if changes.get("status") == DeliveryStatus.FAILED:
            log.warning("delivery given up after its last attempt", extra=fields)
        elif changes.get("status") == DeliveryStatus.DISABLED:
            log.warning("delivery's trigger disabled: the receiver answered 410", extra=fields)
        elif outcome is not Outcome.DELIVERED:
            log.info("delivery attempt failed; retried later", extra=fields)

    def _give_up(self, row: AnyRow, lease: uuid.UUID, now: datetime, error: str) -> None:
        with self._transaction() as conn:
            deliveries.record_attempt(
                conn,
                delivery_id=row.id,
                lease=lease,
                at=now,
                status_code=None,
                latency_ms=None,
                outcome=Outcome.FAILED.value,
                error=error,
                response_excerpt=None,
                changes={
                    "attempts": row.attempts + 1,
                    "status": DeliveryStatus.FAILED,
                    "next_attempt_at": None,
                },
            )

    def _stop_disabled(
        self, row: AnyRow, lease: uuid.UUID, now: datetime, trigger: AnyRow | None
    ) -> None:
        """A delivery whose trigger was disabled or deleted meanwhile: not sent."""
        with self._transaction() as conn:
            deliveries.mark(conn, row.id, lease, status=DeliveryStatus.DISABLED, now=now)
        log.info(
            "delivery %s not sent: its trigger is %s",
            row.id,
            "deleted" if trigger is None else "disabled",
        )


class WorkerThread:
    """The worker inside ``pressline serve``: a daemon thread, stopped with the app."""

    def __init__(self, worker: DeliveryWorker) -> None:
        self.worker = worker
        self._thread = threading.Thread(target=worker.run, name="pressline-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the attempts in flight (at most the send timeout)."""
        self.worker.stop()
        self._thread.join(timeout)


def run_process(settings: Settings) -> None:
    """``pressline worker``: the loop in this process until SIGTERM or SIGINT, which
    let the attempts in flight finish and be recorded."""
    import signal

    from pressline.observability import configure_logging

    configure_logging(level=settings.log_level, log_format=settings.log_format)
    database = Database.for_process(settings)
    worker = DeliveryWorker(database, settings)

    def _stop(signum: int, _frame: object) -> None:
        log.info("stop requested (signal %d): finishing the attempts in flight", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        worker.run()
    finally:
        database.close()
