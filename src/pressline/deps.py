"""Request dependencies: the database handle and the authenticated caller."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from pressline.accounts import keys, repository, service
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


async def get_caller(
    request: Request,
    db: DatabaseDep,
    header: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    """The customer and connector behind ``X-API-KEY``, for this connector's prefix only."""
    parsed = keys.parse_header(header)
    if parsed is None:
        raise AuthenticationFailed()
    key, secret = parsed
    record = await db.read(partial(repository.find_key, key=key))
    return service.check_key(
        record, secret=secret, prefix=request.path_params.get("prefix", ""), now=utcnow()
    )


CallerDep = Annotated[Principal, Depends(get_caller)]
