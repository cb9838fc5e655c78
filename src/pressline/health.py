"""``GET /healthz`` and ``GET /readyz``: for load balancers and process managers.

Neither needs an API key, neither is rate-limited, and neither is in the customers'
OpenAPI document. Like every path they answer over HTTPS only (a probe behind a
TLS-terminating proxy sends ``X-Forwarded-Proto: https`` from a trusted address).

* ``/healthz``: the process is up and its event loop answers. No database call, so
  a database outage never makes a process manager restart healthy API processes.
* ``/readyz``: the database answers ``SELECT 1`` and, when configured, Redis answers
  ``PING``; otherwise 503 in the standard error body, naming what is down.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from sqlalchemy import Connection
from starlette.responses import Response

from pressline.deps import database
from pressline.http_errors import not_ready_body
from pressline.ratelimit import RateLimiter
from pressline.web import json_response, request_id

#: Seconds a readiness probe waits for one dependency.
PROBE_TIMEOUT = 2.0

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> Response:
    return json_response({"status": "ok"})


def _select_one(conn: Connection) -> None:
    conn.exec_driver_sql("SELECT 1")


async def _database_ready(request: Request) -> bool:
    try:
        await asyncio.wait_for(database(request).read(_select_one), PROBE_TIMEOUT)
    except Exception:  # any failure means "not ready", never a 500
        return False
    return True


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    checks = {"database": await _database_ready(request)}
    limiter: RateLimiter | None = request.app.state.limiter
    if limiter is not None and limiter.backend.name != "memory":
        checks[limiter.backend.name] = await limiter.backend.ping()
    down = [name for name, ok in checks.items() if not ok]
    if down:
        return json_response(not_ready_body(request_id(request), down), status_code=503)
    return json_response({"status": "ready", "checks": {name: "ok" for name in checks}})
