"""The production side's use cases: facility keys, subscriptions, the queue, reports.

A facility sees only the orders handed to it; any other order, however real, is a 404
(reliability.md 4). Its reports go through the lifecycle like every other change:
illegal moves are 409s naming the current status and the allowed next ones.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from pressline.accounts import keys as account_keys
from pressline.accounts.keys import NewKey
from pressline.catalog.shipping import ShippingNetwork
from pressline.errors import (
    AuthenticationFailed,
    FacilityKeyNotFound,
    FacilityNotFound,
    FieldError,
    OrderNotFound,
    ValidationFailed,
)
from pressline.orders import journal, moves, repository
from pressline.orders.lifecycle import FACILITY_REPORTS, Actor, CancelLine, EventKind
from pressline.orders.statuses import FinancialStatus, FulfillmentStatus
from pressline.postbacks import deliveries, outbox
from pressline.postbacks.events import EventType
from pressline.production import keys, views
from pressline.production import repository as production
from pressline.production.schemas import PackageReport, StatusReport

F = FulfillmentStatus
#: Carrier progress: what a package's status follows.
_CARRIER = (F.SHIPPED, F.IN_TRANSIT, F.DELIVERED, F.RETURNED)


# --- facilities, keys, subscriptions (operator) --------------------------------------


def check_facility(network: ShippingNetwork, facility_id: str) -> None:
    try:
        network.facility(facility_id)
    except KeyError:
        raise FacilityNotFound(facility_id) from None


def create_key(conn: Connection, *, facility_id: str, now: datetime) -> NewKey:
    new = keys.generate_key()
    production.insert_key(
        conn, facility_id=facility_id, key=new.key, secret_hash=new.secret_hash, now=now
    )
    return new


def revoke_key(conn: Connection, *, facility_id: str, key: str, now: datetime) -> None:
    if not production.revoke_key(conn, facility_id, key, now):
        raise FacilityKeyNotFound(key)


def subscribe(
    conn: Connection,
    *,
    facility_id: str,
    submit_url: str,
    cancel_url: str | None,
    secret: str | None,
    now: datetime,
) -> None:
    """Push the facility's orders to ``submit_url`` (and cancels to ``cancel_url``)."""
    errors = [
        FieldError("invalid_url", param, "Use an absolute https:// (or http://) URL.")
        for param, url in (("submitUrl", submit_url), ("cancelUrl", cancel_url))
        if url is not None and not url.startswith(("https://", "http://"))
    ]
    if errors:
        raise ValidationFailed(errors)
    production.save_subscription(
        conn, facility_id=facility_id, submit_url=submit_url, cancel_url=cancel_url,
        secret=secret, now=now,
    )  # fmt: skip
    # Hand-offs already queued (a receiver that was failing, say) go to the new URLs,
    # signed with the new secret, as the facility now expects.
    facility_orders = production.order_ids_of(facility_id)
    for purpose, url in (
        (outbox.FACILITY_SUBMIT, submit_url),
        (outbox.FACILITY_CANCEL, cancel_url),
    ):
        deliveries.redirect_pending(
            conn, purpose=purpose, order_ids=facility_orders, url=url, secret=secret, now=now
        )


# --- the production API ----------------------------------------------------------------


def authenticate(conn: Connection, *, key: str, secret: str) -> str:
    """The facility behind a key; one error for every cause."""
    row = production.find_key(conn, key)
    if (
        row is None
        or row.revoked_at is not None
        or not account_keys.secret_matches(secret, row.secret_hash)
    ):
        raise AuthenticationFailed()
    facility_id: str = row.facility_id
    return facility_id


def list_orders(
    conn: Connection, *, facility_id: str, statuses: Sequence[str], limit: int, offset: int
) -> dict[str, Any]:
    rows = production.queue(conn, facility_id, statuses, limit=limit, offset=offset)
    items: dict[uuid.UUID, list[Any]] = {}
    for item in production.items_of_orders(conn, [row.id for row in rows]):
        items.setdefault(item.order_id, []).append(item)
    return {"orders": [views.order_view(row, items.get(row.id, [])) for row in rows]}


@dataclass(frozen=True, slots=True)
class Report:
    """A validated report with the ids chosen before the write (the writer may re-run)."""

    body: StatusReport
    package_ids: tuple[str, ...]


def prepare(body: StatusReport) -> Report:
    count = max(len(body.packages), 1)
    return Report(body, tuple(f"pkg-{uuid.uuid4().hex[:12]}" for _ in range(count)))


def _own_order(conn: Connection, facility_id: str, order_key: str) -> Any:
    try:
        order_id = uuid.UUID(order_key)
    except ValueError:
        raise OrderNotFound(order_key) from None
    row = journal.lock_order(conn, order_id)
    if row is None or row.handed_off_at is None or row.fulfillment_facility_id != facility_id:
        raise OrderNotFound(order_key)
    return row


def _lines(change: moves.OrderChange, lines: Sequence[Any], param: str) -> list[Any]:
    """The items the report names, or one 400 listing every unknown one."""
    found = [change.item(line.item_id) for line in lines]
    errors = [
        FieldError("unknown_item", f"{param}[{index}].itemId", f"No item '{line.item_id}'.")
        for index, (line, item) in enumerate(zip(lines, found, strict=True)) if item is None
    ]  # fmt: skip
    if errors:
        raise ValidationFailed(errors)
    return found


