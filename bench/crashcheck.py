"""What ``bench.crash`` checks after a restart: each order complete, each reference once.

Two views of the same facts. Through the API, as an integrator would see them: Get
Order returns the acknowledged order with the id and creation time it was acknowledged
with, every item submitted, a shipment and a receipt. In the database itself, which
the API could hide: no reference twice, no order whose item rows do not add up to its
``items_count``, none without its shipment or receipt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from bench.traffic import Outcome
from pressline.accounts import repository
from pressline.db import create_engines
from pressline.orders.tables import order_items, orders


@dataclass(slots=True)
class Attempt:
    """One submit of the load: its reference, key and body, and how it ended."""

    number: int
    reference: str
    key: str
    body: bytes
    outcome: Outcome | None = None
    sent: bool = False
    retries: list[Outcome] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return self.outcome is not None and self.outcome.status == 200

    def acknowledged_order(self) -> dict[str, Any]:
        assert self.outcome is not None
        created: dict[str, Any] = self.outcome.json()
        return created

    def submitted(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.body)
        return body


def order_problems(attempt: Attempt, got: Outcome) -> list[str]:
    """Why Get Order's answer is not the complete order ``attempt`` submitted (none: it is)."""
    if got.status != 200:
        return [f"{attempt.reference}: Get Order answered {got.label}"]
    order, sent = got.json(), attempt.submitted()
    where = f"{attempt.reference} ({order.get('id')})"
    problems = []
    if attempt.acknowledged:
        acked = attempt.acknowledged_order()
        if (order["id"], order["createdAt"]) != (acked["id"], acked["createdAt"]):
            problems.append(f"{where}: not the order acknowledged as {acked}")
    if order["orderReferenceId"] != attempt.reference:
        problems.append(f"{where}: orderReferenceId {order['orderReferenceId']!r}")
    want = [(i["itemReferenceId"], i["productUid"], i["quantity"]) for i in sent["items"]]
    have = [(i["itemReferenceId"], i["productUid"], i["quantity"]) for i in order["items"]]
    if have != want:
        problems.append(f"{where}: items {have}, submitted {want}")
    if order["shippingAddress"]["country"] != sent["shippingAddress"]["country"]:
        problems.append(f"{where}: shipping address {order['shippingAddress']['country']}")
    if not order.get("shipment") or not order["shipment"].get("fulfillmentFacilityId"):
        problems.append(f"{where}: no shipment")
    receipts = order.get("receipts") or []
    if not receipts or any(r["orderId"] != order["id"] for r in receipts):
        problems.append(f"{where}: receipts {receipts!r:.200}")
    return problems


@dataclass(frozen=True, slots=True)
class StoredFacts:
    """The customer's orders as the database holds them."""

    orders: int
    ids_by_reference: dict[str, list[str]]
    incomplete: list[str]

    def duplicates(self) -> dict[str, list[str]]:
        return {ref: ids for ref, ids in self.ids_by_reference.items() if len(ids) > 1}


def stored_facts(database_url: str, customer_reference: str) -> StoredFacts:
    """Every order of the customer: ids by reference, and those missing a part."""
    read, write = create_engines(database_url, pool_size=1)
    try:
        with read.connect() as conn:
            customer = repository.customer_by_reference(conn, customer_reference)
            assert customer is not None
            item_rows = (
                select(func.count()).where(order_items.c.order_id == orders.c.id).scalar_subquery()
            )
            rows = conn.execute(
                select(
                    orders.c.id,
                    orders.c.order_reference_id,
                    orders.c.items_count,
                    item_rows.label("item_rows"),
                    orders.c.shipment,  # JSON: None whether SQL NULL or JSON null
                    orders.c.receipt,
                ).where(orders.c.customer_id == customer.id)
            ).all()
    finally:
        read.dispose()
        write.dispose()
    ids: dict[str, list[str]] = {}
    incomplete = []
    for row in rows:
        ids.setdefault(row.order_reference_id, []).append(str(row.id))
        if row.item_rows != row.items_count or not row.shipment or not row.receipt:
            incomplete.append(
                f"{row.order_reference_id} ({row.id}): {row.item_rows} item rows of "
                f"{row.items_count}, shipment {bool(row.shipment)}, receipt {bool(row.receipt)}"
            )
    return StoredFacts(len(rows), ids, incomplete)


def retry_problems(attempt: Attempt, stored_ids: list[str]) -> list[str]:
    """Why a retry's answer is wrong: only 200 (the one order) or 409 (naming it) are right."""
    problems = []
    expected = stored_ids[0] if len(stored_ids) == 1 else None
    for outcome in attempt.retries:
        if outcome.status == 200:
            got = outcome.json().get("id")
            if got != expected:
                problems.append(f"{attempt.reference}: retry answered 200 with {got}")
        elif outcome.status == 409:
            error = outcome.json()
            message = error.get("message", "")
            # A duplicate names the order; a key in use by a concurrent copy names none.
            in_use = error.get("type") == "idempotency"
            if expected is None or not (in_use or expected in message):
                problems.append(f"{attempt.reference}: retry 409 {message!r}")
        else:
            problems.append(f"{attempt.reference}: retry answered {outcome.label}")
    return problems


def stored_problems(facts: StoredFacts, when: str) -> list[str]:
    problems = []
    if duplicates := facts.duplicates():
        problems.append(
            f"{when}: {len(duplicates)} references stored more than once, e.g. "
            f"{dict(list(duplicates.items())[:3])}"
        )
    if facts.incomplete:
        problems.append(
            f"{when}: {len(facts.incomplete)} incomplete orders, e.g. {facts.incomplete[:3]}"
        )
    return problems


def final_problems(attempts: list[Attempt], final: StoredFacts, before: int) -> list[str]:
    """Exactly one order per reference of the round, the acknowledged one where there was one."""
    problems = []
    created = final.orders - before
    if created != len(attempts):
        problems.append(f"{created} orders stored for {len(attempts)} references")
    for attempt in attempts:
        ids = final.ids_by_reference.get(attempt.reference, [])
        if not ids:
            problems.append(f"{attempt.reference}: not stored even after its retries")
        elif attempt.acknowledged and ids != [attempt.acknowledged_order()["id"]]:
            problems.append(
                f"{attempt.reference}: acknowledged as "
                f"{attempt.acknowledged_order()['id']}, stored as {ids}"
            )
        problems.extend(retry_problems(attempt, ids))
    return problems


def stored_summary(facts: StoredFacts) -> dict[str, int]:
    return {
        "orders": facts.orders,
        "references_stored_twice": len(facts.duplicates()),
        "incomplete": len(facts.incomplete),
    }
