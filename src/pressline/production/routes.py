"""The production API: facilities pull their orders and report progress.

Authenticated by a facility key in ``X-API-KEY`` (``fk_…:fs_…``), never a customer's.
HTTP only: parse, call the service, shape the response.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection
from starlette.responses import Response

from pressline.db import utcnow
from pressline.deps import database
from pressline.error_schemas import error_responses
from pressline.errors import AuthenticationFailed, FieldError, ValidationFailed
from pressline.orders.statuses import FinancialStatus, FulfillmentStatus
from pressline.production import keys, service
from pressline.production.schemas import FacilityOrderPage, FacilityOrderRead, StatusReport
from pressline.web import json_response, parse_json

router = APIRouter(prefix="/production/v2", tags=["production"])

FACILITY_KEY_SCHEME = {
    "FacilityKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-KEY",
        "description": "A facility's credentials as `key:secret` (`fk_…:fs_…`).",
    }
}


#: What this API's errors mean, beyond ``error_schemas.ERROR_DESCRIPTIONS``.
_DESCRIBED = {
    401: "Missing or invalid facility `X-API-KEY` (a customer key is refused too).",
    404: "No such order handed to this facility.",
    409: "The report is not a move the order's lifecycle allows from its current status.",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(_DESCRIBED, *statuses)


def _credentials(request: Request) -> tuple[str, str]:
    parsed = keys.parse_header(request.headers.get("x-api-key"))
    if parsed is None:
        raise AuthenticationFailed()
    return parsed


def _query(request: Request) -> tuple[list[str], int, int]:
    params = request.query_params
    statuses = [part for value in params.getlist("status") for part in value.split(",") if part]
    errors = [
        FieldError("invalid_value", "status", f"'{status}' is not a fulfillment status.")
        for status in statuses if status not in FulfillmentStatus.__members__.values()
    ]  # fmt: skip
    numbers = {}
    for name, default, low, high in (("limit", 50, 1, 100), ("offset", 0, 0, 1_000_000)):
        raw = params.get(name, str(default))
        if not raw.isdigit() or not low <= int(raw) <= high:
            errors.append(FieldError("invalid_value", name, f"Use a whole number {low}-{high}."))
        else:
            numbers[name] = int(raw)
    if errors:
        raise ValidationFailed(errors)
    return statuses or [FulfillmentStatus.PASSED.value], numbers["limit"], numbers["offset"]


_STATUS_VALUES = [status.value for status in FulfillmentStatus]


@router.get(
    "/orders",
    summary="List Facility Orders",
    response_model=FacilityOrderPage,
    responses=_errors(400),
    openapi_extra={
        "parameters": [
            {"name": "status", "in": "query", "required": False,
             "description": "Fulfillment statuses, comma-separated (default `passed`: the "
             "orders waiting to be received).",
             "style": "form", "explode": False,
             "schema": {"type": "array", "items": {"type": "string", "enum": _STATUS_VALUES}}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
            {"name": "offset", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0}},
        ]
    },
)  # fmt: skip
async def list_orders(request: Request) -> Response:
    """The orders handed to the calling facility, oldest hand-off first, with what it
    needs to produce them (items, quantities, files, shipping address)."""
    key, secret = _credentials(request)

    def read(conn: Connection) -> dict[str, Any]:
        facility_id = service.authenticate(conn, key=key, secret=secret)
        statuses, limit, offset = _query(request)
        return service.list_orders(
            conn, facility_id=facility_id, statuses=statuses, limit=limit, offset=offset
        )

    return json_response(await database(request).read(read))


@router.post(
    "/order/status",
    summary="Report Order Status",
    response_model=FacilityOrderRead,
    responses=_errors(400, 404, 409, 413, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/StatusReport"}}
            },
        }
    },
)
async def report_status(request: Request) -> Response:
    """Report `received`, `error`, `printed`, `shipped` (with tracking and packages),
    `cancelled` (whole order, some items, or part of an item's quantity), `in_transit`,
    `delivered` or `returned`, for the whole order or for some items."""
    key, secret = _credentials(request)
    facility_id = await database(request).read(
        partial(service.authenticate, key=key, secret=secret)
    )
    report = service.prepare(await parse_json(request, StatusReport))
    billing = FinancialStatus(request.app.state.settings.billing_state)
    job = partial(
        service.report_status, facility_id=facility_id, report=report, now=utcnow(),
        billing_state=billing,
    )  # fmt: skip
    return json_response(await database(request).write(job))
