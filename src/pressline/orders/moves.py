"""Applying the lifecycle to a stored order: one :class:`OrderChange` per use case.

Every writer of statuses (customer cancel, draft conversion, the operator, a facility's
report, intake and the sandbox) locks the order, states its moves here and calls
:meth:`OrderChange.save`. The lifecycle (pure) decides; this module stores the item
statuses, derives the order's status and financial status, writes the event log and
queues the postbacks in the same transaction (reliability.md 16). Then the hooks: an
order that has just become ``passed`` is handed to its facility, one that has become
``created`` again (released, converted) goes through intake.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from pressline.db import AnyRow
from pressline.errors import OrderNotFound
from pressline.orders import journal, repository
from pressline.orders.lifecycle import (
    PRODUCTION_STARTED,
    PROGRESS,
    Actor,
    CancelLine,
    EventKind,
    ItemState,
    cancel_items,
    derive_order_status,
    financial_status_after,
    transition,
)
from pressline.orders.statuses import FinancialStatus, FulfillmentStatus
from pressline.postbacks import outbox
from pressline.postbacks.events import EventType, event_for_status
from pressline.production import handoff

F = FulfillmentStatus
_RANK = {status: rank for rank, status in enumerate(PROGRESS)}
#: Statuses on the way from the facility to the customer, where "further along" means
#: "already past": an order-level report leaves an item that is past it alone.
_FORWARD = (F.PASSED, F.IN_PRODUCTION, F.PRINTED, F.SHIPPED, F.IN_TRANSIT, F.DELIVERED)


def lock(conn: Connection, order_id: uuid.UUID) -> tuple[AnyRow, list[AnyRow]]:
    """The order (locked) and its items; 404 if it is gone."""
    order = journal.lock_order(conn, order_id)
    if order is None:
        raise OrderNotFound(str(order_id))
    return order, repository.items_of(conn, order_id)


@dataclass
class OrderChange:
    """Moves of one order's items by one actor, saved together."""

    conn: Connection
    order: AnyRow
    items: list[AnyRow]
    actor: Actor
    now: datetime
    billing_state: FinancialStatus
    statuses: dict[uuid.UUID, FulfillmentStatus] = field(init=False)
    canceled: dict[uuid.UUID, int] = field(init=False)
    events: list[dict[str, Any]] = field(default_factory=list)
    postbacks: list[EventType] = field(default_factory=list)
    order_values: dict[str, Any] = field(default_factory=dict)
    _item_values: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.statuses = {item.id: F(item.fulfillment_status) for item in self.items}
        self.canceled = {item.id: item.quantity_canceled for item in self.items}

    @property
    def order_status(self) -> FulfillmentStatus:
        return derive_order_status(self.statuses.values())

    def item(self, key: str) -> AnyRow | None:
        """An item by Pressline id or by itemReferenceId."""
        for item in self.items:
            if str(item.id) == key.lower() or item.item_reference_id == key:
                return item
        return None

    def log(
        self,
        kind: EventKind,
        message: str,
        *,
        item_id: uuid.UUID | None = None,
        from_status: FulfillmentStatus | None = None,
        to_status: FulfillmentStatus | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        self.events.append(
            event_row(
                self.order.id, self.actor, kind, message, self.now, item_id=item_id,
                from_status=from_status, to_status=to_status, data=data,
            )
        )  # fmt: skip

    def move_item(self, item: AnyRow, target: FulfillmentStatus, message: str) -> None:
        """One item to ``target``; 409 if the actor may not."""
        current = self.statuses[item.id]
        move = transition(current, target, self.actor, subject=f"Item '{item.item_reference_id}'")
        if not move.changed:
            return
        self.statuses[item.id] = target
        self._item_values.setdefault(item.id, {})["fulfillment_status"] = target.value
        self.log(EventKind.STATUS_CHANGED, message, item_id=item.id, from_status=current,
                 to_status=target)  # fmt: skip

    def move_order(self, target: FulfillmentStatus, message: str) -> None:
        """Every item that is not canceled to ``target``, as one order-level request.

        The order's own status is checked first, so a refusal names the order's status
        and its allowed next ones. An item already past ``target`` on the way to the
        customer (one item shipped, the order reported printed) is left where it is.
        """
        transition(self.order_status, target, self.actor)
        for item in self.items:
            if self.still_to_reach(item, target):
                self.move_item(item, target, message)

    def still_to_reach(self, item: AnyRow, target: FulfillmentStatus) -> bool:
        """Whether an order-level move to ``target`` moves ``item``: not when it is
        canceled, already there, or further along the way to the customer."""
        current = self.statuses[item.id]
        if current is F.CANCELED or current is target:
            return False
        return not (current in _FORWARD and target in _FORWARD and _RANK[current] > _RANK[target])

    def cancel(self, lines: Sequence[CancelLine] | None, message: str) -> None:
        """Cancel whole items or part of their quantity (``None``: everything left)."""
        states = [
            ItemState(str(item.id), item.quantity, self.statuses[item.id], self.canceled[item.id])
            for item in self.items
        ]
        result = cancel_items(states, lines, actor=self.actor)
        for item in self.items:
            count = result.canceled_now.get(str(item.id))
            if not count:
                continue
            after = next(state for state in result.items if state.item_id == str(item.id))
            before = self.statuses[item.id]
            self.canceled[item.id] = after.quantity_canceled
            values = self._item_values.setdefault(item.id, {})
            values["quantity_canceled"] = after.quantity_canceled
            data = {"quantity": count, "quantityCanceled": after.quantity_canceled}
            if after.status is F.CANCELED:
                self.statuses[item.id] = F.CANCELED
                values["fulfillment_status"] = F.CANCELED.value
                self.log(EventKind.STATUS_CHANGED, message, item_id=item.id, from_status=before,
                         to_status=F.CANCELED, data=data)  # fmt: skip
            else:
                self.log(EventKind.PARTIALLY_CANCELED,
                         f"{message} ({count} of {item.quantity} canceled)", item_id=item.id,
                         data=data)  # fmt: skip

    def save(self, message: str) -> AnyRow:
        """Store every change, derive the order's statuses, log, queue postbacks, run the
        hooks; the order's row as it now is."""
        return _save([(self, message)]).get(self.order.id, self.order)

    def _settle(self, message: str) -> tuple[FulfillmentStatus, FulfillmentStatus]:
        """Derive the order's status and financial status from the moves and log the
        order-level change (no I/O); the order's status (before, after)."""
        before, after = F(self.order.fulfillment_status), self.order_status
        started = self.order.production_started_at is not None or any(
            status in PRODUCTION_STARTED for status in self.statuses.values()
        )
        if started and self.order.production_started_at is None:
            self.order_values["production_started_at"] = self.now
        if after is not before:
            self.order_values["fulfillment_status"] = after.value
            self.order_values["financial_status"] = financial_status_after(
                FinancialStatus(self.order.financial_status), after,
                production_started=started, billing_state=self.billing_state,
            ).value  # fmt: skip
            self.log(EventKind.STATUS_CHANGED, message, from_status=before, to_status=after)
            event = event_for_status(after)
            if event is not None:
                self.postbacks.append(event)
        if self.order_values or self.events:
            self.order_values["updated_at"] = self.now
        return before, after


def save_all(changes: Sequence[tuple[OrderChange, str]]) -> None:
    """Save the changes of several orders, made on one connection at one moment, with a
    few statements for all of them (the intake pass moves dozens of orders at once).

    Item and order updates go out as one executemany per set of changed columns, the
    event log as one insert, hand-offs together (``handoff``); postbacks are queued per
    order, after the rows they describe are written.
    """
    if changes:
        _save(changes)


def _save(changes: Sequence[tuple[OrderChange, str]]) -> dict[uuid.UUID, AnyRow]:
    """``save_all``; the rows it wrote and knows as they now are (one order: its own,
    unless nothing of the order's row changed)."""
    first = changes[0][0]
    conn, now = first.conn, first.now
    if any(change.conn is not conn or change.now != now for change, _ in changes[1:]):
        raise ValueError("save_all takes changes made on one connection at one moment")
    moved = [(change, *change._settle(message)) for change, message in changes]
    # Hooks: an order that has just become ``passed`` is handed to its facility (its
    # ``handed_off_at`` written with the move); one that has become ``created`` again
    # goes through intake.
    handing = handoff.plan(
        conn,
        [handoff.Passing(change.order.id, change.order.connector_id,
                         change.order_values.get("fulfillment_facility_id",
                                                 change.order.fulfillment_facility_id))
         for change, before, after in moved
         if after is not before and after is F.PASSED and change.order.handed_off_at is None],
    )  # fmt: skip
    for change, _, _ in moved:
        if change.order.id in handing.sent:
            change.order_values["handed_off_at"] = now
    journal.update_items(
        conn,
        [
            {"target_id": item_id, **values}
            for change, _ in changes
            for item_id, values in change._item_values.items()
        ],
    )
    current = _update_orders(conn, [change for change, _ in changes])
    journal.insert_events(conn, [event for change, _ in changes for event in change.events])
    journal.add_timers(
        conn,
        [intake_timer(change.order.id, now) for change, before, after in moved
         if after is F.CREATED and before is not F.CREATED],
    )  # fmt: skip
    handoff.carry_out(conn, handing, now=now, current=current)
    for change, _ in changes:
        if change.postbacks:
            outbox.enqueue_order_events(
                conn, order_id=change.order.id, events=list(dict.fromkeys(change.postbacks)),
                now=now, customer_id=change.order.customer_id,
            )  # fmt: skip
    return current


def _update_orders(conn: Connection, changes: Sequence[OrderChange]) -> dict[uuid.UUID, AnyRow]:
    """Write each change's order columns. One order: UPDATE … RETURNING, and its row as
    it now is. Several: an executemany per set of columns, and no rows (read again only
    if needed: the intake pass never needs them)."""
    changed = [change for change in changes if change.order_values]
    if len(changes) == 1:
        return {
            change.order.id: repository.update_order(conn, change.order.id, **change.order_values)
            for change in changed
        }
    repository.update_orders_each(
        conn, [{"target_id": change.order.id, **change.order_values} for change in changed]
    )
    return {}


def event_row(
    order_id: uuid.UUID,
    actor: Actor,
    kind: EventKind,
    message: str,
    at: datetime,
    *,
    item_id: uuid.UUID | None = None,
    from_status: FulfillmentStatus | None = None,
    to_status: FulfillmentStatus | None = None,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One row of the event log: an order's line (``item_id`` None) or an item's."""
    return {
        "order_id": order_id,
        "item_id": item_id,
        "actor": actor.value,
        "kind": kind.value,
        "from_status": None if from_status is None else from_status.value,
        "to_status": None if to_status is None else to_status.value,
        "message": message,
        "at": at,
        "data": None if data is None else dict(data),
    }


def intake_timer(order_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """The timer that runs the intake pass (``created → passed``) as soon as possible."""
    return {"order_id": order_id, "kind": journal.TimerKind.INTAKE, "due_at": now}


def delayed_timer(order_id: uuid.UUID, dispatch: date, timezone: str) -> dict[str, Any]:
    """The timer that checks, once the facility's dispatch day is over in its own time
    zone, whether the order left; ``delayed`` is raised then if it did not."""
    next_day = datetime.combine(dispatch + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone))
    return {
        "order_id": order_id,
        "kind": journal.TimerKind.DELAYED,
        "due_at": next_day.astimezone(UTC),
        "data": {"dispatch": dispatch.isoformat(), "timezone": timezone},
    }
