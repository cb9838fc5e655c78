"""The ``Idempotency-Key`` header on the write endpoints, and replayed answers.

Routes call :func:`write` (or :func:`submit` for Submit Order) instead of
``database.write``. Without a key, and without ``preventDuplicate``, that is the
plain write: no hashing, no extra statement.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson
from fastapi import Request
from sqlalchemy import Connection
from starlette.responses import Response

from pressline.accounts.keys import Principal
from pressline.config import Settings
from pressline.db import utcnow
from pressline.deps import database
from pressline.errors import FieldError, ValidationFailed
from pressline.idempotency import service
from pressline.idempotency.keys import (
    HEADER,
    REPLAYED_HEADER,
    KeyedRequest,
    KeyKind,
    Outcome,
    Refused,
    Result,
    fingerprint,
    parse_key,
)
from pressline.orders import service as orders
from pressline.web import json_response

_REPLAYED = {REPLAYED_HEADER: "true"}


def header_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key``, or None; 400 for a value that cannot be one,
    or for two of them (which one would the client mean?)."""
    values = request.headers.getlist("idempotency-key")
    if len(values) > 1:
        message = f"Send one {HEADER} header, not {len(values)}"
        raise ValidationFailed([FieldError("repeated_header", HEADER, message)])
    return parse_key(values[0] if values else None)


async def write(
    request: Request,
    principal: Principal,
    key: str | None,
    job: Callable[[Connection], Any],
    *,
    answer: Any = None,
) -> Response:
    """Run ``job`` through the writer, under ``key`` if any; 200 with ``answer`` as the
    body, or (without one) the job's result."""
    if key is None:
        result = await database(request).write(job)
        return json_response(result if answer is None else answer)
    operation = partial(service.answered, write=job, answer=answer)
    expected = None if answer is None else Outcome(200, orjson.dumps(answer))
    return await _keyed_write(
        request,
        principal,
        key,
        operation,
        expected=expected,
        now=utcnow(),
        retention=_retention(request),
    )


async def submit(
    request: Request, prepared: orders.PreparedOrder, *, key: str | None, prevent_duplicate: bool
) -> Response:
    """Submit Order, with the header's key and/or ``preventDuplicate``.

    A plain submit (no key, no ``preventDuplicate``) is stored with the other plain
    submits of its batch (``service.submit_orders``), any other through
    ``service.submit_order``: either way a duplicate reference is answered only after
    its batch commits (``keys.Refused``).
    """
    now, retention = utcnow(), _retention(request)
    reference = prepared.order["order_reference_id"]
    duplicate = (
        await _request(request, KeyKind.ORDER_REFERENCE, reference) if prevent_duplicate else None
    )
    submit = partial(
        service.submit_order, prepared=prepared, duplicate=duplicate, now=now, retention=retention
    )
    if key is None:
        if duplicate is None:  # a plain submit: stored with the others of its batch
            return respond(request, await database(request).write_together(
                service.submit_orders, prepared
            ))  # fmt: skip
        return respond(request, await database(request).write(submit))
    expected = _submitted(prepared)
    return await _keyed_write(
        request, prepared.principal, key, submit, expected=expected, now=now, retention=retention
    )


def _submitted(prepared: orders.PreparedOrder) -> Outcome:
    """The answer a submit will almost always get, known before it runs (a guess: the
    answer actually sent is what is stored, see ``service.run``)."""
    return Outcome(200, orjson.dumps(orders.created(prepared.order)))


async def _keyed_write(
    request: Request,
    principal: Principal,
    key: str,
    operation: service.Operation,
    *,
    expected: Outcome | None,
    now: datetime,
    retention: timedelta,
) -> Response:
    job = partial(
        service.run,
        customer_id=principal.customer_id,
        request=await _request(request, KeyKind.HEADER, key),
        operation=operation,
        now=now,
        retention=retention,
        expected=expected,
    )
    return respond(request, await database(request).write(job))


async def _request(request: Request, kind: KeyKind, key: str) -> KeyedRequest:
    # The body was read (and kept) by the route's parser; a cancel's may be empty.
    body = await request.body()
    return KeyedRequest(kind, key, fingerprint(request.method, request.scope["path"], body))


def _retention(request: Request) -> timedelta:
    settings: Settings = request.app.state.settings
    return timedelta(hours=settings.idempotency_retention_hours)


def respond(request: Request, result: Result) -> Response:
    """The answer as first sent (a replay says so in ``Idempotent-Replayed: true``, the
    access log and the replay counter too), or the refusal's error."""
    if isinstance(result, Refused):
        raise result.error
    headers = None
    if result.replayed:
        headers = _REPLAYED
        request.state.replayed = True
    return Response(result.body, result.status, headers=headers, media_type="application/json")
