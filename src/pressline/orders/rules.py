"""Pure order rules: how an order starts and when its shipment may change. No I/O.
Who may cancel and how is the lifecycle's (``lifecycle.customer_cancel_path``)."""

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


def can_update_shipment(status: FulfillmentStatus) -> bool:
    """Shipment changes are possible until shipped, and never on a canceled order."""
    return status not in SHIPPED_OR_LATER and status is not FulfillmentStatus.CANCELED


def refused_statuses() -> tuple[FulfillmentStatus, FinancialStatus]:
    """An order refused at intake is ``failed`` and nothing is charged (seed 000's
    cross-border example: ``failed`` / ``canceled``)."""
    return FulfillmentStatus.FAILED, FinancialStatus.CANCELED
