"""Access logs, metrics, and the health endpoints of one process.

The served ``/metrics`` port, its totals across worker processes, and JSON logs of a
real server are in ``tests/e2e/test_rate_limit_processes.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from pressline.app import create_app
from pressline.config import Settings
from pressline.db import Database
from pressline.metrics import Metrics, OrdersByStatus
from pressline.orders import examples
from tests.conftest import Caller, new_caller, order_body
from tests.e2e.conftest import free_port

REQUEST_ID = re.compile(r"^req_[0-9a-f]{20}$")


@pytest.fixture
def app(database: Database) -> FastAPI:
    settings = Settings(database_url=database.url, rate_limit="100/second", metrics_port=9)
    return create_app(settings, database=database)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def caller(client: TestClient, database: Database) -> Caller:
    """A caller talking to this module's app (which collects metrics)."""
    return new_caller(client, database)


def samples(metrics: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """``name``'s samples as {sorted labels: value}."""
    found = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


# -- access log ------------------------------------------------------------------------


def test_each_request_writes_one_access_line_with_its_id_route_and_caller(caller: Caller) -> None:
    body = order_body()
    with capture_logs() as logs:
        created = caller.submit(body)
        got = caller.get(body["orderReferenceId"])
    lines = [line for line in logs if line["event"] == "request"]
    assert [line["request_id"] for line in lines] == [
        created.headers["request-id"],
        got.headers["request-id"],
    ]
    submit, get = lines
    assert submit["route"] == "/api/{prefix}/order"
    assert (submit["method"], submit["status"]) == ("POST", 200)
    assert get["route"] == "/api/{prefix}/{orderId}"
    assert get["order"] == body["orderReferenceId"]
    for line in lines:
        assert line["customer"] == caller.customer_reference_id
        assert line["connector"] == caller.prefix
        assert isinstance(line["latency_ms"], float) and line["latency_ms"] > 0
        assert line["log_level"] == "info"


def test_the_access_log_holds_no_key_no_secret_and_no_address(caller: Caller) -> None:
    body = order_body()
    with capture_logs() as logs:
        caller.submit(body)
        caller.get("no-such-order")
        caller.client.get(f"{caller.base}/x", headers={"X-API-KEY": "pk_x:sk_y"})
    text = json.dumps(logs)
    key, secret = caller.api_key.split(":")
    address = body["shippingAddress"]
    for leaked in (key, secret, address["email"], address["addressLine1"], address["phone"]):
        assert leaked not in text
    assert len([line for line in logs if line["event"] == "request"]) == 3


def test_an_unexpected_error_is_logged_with_its_request_id(app: FastAPI) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("exploded")

    with (
        capture_logs() as logs,
        TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client,
    ):
        response = client.get("/boom")
    assert response.status_code == 500
    failure = next(line for line in logs if line["event"] == "unhandled_exception")
    assert failure["request_id"] == response.headers["request-id"]
    assert failure["log_level"] == "error"
    assert isinstance(failure["exc_info"], RuntimeError)
    access = next(line for line in logs if line["event"] == "request")
    assert (access["status"], access["route"]) == (500, "/boom")


def _run_logged_requests(log_format: str) -> str:
    """stdout of a process that configures logging like a server and makes two requests."""
    script = textwrap.dedent(
        """
        import logging, sys, tempfile, uuid
        from starlette.testclient import TestClient
        from pressline.app import create_app
        from pressline.config import Settings
        from pressline.db import Database
        from pressline.migrate import upgrade
        from pressline.observability import configure_logging

        url = f"sqlite:///{tempfile.mkdtemp()}/logs.db"
        migrated = Database(url)
        upgrade(migrated.write_engine)
        migrated.close()
        configure_logging(level="info", log_format=sys.argv[1])
        app = create_app(Settings(database_url=url))
        with TestClient(app, base_url="https://testserver") as client:
            client.get("/healthz")
            client.get("/api/shop/x", headers={"X-API-KEY": "pk_0:sk_1"})
        logging.getLogger("pressline.db").warning("written by the %s library", "stdlib")
        order = uuid.UUID(int=7)
        logging.getLogger("pressline.orders.timers").error("timer failed", extra={"order": order})
        logging.getLogger("httpx").info("HTTP Request: POST https://hook.example/?token=s3cr3t")
        try:
            raise RuntimeError("refresh broke")
        except RuntimeError:
            logging.getLogger("pressline.catalog").exception("reference data refresh failed")
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSLINE_")}
    done = subprocess.run(
        [sys.executable, "-c", script, log_format],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    return done.stdout


def test_json_logs_are_one_object_per_line_for_access_and_library_records() -> None:
    lines = [json.loads(line) for line in _run_logged_requests("json").splitlines()]
    access = [line for line in lines if line.get("event") == "request"]
    assert [(line["route"], line["status"]) for line in access] == [
        ("/healthz", 200),
        ("/api/{prefix}/{orderId}", 401),
    ]
    assert all(REQUEST_ID.match(line["request_id"]) for line in access)
    assert all(line["timestamp"].endswith("Z") for line in lines)
    library = [line for line in lines if line.get("logger") == "pressline.db"]
    assert library == [
        {
            "event": "written by the stdlib library",
            "level": "warning",
            "logger": "pressline.db",
            "timestamp": library[0]["timestamp"],
            "pid": access[0]["pid"],
        }
    ]
    timer = next(line for line in lines if line.get("event") == "timer failed")
    assert timer["order"] == "00000000-0000-0000-0000-000000000007"  # given with extra=
    assert not [line for line in lines if line.get("logger") == "httpx"]  # URLs hold tokens
    failed = next(line for line in lines if line.get("event") == "reference data refresh failed")
    assert failed["exception"].startswith("Traceback (most recent call last):")
    assert failed["exception"].rstrip().endswith("RuntimeError: refresh broke")


def test_console_logs_are_readable_key_value_lines() -> None:
    output = _run_logged_requests("console")
    request = next(line for line in output.splitlines() if "route=/healthz" in line)
    assert "request" in request and "status=200" in request
    timer = next(line for line in output.splitlines() if "timer failed" in line)
    assert "order=" in timer and "00000000-0000-0000-0000-000000000007" in timer
    with pytest.raises(json.JSONDecodeError):
        json.loads(request)


# -- metrics -----------------------------------------------------------------------------


def test_metrics_count_requests_by_route_and_status_with_latency(
    app: FastAPI, caller: Caller
) -> None:
    metrics: Metrics = app.state.metrics
    for _ in range(3):
        caller.get("no-such-order")
    caller.submit(order_body())
    requests = samples(metrics, "pressline_http_requests_total")
    route = ("route", "/api/{prefix}/{orderId}")
    assert requests[(("method", "GET"), route, ("status", "404"))] >= 3
    assert requests[(("method", "POST"), ("route", "/api/{prefix}/order"), ("status", "200"))] >= 1
    counts = samples(metrics, "pressline_http_request_duration_seconds_count")
    assert counts[(("method", "GET"), route)] >= 3
    buckets = samples(metrics, "pressline_http_request_duration_seconds_bucket")
    assert buckets[(("le", "+Inf"), ("method", "GET"), route)] == counts[(("method", "GET"), route)]


def test_metrics_count_429s_separately(app: FastAPI, caller: Caller) -> None:
    metrics: Metrics = app.state.metrics
    before = samples(metrics, "pressline_rate_limited_requests_total").get((), 0.0)
    statuses = [caller.get("no-such-order").status_code for _ in range(103)]
    refused = statuses.count(429)
    assert refused >= 2
    after = samples(metrics, "pressline_rate_limited_requests_total")[()]
    assert after - before == refused
    route = (("method", "GET"), ("route", "/api/{prefix}/{orderId}"), ("status", "429"))
    assert samples(metrics, "pressline_http_requests_total")[route] >= refused


def test_an_idempotent_replay_is_counted_and_marked_in_the_access_log(
    app: FastAPI, caller: Caller
) -> None:
    metrics: Metrics = app.state.metrics
    before = samples(metrics, "pressline_idempotent_replays_total").get((), 0.0)
    body = order_body()
    keyed = {**caller.headers, "Idempotency-Key": "replay-counted"}
    url = f"{caller.base}/order"
    with capture_logs() as logs:
        first = caller.client.post(url, json=body, headers=keyed)
        again = caller.client.post(url, json=body, headers=keyed)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["idempotent-replayed"] == "true"
    lines = [line for line in logs if line["event"] == "request"]
    assert [line["replayed"] for line in lines] == [None, True]
    assert samples(metrics, "pressline_idempotent_replays_total")[()] - before == 1


def test_no_metrics_are_collected_without_a_metrics_port(database: Database) -> None:
    app = create_app(Settings(database_url=database.url), database=database)
    assert app.state.metrics is None


def test_orders_by_status_counts_every_customers_orders(
    client: TestClient, database: Database
) -> None:
    collector = OrdersByStatus(database.read_engine, ttl=0)
    before = _orders(collector)
    first, second = new_caller(client, database), new_caller(client, database)
    for caller in (first, second, second):
        assert caller.submit(order_body()).status_code == 200
    canceled = second.submit(order_body()).json()["id"]
    assert second.cancel(canceled).json() == examples.CANCEL_RESPONSE
    after = _orders(collector)
    assert after.get("created", 0) - before.get("created", 0) == 3
    assert after.get("canceled", 0) - before.get("canceled", 0) == 1


def test_orders_by_status_is_cached_between_scrapes(client: TestClient, database: Database) -> None:
    collector = OrdersByStatus(database.read_engine, ttl=3600)
    before = _orders(collector)
    caller = new_caller(client, database)
    assert caller.submit(order_body()).status_code == 200
    assert _orders(collector) == before


def _orders(collector: OrdersByStatus) -> dict[str, float]:
    (family,) = list(collector.collect())
    assert family.name == "pressline_orders"
    return {sample.labels["status"]: sample.value for sample in family.samples}


# -- health ------------------------------------------------------------------------------


def test_healthz_answers_without_the_database_and_readyz_names_it(database: Database) -> None:
    broken = Database(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing")
    app = create_app(Settings(database_url=database.url), database=database)
    try:
        with TestClient(app, base_url="https://testserver") as client:
            app.state.db = broken  # the database goes away while the process runs
            health = client.get("/healthz")
            ready = client.get("/readyz")
    finally:
        broken.close()
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert ready.status_code == 503
    body: dict[str, Any] = ready.json()
    assert body["type"] == "api" and body["code"] == 503
    assert [(e["code"], e["param"]) for e in body["errors"]] == [
        ("dependency_unavailable", "database")
    ]
    assert body["requestId"] == ready.headers["request-id"]
    assert "127.0.0.1" not in ready.text and "nobody" not in ready.text


def test_readyz_reports_the_database_reachable(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


def test_health_endpoints_are_https_only_and_not_in_the_openapi_document(
    client: TestClient, app: FastAPI
) -> None:
    plain = TestClient(app, base_url="http://testserver").get("/healthz")
    assert plain.status_code == 403
    assert not {"/healthz", "/readyz", "/metrics"} & set(
        client.get("/openapi.json").json()["paths"]
    )
