"""Structured logs: one access line per request, every other line in the same format.

``PRESSLINE_LOG_FORMAT``: ``json`` writes one JSON object per line (production: journald,
containers, log shippers); ``console`` writes readable ``key=value`` lines (development);
``auto`` (the default) picks ``console`` on a terminal and ``json`` otherwise. Pressline's
own events go through structlog; standard-library records (granian, SQLAlchemy, the
batch writer) are rendered by the same processors.

The access line carries the request id (also in the ``Request-Id`` header and every error
body), method, route template, status, latency, and, when known, the customer, the
connector prefix, the order key from the URL, and ``replayed`` for an answer replayed
from an ``Idempotency-Key``. Never logged: the ``X-API-KEY`` value,
request or response bodies (shipping addresses, e-mail, phone), client addresses.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Literal

import orjson
import structlog
from starlette.routing import Match
from starlette.types import Scope
from structlog.typing import EventDict, Processor

from pressline.accounts.service import KnownKey

if TYPE_CHECKING:  # importing prometheus_client is deferred: see pressline.metrics
    from pressline.metrics import Metrics

access_log = structlog.get_logger("pressline.access")
error_log = structlog.get_logger("pressline.errors")

#: The route label of a request no route matched (keeps the metric's label set bounded).
UNMATCHED = "unmatched"


def resolve_format(log_format: str) -> Literal["json", "console"]:
    if log_format == "auto":
        return "console" if sys.stdout.isatty() else "json"
    return "json" if log_format == "json" else "console"


def _json_text(value: Any, **kwargs: Any) -> str:
    return orjson.dumps(value, **kwargs).decode()


def _renderers(log_format: str, *, text: bool) -> list[Processor]:
    if resolve_format(log_format) == "json":
        return [
            # A record's exception as its traceback's text ("exception"): JSON would
            # otherwise write the exc_info tuple's repr, and the traceback was lost.
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_json_text if text else orjson.dumps),
        ]
    return [_drop_empty, structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())]


def _drop_empty(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """Console lines leave out the fields a request did not have (JSON keeps them all)."""
    return {key: value for key, value in event.items() if value is not None}


def _add_pid(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """The process id: with ``--workers N`` it tells the workers' lines apart."""
    event["pid"] = os.getpid()
    return event


_SHARED: list[Processor] = [
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _add_pid,
]


def stdlib_formatter(log_format: str = "auto") -> logging.Formatter:
    """Standard-library records in Pressline's format (also named in granian's log config)."""
    return structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *_renderers(log_format, text=True),
        ],
        # ExtraAdder: the fields a record was given with ``extra=`` (the timer, the order…)
        foreign_pre_chain=[
            *_SHARED,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
        ],
    )


def configure_logging(*, level: str, log_format: str) -> None:
    """Configure structlog and the root logger for this process (server processes only)."""
    json_lines = resolve_format(log_format) == "json"
    structlog.configure(
        processors=[
            *_SHARED,
            structlog.processors.format_exc_info,
            *_renderers(log_format, text=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=(
            structlog.BytesLoggerFactory() if json_lines else structlog.PrintLoggerFactory()
        ),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(stdlib_formatter(log_format))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # httpx logs every request's full URL at info: a webhook URL's query may hold the
    # receiver's token. Each attempt is in the delivery log instead.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))


def granian_log_config(log_format: str) -> dict[str, Any]:
    """granian's logging config with Pressline's formatter (its access log stays off)."""
    formatter = {"()": "pressline.observability.stdlib_formatter", "log_format": log_format}
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
    return {
        "formatters": {"generic": formatter, "access": formatter},
        "handlers": {
            "console": {**handler, "formatter": "generic"},
            "access": {**handler, "formatter": "access"},
        },
    }


class RequestObserver:
    """Writes the access line and updates the metrics once a response is complete."""

    def __init__(self, metrics: Metrics | None) -> None:
        self.metrics = metrics

    def finished(
        self,
        scope: Scope,
        *,
        request_id: str,
        status: int,
        started: float,
        caller: KnownKey | None,
        error: BaseException | None = None,
    ) -> None:
        seconds = time.perf_counter() - started
        if "route" not in scope:  # answered at the edge (429, 403, 413): no routing yet
            _match_route(scope)
        template: str = getattr(scope.get("route"), "path_format", None) or UNMATCHED
        method: str = scope["method"]
        replayed = bool(scope.get("state", {}).get("replayed"))
        if self.metrics is not None:
            self.metrics.observe(method, template, status, seconds)
            if replayed:
                self.metrics.replayed()
        params = scope.get("path_params") or {}
        access_log.info(
            "request",
            request_id=request_id,
            method=method,
            route=template,
            status=status,
            latency_ms=round(seconds * 1000, 2),
            customer=caller.customer_reference_id if caller else None,
            connector=params.get("prefix"),
            order=params.get("orderId"),
            replayed=replayed or None,  # an Idempotency-Key replay, not a new write
        )
        if error is not None:
            error_log.error(
                "unhandled_exception", request_id=request_id, route=template, exc_info=error
            )


def _match_route(scope: Scope) -> None:
    """Route and path parameters for a request the router never saw, for the log only."""
    app = scope.get("app")
    routes: list[Any] = list(getattr(getattr(app, "router", None), "routes", ()))
    while routes:
        route = routes.pop(0)
        included = getattr(route, "original_router", None)  # FastAPI's include_router wrapper
        if included is not None:
            routes[:0] = included.routes
            continue
        match, child = route.matches(scope)
        if match is Match.FULL:
            scope.update(child)
            return
