"""The order lifecycle, defined once: who may move an order or item to which status.

Pure: no I/O, no clock. The service reads the stored statuses, asks this module what
may happen, stores the answer and an entry of the event log (``moves``). docs/adr/0010 holds the
same table in prose and a test keeps the two identical.

- :data:`TRANSITIONS` is the one table of allowed moves, per actor. Items and orders
  share it; an order's status is *derived* from its items (:func:`derive_order_status`).
- :func:`financial_status_after` is the matching ``financialStatus`` rule.
- :func:`cancel_items` cancels whole items or part of their quantity.
- :func:`is_delayed` says when an order past its dispatch date raises ``delayed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo
from enum import StrEnum
from typing import Final

from pressline.errors import Conflict, FieldError, ValidationFailed
from pressline.orders.statuses import SHIPPED_OR_LATER, FinancialStatus, FulfillmentStatus

F = FulfillmentStatus


class Actor(StrEnum):
    """Who caused a change; recorded in the event log."""

    CUSTOMER = "customer"
    FACILITY = "facility"
    OPERATOR = "operator"
    SYSTEM = "system"  # intake, the sandbox, carrier tracking, timers


class ProductionStatus(StrEnum):
    """What a facility or MIS reports (domain.md §8), in its own words."""

    RECEIVED = "received"
    ERROR = "error"
    PRINTED = "printed"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    RETURNED = "returned"


#: A facility's report as the fulfillment status it moves an item or order to.
#: ``received`` means production has the order: ``in_production``.
FACILITY_REPORTS: Final[Mapping[ProductionStatus, FulfillmentStatus]] = {
    ProductionStatus.RECEIVED: F.IN_PRODUCTION,
    ProductionStatus.ERROR: F.FAILED,
    ProductionStatus.PRINTED: F.PRINTED,
    ProductionStatus.SHIPPED: F.SHIPPED,
    ProductionStatus.CANCELLED: F.CANCELED,
    ProductionStatus.IN_TRANSIT: F.IN_TRANSIT,
    ProductionStatus.DELIVERED: F.DELIVERED,
    ProductionStatus.RETURNED: F.RETURNED,
}

_C, _FA, _O, _S = Actor.CUSTOMER, Actor.FACILITY, Actor.OPERATOR, Actor.SYSTEM
#: Work before hand-off that the intake pipeline may move between on its own.
_PREPARING = (F.UPLOADING, F.PENDING_PERSONALIZATION, F.DIGITIZING, F.NOT_CONNECTED)
#: Moves a facility (or the sandbox, or carrier tracking) reports. Forward skips are
#: allowed because real MIS systems often report ``shipped`` without ``printed``.
_PRODUCTION_FORWARD = {
    F.PASSED: (F.IN_PRODUCTION, F.PRINTED, F.SHIPPED),
    F.IN_PRODUCTION: (F.PRINTED, F.SHIPPED),
    F.PRINTED: (F.SHIPPED,),
    F.SHIPPED: (F.IN_TRANSIT, F.DELIVERED, F.RETURNED),
    F.IN_TRANSIT: (F.DELIVERED, F.RETURNED),
    F.DELIVERED: (F.RETURNED,),
}


def _rows() -> Iterable[tuple[FulfillmentStatus, FulfillmentStatus, frozenset[Actor]]]:
    """Every allowed move with the actors who may make it. The operator is in every row."""

    def who(*actors: Actor) -> frozenset[Actor]:
        return frozenset({_O, *actors})

    yield F.DRAFT, F.CREATED, who(_C)  # a draft is converted (PATCH orderType=order)
    yield F.DRAFT, F.CANCELED, who(_C)
    for source in (F.CREATED, *_PREPARING):
        for target in _PREPARING:
            if target is not source:
                yield source, target, who(_S)
        yield source, F.PASSED, who(_S)  # intake passed: handed to the facility
        yield source, F.PENDING_APPROVAL, who(_S)
        yield source, F.FAILED, who(_S)
        yield source, F.ON_HOLD, who()
        yield source, F.CANCELED, who(_C)
    yield F.PENDING_APPROVAL, F.PASSED, who()  # approve
    yield F.PENDING_APPROVAL, F.ON_HOLD, who()
    yield F.PENDING_APPROVAL, F.FAILED, who()
    yield F.PENDING_APPROVAL, F.CANCELED, who(_C)
    for target in (F.CREATED, F.PASSED, F.PENDING_APPROVAL):
        yield F.ON_HOLD, target, who()  # release (to where it was held)
    # A facility that had the order when it was held is not told (there is no such
    # message): what it reports happened all the same, and is recorded.
    for target in (F.IN_PRODUCTION, F.PRINTED, F.SHIPPED):
        yield F.ON_HOLD, target, who(_FA)
    yield F.ON_HOLD, F.FAILED, who(_FA)  # given up, or the facility reports an error
    yield F.ON_HOLD, F.CANCELED, who(_C, _FA)
    for source, targets in _PRODUCTION_FORWARD.items():
        for target in targets:
            yield source, target, who(_FA, _S)
    for source in (F.PASSED, F.IN_PRODUCTION, F.PRINTED):
        yield source, F.FAILED, who(_FA, _S)  # the facility reports an error
    # Before the facility confirms receipt the customer cancels at once; afterwards only
    # the facility's confirmation cancels (the customer's request is forwarded to it).
    # The sandbox (system) plays the facility, confirmation included.
    yield F.PASSED, F.CANCELED, who(_C, _FA, _S)
    yield F.PASSED, F.ON_HOLD, who()
    yield F.IN_PRODUCTION, F.CANCELED, who(_FA, _S)
    yield F.PRINTED, F.CANCELED, who(_FA, _S)
    yield F.FAILED, F.PASSED, who()  # retry after the operator fixed the cause
    yield F.FAILED, F.CANCELED, who(_C)


def _build() -> dict[FulfillmentStatus, dict[FulfillmentStatus, frozenset[Actor]]]:
    table: dict[FulfillmentStatus, dict[FulfillmentStatus, frozenset[Actor]]] = {s: {} for s in F}
    for source, target, actors in _rows():
        if target in table[source]:
            raise ValueError(f"transition {source} -> {target} listed twice")
        table[source][target] = actors
    return table


#: ``TRANSITIONS[current][target]`` is the set of actors who may make that move.
#: Absent means nobody may; ``canceled`` and ``returned`` have no way out.
TRANSITIONS: Final[Mapping[FulfillmentStatus, Mapping[FulfillmentStatus, frozenset[Actor]]]] = (
    _build()
)


class IllegalTransition(Conflict):
    """A status change the lifecycle does not allow for this actor (409)."""

    code = "illegal_status_transition"

    def __init__(
        self,
        current: FulfillmentStatus,
        target: FulfillmentStatus,
        actor: Actor,
        *,
        subject: str = "The order",
    ) -> None:
        self.current, self.target, self.actor = current, target, actor
        self.allowed = next_statuses(current, actor)
        listed = ", ".join(s.value for s in self.allowed) or "none"
        super().__init__(
            f"{subject} is '{current.value}' and cannot become '{target.value}' "
            f"(requested by {actor.value}). Allowed next statuses: {listed}."
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """An allowed move; ``changed`` is false for a repeated report of the same status."""

    from_status: FulfillmentStatus
    to_status: FulfillmentStatus
    actor: Actor

    @property
    def changed(self) -> bool:
        return self.from_status is not self.to_status


def next_statuses(status: FulfillmentStatus, actor: Actor) -> tuple[FulfillmentStatus, ...]:
    """The statuses ``actor`` may move ``status`` to, in the table's order."""
    return tuple(target for target, who in TRANSITIONS[status].items() if actor in who)


