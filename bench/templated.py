"""Submit through a linked template against plain submit, inside one process (issue 6 §6).

Two connectors on one fresh database: one takes a Shopify-like export through the
example template (two items, three lookups), the other the very order that template
makes, sent in Pressline's own JSON; so the difference is the template's cost alone.
The request log is on for both. Rounds alternate the two and the medians are compared
with the budget: templated submit keeps at least 70% of plain submit's throughput.

    .venv/bin/python -m bench.templated [--requests 2000] [--rounds 3] [--url …]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bench.inprocess import _call, _measure
from pressline.accounts import service as accounts
from pressline.app import create_app
from pressline.config import Settings
from pressline.db import Database, utcnow
from pressline.migrate import upgrade
from pressline.observability import configure_logging
from pressline.templates import LookupTables, read_csv, samples, store
from pressline.templates.formats import Format
from pressline.templates.model import TemplateType
from pressline.templates.render import default_pool

BUDGET = 0.70


def _connector(db: Database, name: str) -> tuple[str, str, Any]:
    reference = f"{name}-{uuid.uuid4().hex[:8]}"
    with db.transaction() as conn:
        customer_id = accounts.create_customer(
            conn, reference_id=reference, name=reference, now=utcnow()
        )
        created = accounts.create_connector(
            conn, customer_reference_id=reference, prefix=reference, name=reference, now=utcnow()
        )
    return f"/api/{reference}", created.key.header_value, (customer_id, created.connector_id)


def _link_shopify(db: Database, customer_id: uuid.UUID, connector_id: uuid.UUID) -> None:
    folder = samples()
    with db.transaction() as conn:
        for name in ("sku", "shipping"):
            table = read_csv((folder / "lookups" / f"{name}.csv").read_bytes(), name=name)
            store.save_lookup(conn, customer_id=customer_id, table=table, now=utcnow())
        store.create_template(
            conn,
            customer_id=customer_id,
            name="shopify",
            kind=TemplateType.ORDER_SUBMIT_REQUEST,
            input_format=Format.JSON,
            output_format=Format.JSON,
            source=(folder / "shopify_submit.j2").read_text(),
            now=utcnow(),
        )
        store.link(
            conn, connector_id=connector_id, customer_id=customer_id, endpoint="submit",
            role="request", name="shopify", version=None, now=utcnow(),
        )  # fmt: skip


async def main(url: str, requests: int, rounds: int) -> None:
    db = Database(url)
    upgrade(db.write_engine)
    plain_base, plain_key, _ = _connector(db, "plain")
    shop_base, shop_key, (customer_id, connector_id) = _connector(db, "shop")
    _link_shopify(db, customer_id, connector_id)
    default_pool().warm()
    app = create_app(Settings(database_url=url, rate_limit="off"), database=db)
    export = json.loads((samples() / "shopify_order.json").read_text())
    order = _canonical(db, customer_id, export)
    rates: dict[str, list[float]] = {}
    async with _lifespan(app):
        for round_ in range(rounds):
            plain = [
                json.dumps({**order, "orderReferenceId": f"p{round_}-{i}"}).encode()
                for i in range(requests)
            ]
            shop = []
            for i in range(requests):
                export["order"]["order_number"] = round_ * requests + i
                shop.append(json.dumps(export).encode())
            await _measure(
                "submit", requests, _poster(app, plain_base, plain, plain_key), rates=rates
            )
            await _measure(
                "templated", requests, _poster(app, shop_base, shop, shop_key), rates=rates
            )
    plain_rate = statistics.median(rates["submit"])
    templated_rate = statistics.median(rates["templated"])
    ratio = templated_rate / plain_rate
    print(f"median submit     {plain_rate:8,.0f}/s over {rounds}")
    print(f"median templated  {templated_rate:8,.0f}/s over {rounds}")
    verdict = "within" if ratio >= BUDGET else "OUTSIDE"
    print(f"templated/plain   {ratio:8.0%}  ({verdict} the {BUDGET:.0%} budget)")
    db.close()


def _canonical(db: Database, customer_id: uuid.UUID, export: dict[str, Any]) -> dict[str, Any]:
    """The order the template makes of ``export``: what the plain connector is sent."""
    with db.transaction() as conn:
        template = store.load(conn, customer_id, "shopify")
        tables = LookupTables(store.load_lookups(conn, customer_id))
    rendered = default_pool().render(template, json.dumps(export).encode(), lookups=tables)
    order: dict[str, Any] = json.loads(rendered.body)
    return order


def _poster(app: Any, base: str, payloads: list[bytes], key: str) -> Any:
    def post(i: int) -> Any:
        return _call(app, "POST", f"{base}/order", payloads[i], key)

    return post


class _lifespan:
    """Run the app's lifespan (request log writer, purges) around the measurement."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def __aenter__(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.queue.get, self.sent.put))
        await self.queue.put({"type": "lifespan.startup"})
        await self.sent.get()

    async def __aexit__(self, *exc: object) -> None:
        await self.queue.put({"type": "lifespan.shutdown"})
        await self.sent.get()
        await self.task


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two")
    parser.add_argument("--url", help="database URL (default: a fresh SQLite file)")
    options = parser.parse_args()
    configure_logging(level="warning", log_format="json")  # no access lines on the terminal
    with tempfile.TemporaryDirectory() as scratch:
        url = options.url or f"sqlite:///{Path(scratch) / 'templated.db'}"
        asyncio.run(main(url, options.requests, options.rounds))
