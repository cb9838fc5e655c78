"""What the scenarios send: the caller's key, payload files for the Lua scripts, preflight.

Every run gets its own connector and API key on the seeded benchmark customer.
Before the load starts, each scenario's requests are sent once and must succeed,
so a broken payload fails loudly instead of being measured as fast errors.
"""

from __future__ import annotations

import copy
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench import client
from bench.report import note
from bench.seed import BENCH_CUSTOMER, COUNTRIES, SPAN, reference_for
from pressline.accounts import repository
from pressline.accounts import service as accounts
from pressline.db import Database, utcnow
from pressline.orders import examples
from pressline.orders.tables import orders

SCENARIOS = ("submit", "get", "search")
PLACEHOLDER = "__REFERENCE__"
GET_POOL = 5000
SEARCH_BODIES = 200
#: Searches sent once before the load: every shape of the mix at least once.
PREFLIGHT_SEARCHES = 26


class PreflightError(RuntimeError):
    """A scenario's request did not succeed once, before any load."""


@dataclass(frozen=True, slots=True)
class Account:
    """The run's connector on the benchmark customer, and existing order keys to read."""

    prefix: str
    api_key: str
    order_keys: list[str]

    @property
    def base(self) -> str:
        return f"/api/{self.prefix}"


def prepare_account(url: str, run_id: str) -> Account:
    """A fresh connector and key, and a random sample of the customer's orders (some by ref)."""
    db = Database(url)
    try:
        with db.transaction() as conn:
            created = accounts.create_connector(
                conn,
                customer_reference_id=BENCH_CUSTOMER,
                prefix=f"bench-{run_id}",
                name="benchmark",
                now=utcnow(),
            )
            customer = repository.customer_by_reference(conn, BENCH_CUSTOMER)
            assert customer is not None
            rows = conn.execute(
                select(orders.c.id, orders.c.order_reference_id)
                .where(orders.c.customer_id == customer.id)
                .order_by(func.random())
                .limit(GET_POOL)
            ).all()
    finally:
        db.close()
    # One read in four names the order by the customer's orderReferenceId.
    keys = [row.order_reference_id if n % 4 == 0 else str(row.id) for n, row in enumerate(rows)]
    return Account(created.prefix, created.key.header_value, keys)


def submit_template() -> str:
    body = copy.deepcopy(examples.SUBMIT["guide_basic"])
    body["orderReferenceId"] = PLACEHOLDER
    return json.dumps(body, separators=(",", ":"))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def search_bodies(seeded_at: datetime, bench_orders: int, count: int) -> list[dict[str, Any]]:
    """A rotating mix of the filters seed 001 shows, over the seeded year (limit 50)."""
    rng = random.Random(7)
    countries = list(COUNTRIES)

    def window(days: int) -> dict[str, str]:
        start = seeded_at - SPAN + timedelta(days=rng.uniform(0, SPAN.days - days))
        return {"startDate": _iso(start), "endDate": _iso(start + timedelta(days=days))}

    def some_reference() -> str:
        return reference_for(0, rng.randint(1, bench_orders))

    shapes: list[Callable[[], dict[str, Any]]] = [
        lambda: {},
        lambda: {"fulfillmentStatus": ["shipped", "delivered"]},
        lambda: {"fulfillmentStatus": ["created", "printed"]},
        lambda: {"fulfillmentStatus": ["delivered"], "offset": 50},
        lambda: {"financialStatus": ["pending"]},
        lambda: {"fulfillmentStatus": ["failed", "on_hold"]},  # the problem orders
        lambda: {"countries": ["US", "CA"]},
        lambda: {"countries": [rng.choice(countries)]},
        lambda: window(7),
        lambda: {"orderReferenceId": some_reference()},
        lambda: {"orderReferenceIds": [some_reference() for _ in range(5)]},
        lambda: {
            "fulfillmentStatus": ["shipped"],
            "countries": ["US"],
            "startDate": _iso(seeded_at - timedelta(days=30)),
        },
        lambda: {"countries": [rng.choice(countries)], **window(30)},
    ]
    return [{**shapes[n % len(shapes)](), "limit": 50} for n in range(count)]


def write_payload(
    scenario: str, directory: Path, account: Account, seeded_at: datetime, bench_orders: int
) -> Path:
    """The file the scenario's Lua script reads."""
    path = directory / f"{scenario}.payload"
    if scenario == "submit":
        path.write_text(submit_template())
    elif scenario == "get":
        path.write_text("\n".join(account.order_keys) + "\n")
    else:
        bodies = search_bodies(seeded_at, bench_orders, SEARCH_BODIES)
        path.write_text("\n".join(json.dumps(body, separators=(",", ":")) for body in bodies))
    return path


def _check(reply: client.Reply, what: str) -> dict[str, Any]:
    if not reply.ok:
        text = reply.body.decode(errors="replace")[:500]
        raise PreflightError(f"{what} answered {reply.status}: {text}")
    parsed: dict[str, Any] = json.loads(reply.body)
    return parsed


def preflight(scenario: str, port: int, account: Account, payload: Path) -> dict[str, Any]:
    """Send the scenario's requests once; facts worth reporting (e.g. the slowest searches).

    Searches are timed one at a time on an idle server (TLS handshake included), which
    points at the filter that dominates the search mix's latency.
    """
    key, base = account.api_key, account.base
    if scenario == "submit":
        body = payload.read_text().replace(PLACEHOLDER, f"preflight-{uuid.uuid4().hex[:12]}")
        _check(
            client.request(port, "POST", f"{base}/order", api_key=key, body=body.encode()), "submit"
        )
        return {}
    if scenario == "get":
        for order_key in payload.read_text().split()[:4]:
            _check(
                client.request(port, "GET", f"{base}/{order_key}", api_key=key), f"get {order_key}"
            )
        return {}
    found, timed = [], []
    for line in payload.read_text().splitlines()[:PREFLIGHT_SEARCHES]:
        began = time.perf_counter()
        reply = client.request(port, "POST", f"{base}/search", api_key=key, body=line.encode())
        timed.append(((time.perf_counter() - began) * 1000, line))
        found.append(len(_check(reply, f"search {line}")["orders"]))
    timed.sort(reverse=True)
    for ms, line in timed[:3]:
        note(f"slowest search shapes, one request each: {ms:7.1f} ms  {line}")
    return {
        "mean_results_per_search": sum(found) / len(found),
        "slowest_searches": [{"ms": round(ms, 1), "body": line} for ms, line in timed[:3]],
    }