def transition(
    current: FulfillmentStatus,
    target: FulfillmentStatus,
    actor: Actor,
    *,
    subject: str = "The order",
) -> Transition:
    """Check one move. The same status again is accepted as a no-op, because facilities
    and customers resend reports and cancels (``Transition.changed`` is then false)."""
    if target is not current and actor not in TRANSITIONS[current].get(target, frozenset()):
        raise IllegalTransition(current, target, actor, subject=subject)
    return Transition(current, target, actor)


#: Least to most advanced. ``failed`` and the waiting states come first so an order
#: shows the item that needs attention; ``canceled`` has no rank (it is ignored).
# fmt: off
PROGRESS: Final[tuple[FulfillmentStatus, ...]] = (
    F.FAILED, F.ON_HOLD, F.PENDING_APPROVAL, F.NOT_CONNECTED,  # need attention
    F.DRAFT, F.CREATED, F.UPLOADING, F.PENDING_PERSONALIZATION, F.DIGITIZING,  # intake
    F.PASSED, F.IN_PRODUCTION, F.PRINTED,  # at the facility
    F.SHIPPED, F.IN_TRANSIT, F.DELIVERED, F.RETURNED,  # with the carrier
)
# fmt: on
_RANK: Final = {status: rank for rank, status in enumerate(PROGRESS)}


