"""Whole flows through a real ``pressline serve`` process over HTTPS (reliability.md 13, 19)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from pressline.orders import examples
from pressline.tls import ensure_self_signed
from tests.e2e.conftest import (
    HOST,
    STOP_TIMEOUT,
    Server,
    descendants,
    is_alive,
    new_server,
    refused,
)
from tests.support.pg_fixtures import postgres_url
from tests.support.pgcluster import PostgresCluster

pytestmark = pytest.mark.e2e

ENDPOINTS = [
    "POST {base}/api/sandbox/order",
    "GET {base}/api/sandbox/{{orderId}}",
    "POST {base}/api/sandbox/{{orderId}}/cancel",
    "PUT {base}/api/sandbox/{{orderId}}",
    "POST {base}/api/sandbox/search",
]


def _seed_order(reference: str | None = None) -> dict[str, Any]:
    return {**examples.SUBMIT["reference"], "orderReferenceId": reference or f"e2e-{uuid.uuid4()}"}


def _printed_curl(banner: str) -> str:
    """The multi-line curl command of the banner, up to its closing quote."""
    match = re.search(r"^curl .*?\}'$", banner, re.MULTILINE | re.DOTALL)
    assert match, f"no curl command in the banner:\n{banner}"
    return match.group(0)


def test_banner_prints_base_url_endpoints_key_and_curl(server: Server) -> None:
    banner = server.output()
    assert f"serving on {server.base_url}" in banner
    for endpoint in ENDPOINTS:
        assert endpoint.format(base=server.base_url) in banner
    assert re.fullmatch(r"pk_[0-9a-f]{24}:sk_[A-Za-z0-9_-]{43}", server.api_key())
    assert "--cacert var/tls/cert.pem" in banner
    curl = _printed_curl(banner)
    assert f"X-API-KEY: {server.api_key()}" in curl
    assert f"{server.base_url}/api/sandbox/order" in curl


def test_the_printed_curl_command_submits_the_seed_order(server: Server) -> None:
    command = (
        _printed_curl(server.output()) + " --silent --show-error --write-out '\\n%{http_code}'"
    )
    done = subprocess.run(
        ["bash", "-c", command], cwd=server.cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    body, status = done.stdout.rsplit("\n", 1)
    assert status == "200", body
    created = httpx.Response(200, content=body).json()
    assert set(created) == set(examples.SUBMIT_RESPONSE)
    # The seed's order under a reference of this start: a later run's paste is no 409.
    assert re.fullmatch(r"demo-\d{8}-\d{6}", created["orderReferenceId"])
    with server.client() as client:
        stored = client.get(
            f"/api/sandbox/{created['id']}", headers={"X-API-KEY": server.api_key()}
        )
    assert stored.status_code == 200
    assert stored.json()["orderReferenceId"] == created["orderReferenceId"]


def test_the_demo_customer_can_order_the_guides_customer_product(server: Server) -> None:
    body = {**examples.SUBMIT["guide_customer_product"], "orderReferenceId": "demo-cards"}
    with server.client() as client:
        headers = {"X-API-KEY": server.api_key()}
        created = client.post("/api/sandbox/order", json=body, headers=headers)
        assert created.status_code == 200, created.text
        order = client.get(f"/api/sandbox/{created.json()['id']}", headers=headers).json()
    item = order["items"][0]
    assert item["productName"] == "Business Card"
    assert item["productCategoryUid"] == "printed-products"
    assert item["finalProductUid"].startswith("cards_")


def test_https_round_trip_submit_get_search_update_cancel(server: Server) -> None:
    headers = {"X-API-KEY": server.api_key()}
    body = _seed_order()
    with server.client() as client:
        created = client.post("/api/sandbox/order", json=body, headers=headers)
        assert created.status_code == 200, created.text
        assert "max-age=" in created.headers["strict-transport-security"]
        assert created.headers["request-id"].startswith("req_")
        order_id = created.json()["id"]

        got = client.get(f"/api/sandbox/{body['orderReferenceId']}", headers=headers)
        assert got.status_code == 200
        assert got.json()["id"] == order_id
        assert got.json()["fulfillmentStatus"] == "created"

        found = client.post(
            "/api/sandbox/search",
            json={"orderReferenceIds": [body["orderReferenceId"]]},
            headers=headers,
        )
        assert [o["id"] for o in found.json()["orders"]] == [order_id]

        change = examples.UPDATE_SHIPMENT["guide_both"]
        updated = client.put(f"/api/sandbox/{order_id}", json=change, headers=headers)
        assert updated.status_code == 200, updated.text
        assert (
            updated.json()["shippingAddress"]["lastName"] == change["shippingAddress"]["lastName"]
        )
        stored = client.get(f"/api/sandbox/{order_id}", headers=headers).json()
        assert stored["shipmentMethodUid"] == change["shipmentMethodUid"]

        canceled = client.post(f"/api/sandbox/{order_id}/cancel", headers=headers)
        assert canceled.json() == examples.CANCEL_RESPONSE
        assert (
            client.get(f"/api/sandbox/{order_id}", headers=headers).json()["fulfillmentStatus"]
            == "canceled"
        )


def test_error_responses_over_https_carry_hsts_and_the_error_body(server: Server) -> None:
    with server.client() as client:
        response = client.get("/api/sandbox/no-such-order", headers={"X-API-KEY": "wrong"})
    assert response.status_code == 401
    assert response.json()["type"] == "authentication"
    assert "max-age=" in response.headers["strict-transport-security"]


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_body_over_the_cap_is_413_and_the_next_request_is_answered(
    server: Server, chunked: bool
) -> None:
    """The server stops reading a body over the cap and drops the connection: the 413
    says so (``connection: close``), so a client opens a new one for its next request
    instead of losing it on a dead connection."""
    headers = {"X-API-KEY": server.api_key(), "Content-Type": "application/json"}
    big = b'{"x": "' + b"a" * (2 << 20) + b'"}'

    def chunks() -> Any:
        for start in range(0, len(big), 64 << 10):
            yield big[start : start + (64 << 10)]

    with server.client() as client:
        refused = client.post(
            "/api/sandbox/order", content=chunks() if chunked else big, headers=headers
        )
        assert refused.status_code == 413, refused.text
        assert refused.json()["type"] == "invalid_request"
        assert "close" in refused.headers["connection"]
        after = client.get("/api/sandbox/no-such-order", headers=headers)
        assert after.status_code == 404


def test_plain_http_listener_answers_403_https_required_without_redirect(server: Server) -> None:
    assert server.http_port is not None
    url = f"http://{HOST}:{server.http_port}/api/sandbox/order"
    response = httpx.post(
        url, json=_seed_order(), headers={"X-API-KEY": server.api_key()}, follow_redirects=False
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "https_required"
    assert response.json()["code"] == 403
    assert "location" not in response.headers
    assert "strict-transport-security" not in response.headers


def test_plain_http_to_the_tls_port_never_gets_an_http_success(server: Server) -> None:
    request = f"GET /api/sandbox/x HTTP/1.1\r\nHost: localhost:{server.port}\r\n\r\n".encode()
    with socket.create_connection((HOST, server.port), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        try:
            while chunk := sock.recv(4096):
                reply += chunk
        except OSError:  # reset by the TLS listener: never an answer
            pass
    assert not re.match(rb"HTTP/1\.[01] [23]\d\d", reply), reply[:200]
    try:
        response = httpx.get(f"http://{HOST}:{server.port}/api/sandbox/x", timeout=10)
    except httpx.HTTPError:
        return
    assert response.status_code >= 400


def test_restart_keeps_orders_and_the_demo_key(tmp_path: Path) -> None:
    first = new_server(tmp_path, plain_http=False).start()
    try:
        key = first.api_key()
        with first.client() as client:
            created = client.post(
                "/api/sandbox/order", json=_seed_order(), headers={"X-API-KEY": key}
            )
        assert created.status_code == 200
    finally:
        first.stop()
    assert (tmp_path / "var" / "demo-api-key").read_text().strip() == key

    second = new_server(tmp_path, plain_http=False)
    second.stdout_path.write_text("")  # the second banner only
    second.start()
    try:
        assert second.api_key() == key
        with second.client() as client:
            again = client.get(f"/api/sandbox/{created.json()['id']}", headers={"X-API-KEY": key})
        assert again.status_code == 200
        assert again.json()["orderReferenceId"] == created.json()["orderReferenceId"]
    finally:
        second.stop()

    # Without the key file the sandbox gets a new key, written back for the quick start.
    (tmp_path / "var" / "demo-api-key").unlink()
    third = new_server(tmp_path, plain_http=False)
    third.stdout_path.write_text("")
    third.start()
    try:
        new_key = third.api_key()
        assert new_key != key
        assert (tmp_path / "var" / "demo-api-key").read_text().strip() == new_key
        with third.client() as client:
            for works in (new_key, key):  # the old key stays valid until revoked
                found = client.get(
                    f"/api/sandbox/{created.json()['id']}", headers={"X-API-KEY": works}
                )
                assert found.status_code == 200
    finally:
        third.stop()


def test_stopping_the_server_leaves_no_worker_process(tmp_path: Path) -> None:
    running = new_server(tmp_path).start()
    assert running.process is not None
    tree = descendants(running.process.pid)
    assert len(tree) >= 3, tree  # granian's worker, the plain listener and its worker
    status = running.stop()
    assert status is not None
    assert not [pid for pid in tree if is_alive(pid)]


def test_configured_certificate_is_the_one_presented(tmp_path: Path) -> None:
    cert, key = ensure_self_signed(tmp_path / "own-tls")
    running = new_server(
        tmp_path / "cwd", plain_http=False, PRESSLINE_TLS_CERT=str(cert), PRESSLINE_TLS_KEY=str(key)
    ).start()
    try:
        presented = x509.load_pem_x509_certificate(
            ssl.get_server_certificate((HOST, running.port)).encode()
        )
        configured = x509.load_pem_x509_certificate(cert.read_bytes())
        assert presented.fingerprint(hashes.SHA256()) == configured.fingerprint(hashes.SHA256())
        assert not (running.cwd / "var" / "tls").exists()
        assert "Self-signed certificate" not in running.output()
        with running.client() as client:  # trusts only the configured certificate
            response = client.post(
                "/api/sandbox/order", json=_seed_order(), headers={"X-API-KEY": running.api_key()}
            )
        assert response.status_code == 200
    finally:
        running.stop()


def test_serve_without_tls_and_without_trusted_proxies_refuses_to_start(tmp_path: Path) -> None:
    server = new_server(tmp_path, plain_http=False, PRESSLINE_TLS_ENABLED="false")
    status, stderr = refused(server, "pressline serve started without TLS or a trusted proxy")
    assert status != 0
    assert "PRESSLINE_TRUSTED_PROXIES" in stderr
    assert "Traceback" not in stderr + server.output()
    assert not (tmp_path / "var").exists()


def test_a_second_server_on_a_port_in_use_refuses_to_start(server: Server, tmp_path: Path) -> None:
    """Not silently sharing the port (and, on SQLite, not a second writer on a database)."""
    second = new_server(tmp_path, plain_http=False)
    second.env["PRESSLINE_PORT"] = str(server.port)
    status, stderr = refused(second, "a second pressline serve started on a port in use")
    assert status == 2
    assert f"cannot listen on {HOST}:{server.port}" in stderr
    assert "Traceback" not in stderr + second.output()
    with server.client() as client:  # the first one serves on
        assert client.get("/openapi.json").status_code == 200


def test_a_second_server_on_the_same_sqlite_file_refuses_to_start(
    server: Server, tmp_path: Path
) -> None:
    """Another port, the same database: still one writer per file."""
    shared = server.cwd / "var" / "pressline.db"
    second = new_server(tmp_path, plain_http=False, PRESSLINE_DATABASE_URL=f"sqlite:///{shared}")
    status, stderr = refused(second, "a second pressline serve started on a served SQLite file")
    assert status == 2
    assert server.process is not None
    assert f"{shared} is already being served (pid {server.process.pid})" in stderr
    assert "Traceback" not in stderr + second.output()
    with server.client() as client:  # the first one serves on
        assert client.get("/openapi.json").status_code == 200


def test_a_server_killed_outright_leaves_no_lock_behind(tmp_path: Path) -> None:
    """The lock is the kernel's: a serve killed with SIGKILL does not block the next one."""
    first = new_server(tmp_path, plain_http=False).start()
    assert first.process is not None
    tree = descendants(first.process.pid)
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=STOP_TIMEOUT)
    for pid in tree:  # granian's worker, orphaned: ours, stopped by PID
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    first.process = None
    restarted = new_server(tmp_path, plain_http=False).start()
    try:
        with restarted.client() as client:
            assert client.get("/openapi.json").status_code == 200
    finally:
        restarted.stop()


@pytest.mark.postgres
def test_server_on_postgresql_round_trip(tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    url = postgres_url(postgres_cluster, "tests_e2e_server")
    running = new_server(tmp_path, plain_http=False, PRESSLINE_DATABASE_URL=url).start()
    try:
        headers = {"X-API-KEY": running.api_key()}
        body = _seed_order()
        with running.client() as client:
            created = client.post("/api/sandbox/order", json=body, headers=headers)
            assert created.status_code == 200, created.text
            got = client.get(f"/api/sandbox/{created.json()['id']}", headers=headers)
        assert got.status_code == 200
        assert got.json()["orderReferenceId"] == body["orderReferenceId"]
        assert not (tmp_path / "var" / "pressline.db").exists()
    finally:
        running.stop()
