"""What the edge knows of a finished ``/api/…`` call, as a request-log entry.

Who called: the principal the route authenticated (``scope["state"]["caller"]``,
set by ``deps.get_caller``); for the read endpoints, which authenticate inside their
database call, the key the edge saw authenticate (``KnownKey``), or for an "All
Customers" connector the Customer-Reference-ID the request named when it was
answered as that customer's.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from starlette.types import Scope

from pressline.accounts.service import KnownKey
from pressline.db import storable_text, utcnow
from pressline.requestlog.recorder import Entry

#: Entries one process records each second for calls no key authenticated. Anyone can
#: make those, as fast as the network allows and with no rate limit to stop them (the
#: limit counts keys): each is recorded without its bodies, and no more than this many,
#: so they cannot fill the disk. The access log still has a line for every one.
ANONYMOUS_PER_SECOND = 10


class AnonymousAllowance:
    """The request log's room for calls no key authenticated: ``per_second`` a second.

    One counter per process, on the event loop: ``limits``' stores would bring a key
    space and an expiry thread for what is a single fixed window."""

    def __init__(self, per_second: int = ANONYMOUS_PER_SECOND) -> None:
        self.per_second = per_second
        self._second = 0
        self._taken = 0

    def take(self) -> bool:
        second = int(time.monotonic())
        if second != self._second:
            self._second, self._taken = second, 0
        self._taken += 1
        return self._taken <= self.per_second


def authenticated(scope: Scope, status: int, known: KnownKey | None) -> bool:
    """Whether a key authenticated the call: the route's, or the edge's for the reads
    (whose memory of a key outlives its revocation by minutes: not past a 401)."""
    state: dict[str, Any] = scope.get("state") or {}
    return state.get("caller") is not None or (known is not None and status != 401)


#: Statuses after which the request did act as its customer (authenticated, and for an
#: "All Customers" connector with a known Customer-Reference-ID).
_ANSWERED_AS_CUSTOMER = frozenset({200, 404, 405, 409, 422})


def _customer(
    scope: Scope, state: dict[str, Any], status: int, known: KnownKey | None
) -> str | None:
    caller = state.get("caller")
    if caller is not None:
        reference: str = caller.customer_reference_id
        return reference
    params = scope.get("path_params") or {}
    if known is None or known.prefix != params.get("prefix"):
        return None
    if not known.all_customers:
        own: str = known.customer_reference_id
        return own
    if status not in _ANSWERED_AS_CUSTOMER:
        return None
    for name, value in scope["headers"]:
        if name == b"customer-reference-id":
            named: str = value.decode("latin-1")
            return named
    return None


def entry(
    scope: Scope,
    *,
    request_id: str,
    status: int,
    started: float,
    known: KnownKey | None,
    request_body: list[bytes],
    response_body: list[bytes],
) -> Entry:
    state: dict[str, Any] = scope.get("state") or {}
    params = scope.get("path_params") or {}
    path: str = scope["path"]
    prefix = params.get("prefix") or path.split("/", 3)[2] if path.count("/") >= 2 else ""
    transformed = state.get("transformed_request")
    order_key = state.get("order_key") or params.get("orderId")
    seconds = time.perf_counter() - started
    keyed = authenticated(scope, status, known)  # else anyone's bodies: not kept
    return Entry(
        id=request_id,
        at=utcnow() - timedelta(seconds=seconds),  # when the request arrived
        prefix=str(prefix),
        customer_reference_id=_customer(scope, state, status, known),
        method=scope["method"],
        path=storable_text(path),
        status=status,
        latency_us=int(seconds * 1_000_000),
        order_id=state.get("order_id"),
        order_key=storable_text(order_key) if order_key else None,
        template=state.get("template"),
        request_body=b"".join(request_body) if keyed else b"",
        transformed_request=transformed if isinstance(transformed, bytes) else None,
        response_body=b"".join(response_body) if keyed else b"",
    )
