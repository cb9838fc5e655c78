"""The HTTP edge: request ids, HSTS, HTTPS only, 404/405/413/415, bad JSON, 500s.

reliability.md 6, 7 and 13, and the error body of "Errors" on every failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient
from starlette.types import Message, Scope

from pressline.app import create_app
from pressline.config import Settings
from pressline.db import Database
from tests.conftest import Caller, order_body

MIB = 1024 * 1024
REQUEST_ID = re.compile(r"^req_[0-9a-zA-Z]{8,}$")
ERROR_FIELDS = {"code", "message", "type", "errors", "requestId"}


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The standard error body, its id in the Request-Id header; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_FIELDS
    assert body["code"] == status
    assert REQUEST_ID.match(body["requestId"])
    assert response.headers["request-id"] == body["requestId"]
    for item in body["errors"]:
        assert set(item) == {"type", "code", "param", "message"}
        assert item["type"] == body["type"]
    if code is not None:
        assert [item["code"] for item in body["errors"]] == [code]
    return body


def padded(body: dict[str, Any], size: int) -> bytes:
    """``body`` as JSON padded with whitespace to exactly ``size`` bytes."""
    raw = json.dumps(body).encode()
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def chunks(payload: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(payload), size):
        yield payload[start : start + size]


def post_raw(caller: Caller, path: str, content: Any, content_type: str | None) -> Any:
    headers = dict(caller.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return caller.client.post(f"{caller.base}/{path}", content=content, headers=headers)


# --- request ids and HSTS ---------------------------------------------------------


def test_every_response_has_a_request_id_and_hsts(caller: Caller) -> None:
    ok = caller.submit(order_body())
    missing = caller.get("no-such-order")
    assert ok.status_code == 200
    ids = {ok.headers["request-id"], missing.headers["request-id"]}
    assert len(ids) == 2 and all(REQUEST_ID.match(rid) for rid in ids)
    assert_error(missing, 404)
    for response in (ok, missing):
        hsts = response.headers["strict-transport-security"]
        assert re.match(r"max-age=\d{7,}", hsts), hsts


# --- routing: 404 and 405 ------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/nope", "/api", "/api/some-prefix", "/docs/../etc", "/docs/", "/openapi.json/"]
)
def test_unknown_path_is_404_in_the_error_format(client: TestClient, path: str) -> None:
    assert_error(client.get(path, follow_redirects=False), 404, "route_not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "{base}/{id}", {"GET", "PUT", "PATCH", "DELETE"}),
        ("DELETE", "{base}/order", {"POST"}),
        ("DELETE", "{base}/search", {"POST"}),
        ("DELETE", "{base}/{id}/cancel", {"POST"}),
        ("OPTIONS", "{base}/{id}/cancel", {"POST"}),
        ("PUT", "{base}/search", {"POST"}),
        ("POST", "/docs", {"GET", "HEAD"}),
        ("GET", "{base}/order", {"POST"}),
    ],
)
def test_wrong_method_is_405_with_allow(
    caller: Caller, method: str, path: str, allowed: set[str]
) -> None:
    order_id = caller.submit(order_body()).json()["id"]
    url = path.format(base=caller.base, id=order_id)
    response = caller.client.request(method, url, headers=caller.headers)
    body = assert_error(response, 405, "method_not_allowed")
    allow = {part.strip() for part in response.headers["allow"].split(",")}
    assert allow == allowed
    assert body["type"] == "invalid_request"
    assert caller.get(order_id).json()["fulfillmentStatus"] == "created"


def test_head_on_an_order_is_405(caller: Caller) -> None:
    """Get Order serves GET alone (a HEAD answer has no body to check)."""
    order_id = caller.submit(order_body()).json()["id"]
    response = caller.client.head(f"{caller.base}/{order_id}", headers=caller.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PUT, PATCH, DELETE"


def test_an_order_key_over_100_characters_is_400_after_the_key_check(caller: Caller) -> None:
    """As ``OrderKey`` declares it, on Get Order's hot route too; 100 characters is a key.
    A missing or malformed ``X-API-KEY`` is refused first, as FastAPI's route did."""
    assert caller.get("x" * 100).status_code == 404
    body = assert_error(caller.get("x" * 101), 400, "too_long")
    assert body["errors"][0]["param"] == "orderId"
    unauthenticated = caller.client.get(f"{caller.base}/{'x' * 101}")
    assert_error(unauthenticated, 401, "invalid_api_key")


