"""Requests for the soak and crash runs, and what they tally.

A request's outcome is its HTTP status, or the name of the transport error that
ended it (``ConnectionResetError``, ``IncompleteReadError``, ``TimeoutError``…):
nothing is retried behind the caller's back, so every failure is seen and counted.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import client, wire
from pressline.orders import examples

#: The seed examples a run submits in turn: four countries, three currencies.
SUBMIT_EXAMPLES = ("guide_basic", "reference", "guide_international", "metadata")
_TLS = wire.unverified_tls()


def connect(port: int, api_key: str) -> wire.Connection:
    """A keep-alive HTTPS connection to the run's server on 127.0.0.1, with the key."""
    return wire.Connection(client.HOST, port, _TLS, {"X-API-KEY": api_key})


def order_body(reference: str, number: int) -> dict[str, Any]:
    """One of the seed's submit examples (in turn) with ``reference`` as orderReferenceId."""
    body = copy.deepcopy(examples.SUBMIT[SUBMIT_EXAMPLES[number % len(SUBMIT_EXAMPLES)]])
    body["orderReferenceId"] = reference
    return body


def encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one request ended: a status, or the transport error that cut it off."""

    status: int | None
    error: str | None
    seconds: float
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return str(self.status) if self.status is not None else self.error or "?"

    def json(self) -> Any:
        return json.loads(self.body)


async def send(
    conn: wire.Connection,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Outcome:
    """One request; its outcome, whatever happened on the way."""
    began = time.perf_counter()
    try:
        response = await conn.request(method, path, body, headers)
    except (OSError, EOFError, TimeoutError, wire.ProtocolError) as exc:
        # EOFError: asyncio's IncompleteReadError (the server closed mid-response).
        return Outcome(None, type(exc).__name__, time.perf_counter() - began)
    elapsed = time.perf_counter() - began
    return Outcome(response.status, None, elapsed, response.body, response.headers)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of ``values`` (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass(slots=True)
class Tally:
    """Outcomes by operation: status counts and latencies."""

    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, operation: str, outcome: Outcome) -> None:
        self.statuses[operation][outcome.label] += 1
        if outcome.status is not None:
            self.latencies[operation].append(outcome.seconds)

    def total(self) -> int:
        return sum(sum(counter.values()) for counter in self.statuses.values())

    def count(self, predicate: Callable[[str], bool]) -> int:
        """Requests whose label satisfies ``predicate(label)``, over every operation."""
        return sum(
            n
            for counter in self.statuses.values()
            for label, n in counter.items()
            if predicate(label)
        )

    def summary(self, operation: str) -> dict[str, Any]:
        times = self.latencies.get(operation, [])
        return {
            "requests": sum(self.statuses[operation].values()),
            "statuses": dict(sorted(self.statuses[operation].items())),
            "p50_ms": round(percentile(times, 0.50) * 1000, 1),
            "p99_ms": round(percentile(times, 0.99) * 1000, 1),
        }

    def overall(self) -> dict[str, Any]:
        times = [t for values in self.latencies.values() for t in values]
        return {
            "requests": self.total(),
            "p50_ms": round(percentile(times, 0.50) * 1000, 1),
            "p99_ms": round(percentile(times, 0.99) * 1000, 1),
        }


def is_5xx(label: str) -> bool:
    return label.isdigit() and int(label) >= 500


def is_transport_error(label: str) -> bool:
    return not label.isdigit()
