"""The order lifecycle (``pressline.orders.lifecycle``): one table, one derivation rule."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pressline.http_errors import error_body, status_and_type
from pressline.orders.lifecycle import (
    BILLING_STATES,
    FACILITY_REPORTS,
    PROGRESS,
    TRANSITIONS,
    Actor,
    CancelLine,
    CancelPath,
    IllegalTransition,
    InvalidCancelRequest,
    ItemState,
    ProductionStatus,
    cancel_items,
    customer_cancel_path,
    derive_order_status,
    financial_status_after,
    is_delayed,
    next_statuses,
    transition,
)
from pressline.orders.statuses import SHIPPED_OR_LATER, FinancialStatus, FulfillmentStatus

F = FulfillmentStatus
Fin = FinancialStatus
ADR = Path(__file__).parents[2] / "docs" / "adr" / "0010-order-lifecycle.md"


# --- the table -------------------------------------------------------------------------


def test_every_status_has_a_row_and_every_move_someone_who_may_make_it() -> None:
    assert set(TRANSITIONS) == set(F)
    for targets in TRANSITIONS.values():
        assert all(actors for actors in targets.values())


def test_every_status_is_reachable_from_a_new_order_or_a_draft() -> None:
    reached = {F.CREATED, F.DRAFT}
    frontier = list(reached)
    while frontier:
        for target in TRANSITIONS[frontier.pop()]:
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(F)


@pytest.mark.parametrize("actor", [Actor.FACILITY, Actor.SYSTEM])
def test_the_happy_path_after_hand_off_is_reported_step_by_step(actor: Actor) -> None:
    path = [F.PASSED, F.IN_PRODUCTION, F.PRINTED, F.SHIPPED, F.IN_TRANSIT, F.DELIVERED]
    for current, target in itertools.pairwise(path):
        assert transition(current, target, actor).changed


def test_a_facility_may_skip_forward_to_shipped() -> None:
    assert transition(F.PASSED, F.SHIPPED, Actor.FACILITY).to_status is F.SHIPPED
    assert transition(F.SHIPPED, F.DELIVERED, Actor.FACILITY).to_status is F.DELIVERED


def test_the_operator_may_make_every_move_anyone_may_make() -> None:
    for targets in TRANSITIONS.values():
        for actors in targets.values():
            assert Actor.OPERATOR in actors


@pytest.mark.parametrize("final", [F.CANCELED, F.RETURNED])
def test_canceled_and_returned_are_final(final: FulfillmentStatus) -> None:
    assert TRANSITIONS[final] == {}
    for actor in Actor:
        assert next_statuses(final, actor) == ()


def test_nothing_moves_a_shipped_order_back_before_shipping() -> None:
    for status in SHIPPED_OR_LATER:
        assert set(TRANSITIONS[status]) <= SHIPPED_OR_LATER


def test_a_facility_cannot_act_on_an_order_it_was_not_handed() -> None:
    # (on_hold: an order held after its hand-off is the facility's too, below; one held
    # before it never reaches a facility, whose API finds only orders handed to it.)
    for status in (F.DRAFT, F.CREATED, F.PENDING_APPROVAL, F.FAILED):
        assert next_statuses(status, Actor.FACILITY) == ()
    with pytest.raises(IllegalTransition):
        transition(F.CREATED, F.IN_PRODUCTION, Actor.FACILITY)


def test_a_facility_reports_what_it_did_with_an_order_held_after_it_had_it() -> None:
    """A hold is not sent to the facility: what it then reports still happened."""
    assert next_statuses(F.ON_HOLD, Actor.FACILITY) == (
        F.IN_PRODUCTION, F.PRINTED, F.SHIPPED, F.FAILED, F.CANCELED,
    )  # fmt: skip


def test_a_customer_can_only_convert_drafts_and_cancel() -> None:
    assert next_statuses(F.DRAFT, Actor.CUSTOMER) == (F.CREATED, F.CANCELED)
    for status in F:
        allowed = set(next_statuses(status, Actor.CUSTOMER))
        assert allowed <= {F.CREATED, F.CANCELED}, status


def test_a_customer_cancels_at_once_only_until_the_facility_has_received_the_order() -> None:
    assert transition(F.PASSED, F.CANCELED, Actor.CUSTOMER).changed
    with pytest.raises(IllegalTransition):
        transition(F.IN_PRODUCTION, F.CANCELED, Actor.CUSTOMER)
    assert transition(F.IN_PRODUCTION, F.CANCELED, Actor.FACILITY).changed


def test_only_the_operator_approves_holds_and_retries() -> None:
    assert transition(F.PENDING_APPROVAL, F.PASSED, Actor.OPERATOR).changed
    assert transition(F.CREATED, F.ON_HOLD, Actor.OPERATOR).changed
    assert transition(F.FAILED, F.PASSED, Actor.OPERATOR).changed
    for actor in (Actor.CUSTOMER, Actor.FACILITY, Actor.SYSTEM):
        for current, target in [
            (F.PENDING_APPROVAL, F.PASSED),
            (F.CREATED, F.ON_HOLD),
            (F.FAILED, F.PASSED),
        ]:
            with pytest.raises(IllegalTransition):
                transition(current, target, actor)


def test_repeating_the_current_status_is_accepted_as_no_change() -> None:
    move = transition(F.SHIPPED, F.SHIPPED, Actor.FACILITY)
    assert not move.changed
    assert transition(F.CANCELED, F.CANCELED, Actor.CUSTOMER).from_status is F.CANCELED


def test_an_illegal_transition_is_a_409_naming_the_status_and_the_allowed_next_ones() -> None:
    with pytest.raises(IllegalTransition) as caught:
        transition(F.PRINTED, F.CREATED, Actor.FACILITY)
    error = caught.value
    assert status_and_type(error) == (409, "conflict")
    assert error.allowed == (F.SHIPPED, F.FAILED, F.CANCELED)
    assert error.message == (
        "The order is 'printed' and cannot become 'created' (requested by facility). "
        "Allowed next statuses: shipped, failed, canceled."
    )
    status, body = error_body(error, "req_1")
    assert (status, body["errors"][0]["code"]) == (409, "illegal_status_transition")


def test_an_illegal_transition_from_a_final_status_says_none_is_allowed() -> None:
    with pytest.raises(IllegalTransition, match=r"'delivered'.*Allowed next statuses: none\."):
        transition(F.DELIVERED, F.SHIPPED, Actor.CUSTOMER)


def test_every_facility_report_is_a_move_a_facility_can_make() -> None:
    assert set(FACILITY_REPORTS) == set(ProductionStatus)
    assert FACILITY_REPORTS[ProductionStatus.RECEIVED] is F.IN_PRODUCTION
    assert FACILITY_REPORTS[ProductionStatus.ERROR] is F.FAILED
    assert FACILITY_REPORTS[ProductionStatus.CANCELLED] is F.CANCELED
    facility_targets = {
        t for row in TRANSITIONS.values() for t, who in row.items() if Actor.FACILITY in who
    }
    assert set(FACILITY_REPORTS.values()) <= facility_targets


def _adr_table() -> dict[tuple[str, str], tuple[str, ...]]:
    rows: dict[tuple[str, str], tuple[str, ...]] = {}
    actors = [actor.value for actor in Actor]
    for line in ADR.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].startswith("`"):
            continue
        for actor, cell in zip(actors, cells[1:], strict=True):
            rows[(cells[0].strip("`"), actor)] = tuple(re.findall(r"`([a-z_]+)`", cell))
    return rows


def test_the_adr_table_is_the_code_table() -> None:
    expected = {
        (status.value, actor.value): tuple(s.value for s in next_statuses(status, actor))
        for status in F
        for actor in Actor
    }
    assert _adr_table() == expected


# --- the order's status from its items ---------------------------------------------------


@pytest.mark.parametrize(
    ("items", "order"),
    [
        ([F.SHIPPED, F.SHIPPED], F.SHIPPED),
        ([F.PRINTED, F.SHIPPED], F.PRINTED),
        ([F.SHIPPED, F.IN_TRANSIT, F.DELIVERED], F.SHIPPED),
        ([F.DELIVERED, F.RETURNED], F.DELIVERED),
        ([F.RETURNED, F.RETURNED], F.RETURNED),
        ([F.CANCELED, F.SHIPPED], F.SHIPPED),
        ([F.CANCELED, F.CANCELED], F.CANCELED),
        ([F.FAILED, F.SHIPPED], F.FAILED),
        ([F.ON_HOLD, F.PASSED], F.ON_HOLD),
        ([F.PENDING_APPROVAL, F.CREATED], F.PENDING_APPROVAL),
        ([F.CREATED, F.PASSED, F.IN_PRODUCTION], F.CREATED),
    ],
)
def test_the_order_shows_its_least_advanced_item_that_is_not_canceled(
    items: list[FulfillmentStatus], order: FulfillmentStatus
) -> None:
    assert derive_order_status(items) is order


def test_the_progress_order_ranks_every_status_but_canceled_once() -> None:
    assert sorted(PROGRESS) == sorted(set(F) - {F.CANCELED})


def test_an_order_without_items_has_no_status() -> None:
    with pytest.raises(ValueError, match="at least one item"):
        derive_order_status([])


# --- financial status ----------------------------------------------------------------------


def _financial(
    current: FinancialStatus,
    order: FulfillmentStatus,
    *,
    started: bool = False,
    billing: FinancialStatus = Fin.TO_BE_INVOICED,
) -> FinancialStatus:
    return financial_status_after(current, order, production_started=started, billing_state=billing)


def test_an_order_canceled_before_production_is_not_charged() -> None:
    assert _financial(Fin.PENDING, F.CANCELED) is Fin.CANCELED


def test_an_order_canceled_after_production_started_is_billed() -> None:
    assert _financial(Fin.PENDING, F.CANCELED, started=True) is Fin.TO_BE_INVOICED


@pytest.mark.parametrize("billing", sorted(BILLING_STATES))
@pytest.mark.parametrize("status", sorted(SHIPPED_OR_LATER))
def test_a_shipped_order_takes_the_billing_state_the_operator_configured(
    billing: FinancialStatus, status: FulfillmentStatus
) -> None:
    assert _financial(Fin.PENDING, status, started=True, billing=billing) is billing


def test_a_failed_order_is_not_charged_unless_work_was_done() -> None:
    assert _financial(Fin.PENDING, F.FAILED) is Fin.CANCELED
    assert _financial(Fin.PENDING, F.FAILED, started=True) is Fin.PENDING


def test_a_converted_draft_becomes_pending_and_a_draft_stays_draft() -> None:
    assert _financial(Fin.DRAFT, F.CREATED) is Fin.PENDING
    assert _financial(Fin.DRAFT, F.DRAFT) is Fin.DRAFT


def test_a_retried_failed_order_is_pending_again() -> None:
    assert _financial(Fin.CANCELED, F.PASSED) is Fin.PENDING


@pytest.mark.parametrize(
    "settled", [Fin.INVOICED, Fin.PAID, Fin.REFUNDED, Fin.PARTIALLY_REFUNDED, Fin.REFUSED]
)
def test_the_lifecycle_never_changes_a_financial_status_billing_has_set(
    settled: FinancialStatus,
) -> None:
    assert _financial(settled, F.RETURNED, started=True) is settled
    assert _financial(settled, F.CANCELED) is settled


def test_the_billing_state_must_be_one_an_order_can_be_billed_as() -> None:
    with pytest.raises(ValueError, match="billing state"):
        _financial(Fin.PENDING, F.SHIPPED, billing=Fin.REFUNDED)


# --- cancel ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "path"),
    [
        ([F.CANCELED, F.CANCELED], CancelPath.ALREADY_CANCELED),
        ([F.CREATED, F.CANCELED], CancelPath.CANCEL_NOW),
        ([F.PASSED], CancelPath.CANCEL_NOW),
        ([F.FAILED], CancelPath.CANCEL_NOW),
        ([F.PASSED, F.IN_PRODUCTION], CancelPath.ASK_FACILITY),
        ([F.PRINTED], CancelPath.ASK_FACILITY),
        ([F.PRINTED, F.SHIPPED], CancelPath.NOT_CANCELLABLE),
    ],
)
def test_what_a_customer_cancel_does_depends_on_the_items(
    items: list[FulfillmentStatus], path: CancelPath
) -> None:
    assert customer_cancel_path(items) is path


ITEMS = (ItemState("a", 5, F.IN_PRODUCTION), ItemState("b", 2, F.IN_PRODUCTION))


def test_cancelling_part_of_an_item_keeps_its_status_and_counts_the_quantity() -> None:
    result = cancel_items(ITEMS, [CancelLine("a", 2)], actor=Actor.FACILITY)
    assert result.items[0] == ItemState("a", 5, F.IN_PRODUCTION, quantity_canceled=2)
    assert result.items[0].remaining == 3
    assert result.items[1] == ITEMS[1]
    assert result.canceled_now == {"a": 2}
    assert result.transitions == {}
    assert result.order_status is F.IN_PRODUCTION


def test_cancelling_the_rest_of_an_item_cancels_it() -> None:
    partly = (ItemState("a", 5, F.IN_PRODUCTION, quantity_canceled=2), ITEMS[1])
    result = cancel_items(partly, [CancelLine("a", 3)], actor=Actor.FACILITY)
    assert result.items[0].status is F.CANCELED
    assert result.items[0].quantity_canceled == 5
    assert result.transitions["a"].from_status is F.IN_PRODUCTION
    assert result.order_status is F.IN_PRODUCTION  # item b goes on


def test_a_line_without_quantity_cancels_what_remains_of_the_item() -> None:
    partly = (ItemState("a", 5, F.PRINTED, quantity_canceled=1), ItemState("b", 1, F.SHIPPED))
    result = cancel_items(partly, [CancelLine("a")], actor=Actor.FACILITY)
    assert result.canceled_now == {"a": 4}
    assert result.items[0].status is F.CANCELED
    assert result.order_status is F.SHIPPED


def test_no_lines_cancel_every_item_and_the_order() -> None:
    result = cancel_items(ITEMS, None, actor=Actor.FACILITY)
    assert [item.status for item in result.items] == [F.CANCELED, F.CANCELED]
    assert result.canceled_now == {"a": 5, "b": 2}
    assert result.order_status is F.CANCELED


def test_cancelling_more_than_remains_is_rejected_with_the_remaining_quantity() -> None:
    partly = (ItemState("a", 5, F.IN_PRODUCTION, quantity_canceled=2),)
    with pytest.raises(InvalidCancelRequest) as caught:
        cancel_items(partly, [CancelLine("a", 4)], actor=Actor.FACILITY)
    (error,) = caught.value.errors
    assert (error.code, error.param) == ("quantity_exceeds_remaining", "items[0].quantity")
    assert "only 3 left" in error.message
    assert status_and_type(caught.value) == (400, "invalid_request")


def test_every_bad_cancel_line_is_reported_at_once() -> None:
    lines = [CancelLine("zzz"), CancelLine("a", 0), CancelLine("b"), CancelLine("b")]
    with pytest.raises(InvalidCancelRequest) as caught:
        cancel_items(ITEMS, lines, actor=Actor.FACILITY, param="cancelItems")
    assert [(e.code, e.param) for e in caught.value.errors] == [
        ("unknown_item", "cancelItems[0]"),
        ("invalid_quantity", "cancelItems[1].quantity"),
        ("duplicate_item", "cancelItems[3]"),
    ]


def test_a_canceled_item_has_nothing_left_to_cancel() -> None:
    done = (ItemState("a", 3, F.CANCELED), ItemState("b", 1, F.CREATED))
    with pytest.raises(InvalidCancelRequest, match="only 0 left"):
        cancel_items(done, [CancelLine("a", 1)], actor=Actor.CUSTOMER)
    again = cancel_items(done, [CancelLine("a")], actor=Actor.CUSTOMER)
    assert again.items == done
    assert again.canceled_now == {}


def test_a_customer_cannot_cancel_an_item_in_production_directly() -> None:
    with pytest.raises(IllegalTransition, match=r"Item 'a' is 'in_production'"):
        cancel_items(ITEMS, [CancelLine("a", 1)], actor=Actor.CUSTOMER)


def test_a_shipped_item_cannot_be_canceled_by_anyone() -> None:
    items = (ItemState("a", 1, F.PRINTED), ItemState("b", 1, F.SHIPPED))
    for actor in Actor:
        with pytest.raises(IllegalTransition, match="Item 'b' is 'shipped'"):
            cancel_items(items, [CancelLine("b")], actor=actor)
    with pytest.raises(IllegalTransition, match="Item 'b' is 'shipped'"):
        cancel_items(items, None, actor=Actor.FACILITY)


# --- delayed ---------------------------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")


def _delayed(now: datetime, *, status: FulfillmentStatus = F.IN_PRODUCTION, **kw: object) -> bool:
    flagged = bool(kw.get("flagged", False))
    zone = kw.get("zone", BERLIN)
    assert isinstance(zone, ZoneInfo)
    return is_delayed(
        expected_dispatch=date(2026, 3, 10),
        now=now,
        facility_timezone=zone,
        status=status,
        already_flagged=flagged,
    )


def test_an_order_is_delayed_once_its_dispatch_day_has_passed_at_the_facility() -> None:
    assert not _delayed(datetime(2026, 3, 10, 22, 59, tzinfo=UTC))  # 23:59 in Berlin
    assert _delayed(datetime(2026, 3, 10, 23, 0, tzinfo=UTC))  # midnight in Berlin


def test_the_facility_time_zone_decides_the_day() -> None:
    now = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    assert _delayed(now, zone=ZoneInfo("Australia/Sydney"))  # already the 11th there
    assert not _delayed(now, zone=ZoneInfo("America/New_York"))


def test_a_delay_is_raised_only_once() -> None:
    assert not _delayed(datetime(2026, 3, 12, tzinfo=UTC), flagged=True)


@pytest.mark.parametrize("status", [F.SHIPPED, F.DELIVERED, F.CANCELED, F.FAILED, F.DRAFT])
def test_orders_that_left_or_will_not_ship_are_never_delayed(status: FulfillmentStatus) -> None:
    assert not _delayed(datetime(2026, 3, 12, tzinfo=UTC), status=status)


def test_delay_checks_need_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _delayed(datetime(2026, 3, 12))
