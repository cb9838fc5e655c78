"""``GET /api/{prefix}/{orderId}/postbacks``: the customer's view of an order's delivery log.

Included before the orders router, whose ``{orderId}`` excludes ``…/postbacks``. Another
customer's order is not forbidden, it does not exist (404), as everywhere else.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection
from starlette.responses import Response

from pressline.accounts import service as accounts
from pressline.accounts.keys import Principal
from pressline.db import utcnow
from pressline.deps import CredentialsDep, database
from pressline.error_schemas import error_responses
from pressline.errors import OrderNotFound
from pressline.orders import repository as orders_repository
from pressline.orders import routes as order_routes
from pressline.postbacks import deliveries, views
from pressline.postbacks.schemas import PostbackList
from pressline.web import json_response

router = APIRouter(prefix="/api/{prefix}", tags=["postbacks"])


def order_postbacks(conn: Connection, *, principal: Principal, order_key: str) -> dict[str, Any]:
    """The order's postbacks to its customer, oldest first, each with its attempts."""
    found = orders_repository.fetch_order(conn, principal.customer_id, order_key)
    if found is None:
        raise OrderNotFound(order_key)
    order_id = found[0].id
    rows = deliveries.order_deliveries(conn, customer_id=principal.customer_id, order_id=order_id)
    attempts = deliveries.attempts_of(conn, [row.id for row in rows])
    return {"postbacks": [views.postback_view(row, attempts[row.id]) for row in rows]}


@router.get(
    "/{orderId:order_key}/postbacks",
    summary="List Order Postbacks",
    response_model=PostbackList,
    responses=error_responses(
        {
            400: "Invalid request (e.g. an `orderId` longer than 100 characters).",
            401: "Missing or invalid `X-API-KEY` (one answer for every cause).",
            404: "No such order for this customer.",
        },
        400,
        404,
    ),
)
async def list_order_postbacks(
    request: Request,
    prefix: order_routes.Prefix,
    order_key: order_routes.OrderKey,
    credentials: CredentialsDep,
) -> Response:
    """Every postback Pressline queued for this order (webhooks and e-mails of your
    triggers), with each delivery attempt: time, HTTP status, latency and error."""
    operation = partial(order_postbacks, order_key=order_key)
    checked = partial(
        accounts.as_caller, credentials=credentials, now=utcnow(), operation=operation
    )
    return json_response(await database(request).read(checked))
