"""Get Order and Search authenticate in the same statement as their read: the key's
record comes back with the order (or the page), and nothing read is used before the
key is admitted. Fewer round trips, same answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from pressline.accounts import service as accounts
from pressline.accounts.keys import Credentials, parse_header
from pressline.catalog.products import Catalog
from pressline.catalog.reference import ReferenceStore
from pressline.db import Database, utcnow
from pressline.errors import AuthenticationFailed, OrderNotFound
from pressline.orders import service
from pressline.orders.schemas import OrderSearch
from tests.conftest import Caller, order_body


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """The statements the API's reads send while the block runs."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    event.listen(database.read_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(database.read_engine, "before_cursor_execute", record)


def credentials(caller: Caller, *, secret: str | None = None) -> Credentials:
    parsed = parse_header(caller.api_key)
    assert parsed is not None
    key, real_secret = parsed
    return Credentials(key, secret or real_secret, caller.prefix, None)


def catalog_of(caller: Caller) -> Catalog:
    store: ReferenceStore = caller.client.app.state.reference  # type: ignore[attr-defined]
    return store.current.catalog


def test_get_order_is_two_statements_and_search_two(caller: Caller, database: Database) -> None:
    # Get Order on PostgreSQL, that is: SQLite has no round trips to save and reads the
    # key first. Search reads the key first everywhere (service.search_orders_as).
    separate_key = database.read_engine.dialect.name == "sqlite"
    order_id = caller.submit(order_body()).json()["id"]
    caller.get(order_id)  # the first run of a statement may differ (compilation)
    with statements(database) as sent:
        assert caller.get(order_id).status_code == 200
    # The key with the order and its items (or the key, then those); then the history.
    assert len(sent) == 2 + separate_key, sent
    assert "api_keys" in sent[0]
    assert "order_items" in sent[int(separate_key)]
    with statements(database) as sent:
        assert caller.search({}).status_code == 200
    assert len(sent) == 2, sent
    assert "api_keys" in sent[0] and "api_keys" not in sent[1]


def test_read_behind_the_key_equals_the_read_for_its_caller(
    caller: Caller, database: Database
) -> None:
    created = caller.submit(order_body()).json()
    presented = credentials(caller)
    now = utcnow()
    catalog = catalog_of(caller)
    search = OrderSearch.model_validate({"limit": 5})
    with database.read_engine.connect() as conn:
        principal = accounts.authenticate(conn, credentials=presented, now=now)
        for order_key in (created["id"], created["orderReferenceId"]):
            as_key = service.get_order_as(
                conn, credentials=presented, now=now, order_key=order_key, catalog=catalog
            )
            as_caller = service.get_order(
                conn, principal=principal, order_key=order_key, catalog=catalog
            )
            assert as_key == as_caller
            assert as_key["id"] == created["id"]
        page = service.search_orders_as(conn, credentials=presented, now=now, search=search)
        assert page == service.search_orders(conn, principal=principal, search=search)
        assert [order["id"] for order in page["orders"]] == [created["id"]]


def test_an_empty_page_and_a_missing_order_still_authenticate(
    caller: Caller, database: Database
) -> None:
    presented = credentials(caller)
    wrong = credentials(caller, secret="sk_" + "A" * 40)
    search = OrderSearch.model_validate({})
    catalog = catalog_of(caller)
    with database.read_engine.connect() as conn:
        assert service.search_orders_as(
            conn, credentials=presented, now=utcnow(), search=search
        ) == {"orders": []}
        with pytest.raises(AuthenticationFailed):
            service.search_orders_as(conn, credentials=wrong, now=utcnow(), search=search)
        with pytest.raises(OrderNotFound):
            service.get_order_as(
                conn, credentials=presented, now=utcnow(), order_key="nope", catalog=catalog
            )
        with pytest.raises(AuthenticationFailed):
            service.get_order_as(
                conn, credentials=wrong, now=utcnow(), order_key="nope", catalog=catalog
            )


def test_a_revoked_key_cannot_read_its_own_order(caller: Caller, database: Database) -> None:
    order_id = caller.submit(order_body()).json()["id"]
    assert caller.get(order_id).status_code == 200
    with database.transaction() as conn:
        accounts.revoke_key(conn, key=credentials(caller).key, now=utcnow())
    assert caller.get(order_id).status_code == 401
    assert caller.search({}).status_code == 401


def test_an_id_match_wins_over_a_reference_equal_to_that_id(caller: Caller) -> None:
    first = caller.submit(order_body()).json()["id"]
    second = caller.submit(order_body(reference=first)).json()["id"]
    assert caller.cancel(second).status_code == 200
    by_id = caller.get(first).json()
    assert by_id["id"] == first
    assert by_id["fulfillmentStatus"] == "created"
    # The history is the first order's own, not the canceled one's.
    assert [entry["toStatus"] for entry in by_id["history"]] == ["created"]
