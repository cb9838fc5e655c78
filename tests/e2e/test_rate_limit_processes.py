"""Several real ``pressline serve`` processes: one shared limit, summed metrics, logs, SIGTERM.

reliability.md 11: two API processes on one PostgreSQL and one Redis admit, together,
what one process would. The metrics port adds up every worker's counts. A server's
access log is JSON when its output is not a terminal. SIGTERM during a stream of
submits lets the requests in flight finish, and every acknowledged order is there
after a restart (reliability.md 19).
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pressline.orders import examples
from pressline.ratelimit import local_share, per_second
from tests.e2e.conftest import Server, free_port, new_server, refused
from tests.support.pg_fixtures import postgres_url
from tests.support.pgcluster import PostgresCluster
from tests.support.redisserver import RedisServer

pytestmark = pytest.mark.e2e

LIMIT = 50  # per second: low enough that two test clients are sure to exceed it


def _order() -> dict[str, Any]:
    return {**examples.SUBMIT["reference"], "orderReferenceId": f"e2e-{uuid.uuid4()}"}


def _hammer(server: Server, key: str, until: float, results: list[tuple[str, int]]) -> None:
    """GET as fast as one connection can until ``until`` (monotonic); record statuses."""
    with server.client() as client:
        while time.monotonic() < until:
            response = client.get("/api/sandbox/no-such-order", headers={"X-API-KEY": key})
            results.append((server.base_url, response.status_code))


def _in_threads(target: Callable[..., None], args: list[tuple[Any, ...]]) -> None:
    threads = [threading.Thread(target=target, args=a) for a in args]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


@pytest.mark.postgres
def test_two_api_processes_on_one_redis_admit_together_what_one_would(
    tmp_path: Path, postgres_cluster: PostgresCluster, redis_server: RedisServer
) -> None:
    settings = {
        "PRESSLINE_DATABASE_URL": postgres_url(postgres_cluster, "tests_e2e_rate_limit_shared"),
        "PRESSLINE_REDIS_URL": redis_server.url,
        "PRESSLINE_RATE_LIMIT": f"{LIMIT}/second",
    }
    first = new_server(tmp_path / "first", plain_http=False, **settings).start()
    second = new_server(tmp_path / "second", plain_http=False, **settings)
    second.args = ()  # the first one created the sandbox connector and its key
    second.start()
    try:
        key = first.api_key()
        for server in (first, second):  # each process learns the key (its own bucket)
            with server.client() as client:
                assert client.get("/api/sandbox/x", headers={"X-API-KEY": key}).status_code == 404
        results: list[tuple[str, int]] = []
        until = time.monotonic() + 1.9  # under two windows: at most 2 x LIMIT admitted
        _in_threads(_hammer, [(s, key, until, results) for s in (first, second) * 3])
    finally:
        second.stop()
        first.stop()
    by_server = {url: Counter(s for u, s in results if u == url) for url, _ in results}
    assert set(by_server) == {first.base_url, second.base_url}
    for counts in by_server.values():
        assert set(counts) == {404, 429}, counts  # each process served and refused some
    admitted = sum(counts[404] for counts in by_server.values())
    # One shared count: ~2 x LIMIT in 1.9 s (two windows), plus at most each process's
    # share admitted before Redis heard of it, per window. Separate counts would admit
    # about twice that.
    most = 2 * (LIMIT + 2 * local_share(per_second(LIMIT)))
    assert 2 * LIMIT - 10 <= admitted <= most, (admitted, by_server)


@pytest.mark.postgres
def test_the_metrics_port_adds_up_every_worker_and_counts_orders(
    tmp_path: Path, postgres_cluster: PostgresCluster
) -> None:
    metrics_port = free_port()
    running = new_server(
        tmp_path,
        plain_http=False,
        PRESSLINE_DATABASE_URL=postgres_url(postgres_cluster, "tests_e2e_metrics_workers"),
        PRESSLINE_METRICS_PORT=str(metrics_port),
        PRESSLINE_LOG_FORMAT="json",
    )
    running.args = ("--demo", "--workers", "2")
    running.start()
    try:
        headers = {"X-API-KEY": running.api_key()}
        with running.client() as client:
            assert client.post("/api/sandbox/order", json=_order(), headers=headers).is_success
            assert client.get("/metrics").status_code == 404  # not on the customers' port
        for _ in range(40):  # a connection each, so both workers take some
            with running.client() as client:
                client.get("/api/sandbox/no-such-order", headers=headers)
        text = _scrape(metrics_port)
        elsewhere = httpx.get(f"http://127.0.0.1:{metrics_port}/anything", timeout=10)
        pids = {line["pid"] for line in _json_lines(running) if line.get("event") == "request"}
    finally:
        running.stop()
    assert elsewhere.status_code == 404  # the listener answers /metrics only
    assert len(pids) == 2, pids  # the requests really were spread over two processes
    route = 'method="GET",route="/api/{prefix}/{orderId}",status="404"'
    assert _value(text, f"pressline_http_requests_total{{{route}}}") == 40
    # One order, whatever status the embedded worker has moved it to by now.
    orders = [line for line in text.splitlines() if line.startswith("pressline_orders{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in orders) == 1, orders
    assert "pressline_rate_limit_backend_errors_total 0.0" in text


def _scrape(port: int) -> str:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def _value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not in the metrics:\n{text}")


def _json_lines(server: Server) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]


def test_a_server_logs_one_json_line_per_request_without_secrets(tmp_path: Path) -> None:
    running = new_server(tmp_path, plain_http=False).start()  # stdout is a file: JSON
    try:
        key = running.api_key()
        order = _order()
        with running.client() as client:
            created = client.post("/api/sandbox/order", json=order, headers={"X-API-KEY": key})
            ready = client.get("/readyz")
    finally:
        running.stop()
    lines = _json_lines(running)
    by_id = {line.get("request_id"): line for line in lines}
    submit = by_id[created.headers["request-id"]]
    assert submit["route"] == "/api/{prefix}/order"
    assert (submit["status"], submit["customer"], submit["connector"]) == (
        200,
        "sandbox-customer",
        "sandbox",
    )
    assert by_id[ready.headers["request-id"]]["status"] == 200
    assert any(line.get("logger", "").startswith("_granian") for line in lines)
    logged = json.dumps(lines)
    for secret in (*key.split(":"), order["shippingAddress"]["email"]):
        assert secret not in logged


def test_sigterm_finishes_requests_in_flight_and_loses_no_acknowledged_order(
    tmp_path: Path,
) -> None:
    running = new_server(tmp_path, plain_http=False, PRESSLINE_RATE_LIMIT="off").start()
    key = running.api_key()
    results: list[tuple[str, object, float, float]] = []
    first_answer = threading.Event()

    def submit(count: int) -> None:
        with running.client() as client:
            for _ in range(count):
                order, sent = _order(), time.monotonic()
                try:
                    status: object = client.post(
                        "/api/sandbox/order", json=order, headers={"X-API-KEY": key}
                    ).status_code
                except httpx.TransportError as exc:
                    status = type(exc).__name__
                results.append((order["orderReferenceId"], status, sent, time.monotonic()))
                first_answer.set()

    threads = [threading.Thread(target=submit, args=(25,)) for _ in range(16)]
    for thread in threads:
        thread.start()
    assert first_answer.wait(timeout=30)
    time.sleep(0.2)
    assert running.process is not None
    signalled = time.monotonic()
    running.process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(timeout=60)
    assert running.process.wait(timeout=30) == 0  # a clean exit, not a kill
    running.stop()  # checks that no worker was left behind

    in_flight = [status for _, status, sent, done in results if sent < signalled < done]
    assert 200 in in_flight, Counter(in_flight)  # requests under way at SIGTERM finished
    assert not [s for _, s, _, _ in results if isinstance(s, int) and s >= 500]
    acknowledged = [ref for ref, status, _, _ in results if status == 200]
    assert len(acknowledged) >= 16
    # A request written to a keep-alive connection as the server closes it, or sent after,
    # is never read: the client sees a transport error and may retry. It left nothing.
    unanswered = [ref for ref, status, _, _ in results if isinstance(status, str)]
    assert all(status == 200 or isinstance(status, str) for _, status, _, _ in results)

    restarted = new_server(tmp_path, plain_http=False, PRESSLINE_RATE_LIMIT="off").start()
    try:
        with restarted.client() as client:

            def stored(ref: str) -> int:
                return client.get(f"/api/sandbox/{ref}", headers={"X-API-KEY": key}).status_code

            found = [stored(ref) for ref in acknowledged]
            never_read = [stored(ref) for ref in unanswered]
    finally:
        restarted.stop()
    assert Counter(found) == {200: len(acknowledged)}
    assert Counter(never_read) == ({404: len(unanswered)} if unanswered else {})


def test_a_metrics_port_in_use_stops_serve_with_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        server = new_server(tmp_path, plain_http=False, PRESSLINE_METRICS_PORT=str(port))
        status, stderr = refused(server, "pressline serve ran with its metrics port taken")
    assert status == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in stderr
    assert "Traceback" not in stderr
