"""The load of a ``bench.crash`` round, and the reads and retries after the restart.

Every request goes out on its own keep-alive connection from a fixed set
(``bench/wire.py``), so "hundreds of concurrent submits" are hundreds of connections
with a request in flight, as many integrators at once would be.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bench import crashcheck, stack, traffic, wire
from bench.crashcheck import Attempt
from bench.traffic import encoded, order_body, send

T = TypeVar("T")


async def _each(
    port: int,
    caller: stack.Caller,
    jobs: list[T],
    concurrency: int,
    do: Callable[[wire.Connection, T], Awaitable[None]],
) -> None:
    """``do(connection, job)`` for every job, ``concurrency`` connections at a time."""
    conns = [traffic.connect(port, caller.api_key) for _ in range(min(concurrency, len(jobs)))]
    pending = iter(jobs)

    async def worker(conn: wire.Connection) -> None:
        for job in pending:  # one shared iterator: each job is taken once
            await do(conn, job)

    try:
        await asyncio.gather(*(worker(conn) for conn in conns))
    finally:
        for conn in conns:
            conn.close()


@dataclass(slots=True)
class Load:
    """The submits of a round, and the moment the server was killed among them."""

    attempts: list[Attempt]
    kill_after: int
    crash: Callable[[], None]
    in_flight: int = 0
    acknowledged: int = 0
    killed: bool = False
    acknowledged_at_kill: int = 0
    in_flight_at_kill: int = 0

    def after_answer(self, attempt: Attempt) -> None:
        self.in_flight -= 1
        if attempt.acknowledged:
            self.acknowledged += 1
        if self.acknowledged >= self.kill_after and not self.killed:
            self.killed = True
            self.acknowledged_at_kill, self.in_flight_at_kill = self.acknowledged, self.in_flight
            self.crash()  # blocks the loop until the server is gone: nothing else is sent


async def fire(port: int, caller: stack.Caller, load: Load, concurrency: int) -> None:
    """Submit every attempt, ``concurrency`` at a time, until the server is killed."""

    async def submit(conn: wire.Connection, attempt: Attempt) -> None:
        if load.killed:  # clients notice the outage: the rest are only sent as retries
            return
        attempt.sent = True
        load.in_flight += 1
        headers = {"Idempotency-Key": attempt.key}
        attempt.outcome = await send(
            conn, "POST", f"{caller.base}/order", body=attempt.body, headers=headers
        )
        load.after_answer(attempt)

    await _each(port, caller, load.attempts, concurrency, submit)


async def read_back(
    port: int,
    caller: stack.Caller,
    attempts: list[Attempt],
    concurrency: int,
    *,
    all_stored: bool,
) -> dict[str, Any]:
    """Get Order for every attempt (by id when acknowledged): what survived, and how.

    ``all_stored``: after the retries every reference must be there; before them, an
    unacknowledged submit may be absent.
    """
    found: Counter[str] = Counter()
    problems: list[str] = []

    async def check(conn: wire.Connection, attempt: Attempt) -> None:
        key = attempt.acknowledged_order()["id"] if attempt.acknowledged else attempt.reference
        got = await send(conn, "GET", f"{caller.base}/{key}")
        if not attempt.acknowledged and got.status == 404 and not all_stored:
            found["unacknowledged, absent"] += 1
            return
        kind = "acknowledged" if attempt.acknowledged else "unacknowledged, stored"
        wrong = crashcheck.order_problems(attempt, got)
        found[f"{kind}, {'incomplete or missing' if wrong else 'complete'}"] += 1
        problems.extend(wrong)

    await _each(port, caller, attempts, concurrency, check)
    return {"found": dict(sorted(found.items())), "problems": problems}


async def retry_all(
    port: int, caller: stack.Caller, attempts: list[Attempt], concurrency: int, copies: int
) -> Counter[str]:
    """Send every submit again, ``copies`` at once each, with its key and body."""
    statuses: Counter[str] = Counter()
    jobs = [attempt for attempt in attempts for _ in range(copies)]  # copies side by side

    async def again(conn: wire.Connection, attempt: Attempt) -> None:
        headers = {"Idempotency-Key": attempt.key}
        outcome = await send(
            conn, "POST", f"{caller.base}/order", body=attempt.body, headers=headers
        )
        attempt.retries.append(outcome)
        statuses[outcome.label] += 1

    await _each(port, caller, jobs, concurrency, again)
    return statuses


def make_attempts(run_id: str, number: int, count: int) -> list[Attempt]:
    attempts = []
    for n in range(count):
        reference = f"{run_id}-r{number}-{n}"
        body = encoded(order_body(reference, n))
        attempts.append(Attempt(n, reference, str(uuid.uuid4()), body))
    return attempts
