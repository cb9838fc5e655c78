"""``create_app(settings)``: routers, middleware, error handlers, lifespan."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from pressline import __version__, openapi_errors, purging, web
from pressline.catalog import service as catalog
from pressline.config import Settings, get_settings
from pressline.db import Database
from pressline.deps import API_KEY_SCHEME
from pressline.error_schemas import ErrorBody, error_content
from pressline.errors import DomainError
from pressline.health import router as health_router
from pressline.idempotency import openapi as idempotency_openapi
from pressline.idempotency import service as idempotency
from pressline.metrics import Metrics
from pressline.middleware import EdgeMiddleware
from pressline.observability import RequestObserver
from pressline.orders import read_schemas as out
from pressline.orders.drafts import DraftUpdate
from pressline.orders.routes import HOT_ROUTES
from pressline.orders.routes import router as orders_router
from pressline.orders.schemas import OrderCreate, OrderSearch, ShipmentUpdate
from pressline.postbacks.routes import router as postbacks_router
from pressline.production.routes import FACILITY_KEY_SCHEME
from pressline.production.routes import router as production_router
from pressline.production.schemas import StatusReport
from pressline.ratelimit import build_limiter
from pressline.requestlog import store as requestlog
from pressline.requestlog.recorder import RequestRecorder
from pressline.templates.links import LinkCache, warm_if_linked
from pressline.worker import DeliveryWorker, WorkerThread

DESCRIPTION = """\
Pressline implements the GelatoConnect Order Management API: submit, cancel, look up,
search and re-route print orders.

* **HTTPS only.** Plain HTTP is refused with 403 `https_required`, never redirected.
* **Authentication:** every call carries `X-API-KEY: key:secret` from your connector.
* **Base URL:** `https://HOST/api/{prefix}`, where `prefix` is your connector's.
* **`{orderId}`** is Pressline's order id or your own `orderReferenceId`.
* **Errors** share one body: `code` (HTTP status), `message`, `type`, `errors[]` (each with
  `type`, `code`, `param`, `message`) and `requestId`; every response has a `Request-Id` header.
* **Rate limits:** 100 requests per second per API key unless agreed otherwise. Every
  response carries `RateLimit-Policy` (`"default";q=100;w=1`: quota and window in seconds)
  and `RateLimit` (`"default";r=42;t=1`: requests left and seconds until the window frees
  up). Over the limit: 429 `rate_limit` with `Retry-After`; retry after it, with backoff.
* **Safe retries:** send an `Idempotency-Key` header on submit, cancel and update shipment
  (or `"preventDuplicate": true` on submit); a retry within 24 hours gets the first answer
  again, with `Idempotent-Replayed: true`, and changes nothing.
