"""The request log: every connector call recorded, secrets never (issue 6 §5)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from starlette.testclient import TestClient

from pressline import purging
from pressline.accounts import service as accounts
from pressline.app import create_app
from pressline.config import Settings
from pressline.db import Database, utcnow
from pressline.errors import ValidationFailed
from pressline.orders import journal
from pressline.requestlog import store
from pressline.requestlog.tables import request_log
from pressline.templates.model import TemplateType
from tests.api.test_templated_endpoints import add_template, link, link_shopify, shopify_export
from tests.conftest import Caller, order_body


def flush(client: TestClient) -> None:
    recorder = client.app.state.request_log  # type: ignore[attr-defined]
    assert client.portal is not None
    client.portal.call(recorder.flush)


def entries(database: Database, caller: Caller) -> list[Any]:
    with database.transaction() as conn:
        filters = store.Filters(prefix=caller.prefix)
        return [store.get_entry(conn, row.id) for row in store.list_entries(conn, filters)]


def test_get_order_links_the_requests_that_touched_the_order(
    client: TestClient, caller: Caller, other_caller: Caller
) -> None:
    body = order_body()
    created = caller.submit(body)
    order_id = created.json()["id"]
    looked_up = caller.get(body["orderReferenceId"])  # by reference: linked through its key
    canceled = caller.cancel(order_id)
    other_caller.get(order_id)  # another customer's 404 is not this order's request
    flush(client)

    requests = caller.get(order_id).json()["requests"]
    assert [(r["requestId"], r["method"], r["status"]) for r in requests] == [
        (canceled.headers["request-id"], "POST", 200),
        (looked_up.headers["request-id"], "GET", 200),
        (created.headers["request-id"], "POST", 200),
    ]
    assert requests[-1]["path"] == f"{caller.base}/order"
    assert set(requests[0]) == {"requestId", "method", "path", "status", "createdAt"}


def test_get_order_shows_the_newest_twenty_however_each_names_the_order(
    database: Database,
) -> None:
    """Entries linked by order id, by id in the URL and by reference, interleaved in
    time: the newest 20 of all three, newest first, an entry linked twice shown once;
    another customer's entry naming the same reference is not the order's."""
    order = store.OrderRef(uuid.uuid4(), f"ref-{uuid.uuid4().hex[:8]}", "cust-newest")
    now = utcnow()
    links: list[dict[str, Any]] = [
        {"order_id": order.id, "order_key": None},
        {"order_id": None, "order_key": str(order.id)},
        {"order_id": None, "order_key": order.reference},
        {"order_id": order.id, "order_key": str(order.id)},  # a cancel by id: both sides
    ]
    rows = [
        {
            "id": f"req_{order.reference}_{n:03d}", "at": now - timedelta(seconds=n),
            "prefix": "p", "customer_reference_id": order.customer_reference_id,
            "method": "GET", "path": "/x", "status": 200, "latency_us": 1,
            **links[n % len(links)],
        }
        for n in range(60)
    ]  # fmt: skip
    stranger = {**rows[0], "id": f"req_{order.reference}_other", "at": now + timedelta(seconds=1),
                "customer_reference_id": "someone-else", "order_id": None,
                "order_key": order.reference}  # fmt: skip
    with database.transaction() as conn:
        store.insert_entries(conn, [*rows, stranger])
        shown = journal.history_of(conn, order.id, order).requests
    assert [r["requestId"] for r in shown] == [row["id"] for row in rows[:20]]


def test_each_call_is_recorded_with_its_bodies_and_order(
    client: TestClient, database: Database, caller: Caller
) -> None:
    body = order_body()
    body["shippingAddress"]["password"] = "hunter2"  # an unknown field: 400, yet logged
    refused = caller.submit(body)
    assert refused.status_code == 400
    del body["shippingAddress"]["password"]
    created = caller.submit(body)
    order_id = created.json()["id"]
    caller.get(body["orderReferenceId"])
    caller.cancel(order_id)
    flush(client)

    logged = entries(database, caller)
    assert [(e.method, e.status) for e in reversed(logged)] == [
        ("POST", 400), ("POST", 200), ("GET", 200), ("POST", 200),
    ]  # fmt: skip
    first, submit = logged[-1], logged[-2]
    assert submit.id == created.headers["request-id"]
    assert str(submit.order_id) == order_id
    assert submit.customer_reference_id == caller.customer_reference_id
    assert json.loads(submit.request_body)["orderReferenceId"] == body["orderReferenceId"]
    assert json.loads(submit.response_body)["id"] == order_id
    assert submit.latency_us > 0
    # Secrets are never stored: not the API key, not a field named like a secret.
    secret = caller.api_key.split(":")[1]
    for entry in logged:
        assert secret not in (entry.request_body or "") + (entry.response_body or "")
    assert "hunter2" not in first.request_body
    assert json.loads(first.request_body)["shippingAddress"]["password"] == "[redacted]"

    # The order's requests: the submit (by id), the get (by reference), the cancel (by id).
    with database.transaction() as conn:
        ref = store.find_order(conn, order_id, None)
        touched = store.list_entries(conn, store.Filters(order=ref))
    methods = sorted(f"{row.method} {row.status}" for row in touched)
    assert methods == ["GET 200", "POST 200", "POST 200"]


def test_an_operator_names_a_reference_two_customers_use_with_its_customer(
    database: Database, caller: Caller, other_caller: Caller
) -> None:
    reference = f"shared-{uuid.uuid4().hex[:8]}"
    ids = [who.submit(order_body(orderReferenceId=reference)).json()["id"]
           for who in (caller, other_caller)]  # fmt: skip
    with database.transaction() as conn:
        with pytest.raises(ValidationFailed, match="--customer"):
            store.find_order(conn, reference, None)
        mine = store.find_order(conn, reference, caller.customer_reference_id)
        theirs = store.find_order(conn, reference, other_caller.customer_reference_id)
    assert [str(mine.id), str(theirs.id)] == ids


def test_unauthenticated_calls_are_logged_without_a_customer(
    client: TestClient, database: Database, caller: Caller
) -> None:
    answer = client.get(f"{caller.base}/x", headers={"X-API-KEY": "nonsense"})
    assert answer.status_code == 401
    flush(client)
    [entry] = entries(database, caller)
    assert (entry.status, entry.customer_reference_id) == (401, None)


def test_calls_no_key_authenticated_are_logged_a_few_a_second_without_bodies(
    settings: Settings, database: Database, caller: Caller
) -> None:
    """Anyone can send these, with no rate limit: they must not fill the disk. (An app
    of its own: the allowance is the process's, and the shared app's other tests'.)"""
    big = json.dumps({"filler": "x" * 60_000})
    forged = {"X-API-KEY": f"{caller.api_key.split(':')[0]}:wrong"}
    app = create_app(settings, database=database)
    with TestClient(app, base_url="https://testserver") as client:
        for headers in ({}, {"X-API-KEY": "nonsense"}, forged):
            for _ in range(20):
                answer = client.post(f"{caller.base}/order", content=big, headers={
                    **headers, "Content-Type": "application/json"})  # fmt: skip
                assert answer.status_code == 401
        own = client.post(f"{caller.base}/order", json=order_body(), headers=caller.headers)
        assert own.status_code == 200  # a customer's own call: in full
        flush(client)
    logged = entries(database, caller)
    anonymous = [entry for entry in logged if entry.status == 401]
    # ANONYMOUS_PER_SECOND (10) in each second the 60 calls spanned
    assert 10 <= len(anonymous) < 60
    assert {(entry.request_body, entry.response_body) for entry in anonymous} == {(None, None)}
    [kept] = [entry for entry in logged if entry.status == 200]
    assert kept.request_body and kept.response_body


def test_a_url_with_a_nul_is_logged_with_a_stand_in(
    client: TestClient, database: Database, caller: Caller
) -> None:
    """PostgreSQL cannot store NUL; the row (and its batch) must not be lost over it."""
    assert caller.get("ref%00x").status_code == 400
    assert caller.get("no-such-order").status_code == 404  # logged in the same batch
    flush(client)
    paths = sorted(entry.path for entry in entries(database, caller))
    assert paths == [f"{caller.base}/no-such-order", f"{caller.base}/ref\ufffdx"]


def test_a_templated_submit_keeps_the_raw_and_the_transformed_request(
    client: TestClient, database: Database, caller: Caller
) -> None:
    shopify = link_shopify(client, database, caller)
    export = shopify_export()
    assert shopify.submit(export).status_code == 200
    flush(client)
    [entry] = entries(database, shopify)
    assert (
        json.loads(entry.request_body)["order"]["order_number"] == export["order"]["order_number"]
    )
    transformed = json.loads(entry.transformed_request)
    assert transformed["orderReferenceId"] == f"shopify-{export['order']['order_number']}"
    assert entry.template == "shopify-submit v1"


def test_old_entries_are_purged(client: TestClient, database: Database, caller: Caller) -> None:
    caller.get("whatever")
    flush(client)
    [entry] = entries(database, caller)
    with database.transaction() as conn:
        conn.execute(
            request_log.update()
            .where(request_log.c.id == entry.id)
            .values(at=utcnow() - timedelta(days=31))
        )
    caller.get("whatever-else")
    flush(client)
    assert client.portal is not None
    deleted = client.portal.call(
        partial(purging.purge_expired, database, store.purge, retention=timedelta(days=30))
    )
    assert deleted >= 1
    assert [e.path for e in entries(database, caller)] == [f"{caller.base}/whatever-else"]


def test_a_request_templates_output_that_does_not_parse_is_logged_as_written(
    client: TestClient, database: Database, caller: Caller
) -> None:
    """The 400 names only a line and column: the operator must see the text itself."""
    add_template(database, caller, "unquoted", '{"orderReferenceId": {{ ref }}}',
                 TemplateType.ORDER_SUBMIT_REQUEST)  # fmt: skip
    link(client, database, caller, "submit", "request", "unquoted")
    answer = caller.client.post(f"{caller.base}/order", json={"ref": "shop-1"},
                                headers=caller.headers)  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["code"] == "template_output_invalid"
    flush(client)
    [entry] = [e for e in entries(database, caller) if e.id == answer.headers["request-id"]]
    assert entry.transformed_request == '{"orderReferenceId": shop-1}'


def test_a_key_revoked_a_moment_ago_is_logged_as_no_key(
    client: TestClient, database: Database, caller: Caller
) -> None:
    """The edge remembers a key for minutes; past its 401 it authenticated nothing."""
    assert caller.search({}).status_code == 200  # the edge now knows the key
    with database.transaction() as conn:
        accounts.revoke_key(conn, key=caller.api_key.split(":")[0], now=utcnow())
    refused = caller.submit(order_body())
    assert refused.status_code == 401
    flush(client)
    [entry] = [e for e in entries(database, caller) if e.id == refused.headers["request-id"]]
    assert (entry.request_body, entry.response_body) == (None, None)
