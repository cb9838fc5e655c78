"""The soak's traffic: an integrator's mix of the five order operations, many clients at once.

Each simulated client has one keep-alive HTTPS connection (``bench/wire.py``) and
sends one request after another, choosing each operation by its share in
:data:`MIX`. Reads and changes pick from the orders the run has had acknowledged, so a
404 for one of them would be a lost write, not noise.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import stack, traffic, wire
from bench.traffic import Outcome, Tally, encoded, order_body, send

#: Share of each operation in the mix (percent): mostly submits and reads, some changes.
MIX: dict[str, int] = {
    "submit": 32,
    "get": 33,
    "search": 17,
    "update": 8,
    "cancel": 6,
    "resubmit": 4,  # a client resending an order it already sent: 409, nothing stored
}
#: The statuses each operation may answer; anything else fails the soak.
EXPECTED: dict[str, set[str]] = {
    "submit": {"200"},
    "resubmit": {"409"},
    "get": {"200"},
    "search": {"200"},
    "update": {"200", "409"},  # 409: the order was canceled meanwhile
    "cancel": {"200"},
}
#: A 429 is the limiter doing its job (only with a real ``--rate-limit``): counted, allowed.
RATE_LIMITED = "429"
GB_ADDRESS = {
    "country": "GB",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "addressLine1": "12 St James's Square",
    "city": "London",
    "postCode": "SW1Y 4JH",
    "email": "ada@example.org",
    "phone": "+44 20 7946 0958",
}
UPDATES: list[dict[str, Any]] = [
    {"shipmentMethodUid": "express"},
    {"shipmentMethodUid": "standard"},
    {"shippingAddress": GB_ADDRESS},
]


class SoakError(RuntimeError):
    """The soak could not start its load (its own warm-up submits failed)."""


@dataclass(slots=True)
class Pool:
    """Acknowledged orders (id, reference) the reads and changes pick from."""

    rng: random.Random
    orders: list[tuple[str, str]] = field(default_factory=list)

    def pick(self) -> tuple[str, str]:
        return self.orders[self.rng.randrange(len(self.orders))]


@dataclass(slots=True)
class Client:
    """One simulated integrator: its connection pool, the run's orders and its counters."""

    conn: wire.Connection
    base: str
    run_id: str
    number: int
    pool: Pool
    rng: random.Random
    sent: int = 0

    def reference(self) -> str:
        self.sent += 1
        return f"{self.run_id}-{self.number}-{self.sent}"


async def _submit(c: Client) -> Outcome:
    reference = c.reference()
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    body = encoded(order_body(reference, c.sent + c.number))
    outcome = await send(c.conn, "POST", f"{c.base}/order", body=body, headers=headers)
    if outcome.status == 200:
        c.pool.orders.append((outcome.json()["id"], reference))
    return outcome


async def _resubmit(c: Client) -> Outcome:
    _, reference = c.pool.pick()
    body = encoded(order_body(reference, c.rng.randrange(4)))
    return await send(c.conn, "POST", f"{c.base}/order", body=body)


async def _get(c: Client) -> Outcome:
    order_id, reference = c.pool.pick()
    key = reference if c.rng.random() < 0.25 else order_id  # one read in four by reference
    return await send(c.conn, "GET", f"{c.base}/{key}")


def _search_body(c: Client) -> dict[str, Any]:
    now = datetime.now(UTC)
    shapes: list[Callable[[], dict[str, Any]]] = [
        lambda: {},
        lambda: {"fulfillmentStatus": ["created"]},
        lambda: {"fulfillmentStatus": ["canceled"]},
        lambda: {"financialStatus": ["pending"]},
        lambda: {"countries": [c.rng.choice(["US", "GB", "DE", "SE"])]},
        lambda: {"startDate": (now - timedelta(seconds=10)).isoformat(timespec="seconds")},
        lambda: {"orderReferenceId": c.pool.pick()[1]},
        lambda: {"orderReferenceIds": [c.pool.pick()[1] for _ in range(5)]},
    ]
    return {**c.rng.choice(shapes)(), "limit": 50}


async def _search(c: Client) -> Outcome:
    return await send(c.conn, "POST", f"{c.base}/search", body=encoded(_search_body(c)))


async def _update(c: Client) -> Outcome:
    order_id, _ = c.pool.pick()
    body = encoded(c.rng.choice(UPDATES))
    return await send(c.conn, "PUT", f"{c.base}/{order_id}", body=body)


async def _cancel(c: Client) -> Outcome:
    order_id, _ = c.pool.pick()
    return await send(c.conn, "POST", f"{c.base}/{order_id}/cancel")


OPERATIONS: dict[str, Callable[[Client], Awaitable[Outcome]]] = {
    "submit": _submit,
    "resubmit": _resubmit,
    "get": _get,
    "search": _search,
    "update": _update,
    "cancel": _cancel,
}


async def _drive(c: Client, tally: Tally, deadline: float) -> None:
    names, weights = list(MIX), list(MIX.values())
    while time.monotonic() < deadline:
        operation = c.rng.choices(names, weights)[0]
        tally.add(operation, await OPERATIONS[operation](c))


async def _warm_up(clients: list[Client], count: int) -> None:
    """Submit ``count`` orders first, so reads and changes have something to work on."""
    tally = Tally()

    async def share(c: Client) -> None:  # a client's requests go one after another
        for _ in range(c.number, count, len(clients)):
            tally.add("submit", await _submit(c))

    await asyncio.gather(*(share(c) for c in clients))
    if tally.statuses["submit"].keys() != {"200"}:
        raise SoakError(f"warm-up submits answered {dict(tally.statuses['submit'])}")


async def run_load(
    port: int, caller: stack.Caller, args: argparse.Namespace
) -> tuple[Tally, float]:
    """Warm up, then every client runs the mix until ``--duration`` has passed.

    Returns the mix's outcomes (not the warm-up's) and how long the mix ran.
    """
    rng = random.Random(args.seed)
    pool = Pool(random.Random(rng.random()))
    run_id = f"soak-{secrets.token_hex(3)}"
    clients = [
        Client(
            traffic.connect(port, caller.api_key),
            caller.base,
            run_id,
            n,
            pool,
            random.Random(rng.random()),
        )
        for n in range(args.clients)
    ]
    try:
        await _warm_up(clients, args.warm_orders)
        tally = Tally()
        began = time.monotonic()
        deadline = began + args.duration
        await asyncio.gather(*(_drive(c, tally, deadline) for c in clients))
        return tally, time.monotonic() - began
    finally:
        for c in clients:
            c.conn.close()
