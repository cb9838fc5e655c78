"""Per-request cost of submit, get and search inside one process: no network, no TLS.

Drives the ASGI application directly with 16 concurrent callers on a fresh SQLite (or
the given) database, so the figure is the application's own work, free of wrk's and
TLS's share of the two cores. Use it to compare a change before and after; use
``bench.run`` for the HTTP figures the targets refer to.

    .venv/bin/python -m bench.inprocess [--requests 4000] [--url sqlite:///…]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from pressline.orders import examples

Call = Callable[[int], Awaitable[tuple[int, bytes]]]


async def _call(app: Any, method: str, path: str, body: bytes, key: str) -> tuple[int, bytes]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("bench", 443),
        "headers": [(b"content-type", b"application/json"), (b"x-api-key", key.encode())],
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


async def _measure(name: str, requests: int, make: Call, concurrency: int = 16) -> list[bytes]:
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
    print(f"{name:7s} {requests / elapsed:8,.0f}/s  {elapsed / requests * 1e6:7,.0f} µs/request")
    return bodies


async def main(url: str, requests: int) -> None:
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
    search = b'{"fulfillmentStatus": ["created"], "limit": 50}'
    created = await _measure(
        "submit", requests, lambda i: _call(app, "POST", f"{base}/order", payloads[i], key)
    )
    ids = [json.loads(body)["id"] for body in created]
    await _measure("get", requests, lambda i: _call(app, "GET", f"{base}/{ids[i]}", b"", key))
    await _measure("search", requests, lambda i: _call(app, "POST", f"{base}/search", search, key))
    db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests per scenario")
    parser.add_argument("--url", help="database URL (default: a fresh SQLite file)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = options.url or f"sqlite:///{Path(scratch) / 'inprocess.db'}"
        asyncio.run(main(url, options.requests))