"""

RATE_LIMIT_HEADERS = {
    "RateLimit-Policy": {
        "description": 'The key\'s quota: `"default";q=100;w=1` (100 requests per 1 second).',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left: `"default";r=42;t=1` (42 more requests; the window '
        "frees up within 1 second). Absent while the limit cannot be checked.",
        "schema": {"type": "string"},
    },
}
TOO_MANY_REQUESTS = {
    "description": "Over the API key's rate limit (`type` `rate_limit`): retry after "
    "`Retry-After` seconds, with backoff.",
    "headers": {
        "Retry-After": {
            "description": "Seconds to wait before retrying (an integer, at least 1).",
            "schema": {"type": "integer", "minimum": 1},
        },
        **RATE_LIMIT_HEADERS,
    },
    "content": error_content(),
}

#: Read only on an "All Customers" connector, which acts for the customer it names.
CUSTOMER_REFERENCE_HEADER = {
    "name": "Customer-Reference-ID",
    "in": "header",
    "required": False,
    "description": 'On an "All Customers" connector: the `customerReferenceId` of the '
    "customer this request acts for (required there; missing or unknown is 400 with "
    "`param` `Customer-Reference-ID`). Ignored on other connectors.",
    "schema": {"type": "string"},
}

REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    OrderCreate,
    OrderSearch,
    ShipmentUpdate,
    DraftUpdate,
    StatusReport,
)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    out.OrderCreated,
    out.OrderRead,
    out.OrderPage,
    out.CancelResult,
    out.ShipmentUpdated,
    out.OrderQuote,
    out.ShipmentMethodList,
    ErrorBody,
)


def create_app(
    settings: Settings | None = None, *, database: Database | None = None, freeze_heap: bool = False
) -> FastAPI:
    """The Pressline ASGI application. ``database`` lets tests share one handle.

    ``freeze_heap`` (a served worker process): once started, the objects that live as long
    as the process (modules, reference data, compiled statements: ~160,000) are moved out
    of the garbage collector's reach (``gc.freeze``). Otherwise every full collection walks
    them all: 15-90 ms with the event loop stopped, every request in flight waiting.
    """
    settings = settings or get_settings()
    metrics = Metrics() if settings.metrics_port else None
    limiter = build_limiter(settings, events=metrics)
    recorder = RequestRecorder() if settings.request_log_enabled else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Each part is stopped in the reverse order of its start, also when a later
        # part fails to start.
        async with AsyncExitStack() as started:
            db = database or Database.for_process(settings)
            app.state.db = db
            if database is None:
                started.callback(db.close)
                reference = catalog.open_store(db, interval=settings.reference_refresh_seconds)
                app.state.reference = reference
                reference.start()
                started.callback(reference.stop)
            if limiter is not None:
                started.push_async_callback(limiter.backend.aclose)
            # The delivery worker (postbacks, facility hand-offs, order timers) runs here
            # unless `pressline worker` processes do it; tests sharing a handle drive it.
            if database is None and settings.embedded_worker:
                delivery = WorkerThread(DeliveryWorker(db, settings))
                delivery.start()
                # Stopping lets the attempts in flight finish.
                started.push_async_callback(asyncio.to_thread, delivery.stop)
            for purge, retention, interval, what in (
                (idempotency.purge, timedelta(hours=settings.idempotency_retention_hours),
                 settings.idempotency_purge_seconds, "idempotency keys"),
                (requestlog.purge, timedelta(days=settings.request_log_retention_days),
                 settings.request_log_purge_seconds, "request-log entries"),
            ):  # fmt: skip
                task = purging.start(db, purge, retention=retention, interval=interval, what=what)
                started.push_async_callback(purging.stop, task)
            if recorder is not None:
                recorder.start(db)
                started.push_async_callback(recorder.stop)
            await warm_if_linked(db)
            if freeze_heap:
                gc.collect()
                gc.freeze()
            yield

    app = FastAPI(
        title="Pressline Order Management API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # A redirect would answer without the error body (and, for plain HTTP, leak a key).
        redirect_slashes=False,
    )
    if database is not None:
        # Tests share one handle; they refresh reference data themselves.
        app.state.db = database
        app.state.reference = catalog.open_store(database)
    app.state.settings, app.state.limiter, app.state.metrics = settings, limiter, metrics
    app.state.templates = LinkCache(interval=settings.reference_refresh_seconds)
    app.state.request_log = recorder
    app.include_router(postbacks_router)  # before orders: /{orderId}/postbacks wins
    app.include_router(orders_router)
    app.include_router(production_router)
    app.router.routes[:0] = HOT_ROUTES  # matched first: see orders.routes
    app.include_router(health_router)
    app.add_exception_handler(DomainError, web.on_domain_error)
    app.add_exception_handler(RequestValidationError, web.on_request_validation)
    app.add_exception_handler(StarletteHTTPException, web.on_http_exception)
    app.add_exception_handler(ClientDisconnect, web.on_client_disconnect)
    app.add_exception_handler(DBAPIError, web.on_database_error)
    app.add_exception_handler(SQLAlchemyTimeoutError, web.on_database_error)  # pool exhausted
    app.add_exception_handler(Exception, web.on_unexpected)
    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=settings.max_body_bytes,
        hsts_max_age=settings.hsts_max_age,
        trusted_proxies=settings.trusted_networks(),
        limiter=limiter,
        observer=RequestObserver(metrics),
        recorder=recorder,
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the request bodies, which routes validate from raw bytes.

    Every model's schema is regenerated by pydantic: FastAPI's encoder drops ``None``
    everywhere, which would strip the ``null`` fields from the seed examples.
    """
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    _, definitions = models_json_schema(
        [(model, "validation") for model in REQUEST_MODELS]
        + [(model, "serialization") for model in RESPONSE_MODELS],
        ref_template="#/components/schemas/{model}",
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(definitions["$defs"])
    retention_hours = app.state.settings.idempotency_retention_hours
    schema["components"]["securitySchemes"] = {**API_KEY_SCHEME, **FACILITY_KEY_SCHEME}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            # FastAPI documents 422 for parameter errors; Pressline answers them with 400.
            operation.get("responses", {}).pop("422", None)
            idempotency_openapi.document(path, method, operation, hours=retention_hours)
            if path.startswith("/api/"):
                operation["security"] = [{name: []} for name in API_KEY_SCHEME]
                operation.setdefault("parameters", []).append(CUSTOMER_REFERENCE_HEADER)
                _document_rate_limit(operation["responses"])
            elif path.startswith("/production/"):
                operation["security"] = [{name: []} for name in FACILITY_KEY_SCHEME]
            openapi_errors.add_examples(path, operation, method)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    app.openapi_schema = schema
    return schema


def _document_rate_limit(responses: dict[str, Any]) -> None:
    """429 on every API operation, and the RateLimit headers on its other responses."""
    for status, response in responses.items():
        if status not in {"403", "500"}:  # answered before the limit is checked, or may be
            response.setdefault("headers", {}).update(RATE_LIMIT_HEADERS)
    responses["429"] = TOO_MANY_REQUESTS


async def plain_http_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The optional plain-HTTP listener: every request gets 403 ``https_required``."""
    if scope["type"] == "lifespan":  # nothing to start or stop
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await _PLAIN(scope, receive, send)


async def _not_reached(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
    raise AssertionError("plain HTTP requests never reach the application")


_PLAIN = EdgeMiddleware(_not_reached, max_body_bytes=1024, hsts_max_age=0)
