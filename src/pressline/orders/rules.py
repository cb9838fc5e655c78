"""Pure order rules: what may happen to an order in a given state. No I/O."""

from __future__ import annotations

from pressline.orders.statuses import (
    SHIPPED_OR_LATER,
    FinancialStatus,
    FulfillmentStatus,
    OrderType,
)


def initial_statuses(order_type: OrderType) -> tuple[FulfillmentStatus, FinancialStatus]:
    """A draft is ``draft``/``draft``; a real order starts ``created``/``pending``."""
    if order_type is OrderType.DRAFT:
        return FulfillmentStatus.DRAFT, FinancialStatus.DRAFT
    return FulfillmentStatus.CREATED, FinancialStatus.PENDING


def can_cancel(status: FulfillmentStatus) -> bool:
    """Cancel is possible until the order is shipped (seed 000, "Cancel Order")."""
    return status not in SHIPPED_OR_LATER


def can_update_shipment(status: FulfillmentStatus) -> bool:
    """Shipment changes are possible until shipped, and never on a canceled order."""
    return status not in SHIPPED_OR_LATER and status is not FulfillmentStatus.CANCELED


def refused_statuses() -> tuple[FulfillmentStatus, FinancialStatus]:
    """An order refused at intake is ``failed`` and nothing is charged (seed 000's
    cross-border example: ``failed`` / ``canceled``)."""
    return FulfillmentStatus.FAILED, FinancialStatus.CANCELED
