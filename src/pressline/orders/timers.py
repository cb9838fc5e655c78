"""Work due later for an order: the intake pass, the sandbox's steps, the delayed check.

:func:`run_due` is called by the worker loop (``pressline worker``, or the one inside
``pressline serve``). Each timer is claimed, run and deleted in a transaction of its
own: on SQLite as a job of the process's batching writer (docs/adr/0002), so the worker
never competes with the API for the write lock and timers share its commits; on
PostgreSQL on the worker's own connection, with ``FOR UPDATE SKIP LOCKED`` so several
workers never run the same one. One timer per transaction keeps each one's work (and
row locks) short; a crash loses at most uncommitted work, which then runs again. A timer that fails
is retried later (a minute, then twice as long after each failure, at most an hour
apart) and does not hold up the others.

The intake pass is the exception, because every order takes it once: due intake timers
are claimed :data:`INTAKE_BATCH` at a time with their orders and passed together
(``moves.save_all``), a dozen statements for the whole batch instead of a dozen per
order. If a batch fails, its timers run one by one, so only the failing one waits.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from pressline.db import AnyRow, Database
from pressline.orders import journal, moves, repository
from pressline.orders.journal import TimerKind
from pressline.orders.lifecycle import AWAITING_DISPATCH, Actor, EventKind, is_delayed
from pressline.orders.statuses import FinancialStatus, FulfillmentStatus
from pressline.postbacks.events import EventType
from pressline.production import handoff

log = logging.getLogger(__name__)
T = TypeVar("T")
F = FulfillmentStatus
_RETRY = timedelta(minutes=1)
_RETRY_MAX = timedelta(hours=1)
#: The sandbox's schedule: from each status to the next, one step apart.
SANDBOX_STEPS = {
    F.PASSED: F.IN_PRODUCTION,
    F.IN_PRODUCTION: F.PRINTED,
    F.PRINTED: F.SHIPPED,
    F.SHIPPED: F.DELIVERED,
}


#: Timer jobs handed to the writer at once: they usually share one batch and commit.
JOBS_AT_ONCE = 16
#: Intake timers claimed and run as one job (a few milliseconds of the writer's time).
INTAKE_BATCH = 50


def run_due(db: Database, *, now: datetime, billing: FinancialStatus, limit: int = 100) -> int:
    """Run the timers due at ``now``; how many ran (failed ones are postponed).
    ``billing`` is the financial status shipped orders get (PRESSLINE_BILLING_STATE)."""
    if not db.read_blocking(partial(journal.any_due, now=now)):
        return 0  # an idle worker polls without taking the write lock
    ran = 0
    intake = partial(_intake_batch, now=now, billing=billing)
    while ran < limit:
        passed = _run_jobs(db, [intake])[0]
        ran += passed or 0
        if passed is None or passed < INTAKE_BATCH:
            break  # none left, or a batch failed: the loop below isolates the culprit
    job = partial(_run_one, now=now, billing=billing)
    claimed = ran
    while claimed < limit:
        outcomes = _run_jobs(db, [job] * min(JOBS_AT_ONCE, limit - claimed))
        ran += outcomes.count(True)
        claimed += len(outcomes) - outcomes.count(None)
        if None in outcomes:
            break  # nothing more is due
    return ran


def _run_jobs(db: Database, jobs: list[partial[T]]) -> list[T]:
    """SQLite: through the process's writer (one write lock, shared commits). PostgreSQL:
    a transaction each on the worker's own connection, beside the API's writer rather
    than in its queue (each timer is a dozen round trips the API should not wait on)."""
    if db.write_engine.dialect.name == "sqlite":
        return db.write_blocking(jobs)
    outcomes: list[T] = []
    for job in jobs:
        with db.transaction() as conn:
            outcomes.append(job(conn))
        if outcomes[-1] is None:
            break
    return outcomes


def _run_one(conn: Connection, *, now: datetime, billing: FinancialStatus) -> bool | None:
    """Claim one due timer and run it: True when it ran, False when it failed and was
    postponed, None when nothing is due."""
    claimed = journal.claim_due(conn, now, 1)
    if not claimed:
        return None
    timer = claimed[0]
    try:
        with conn.begin_nested():
            _run(conn, timer, now, billing)
            journal.delete_timer(conn, timer.id)
    except Exception:
        where = {"timer": timer.kind, "order": str(timer.order_id)}
        log.exception("order timer failed", extra=where)
        journal.postpone_timer(conn, timer.id, now + retry_after(timer.attempts))
        return False
    return True


def _intake_batch(conn: Connection, *, now: datetime, billing: FinancialStatus) -> int | None:
    """Claim up to :data:`INTAKE_BATCH` due intake timers with their orders and pass the
    orders together; how many timers ran, or None if the batch failed (nothing of it is
    kept, and the timers are left for the one-by-one loop)."""
    try:
        with conn.begin_nested():
            claimed = journal.claim_due_intake(conn, now, INTAKE_BATCH)
            if not claimed:
                return 0
            pending = {row.id: row for row in claimed}  # an order with two timers passes once
            items = repository.items_of_orders(conn, list(pending))
            passed = (
                _passed(conn, order, items[order.id], now, billing) for order in pending.values()
            )
            moves.save_all([(change, _PASSED_INTAKE) for change in passed if change is not None])
            journal.delete_timers(conn, [row.timer_id for row in claimed])
    except Exception:
        log.exception("intake batch failed; running its timers one by one")
        return None
    return len(claimed)


_PASSED_INTAKE = "Passed intake"


def retry_after(failures_before: int) -> timedelta:
    """How long a timer that just failed waits: a minute, doubled after each earlier
    failure, at most an hour (a broken order logs once an hour, not every minute)."""
    return min(_RETRY * (1 << min(failures_before, 6)), _RETRY_MAX)


def _run(conn: Connection, timer: AnyRow, now: datetime, billing: FinancialStatus) -> None:
    order = journal.lock_order(conn, timer.order_id)
    if order is None:
        return
    if timer.kind == TimerKind.INTAKE:
        _intake(conn, order, now, billing)
    elif timer.kind == TimerKind.SANDBOX:
        _sandbox_step(conn, order, now, billing)
    elif timer.kind == TimerKind.DELAYED:
        _delayed_check(conn, order, timer.data or {}, now, billing)
    else:
        log.warning("unknown order timer kind", extra={"timer": timer.kind})


def _change(
    conn: Connection, order: AnyRow, now: datetime, billing: FinancialStatus
) -> moves.OrderChange:
    items = repository.items_of(conn, order.id)
    return moves.OrderChange(conn, order, items, Actor.SYSTEM, now, billing)


def _intake(conn: Connection, order: AnyRow, now: datetime, billing: FinancialStatus) -> None:
    """``created → passed``; the hook hands the order to its facility. An order that was
    held, canceled or refused meanwhile is left alone."""
    change = _passed(conn, order, repository.items_of(conn, order.id), now, billing)
    if change is not None:
        change.save(_PASSED_INTAKE)


def _passed(
    conn: Connection, order: AnyRow, items: list[AnyRow], now: datetime, billing: FinancialStatus
) -> moves.OrderChange | None:
    """The intake move of one order (``created → passed``), unsaved; None for an order
    held, canceled or refused meanwhile, which intake leaves alone."""
    if order.fulfillment_status != F.CREATED.value:
        return None
    change = moves.OrderChange(conn, order, items, Actor.SYSTEM, now, billing)
    change.move_order(F.PASSED, _PASSED_INTAKE)
    return change


def _sandbox_step(conn: Connection, order: AnyRow, now: datetime, billing: FinancialStatus) -> None:
    """One step of a sandbox order; the next one is scheduled until it is delivered."""
    target = SANDBOX_STEPS.get(F(order.fulfillment_status))
    if target is None:
        return  # canceled, held, failed or done: the sandbox stops
    change = _change(conn, order, now, billing)
    message = f"Sandbox: {target.value}"
    change.move_order(target, message)
    if target is F.SHIPPED:
        code = f"SANDBOX{order.id.hex[:16].upper()}"
        journal.save_package(conn, _sandbox_package(change, code, now))
        change.log(EventKind.PACKAGE_UPDATED, f"Sandbox package with tracking code {code}",
                   data={"packageId": "sandbox-1", "trackingCode": code})  # fmt: skip
        change.postbacks.append(EventType.PACKAGE_STATUS_UPDATED)
    elif target is F.DELIVERED:
        journal.set_package_status(conn, order.id, target.value, now)
        change.postbacks.append(EventType.PACKAGE_STATUS_UPDATED)
    change.save(message)
    if target in SANDBOX_STEPS:
        due = handoff.sandbox_step(now)
        journal.add_timers(conn, [{"order_id": order.id, "kind": TimerKind.SANDBOX, "due_at": due}])


def _sandbox_package(change: moves.OrderChange, code: str, now: datetime) -> dict[str, Any]:
    return {
        "order_id": change.order.id,
        "id": "sandbox-1",
        "tracking_code": code,
        "tracking_url": f"https://tracking.example/sandbox/{code}",
        "carrier": "Sandbox",
        "status": F.SHIPPED.value,
        "items": [
            {"itemId": str(item.id), "quantity": item.quantity - change.canceled[item.id]}
            for item in change.items
            if change.statuses[item.id] is not F.CANCELED
        ],
        "created_at": now,
        "updated_at": now,
    }


def _delayed_check(
    conn: Connection, order: AnyRow, data: dict[str, Any], now: datetime, billing: FinancialStatus
) -> None:
    """Raise ``delayed`` once for an order past its dispatch day and not shipped."""
    dispatch = order.expected_dispatch_date or (
        date.fromisoformat(data["dispatch"]) if "dispatch" in data else None
    )
    if dispatch is None or "timezone" not in data:
        return
    zone = ZoneInfo(data["timezone"])
    status, flagged = F(order.fulfillment_status), order.delayed_at is not None
    if not is_delayed(
        expected_dispatch=dispatch, now=now, facility_timezone=zone, status=status,
        already_flagged=flagged,
    ):  # fmt: skip
        if not flagged and status in AWAITING_DISPATCH and now.astimezone(zone).date() <= dispatch:
            # The dispatch day moved later (a changed shipment re-planned the order):
            # check again once the new day is over.
            journal.add_timers(conn, [moves.delayed_timer(order.id, dispatch, zone.key)])
        return
    change = _change(conn, order, now, billing)
    change.order_values["delayed_at"] = now
    change.log(EventKind.DELAYED, f"Not dispatched by its expected day ({dispatch.isoformat()})",
               data={"expectedDispatchDate": dispatch.isoformat()})  # fmt: skip
    change.postbacks.append(EventType.ORDER_DELAYED)
    change.save("Delayed")