def report_status(
    conn: Connection,
    *,
    facility_id: str,
    report: Report,
    now: datetime,
    billing_state: FinancialStatus,
) -> dict[str, Any]:
    """Apply a facility's report to one of its orders; the order as the facility sees it."""
    body = report.body
    row = _own_order(conn, facility_id, body.order_id)
    change = moves.OrderChange(
        conn, row, repository.items_of(conn, row.id), Actor.FACILITY, now, billing_state
    )
    target = FACILITY_REPORTS[body.status]
    message = body.message or f"Facility reported '{body.status.value}'"
    named = None if body.items is None else _lines(change, body.items, "items")
    if (
        named is None
        and target is F.SHIPPED
        and body.packages
        and all(package.items for package in body.packages)
    ):  # packages that say what they hold ship those items, not the whole order
        packed = (
            _lines(change, package.items, f"packages[{index}].items")
            for index, package in enumerate(body.packages)
        )
        items = {item.id: item for lines in packed for item in lines}.values()
        # As for the whole order: an item already shipped (or canceled) stays where it is.
        named = [item for item in items if change.still_to_reach(item, target)]
    if target is F.CANCELED:
        cancel = None
        if named is not None and body.items is not None:
            pairs = zip(named, body.items, strict=True)
            cancel = [CancelLine(str(item.id), line.quantity) for item, line in pairs]
        change.cancel(cancel, message)
    elif named is None:
        change.move_order(target, message)
    else:
        for item in named:
            change.move_item(item, target, message)
    _packages(conn, change, report, target, named)
    updated = change.save(message)
    return views.order_view(updated, repository.items_of(conn, updated.id))


def _packages(
    conn: Connection,
    change: moves.OrderChange,
    report: Report,
    target: FulfillmentStatus,
    named: list[Any] | None,
) -> None:
    """Store the packages a ``shipped`` report carries (or its one tracking code), and
    move existing packages along with carrier progress."""
    body = report.body
    given = list(body.packages)
    if not given and target is F.SHIPPED and body.tracking_code is not None:
        given = [PackageReport(tracking_code=body.tracking_code,
                               tracking_link=body.tracking_link, carrier=body.carrier)]  # fmt: skip
    active = [item for item in change.items if change.statuses[item.id] is not F.CANCELED]
    shipped = named or active
    stored = {row.id: row for row in journal.packages_of(conn, change.order.id)}
    by_code = {row.tracking_code: row.id for row in stored.values() if row.tracking_code}
    rows = []
    for index, package in enumerate(given):
        where = f"packages[{index}].items"
        named_lines = package.items
        contents = _lines(change, named_lines, where) if named_lines else shipped
        # By the item found, however the line named it (id in any case, or its reference).
        quantities = {item.id: ln.quantity for item, ln in zip(contents, named_lines, strict=False)}
        code = package.tracking_code or body.tracking_code
        # A resent report names the same package by its id or, without one, its code.
        package_id = package.id or by_code.get(code or "") or report.package_ids[index]
        rows.append({
            "order_id": change.order.id,
            "id": package_id,
            "tracking_code": code,
            "tracking_url": package.tracking_link or body.tracking_link,
            "carrier": package.carrier or body.carrier,
            "status": (target if target in _CARRIER else F.SHIPPED).value,
            "items": [
                {"itemId": str(item.id),
                 "quantity": quantities.get(item.id) or item.quantity - change.canceled[item.id]}
                for item in contents
            ],
            "created_at": change.now,
            "updated_at": change.now,
        })  # fmt: skip
    _check_packed(change, stored, rows, [bool(package.items) for package in given])
    for row in rows:
        if _unchanged(stored.get(row["id"]), row):
            continue
        added = journal.save_package(conn, row)
        verb = "added" if added else "updated"
        change.log(EventKind.PACKAGE_UPDATED, f"Package {row['id']} {verb}",
                   data={"packageId": row["id"], "trackingCode": row["tracking_code"]})  # fmt: skip
        change.postbacks.append(EventType.PACKAGE_STATUS_UPDATED)
    if not given and target in _CARRIER[1:]:
        # Carrier progress moves the packages of the items reported (all without items).
        ids = None if named is None else {str(item.id) for item in named}
        moving = [
            package.id
            for package in stored.values()
            if ids is None or any(line["itemId"] in ids for line in package.items)
        ]
        if moving:
            journal.set_package_status(conn, change.order.id, target.value, change.now, moving)
            change.postbacks.append(EventType.PACKAGE_STATUS_UPDATED)


def _check_packed(
    change: moves.OrderChange,
    stored: dict[str, Any],
    rows: list[dict[str, Any]],
    named: list[bool],
) -> None:
    """Packages, those stored and those reported (a resent one replaces its stored
    self), hold no more of an item than is left to produce: one 400 naming each line
    that goes past it."""
    reported = {row["id"] for row in rows}
    contents = [p.items for p in stored.values() if p.id not in reported]
    contents += [row["items"] for row in rows]
    packed: Counter[str] = Counter()
    for lines in contents:
        for line in lines:
            packed[line["itemId"]] += line["quantity"]
    left = {str(item.id): item.quantity - change.canceled[item.id] for item in change.items}
    errors = [
        FieldError(
            "quantity_exceeds_remaining",
            f"packages[{index}].items[{n}].quantity" if named[index] else f"packages[{index}]",
            f"The packages hold {packed[line['itemId']]} of an item with "
            f"{left[line['itemId']]} to produce.",
        )
        for index, row in enumerate(rows)
        for n, line in enumerate(row["items"])
        if packed[line["itemId"]] > left[line["itemId"]]
    ]  # fmt: skip
    if errors:
        raise ValidationFailed(errors)


def _unchanged(stored: Any, row: dict[str, Any]) -> bool:
    """Whether a package resent by the facility is what is already stored."""
    if stored is None:
        return False
    fields = ("tracking_code", "tracking_url", "carrier", "status", "items")
    return all(getattr(stored, name) == row[name] for name in fields)