# --- body size -----------------------------------------------------------------------


def test_a_body_of_exactly_1_mib_is_accepted(caller: Caller) -> None:
    body = order_body()
    response = post_raw(caller, "order", padded(body, MIB), "application/json")
    assert response.status_code == 200, response.text
    assert caller.get(body["orderReferenceId"]).status_code == 200


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_1_mib_is_413(caller: Caller, streamed: bool) -> None:
    body = order_body()
    payload = padded(body, MIB + 1)
    content: Any = chunks(payload) if streamed else payload
    response = post_raw(caller, "order", content, "application/json")
    assert_error(response, 413, "body_too_large")
    assert caller.get(body["orderReferenceId"]).status_code == 404


def test_a_streamed_body_of_1_mib_is_accepted(caller: Caller) -> None:
    body = order_body()
    response = post_raw(caller, "order", chunks(padded(body, MIB)), "application/json")
    assert response.status_code == 200, response.text


# --- content type and JSON ------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "json"],
)
@pytest.mark.parametrize("endpoint", ["submit", "search", "update"])
def test_non_json_content_type_on_writes_is_415(
    caller: Caller, endpoint: str, content_type: str | None
) -> None:
    order_id = caller.submit(order_body()).json()["id"]
    headers = dict(caller.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    payload = {
        "submit": order_body(),
        "search": {},
        "update": {"shipmentMethodUid": "express"},
    }[endpoint]
    url = {"submit": "order", "search": "search", "update": order_id}[endpoint]
    method = "PUT" if endpoint == "update" else "POST"
    response = caller.client.request(
        method, f"{caller.base}/{url}", content=json.dumps(payload), headers=headers
    )
    assert_error(response, 415, "unsupported_media_type")
    assert caller.get(order_id).json()["shipmentMethodUid"] is None


@pytest.mark.parametrize("charset", ["latin-1", "utf-16", "iso-8859-1"])
def test_json_in_another_charset_than_utf_8_is_415(caller: Caller, charset: str) -> None:
    response = post_raw(caller, "search", b"{}", f"application/json; charset={charset}")
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', "us-ascii"])
def test_json_with_a_charset_is_accepted(caller: Caller, charset: str) -> None:
    response = post_raw(caller, "search", b"{}", f"application/json; charset={charset}")
    assert response.status_code == 200, response.text


def test_cancel_needs_no_body_or_content_type(caller: Caller) -> None:
    order_id = caller.submit(order_body()).json()["id"]
    response = caller.client.post(f"{caller.base}/{order_id}/cancel", headers=caller.headers)
    assert response.status_code == 200, response.text


def _nested(depth: int) -> bytes:
    return b'{"metadata": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"orderReferenceId": ',
        b"{'orderReferenceId': 'x'}",
        b"",
        b"\xff\xfe{}",
        b'{"a": 1,}',
        b"NaN",
    ],
)
@pytest.mark.parametrize("path", ["order", "search"])
def test_malformed_json_is_400_malformed_body(caller: Caller, path: str, payload: bytes) -> None:
    body = assert_error(post_raw(caller, path, payload, "application/json"), 400)
    assert body["type"] == "invalid_request"
    assert body["errors"][0]["code"] == "malformed_body"


@pytest.mark.parametrize("depth", [33, 100_000])
@pytest.mark.parametrize("path", ["order", "search"])
def test_deeply_nested_json_is_400_never_500(caller: Caller, path: str, depth: int) -> None:
    body = assert_error(post_raw(caller, path, _nested(depth), "application/json"), 400)
    assert body["type"] == "invalid_request"
    objects = b'{"a": ' * depth + b"1" + b"}" * depth
    assert_error(post_raw(caller, path, objects, "application/json"), 400)


@pytest.mark.parametrize("payload", [b"[]", b'[{"limit": 1}]', b'"order"', b"42", b"null", b"true"])
def test_a_body_that_is_not_an_object_is_400(caller: Caller, payload: bytes) -> None:
    for path in ("order", "search"):
        body = assert_error(post_raw(caller, path, payload, "application/json"), 400)
        assert [item["code"] for item in body["errors"]] == ["malformed_body"]


