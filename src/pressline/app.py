"""``create_app(settings)``: routers, middleware, error handlers, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from pressline import __version__, web
from pressline.config import Settings, get_settings
from pressline.db import Database
from pressline.errors import DomainError
from pressline.middleware import EdgeMiddleware
from pressline.orders.routes import router as orders_router
from pressline.orders.schemas import OrderCreate, OrderSearch, ShipmentUpdate

DESCRIPTION = """\
Pressline implements the GelatoConnect Order Management API: submit, cancel, look up,
search and re-route print orders.

* **HTTPS only.** Plain HTTP is refused with 403 `https_required`, never redirected.
* **Authentication:** every call carries `X-API-KEY: key:secret` from your connector.
* **Base URL:** `https://HOST/api/{prefix}`, where `prefix` is your connector's.
* **`{orderId}`** is Pressline's order id or your own `orderReferenceId`.
* **Errors** share one body: `code` (HTTP status), `message`, `type`, `errors[]` (each with
  `type`, `code`, `param`, `message`) and `requestId`; every response has a `Request-Id` header.
"""

REQUEST_MODELS: tuple[type[BaseModel], ...] = (OrderCreate, OrderSearch, ShipmentUpdate)


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    """The Pressline ASGI application. ``database`` lets tests share one handle."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database or Database(
            settings.database_url,
            batch_max=settings.write_batch_max,
            read_pool_size=settings.read_pool_size,
        )
        app.state.db = db
        try:
            yield
        finally:
            if database is None:
                db.close()

    app = FastAPI(
        title="Pressline Order Management API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    if database is not None:
        app.state.db = database
    app.include_router(orders_router)
    app.add_exception_handler(DomainError, web.on_domain_error)
    app.add_exception_handler(RequestValidationError, web.on_request_validation)
    app.add_exception_handler(StarletteHTTPException, web.on_http_exception)
    app.add_exception_handler(Exception, web.on_unexpected)
    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=settings.max_body_bytes,
        hsts_max_age=settings.hsts_max_age,
        trusted_proxies=settings.trusted_networks(),
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the request bodies, which routes validate from raw bytes."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    _, definitions = models_json_schema(
        [(model, "validation") for model in REQUEST_MODELS],
        ref_template="#/components/schemas/{model}",
    )
    schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])
    app.openapi_schema = schema
    return schema


async def plain_http_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The optional plain-HTTP listener: every request gets 403 ``https_required``."""
    await _PLAIN(scope, receive, send)


async def _not_reached(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
    raise AssertionError("plain HTTP requests never reach the application")


_PLAIN = EdgeMiddleware(_not_reached, max_body_bytes=1024, hsts_max_age=0)