def derive_order_status(item_statuses: Iterable[FulfillmentStatus]) -> FulfillmentStatus:
    """The order's status: its least advanced item that is not canceled (by
    :data:`PROGRESS`); ``canceled`` only when every item is. So all items shipped →
    ``shipped``, one still printing → ``printed``, one failed → ``failed``."""
    statuses = list(item_statuses)
    if not statuses:
        raise ValueError("an order has at least one item")
    active = [s for s in statuses if s is not F.CANCELED]
    if not active:
        return F.CANCELED
    return min(active, key=_RANK.__getitem__)


#: Statuses that mean the facility has started work: cancelling later is billed.
PRODUCTION_STARTED: Final = frozenset({F.IN_PRODUCTION, F.PRINTED, *SHIPPED_OR_LATER})
#: The financial states an operator may choose to bill shipped orders as.
BILLING_STATES: Final = frozenset(
    {FinancialStatus.TO_BE_INVOICED, FinancialStatus.INVOICED, FinancialStatus.PAID}
)
#: The only financial states the lifecycle moves; later ones belong to billing.
_LIFECYCLE_OWNED = frozenset(
    {FinancialStatus.DRAFT, FinancialStatus.PENDING, FinancialStatus.CANCELED}
)


def financial_status_after(
    current: FinancialStatus,
    order_status: FulfillmentStatus,
    *,
    production_started: bool,
    billing_state: FinancialStatus,
) -> FinancialStatus:
    """The order's ``financialStatus`` once its fulfillment status is ``order_status``.

    ``production_started``: whether any item ever reached :data:`PRODUCTION_STARTED`
    (the caller knows it from the from-status of the move or the event log).
    ``billing_state`` is the operator's choice for shipped orders.
    """
    if billing_state not in BILLING_STATES:
        raise ValueError(f"billing state must be one of {sorted(BILLING_STATES)}")
    if current not in _LIFECYCLE_OWNED:
        return current  # invoiced, paid, refunded…: billing owns it from here
    if order_status is F.DRAFT:
        return FinancialStatus.DRAFT
    if order_status is F.CANCELED:
        return billing_state if production_started else FinancialStatus.CANCELED
    if order_status is F.FAILED:
        # Failed orders are not charged, unless work was done: then the operator decides.
        return current if production_started else FinancialStatus.CANCELED
    if order_status in SHIPPED_OR_LATER:
        return billing_state
    return FinancialStatus.PENDING


class CancelPath(StrEnum):
    """What a customer's Cancel Order does, given the order's items."""

    CANCEL_NOW = "cancel_now"
    ASK_FACILITY = "ask_facility"  # canceled once the facility confirms
    ALREADY_CANCELED = "already_canceled"
    NOT_CANCELLABLE = "not_cancellable"


def customer_cancel_path(item_statuses: Iterable[FulfillmentStatus]) -> CancelPath:
    """Cancel until shipped (seed 000); in production only through the facility."""
    active = [s for s in item_statuses if s is not F.CANCELED]
    if not active:
        return CancelPath.ALREADY_CANCELED
    if any(s in SHIPPED_OR_LATER for s in active):
        return CancelPath.NOT_CANCELLABLE
    if any(s in (F.IN_PRODUCTION, F.PRINTED) for s in active):
        return CancelPath.ASK_FACILITY
    return CancelPath.CANCEL_NOW


@dataclass(frozen=True, slots=True)
class ItemState:
    """An item's quantity and status as the cancel rule needs them."""

    item_id: str
    quantity: int
    status: FulfillmentStatus
    quantity_canceled: int = 0

    @property
    def remaining(self) -> int:
        """What is left to cancel: nothing once the item is ``canceled`` as a whole."""
        return 0 if self.status is F.CANCELED else self.quantity - self.quantity_canceled