@pytest.mark.parametrize("path", ["order", "search"])
def test_a_body_cut_short_by_a_disconnect_is_400_not_500(caller: Caller, path: str) -> None:
    """The server turns a broken chunked encoding into a disconnect, like a client that
    hangs up mid-body: Starlette raises ClientDisconnect, which answered 500."""
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"orderReferenceId": "cut', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http", "method": "POST", "scheme": "https", "http_version": "1.1",
        "path": f"{caller.base}/{path}", "raw_path": f"{caller.base}/{path}".encode(),
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
        "server": ("testserver", 443),
        "headers": [
            (b"host", b"testserver"), (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"), (b"x-api-key", caller.api_key.encode()),
        ],
    }  # fmt: skip

    async def call() -> None:
        await caller.client.app(scope, receive, send)

    assert caller.client.portal is not None
    caller.client.portal.call(call)
    assert sent[0]["status"] == 400
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert [item["code"] for item in body["errors"]] == ["malformed_body"]


# --- unexpected errors ----------------------------------------------------------------


@pytest.fixture
def failing_app(settings: Settings, database: Database) -> FastAPI:
    app = create_app(settings, database=database)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: postgresql://admin:hunter2@db/pressline")

    return app


def test_an_unexpected_error_is_500_without_internals(failing_app: FastAPI) -> None:
    client = TestClient(failing_app, base_url="https://testserver", raise_server_exceptions=False)
    response = client.get("/boom")
    body = assert_error(response, 500, "internal_error")
    assert body["type"] == "api"
    assert body["requestId"] in body["message"]
    for leak in ("hunter2", "RuntimeError", "Traceback", "secret internals", ".py"):
        assert leak not in response.text
    assert "strict-transport-security" in response.headers


# --- HTTPS only ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_plain_http_is_403_never_a_redirect(
    settings: Settings, database: Database, caller: Caller, method: str
) -> None:
    app = create_app(settings, database=database)
    plain = TestClient(app, base_url="http://testserver", follow_redirects=False)
    response = plain.request(method, f"{caller.base}/order", headers=caller.headers, json={})
    body = assert_error(response, 403, "https_required")
    assert body["type"] == "permission"
    assert "location" not in response.headers


def _proxied(
    settings: Settings, database: Database, client: tuple[str, int], trusted: list[str]
) -> TestClient:
    configured = Settings(database_url=settings.database_url, trusted_proxies=trusted)
    app = create_app(configured, database=database)
    return TestClient(app, base_url="http://testserver", client=client, follow_redirects=False)


@pytest.mark.parametrize(
    ("address", "trusted", "forwarded", "allowed"),
    [
        ("127.0.0.1", ["127.0.0.0/8"], "https", True),
        ("127.0.0.1", ["127.0.0.0/8"], "http, https", True),  # the proxy appended https
        ("127.0.0.1", ["127.0.0.0/8"], "https, http", False),  # the client's claim, then http
        ("::1", ["::1/128"], "HTTPS", True),
        ("127.0.0.1", ["127.0.0.0/8"], "http", False),
        ("127.0.0.1", ["127.0.0.0/8"], None, False),
        ("203.0.113.7", ["127.0.0.0/8"], "https", False),
        ("testclient", ["127.0.0.0/8"], "https", False),
        ("127.0.0.1", [], "https", False),
    ],
)
def test_forwarded_proto_counts_only_from_trusted_proxies(
    settings: Settings,
    database: Database,
    caller: Caller,
    address: str,
    trusted: list[str],
    forwarded: str | None,
    allowed: bool,
) -> None:
    proxied = _proxied(settings, database, (address, 5000), trusted)
    headers = dict(caller.headers)
    if forwarded is not None:
        headers["X-Forwarded-Proto"] = forwarded
    response = proxied.post(f"{caller.base}/search", json={}, headers=headers)
    if allowed:
        assert response.status_code == 200, response.text
        assert "strict-transport-security" in response.headers
        assert REQUEST_ID.match(response.headers["request-id"])
    else:
        assert_error(response, 403, "https_required")
