"""Idempotent writes: a keyed request is answered once, and replayed after that.

The functions here run inside the batching writer's transaction (docs/adr/0002),
around the write they protect, so the key and the order it created commit together
or not at all (docs/adr/0009). Only successes are stored: a request that raises rolls
its key back with everything else, and one that is refused gives its key back, so a
retry of a failed request runs again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from pressline.errors import DuplicateOrderReference, IdempotencyKeyInUse, IdempotencyKeyReused
from pressline.idempotency import repository
from pressline.idempotency.keys import KeyedRequest, KeyKind, Outcome, Refused, Result
from pressline.orders import service as orders

Operation = Callable[[Connection], Result]


def answered(
    conn: Connection, *, write: Callable[[Connection], Any], answer: Any = None
) -> Outcome:
    """A write as a 200: ``answer`` as the body if given, else the write's result."""
    result = write(conn)
    return Outcome(200, orjson.dumps(result if answer is None else answer))


def run(
    conn: Connection,
    *,
    customer_id: uuid.UUID,
    request: KeyedRequest,
    operation: Operation,
    now: datetime,
    retention: timedelta,
    expected: Outcome | None = None,
) -> Result:
    """``operation`` under the request's key: run once, then replayed for ``retention``.

    The key is claimed before the operation runs, in the same transaction. A second
    request with the key therefore finds the first one's answer (SQLite: later in the
    same writer; PostgreSQL: after waiting for the first transaction to commit). When
    PostgreSQL cannot order two such requests (their transactions wait on each other),
    this one is refused with 409 and a retry replays the other's answer.

    ``expected``, the answer known or guessed before the operation runs, is stored
    with the claim; only a different actual answer costs a second statement.
    """
    cutoff = now - retention
    try:
        held = repository.claim(
            conn, customer_id, request, now=now, cutoff=cutoff, expected=expected
        )
    except DBAPIError as exc:
        if repository.is_lock_conflict(exc):
            raise IdempotencyKeyInUse(request.key) from exc
        raise
    if held is not None:
        return _replay(held, request, retention)
    result = operation(conn)
    if isinstance(result, Refused):
        repository.release(conn, customer_id, request)
    elif result != expected:
        repository.complete(conn, customer_id, request, result)
    return result


def submit_order(
    conn: Connection,
    *,
    prepared: orders.PreparedOrder,
    duplicate: KeyedRequest | None,
    now: datetime,
    retention: timedelta,
) -> Result:
    """Submit an order; a taken reference is refused (409) rather than raised.

    ``orders.submit_order`` writes nothing when the reference is taken, so the refusal
    can wait for the batch to commit and then names a committed order (see
    ``keys.Refused``).

    With ``"preventDuplicate": true`` (``duplicate``: the reference as the key), a
    repeat of a submit that was itself sent with the flag in the last ``retention``
    replays its answer, and a different order under the reference is 422. A reference
    used without the flag, or longer ago, stays the 409: nothing recorded what that
    order's request was, so it cannot be told apart from a different order.
    """
    try:
        created = orders.submit_order(conn, prepared=prepared)
    except DuplicateOrderReference as taken:
        if duplicate is None:
            return Refused(taken)
        found = repository.find(conn, prepared.principal.customer_id, duplicate)
        if found is None or found.created_at < now - retention:
            return Refused(taken)
        return _replay(found, duplicate, retention)
    outcome = Outcome(200, orjson.dumps(created))
    if duplicate is not None:
        repository.put(conn, prepared.principal.customer_id, duplicate, outcome, now=now)
    return outcome


def submit_orders(conn: Connection, prepared: list[orders.PreparedOrder]) -> list[Result]:
    """Plain submits (no key, no ``preventDuplicate``) stored together, each answered as
    :func:`submit_order` answers it."""
    return [
        Refused(answer) if isinstance(answer, DuplicateOrderReference) else
        Outcome(200, orjson.dumps(answer))
        for answer in orders.submit_orders(conn, prepared)
    ]  # fmt: skip


def _replay(held: repository.Stored, request: KeyedRequest, retention: timedelta) -> Result:
    if held.fingerprint != request.fingerprint:
        hours = int(retention.total_seconds() // 3600)
        reference = request.kind is KeyKind.ORDER_REFERENCE
        return Refused(IdempotencyKeyReused(request.key, hours, reference=reference))
    if held.status is None or held.response is None:  # pragma: no cover - never committed
        raise IdempotencyKeyInUse(request.key)
    return Outcome(held.status, held.response.encode(), replayed=True)


def purge(conn: Connection, *, before: datetime, limit: int) -> int:
    """Forget up to ``limit`` keys created before ``before``; how many were deleted.

    A key older than the retention window no longer replays (``run`` takes it over as
    new), so deleting it changes no answer: purging only keeps the table small."""
    return repository.purge(conn, before=before, limit=limit)
