"""What may happen to an order in each state (``pressline.orders.rules``), for every status.

The tables below classify every status by hand; the tests run over the enums, so a status
added to ``statuses.py`` fails here until someone decides what it allows.
"""

from __future__ import annotations

import pytest

from pressline.orders import rules
from pressline.orders.statuses import FinancialStatus, FulfillmentStatus, OrderType

F = FulfillmentStatus

#: Statuses of an order that has not left the facility yet.
BEFORE_SHIPPING = {
    F.CREATED,
    F.UPLOADING,
    F.PASSED,
    F.IN_PRODUCTION,
    F.PRINTED,
    F.DRAFT,
    F.FAILED,
    F.CANCELED,
    F.PENDING_APPROVAL,
    F.PENDING_PERSONALIZATION,
    F.DIGITIZING,
    F.NOT_CONNECTED,
    F.ON_HOLD,
}
#: Statuses once the parcel is with the carrier (seed 000: no cancel, no shipment change).
SHIPPED_OR_LATER = {F.SHIPPED, F.IN_TRANSIT, F.DELIVERED, F.RETURNED}


def _classified(status: FulfillmentStatus) -> None:
    assert status in BEFORE_SHIPPING | SHIPPED_OR_LATER, (
        f"new status {status.value!r}: decide whether it is before or after shipping"
    )


def test_the_status_tables_do_not_overlap() -> None:
    assert not BEFORE_SHIPPING & SHIPPED_OR_LATER


#: Where each kind of order starts (domain.md §2).
INITIAL = {
    OrderType.ORDER: (FulfillmentStatus.CREATED, FinancialStatus.PENDING),
    OrderType.DRAFT: (FulfillmentStatus.DRAFT, FinancialStatus.DRAFT),
}


@pytest.mark.parametrize("order_type", list(OrderType), ids=str)
def test_initial_statuses_depend_on_the_order_type(order_type: OrderType) -> None:
    assert order_type in INITIAL, f"new order type {order_type.value!r}: where does it start?"
    assert rules.initial_statuses(order_type) == INITIAL[order_type]


@pytest.mark.parametrize("status", list(FulfillmentStatus), ids=str)
def test_shipment_can_be_updated_until_shipped_unless_canceled(
    status: FulfillmentStatus,
) -> None:
    _classified(status)
    expected = status in BEFORE_SHIPPING and status is not FulfillmentStatus.CANCELED
    assert rules.can_update_shipment(status) is expected


@pytest.mark.parametrize("status", sorted(SHIPPED_OR_LATER), ids=str)
def test_the_shipment_never_changes_after_shipping(status: FulfillmentStatus) -> None:
    assert not rules.can_update_shipment(status)
