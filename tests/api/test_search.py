"""Search Orders: every filter alone and combined, ordering, limits, pagination, summaries.

Orders are stored through ``orders.service`` with chosen creation times (the same
functions the endpoints run), so date filters and ordering are exact.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from starlette.testclient import TestClient

from pressline.accounts import repository as accounts
from pressline.accounts.keys import Principal, parse_header
from pressline.catalog.service import starter_reference
from pressline.db import Database
from pressline.orders import examples, service
from pressline.orders.schemas import OrderCreate
from pressline.orders.statuses import FinancialStatus, FulfillmentStatus
from tests.conftest import GB_ADDRESS, Caller, new_caller, order_body

BASE = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
SUMMARY_FIELDS = set(examples.SEARCH_RESPONSE["orders"][0])

DE_ADDRESS = {**GB_ADDRESS, "country": "DE", "city": "Berlin", "postCode": "10115"}
DE_ADDRESS["phone"] = "+49 30 901820"

# name: (hours after BASE, country address or None for the US one, final status, orderType)
PLAN: dict[str, tuple[int, dict[str, str] | None, str, str]] = {
    "us_created": (0, None, "created", "order"),
    "gb_created": (1, GB_ADDRESS, "created", "order"),
    "de_shipped": (2, DE_ADDRESS, "shipped", "order"),
    "us_canceled": (3, None, "canceled", "order"),
    "gb_draft": (4, GB_ADDRESS, "draft", "draft"),
    "gb_delivered": (5, GB_ADDRESS, "delivered", "order"),
    "us_printed": (6, None, "printed", "order"),
}


STARTER = starter_reference()
HAPPY_PATH = ["passed", "in_production", "printed", "shipped", "in_transit", "delivered"]


@dataclass
class Shop:
    caller: Caller
    principal: Principal
    ids: dict[str, str] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)

    def names(self, response: Any) -> list[str]:
        assert response.status_code == 200, response.text
        by_id = {order_id: name for name, order_id in self.ids.items()}
        return [by_id[order["id"]] for order in response.json()["orders"]]


def principal_of(database: Database, caller: Caller) -> Principal:
    parsed = parse_header(caller.api_key)
    assert parsed is not None
    with database.transaction() as conn:
        record = accounts.find_key(conn, parsed[0])
    assert record is not None
    return record.principal


def store(database: Database, principal: Principal, body: dict[str, Any], at: datetime) -> str:
    prepared = service.prepare_order(
        principal, OrderCreate.model_validate(body), now=at, reference=STARTER
    )
    with database.transaction() as conn:
        created = service.submit_order(conn, prepared=prepared)
    order_id: str = created["id"]
    return order_id


@pytest.fixture(scope="module")
def shop(client: TestClient, database: Database) -> Shop:
    caller = new_caller(client, database)
    shop = Shop(caller, principal_of(database, caller))
    for name, (hours, address, status, order_type) in PLAN.items():
        changes: dict[str, Any] = {"orderType": order_type}
        if address is not None:
            changes["shippingAddress"] = address
        body = order_body(f"{name}-{uuid.uuid4().hex[:6]}", **changes)
        at = BASE + timedelta(hours=hours)
        shop.ids[name] = store(database, shop.principal, body, at)
        shop.references[name] = body["orderReferenceId"]
        with database.transaction() as conn:
            if status == "canceled":
                service.cancel_order(
                    conn,
                    principal=shop.principal,
                    order_key=shop.ids[name],
                    now=at,
                    billing_state=FinancialStatus.TO_BE_INVOICED,
                )
            elif status not in {"created", "draft"}:
                # The operator follows the lifecycle: along the happy path to ``status``.
                for step in HAPPY_PATH[: HAPPY_PATH.index(status) + 1]:
                    service.set_status(
                        conn,
                        principal=shop.principal,
                        order_key=shop.ids[name],
                        status=FulfillmentStatus(step),
                        now=at,
                        billing_state=FinancialStatus.TO_BE_INVOICED,
                    )
    return shop


def at(hours: int, tz: timezone = UTC) -> str:
    return (BASE + timedelta(hours=hours)).astimezone(tz).isoformat()


NEWEST_FIRST = sorted(PLAN, key=lambda name: PLAN[name][0], reverse=True)


def newest_first(*names: str) -> list[str]:
    return [name for name in NEWEST_FIRST if name in names]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ({}, NEWEST_FIRST),
        ({"fulfillmentStatus": ["created"]}, newest_first("us_created", "gb_created")),
        (
            {"fulfillmentStatus": ["shipped", "delivered", "canceled"]},
            newest_first("de_shipped", "gb_delivered", "us_canceled"),
        ),
        ({"financialStatus": ["canceled"]}, ["us_canceled"]),
        ({"financialStatus": ["draft"]}, ["gb_draft"]),
        ({"financialStatus": ["paid"]}, []),
        ({"countries": ["GB"]}, newest_first("gb_created", "gb_draft", "gb_delivered")),
        (
            {"countries": ["DE", "US"]},
            newest_first("de_shipped", "us_created", "us_canceled", "us_printed"),
        ),
        ({"startDate": at(5)}, newest_first("gb_delivered", "us_printed")),
        ({"endDate": at(1)}, newest_first("us_created", "gb_created")),
        ({"startDate": at(2), "endDate": at(2)}, ["de_shipped"]),
        (
            {"startDate": at(2, timezone(timedelta(hours=2))), "endDate": at(3)},
            newest_first("de_shipped", "us_canceled"),
        ),
        ({"startDate": at(7)}, []),
        ({"fulfillmentStatus": ["created"], "countries": ["GB"]}, ["gb_created"]),
        ({"financialStatus": ["pending"], "countries": ["GB"], "endDate": at(4)}, ["gb_created"]),
        # Shipped orders are billed (PRESSLINE_BILLING_STATE, docs/adr/0010).
        ({"financialStatus": ["pending"], "startDate": at(1), "endDate": at(5)}, ["gb_created"]),
        (
            {"financialStatus": ["to_be_invoiced"], "startDate": at(1), "endDate": at(5)},
            newest_first("de_shipped", "gb_delivered"),
        ),
        ({"fulfillmentStatus": ["printed"], "countries": ["GB"]}, []),
    ],
)  # fmt: skip
def test_filter_returns_exactly_the_matching_orders_newest_first(
    shop: Shop, search: dict[str, Any], expected: list[str]
) -> None:
    assert shop.names(shop.caller.search(search)) == expected


def test_filter_by_one_reference(shop: Shop) -> None:
    reference = shop.references["de_shipped"]
    assert shop.names(shop.caller.search({"orderReferenceId": reference})) == ["de_shipped"]
    assert shop.names(shop.caller.search({"orderReferenceId": "unknown-ref"})) == []


def test_filter_by_several_references_combined_with_status(shop: Shop) -> None:
    refs = [shop.references[name] for name in ("us_created", "gb_draft", "gb_delivered")]
    everything = shop.caller.search({"orderReferenceIds": [*refs, "unknown-ref"]})
    assert shop.names(everything) == newest_first("us_created", "gb_draft", "gb_delivered")
    drafts = shop.caller.search({"orderReferenceIds": refs, "fulfillmentStatus": ["draft"]})
    assert shop.names(drafts) == ["gb_draft"]


def test_summary_fields_and_total_rules(shop: Shop) -> None:
    orders = {o["id"]: o for o in shop.caller.search({}).json()["orders"]}
    draft, order = orders[shop.ids["gb_draft"]], orders[shop.ids["us_created"]]
    for summary in (draft, order):
        assert set(summary) == SUMMARY_FIELDS
        assert summary["customerReferenceId"] == shop.caller.customer_reference_id
        assert summary["clientId"] == str(shop.principal.customer_id)
        assert summary["channel"] == "api"
        assert summary["itemsCount"] == 1
    assert (draft["totalInclVat"], draft["orderType"], draft["orderedAt"]) == (
        "0.00",
        "draft",
        None,
    )
    priced = shop.caller.get(shop.ids["us_created"]).json()["receipts"][0]["totalInclVat"]
    assert order["totalInclVat"] == f"{priced:.2f}" != "0.00"
    assert (order["firstName"], order["lastName"], order["country"]) == ("John", "Doe", "US")
    assert (draft["firstName"], draft["country"]) == ("Ada", "GB")
    assert order["createdAt"] == at(0)
    assert (order["fulfillmentStatus"], order["financialStatus"]) == ("created", "pending")
    full = shop.caller.get(shop.ids["us_created"]).json()
    assert order["clientId"] == full["clientId"]
    # Search reads ids and times straight as text (db.UuidText, db.IsoText): the same text.
    for name in ("id", "createdAt", "updatedAt", "orderedAt"):
        assert order[name] == full[name], name


def test_another_customer_sees_none_of_these_orders(shop: Shop, other_caller: Caller) -> None:
    refs = list(shop.references.values())
    assert other_caller.search({}).json() == {"orders": []}
    assert other_caller.search({"orderReferenceIds": refs}).json() == {"orders": []}


def test_an_order_is_found_by_its_own_reported_creation_time(caller: Caller) -> None:
    created = caller.submit(order_body()).json()
    window = {"startDate": created["createdAt"], "endDate": created["createdAt"]}
    found = caller.search(window).json()["orders"]
    assert [order["id"] for order in found] == [created["id"]]


@pytest.mark.parametrize(
    ("search", "param"),
    [
        ({"fulfillmentStatus": ["bogus"]}, "fulfillmentStatus[0]"),
        ({"fulfillmentStatus": ["created", "Shipped"]}, "fulfillmentStatus[1]"),
        ({"financialStatus": ["free"]}, "financialStatus[0]"),
        ({"countries": ["GB", "XX"]}, "countries[1]"),
        ({"startDate": "yesterday"}, "startDate"),
        ({"startDate": "1700000000"}, "startDate"),  # Unix time: pydantic alone took it
        ({"endDate": "20261101"}, "endDate"),
        ({"endDate": "2026-11-01 10:00:00Z"}, "endDate"),
        ({"startDate": "2026-11-31"}, "startDate"),
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"limit": "ten"}, "limit"),
        ({"status": ["created"]}, "status"),
    ],
)
def test_invalid_search_is_400_naming_the_parameter(
    caller: Caller, search: dict[str, Any], param: str
) -> None:
    response = caller.search(search)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "invalid_request"
    assert [item["param"] for item in body["errors"]] == [param]


@pytest.mark.parametrize(
    "date",
    [
        "2026-11-01",
        "2026-11-01T09:30",
        "2026-11-01T09:30:00.5+01:00",
        "2026-11-01t09:30z",
        "2026-11-01T09:30:00+0100",
        "2026-11-01T09:30:00.1234567891Z",
    ],
)
def test_every_iso_8601_shape_the_docs_name_is_accepted(caller: Caller, date: str) -> None:
    response = caller.search({"startDate": date, "endDate": date})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("window", "found"),
    [
        ({"endDate": "9999-12-31"}, True),  # "no end"
        ({"endDate": "9999-12-31T23:59:59.5Z"}, True),
        ({"startDate": "0001-01-01T00:00:00+01:00", "endDate": "9999-12-31T23:59:59-12:00"}, True),
        ({"startDate": "0001-01-01", "endDate": "0001-01-01T00:00:00+01:00"}, False),
        ({"startDate": "9999-12-31T23:59:59-12:00"}, False),
    ],
)
def test_bounds_at_the_ends_of_the_calendar_search_as_far_as_they_reach(
    caller: Caller, window: dict[str, str], found: bool
) -> None:
    created = caller.submit(order_body()).json()
    response = caller.search({**window, "orderReferenceId": created["orderReferenceId"]})
    assert response.status_code == 200, response.text
    ids = [order["id"] for order in response.json()["orders"]]
    assert ids == ([created["id"]] if found else [])


# --- limit and pagination over many orders sharing creation times ---------------------

MANY = 105


@pytest.fixture(scope="module")
def crowd(client: TestClient, database: Database) -> tuple[Caller, list[str]]:
    """105 orders, three per creation second; returns them as search must order them."""
    caller = new_caller(client, database)
    principal = principal_of(database, caller)
    stored: list[tuple[datetime, str]] = []
    for index in range(MANY):
        when = BASE + timedelta(seconds=index // 3)
        stored.append((when, store(database, principal, order_body(), when)))
    return caller, [order_id for _, order_id in stored]


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [order["id"] for order in response.json()["orders"]]


def test_default_limit_is_50(crowd: tuple[Caller, list[str]]) -> None:
    caller, _ = crowd
    assert len(ids(caller.search({}))) == 50


def test_limit_100_returns_100_and_offset_returns_the_rest(
    crowd: tuple[Caller, list[str]],
) -> None:
    caller, stored = crowd
    first = ids(caller.search({"limit": 100}))
    rest = ids(caller.search({"limit": 100, "offset": 100}))
    assert (len(first), len(rest)) == (100, MANY - 100)
    assert set(first) | set(rest) == set(stored)
    assert ids(caller.search({"limit": 100, "offset": MANY})) == []


def test_pages_have_no_overlap_or_gaps_and_ties_keep_one_order(
    crowd: tuple[Caller, list[str]],
) -> None:
    caller, stored = crowd
    big_pages = ids(caller.search({"limit": 100})) + ids(
        caller.search({"limit": 100, "offset": 100})
    )
    small_pages: list[str] = []
    for offset in range(0, MANY, 7):
        small_pages += ids(caller.search({"limit": 7, "offset": offset}))
    assert small_pages == big_pages
    assert len(set(small_pages)) == MANY
    assert ids(caller.search({"limit": 100})) == big_pages[:100]  # stable across calls
    created_at = {order_id: BASE + timedelta(seconds=i // 3) for i, order_id in enumerate(stored)}
    times = [created_at[order_id] for order_id in small_pages]
    assert times == sorted(times, reverse=True)


def test_recent_submits_come_first(caller: Caller) -> None:
    first = caller.submit(order_body()).json()["id"]
    second = caller.submit(order_body()).json()["id"]
    assert ids(caller.search({})) == [second, first]


def test_orders_within_one_second_come_newest_first(client: TestClient, database: Database) -> None:
    """Results show times to the second, but sort by the stored time: the text a result
    carries (db.IsoText) must never be what the page is ordered by."""
    caller = new_caller(client, database)
    principal = principal_of(database, caller)
    moment = datetime(2032, 1, 1, 9, 30, 15, tzinfo=UTC)
    stored = [
        store(
            database,
            principal,
            order_body(f"tick-{n}-{uuid.uuid4().hex[:6]}"),
            moment + timedelta(microseconds=n),
        )
        for n in range(6)
    ]
    newest_first = list(reversed(stored))
    plain = caller.search({}).json()["orders"]
    assert [order["id"] for order in plain] == newest_first
    assert {order["createdAt"] for order in plain} == {"2032-01-01T09:30:15+00:00"}
    by_status = caller.search({"fulfillmentStatus": ["created", "failed"]}).json()["orders"]
    assert [order["id"] for order in by_status] == newest_first
