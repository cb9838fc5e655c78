"""SQL for idempotency keys. Nothing else touches the table.

Every statement is keyed by ``customer_id``: a key is the customer's own name for a
request, never visible to another customer (reliability.md 4).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from pressline.db import UTCDateTime
from pressline.idempotency.keys import KeyedRequest, Outcome
from pressline.idempotency.tables import idempotency_keys as keys

#: PostgreSQL's answers when two transactions wait on each other's keys (deadlock
#: detected, lock not available, serialization failure): the statement is cancelled.
_LOCK_CONFLICTS = frozenset({"40P01", "55P03", "40001"})


@dataclass(frozen=True, slots=True)
class Stored:
    fingerprint: str
    status: int | None
    response: str | None
    created_at: datetime


# Not named after the columns: in an UPDATE, SQLAlchemy reserves those names for SET.
_THIS_KEY = and_(
    keys.c.customer_id == bindparam("this_customer"),
    keys.c.kind == bindparam("this_kind"),
    keys.c.key == bindparam("this_key"),
)
_CUTOFF = bindparam("cutoff", type_=UTCDateTime)
# Statements are built once: constructing one costs several times more than running it.
# ON CONFLICT DO NOTHING, not DO UPDATE: a conflict with a live key then takes no row
# lock, so two processes replaying the same keys in different orders cannot deadlock.
# Whether the row was written: SQLite's row count says so (cheaper than a RETURNING
# result set, about 13 µs a claim); psycopg reports -1 for an INSERT, so PostgreSQL
# needs RETURNING.
_CLAIM = {
    "postgresql": postgresql.insert(keys)
    .on_conflict_do_nothing(index_elements=["customer_id", "kind", "key"])
    .returning(keys.c.created_at),
    "sqlite": sqlite.insert(keys).on_conflict_do_nothing(
        index_elements=["customer_id", "kind", "key"]
    ),
}
_FIND = select(keys.c.fingerprint, keys.c.status, keys.c.response, keys.c.created_at).where(
    _THIS_KEY
)
# An expired key is free again: take it over, unless another request just did.
_RENEW = (
    update(keys)
    .where(_THIS_KEY, keys.c.created_at < _CUTOFF)
    .values(
        fingerprint=bindparam("new_fingerprint"),
        status=bindparam("new_status"),
        response=bindparam("new_response"),
        created_at=bindparam("new_created_at", type_=UTCDateTime),
    )
    .returning(keys.c.created_at)
)
_RELEASE = delete(keys).where(_THIS_KEY)
_COMPLETE = (
    update(keys)
    .where(_THIS_KEY)
    .values(status=bindparam("new_status"), response=bindparam("new_response"))
)


def _put_statement(dialect: Any) -> Any:
    statement = dialect.insert(keys)
    columns = ("fingerprint", "status", "response", "created_at")
    return statement.on_conflict_do_update(
        index_elements=["customer_id", "kind", "key"],
        set_={column: statement.excluded[column] for column in columns},
    )


_PUT = {"postgresql": _put_statement(postgresql), "sqlite": _put_statement(sqlite)}


def _row(customer_id: uuid.UUID, request: KeyedRequest, **values: Any) -> dict[str, Any]:
    return {"customer_id": customer_id, "kind": request.kind.value, "key": request.key, **values}


def _this(customer_id: uuid.UUID, request: KeyedRequest, **values: Any) -> dict[str, Any]:
    return {
        "this_customer": customer_id,
        "this_kind": request.kind.value,
        "this_key": request.key,
        **values,
    }


def claim(
    conn: Connection,
    customer_id: uuid.UUID,
    request: KeyedRequest,
    *,
    now: datetime,
    cutoff: datetime,
    expected: Outcome | None = None,
) -> Stored | None:
    """Take the key for ``request`` (None), or the live record that holds it.

    ``expected`` is the answer the request will most likely get, stored with the claim
    so that a correct guess needs no second statement (see :func:`complete`).

    On PostgreSQL a key another transaction has just taken makes this wait for that
    transaction to end, then see its record: the second of two concurrent requests
    replays the first. One SQLite writer runs them one after the other anyway.
    """
    status, response = _answer(expected)
    row = _row(
        customer_id,
        request,
        fingerprint=request.fingerprint,
        status=status,
        response=response,
        created_at=now,
    )
    result = conn.execute(_CLAIM[conn.dialect.name], row)
    if (result.first() is not None) if result.returns_rows else result.rowcount == 1:
        return None
    found = find(conn, customer_id, request)
    if found is not None and found.created_at < cutoff:
        renewal = _this(
            customer_id,
            request,
            new_fingerprint=request.fingerprint,
            new_status=status,
            new_response=response,
            new_created_at=now,
            cutoff=cutoff,
        )
        if conn.execute(_RENEW, renewal).first() is not None:
            return None
        found = find(conn, customer_id, request)
    return found


def _answer(outcome: Outcome | None) -> tuple[int | None, str | None]:
    return (None, None) if outcome is None else (outcome.status, outcome.body.decode())


def find(conn: Connection, customer_id: uuid.UUID, request: KeyedRequest) -> Stored | None:
    """The record under the request's key, whatever its age."""
    row = conn.execute(_FIND, _this(customer_id, request)).first()
    return None if row is None else Stored(*row)


def complete(
    conn: Connection, customer_id: uuid.UUID, request: KeyedRequest, outcome: Outcome
) -> None:
    """Store the answer of a key claimed without it (or with a wrong guess), in the
    transaction that claimed it."""
    answer = {"new_status": outcome.status, "new_response": outcome.body.decode()}
    conn.execute(_COMPLETE, _this(customer_id, request, **answer))


def release(conn: Connection, customer_id: uuid.UUID, request: KeyedRequest) -> None:
    """Give back a key claimed in this transaction by a request that was refused."""
    conn.execute(_RELEASE, _this(customer_id, request))


def put(
    conn: Connection,
    customer_id: uuid.UUID,
    request: KeyedRequest,
    outcome: Outcome,
    *,
    now: datetime,
) -> None:
    """Store a finished request under its key, replacing whatever the key held."""
    row = _row(
        customer_id,
        request,
        fingerprint=request.fingerprint,
        status=outcome.status,
        response=outcome.body.decode(),
        created_at=now,
    )
    conn.execute(_PUT[conn.dialect.name], row)


_EXPIRED = (
    select(keys.c.customer_id, keys.c.kind, keys.c.key)
    .where(keys.c.created_at < bindparam("before", type_=UTCDateTime))
    .order_by(keys.c.created_at)
    .limit(bindparam("limit"))
    # Several processes purge at once on PostgreSQL: each takes rows the others have
    # not locked instead of queueing behind them (SQLite ignores the clause).
    .with_for_update(skip_locked=True)
)
_PURGE = delete(keys).where(tuple_(keys.c.customer_id, keys.c.kind, keys.c.key).in_(_EXPIRED))


def purge(conn: Connection, *, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the records created before ``before``; how many."""
    deleted: int = conn.execute(_PURGE, {"before": before, "limit": limit}).rowcount
    return deleted


def is_lock_conflict(error: DBAPIError) -> bool:
    """Whether the database cancelled a statement because transactions waited on each other."""
    return getattr(error.orig, "sqlstate", None) in _LOCK_CONFLICTS