@dataclass(frozen=True, slots=True)
class CancelLine:
    """Cancel ``quantity`` of an item; ``None`` cancels all that remains of it."""

    item_id: str
    quantity: int | None = None


@dataclass(frozen=True, slots=True)
class CancelResult:
    items: tuple[ItemState, ...]  # every item, in the order given, after the cancel
    canceled_now: Mapping[str, int]  # item id → quantity this request canceled
    transitions: Mapping[str, Transition]  # item id → its move to canceled, if any
    order_status: FulfillmentStatus


class InvalidCancelRequest(ValidationFailed):
    code = "invalid_cancel_request"


def _line_errors(
    lines: Sequence[CancelLine], by_id: Mapping[str, ItemState], param: str
) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, line in enumerate(lines):
        item = by_id.get(line.item_id)
        where = f"{param}[{index}]"
        if item is None:
            errors.append(FieldError("unknown_item", where, f"No item '{line.item_id}'."))
        elif line.item_id in seen:
            errors.append(FieldError("duplicate_item", where, f"'{line.item_id}' twice."))
        elif line.quantity is not None and line.quantity < 1:
            errors.append(FieldError("invalid_quantity", f"{where}.quantity", "Must be ≥ 1."))
        elif line.quantity is not None and line.quantity > item.remaining:
            message = f"Cannot cancel {line.quantity}: only {item.remaining} left to cancel."
            errors.append(FieldError("quantity_exceeds_remaining", f"{where}.quantity", message))
        seen.add(line.item_id)
    return errors


def cancel_items(
    items: Sequence[ItemState],
    lines: Sequence[CancelLine] | None,
    *,
    actor: Actor,
    param: str = "items",
) -> CancelResult:
    """Cancel whole items or part of their quantity; ``lines=None`` cancels everything.

    An item whose whole quantity is canceled becomes ``canceled``; a partly canceled
    item keeps its status. Every bad line is reported at once (400); an item the actor
    may not cancel in its status is a 409 :class:`IllegalTransition`.
    """
    by_id = {item.item_id: item for item in items}
    if lines is None:
        lines = [CancelLine(i.item_id) for i in items if i.status is not F.CANCELED]
    errors = _line_errors(lines, by_id, param)
    if errors:
        raise InvalidCancelRequest(errors)
    updated = dict(by_id)
    canceled_now: dict[str, int] = {}
    moves: dict[str, Transition] = {}
    for line in lines:
        item = by_id[line.item_id]
        if item.status is F.CANCELED:
            continue  # cancelling a canceled item again changes nothing
        move = transition(item.status, F.CANCELED, actor, subject=f"Item '{item.item_id}'")
        count = item.remaining if line.quantity is None else line.quantity
        done = item.quantity_canceled + count
        status = F.CANCELED if done == item.quantity else item.status
        updated[item.item_id] = replace(item, quantity_canceled=done, status=status)
        canceled_now[item.item_id] = count
        if status is F.CANCELED:
            moves[item.item_id] = move
    result_items = tuple(updated[i.item_id] for i in items)
    order_status = derive_order_status(i.status for i in result_items)
    return CancelResult(result_items, canceled_now, moves, order_status)


#: An order in one of these has not left the facility and can still be late.
AWAITING_DISPATCH: Final = frozenset(PROGRESS) - SHIPPED_OR_LATER - {F.DRAFT, F.FAILED}


def is_delayed(
    *,
    expected_dispatch: date,
    now: datetime,
    facility_timezone: tzinfo,
    status: FulfillmentStatus,
    already_flagged: bool,
) -> bool:
    """Whether to raise ``delayed`` now: once, for an unshipped order whose dispatch day
    (a date at the facility) has passed in the facility's time zone."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if already_flagged or status not in AWAITING_DISPATCH:
        return False
    return now.astimezone(facility_timezone).date() > expected_dispatch


class EventKind(StrEnum):
    """What an event-log entry records."""

    STATUS_CHANGED = "status_changed"
    PARTIALLY_CANCELED = "partially_canceled"
    CANCEL_REQUESTED = "cancel_requested"  # forwarded to the facility
    PACKAGE_UPDATED = "package_updated"
    DELAYED = "delayed"
    NOTE = "note"  # an operator's remark, e.g. the reason of a hold
