"""Request dependencies: the database handle and the authenticated caller."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends, Request

from pressline.accounts import keys, service
from pressline.accounts.keys import Credentials, Principal
from pressline.db import Database, utcnow
from pressline.errors import AuthenticationFailed

#: Documents ``X-API-KEY`` in OpenAPI (app._openapi). Requests read the header
#: directly: each FastAPI dependency costs tens of microseconds per request.
API_KEY_SCHEME = {
    "APIKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-KEY",
        "description": "The connector's credentials as `key:secret`.",
    }
}


def database(request: Request) -> Database:
    """The application's database handle."""
    db: Database = request.app.state.db
    return db


async def get_credentials(request: Request) -> Credentials:
    """``X-API-KEY`` split into key and secret, with the prefix it was sent to (no I/O)."""
    return credentials_of(request)


def credentials_of(request: Request) -> Credentials:
    """:func:`get_credentials` for routes that solve no dependencies (the hot paths)."""
    parsed = keys.parse_header(request.headers.get("x-api-key"))
    if parsed is None:
        raise AuthenticationFailed()
    key, secret = parsed
    return Credentials(
        key,
        secret,
        request.path_params.get("prefix", ""),
        # Repeated, the values are one list (RFC 9110, 5.3), which names no customer.
        ", ".join(request.headers.getlist("customer-reference-id")) or None,
    )


CredentialsDep = Annotated[Credentials, Depends(get_credentials)]


async def get_caller(request: Request, credentials: Credentials) -> Principal:
    """The customer and connector behind ``X-API-KEY``, for this connector's prefix only.

    Read endpoints skip this and check the key inside their own database call: Get Order
    reads the key in the same statement as the order (``orders.service.get_order_as``),
    Search reads it just before the page (``search_orders_as``), others call
    ``accounts.service.as_caller``.
    """
    principal = await database(request).read(
        partial(service.authenticate, credentials=credentials, now=utcnow())
    )
    request.scope.setdefault("state", {})["caller"] = principal  # for the request log
    return principal
