"""Request dependencies: the database handle and the authenticated caller."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from pressline.accounts import keys, service
from pressline.accounts.keys import Credentials
from pressline.accounts.repository import Principal
from pressline.db import Database, utcnow
from pressline.errors import AuthenticationFailed

api_key_header = APIKeyHeader(
    name="X-API-KEY",
    auto_error=False,
    description="The connector's credentials as `key:secret`.",
)


async def get_db(request: Request) -> Database:
    # async on purpose: FastAPI runs plain-def dependencies on a worker thread.
    db: Database = request.app.state.db
    return db


DatabaseDep = Annotated[Database, Depends(get_db)]


async def get_credentials(
    request: Request, header: Annotated[str | None, Depends(api_key_header)]
) -> Credentials:
    """``X-API-KEY`` split into key and secret, with the prefix it was sent to (no I/O)."""
    parsed = keys.parse_header(header)
    if parsed is None:
        raise AuthenticationFailed()
    key, secret = parsed
    return Credentials(key, secret, request.path_params.get("prefix", ""))


CredentialsDep = Annotated[Credentials, Depends(get_credentials)]


async def get_caller(db: DatabaseDep, credentials: CredentialsDep) -> Principal:
    """The customer and connector behind ``X-API-KEY``, for this connector's prefix only.

    Read endpoints skip this and check the key inside their own database call
    (``accounts.service.as_caller``): one round trip instead of two.
    """
    return await db.read(partial(service.authenticate, credentials=credentials, now=utcnow()))


CallerDep = Annotated[Principal, Depends(get_caller)]
