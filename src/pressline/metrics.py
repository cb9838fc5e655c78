"""Prometheus metrics: requests, latency, rate limiting, and orders by status.

Import this module only once ``PROMETHEUS_MULTIPROC_DIR`` is decided:
``prometheus_client`` chooses at import whether values live in this process or in
files shared by every worker (``pressline serve`` sets it before starting workers,
see ``server.run``). With ``--workers N`` each worker writes its own files and the
``/metrics`` listener in the parent process adds them up, so counters are totals
across processes and survive a worker restart.

The metrics listener is a separate port (``PRESSLINE_METRICS_PORT``, bound to
``PRESSLINE_METRICS_HOST``, 127.0.0.1 by default), never the customer-facing API port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    make_wsgi_app,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, func, select

from pressline.orders.tables import orders

#: Seconds; API calls take milliseconds, a slow search or a stalled write up to seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: How long one grouped COUNT of the orders table answers scrapes (it scans the table).
ORDERS_CACHE_SECONDS = 30.0

# The *_created series double the output for a value no Pressline dashboard uses.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """The metrics one API process updates; also the rate limiter's event sink."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "pressline_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pressline_http_request_duration_seconds",
            "Time from receiving a request to the end of its response.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "pressline_rate_limited_requests",
            "Requests answered 429 because their API key was over its rate limit.",
            registry=self.registry,
        )
        self.backend_errors = Counter(
            "pressline_rate_limit_backend_errors",
            "Calls to the shared rate-limit store (Redis) that failed or timed out.",
            registry=self.registry,
        )
        self.unchecked_requests = Counter(
            "pressline_rate_limit_unchecked_requests",
            "Requests served without a rate-limit check because the store was unavailable.",
            registry=self.registry,
        )
        self.replays = Counter(
            "pressline_idempotent_replays",
            "Keyed writes answered with the stored first answer (Idempotent-Replayed: true).",
            registry=self.registry,
        )
        # labels() takes a lock and builds a tuple; the hot path looks children up here.
        self._children: dict[tuple[str, str, int], tuple[Callable[[], None], Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._children.get((method, route, status))
        if children is None:
            counter = self.requests.labels(method, route, str(status))
            children = (counter.inc, self.latency.labels(method, route))
            self._children[(method, route, status)] = children
        children[0]()
        children[1].observe(seconds)

    def replayed(self) -> None:
        self.replays.inc()

    def rejected(self) -> None:
        self.rate_limited.inc()

    def backend_error(self) -> None:
        self.backend_errors.inc()

    def unchecked(self) -> None:
        self.unchecked_requests.inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


def count_orders_by_status(conn: Connection) -> dict[str, int]:
    """One grouped COUNT over all customers' orders.

    Operator-level SQL with no customer scope: kept next to its only user rather than in
    ``orders.repository``, whose functions all act for one customer.
    """
    query = select(orders.c.fulfillment_status, func.count()).group_by(orders.c.fulfillment_status)
    return {status: count for status, count in conn.execute(query)}


class OrdersByStatus(Collector):
    """``pressline_orders{status=…}``: computed at scrape time, cached for a while."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: float = ORDERS_CACHE_SECONDS,
        count: Callable[[Connection], Mapping[str, int]] = count_orders_by_status,
    ) -> None:
        self._engine = engine
        self._ttl = ttl
        self._count = count
        self._lock = threading.Lock()
        self._cached: tuple[float, Mapping[str, int]] | None = None

    def _counts(self) -> Mapping[str, int]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self._ttl:
                with self._engine.connect() as conn:
                    self._cached = (now, self._count(conn))
            return self._cached[1]

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "pressline_orders",
            f"Orders by fulfillment status (refreshed at most every {self._ttl:g} s).",
            labels=["status"],
        )
        for status, count in sorted(self._counts().items()):
            family.add_metric([status], count)
        yield family


def multiprocess_registry(path: str) -> CollectorRegistry:
    """A registry that adds up every worker's files under ``path``."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not access-logged: one line every few seconds per Prometheus."""


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> WSGIServer:
    """Answer ``GET /metrics`` on ``host:port`` from a daemon thread; every other path is
    404. (prometheus_client's own ``start_http_server`` answers the metrics on any path.)
    Raises ``OSError`` when the port is taken. Stop it with ``shutdown()``."""
    exposition = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return iter([b"Not found: the metrics are at /metrics\n"])
        return iter(exposition(environ, start_response))

    server_class: type[_ThreadingServer] = _ThreadingServer
    if ":" in host:  # an IPv6 address such as ::1
        server_class = type(
            "_ThreadingServer6", (_ThreadingServer,), {"address_family": socket.AF_INET6}
        )
    server = make_server(host, port, app, server_class, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="pressline-metrics", daemon=True).start()
    return server
