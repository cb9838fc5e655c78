"""Per-request cost of submit, get and search inside one process: no network, no TLS.

Drives the ASGI application directly with 16 concurrent callers on a fresh SQLite (or
the given) database, so the figure is the application's own work, free of wrk's and
TLS's share of the two cores. Use it to compare a change before and after; use
``bench.run`` for the HTTP figures the targets refer to.

    .venv/bin/python -m bench.inprocess [--requests 4000] [--url sqlite:///…]
    .venv/bin/python -m bench.inprocess --idempotency [--rounds 5]

After the submits it also runs the worker's intake pass over them (``intake``: orders
per second through ``created → passed`` and the hand-off).

``--idempotency`` adds submits with an ``Idempotency-Key`` and their replays; with
``--rounds N`` submit, keyed submit and replay alternate N times and the medians are
printed, which evens out a busy machine's drift. ``--read-rounds N`` does the same for
get and search, over the same orders.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pressline.accounts import service as accounts
from pressline.app import create_app
from pressline.config import Settings
from pressline.db import Database, utcnow
from pressline.migrate import upgrade
from pressline.observability import configure_logging
from pressline.orders import examples, timers
from pressline.orders.statuses import FinancialStatus

Call = Callable[[int], Awaitable[tuple[int, bytes]]]


async def _call(
    app: Any, method: str, path: str, body: bytes, key: str, idempotency_key: str | None = None
) -> tuple[int, bytes]:
    headers = [(b"content-type", b"application/json"), (b"x-api-key", key.encode())]
    if idempotency_key is not None:
        headers.append((b"idempotency-key", idempotency_key.encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("bench", 443),
        "headers": headers,
    }  # fmt: skip
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def _measure(
    name: str,
    requests: int,
    make: Call,
    concurrency: int = 16,
    rates: dict[str, list[float]] | None = None,
) -> list[bytes]:
    bodies: list[bytes] = []
    started, index = time.perf_counter(), 0

    async def worker() -> None:
        nonlocal index
        while index < requests:
            mine, index = index, index + 1
            status, body = await make(mine)
            if status != 200:
                raise SystemExit(f"{name}: HTTP {status}: {body[:300]!r}")
            bodies.append(body)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    print(f"{name:12s} {requests / elapsed:8,.0f}/s  {elapsed / requests * 1e6:7,.0f} µs/request")
    if rates is not None:
        rates.setdefault(name, []).append(requests / elapsed)
    return bodies


async def main(
    url: str,
    requests: int,
    *,
    idempotency: bool = False,
    rounds: int = 1,
    read_rounds: int = 1,
) -> None:
    db = Database(url)
    upgrade(db.write_engine)
    reference = f"bench-{uuid.uuid4().hex[:8]}"
    with db.transaction() as conn:
        accounts.create_customer(conn, reference_id=reference, name=reference, now=utcnow())
        key = accounts.create_connector(
            conn, customer_reference_id=reference, prefix=reference, name=reference, now=utcnow()
        ).key.header_value
    app = create_app(Settings(database_url=url, rate_limit="off"), database=db)
    base, order = f"/api/{reference}", examples.SUBMIT["guide_basic"]
    payloads = [
        json.dumps({**order, "orderReferenceId": f"r{i}"}).encode() for i in range(requests)
    ]
    search = b'{"fulfillmentStatus": ["passed"], "limit": 50}'  # past intake
    rates: dict[str, list[float]] = {}
    created = await _measure("submit", requests, _submits(app, base, payloads, key), rates=rates)
    ids = [json.loads(body)["id"] for body in created]
    await asyncio.to_thread(_intake, db, requests)
    if idempotency:
        await _keyed_rounds(app, base, key, order, requests, rounds, rates)
    reads: dict[str, list[float]] = {}
    for _ in range(read_rounds):
        await _measure(
            "get", requests, lambda i: _call(app, "GET", f"{base}/{ids[i]}", b"", key), rates=reads
        )
        await _measure(
            "search", requests, lambda i: _call(app, "POST", f"{base}/search", search, key),
            rates=reads,
        )  # fmt: skip
    _print_medians(reads)
    db.close()


def _print_medians(rates: dict[str, list[float]]) -> None:
    """Each scenario's median rate, when it ran more than once."""
    for name, values in rates.items():
        if len(values) > 1:
            print(f"median {name:12s} {statistics.median(values):8,.0f}/s over {len(values)}")


def _intake(db: Database, orders: int) -> None:
    """The worker's intake pass over the orders just submitted (``created → passed``,
    hand-off), as the worker inside ``pressline serve`` runs it: through the writer."""
    started, ran = time.perf_counter(), 0
    while passed := timers.run_due(
        db, now=utcnow(), billing=FinancialStatus.TO_BE_INVOICED, limit=500
    ):
        ran += passed
    elapsed = time.perf_counter() - started
    if ran < orders:
        raise SystemExit(f"intake: {ran} of {orders} orders passed")
    print(f"{'intake':12s} {ran / elapsed:8,.0f}/s  {elapsed / ran * 1e6:7,.0f} µs/order")


async def _keyed_rounds(
    app: Any,
    base: str,
    key: str,
    order: dict[str, Any],
    requests: int,
    rounds: int,
    rates: dict[str, list[float]],
) -> None:
    """Keyed submits and their replays; over several rounds, with plain submits between."""
    for round_ in range(rounds):
        if round_:
            plain = [
                json.dumps({**order, "orderReferenceId": f"p{round_}-{i}"}).encode()
                for i in range(requests)
            ]
            await _measure("submit", requests, _submits(app, base, plain, key), rates=rates)
        await _keyed_submits(app, base, key, order, requests, f"k{round_}", rates)
    _print_medians(rates)


def _submits(app: Any, base: str, payloads: list[bytes], key: str) -> Call:
    return lambda i: _call(app, "POST", f"{base}/order", payloads[i], key)


async def _keyed_submits(
    app: Any,
    base: str,
    key: str,
    order: dict[str, Any],
    requests: int,
    prefix: str,
    rates: dict[str, list[float]],
) -> None:
    """Submit with a fresh Idempotency-Key each, then the same requests again (replays)."""
    payloads = [
        json.dumps({**order, "orderReferenceId": f"{prefix}-{i}"}).encode() for i in range(requests)
    ]
    keys = [f"bench-{uuid.uuid4()}" for _ in range(requests)]

    def keyed(i: int) -> Awaitable[tuple[int, bytes]]:
        return _call(app, "POST", f"{base}/order", payloads[i], key, keys[i])

    await _measure("submit+key", requests, keyed, rates=rates)
    await _measure("replay", requests, keyed, rates=rates)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests per scenario")
    parser.add_argument("--url", help="database URL (default: a fresh SQLite file)")
    parser.add_argument(
        "--idempotency",
        action="store_true",
        help="also measure submit with an Idempotency-Key, and replays of those submits",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="with --idempotency: alternate this many times"
    )
    parser.add_argument(
        "--read-rounds", type=int, default=1, help="alternate get and search this many times"
    )
    options = parser.parse_args()
    # As `pressline serve` at its default level would, minus the access lines: the
    # figure is the application's work, not a terminal's.
    configure_logging(level="warning", log_format="json")
    with tempfile.TemporaryDirectory() as scratch:
        url = options.url or f"sqlite:///{Path(scratch) / 'inprocess.db'}"
        asyncio.run(
            main(
                url,
                options.requests,
                idempotency=options.idempotency,
                rounds=options.rounds,
                read_rounds=options.read_rounds,
            )
        )
