"""A connector's order endpoints: the five of seed 001 (submit, get, cancel, update
shipment, search) in its URL shapes, and Pressline's own beside them (quote,
shipment methods, convert and delete a draft).

HTTP only: parse, call the service, shape the response. Routes hold no SQL.

Submit, Get Order and Search are the hot paths: they are served by plain Starlette
routes placed before FastAPI's (``HOT_ROUTES``), which skip FastAPI's per-request
work (matching across every route, dependency solving, parameter validation): about
130 µs of a 630 µs Get Order. Their FastAPI routes document them in OpenAPI, answer
other methods with 405, and run the same handler (docs/adr/0012).
"""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import AfterValidator
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from pressline.accounts.keys import Principal
from pressline.catalog.reference import Reference, ReferenceStore
from pressline.db import utcnow
from pressline.deps import CredentialsDep, credentials_of, database, get_caller
from pressline.error_schemas import error_responses
from pressline.errors import DomainError, FieldError, MalformedBody, ValidationFailed
from pressline.idempotency import http as idempotency
from pressline.orders import drafts, planning, service
from pressline.orders import read_schemas as out
from pressline.orders.fields import (
    CONTROLS,
    CONTROLS_MESSAGE,
    COUNTRY_CODES,
    has_controls,
    no_controls,
)
from pressline.orders.schemas import OrderCreate, OrderSearch, ShipmentUpdate
from pressline.orders.statuses import FinancialStatus
from pressline.templates import endpoint as templated
from pressline.templates.store import Endpoint, Role
from pressline.web import HotRoute, json_response, parse_json


class OrderKeyConvertor(Convertor[str]):
    """``{orderId}``: an id or a reference, which may contain slashes.

    The URLs of the other operations are not order keys: ``…/search``, ``…/order``,
    ``…/quote`` and ``…/shipment-methods`` never read an order of that name, and
    ``…/x/cancel`` is the cancel action, not an order named ``x/cancel`` (likewise
    ``…/x/postbacks``, the order's delivery log). So a wrong
    method there is 405 with ``Allow`` naming the operation's method.
    """

    regex = r"(?!(?:search|order|quote|shipment-methods)\Z).+(?<!/cancel)(?<!/postbacks)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("order_key", OrderKeyConvertor())


router = APIRouter(prefix="/api/{prefix}", tags=["orders"])

ORDER_KEY_MAX = 100

#: Declared on every route so OpenAPI documents it; the key check compares it.
Prefix = Annotated[str, Path(description="Your connector's URL prefix.")]
OrderKey = Annotated[
    str,
    Path(
        alias="orderId",
        description="Pressline's order id, or your orderReferenceId.",
        min_length=1,
        max_length=ORDER_KEY_MAX,
        # The same exclusions as OrderKeyConvertor: those URLs are other operations.
        json_schema_extra={
            # As references are: never a NUL, tab or line break (checked after the type).
            "pattern": f"^[^{CONTROLS}]+$",
            "not": {
                "anyOf": [
                    {"enum": ["search", "order", "quote", "shipment-methods"]},
                    {"pattern": "/cancel$"},
                    {"pattern": "/postbacks$"},
                ]
            },
        },
    ),
    AfterValidator(no_controls),
]


#: What this API's errors mean, beyond ``error_schemas.ERROR_DESCRIPTIONS``.
_DESCRIBED = {
    401: "Missing or invalid `X-API-KEY` (one answer for every cause).",
    404: "No such order for this customer.",
    405: "Method not allowed here: `{orderId}` is never `search`, `order`, `quote`, "
    "`shipment-methods` or `…/cancel`, those URLs are the other operations'.",
    409: "Conflicts with the order's current state or an existing order.",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(_DESCRIBED, *statuses)


def _body(schema: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
    }


@router.post(
    "/order",
    summary="Submit Order",
    status_code=200,
    response_model=out.OrderCreated,
    responses=_errors(400, 409, 413, 415),
    openapi_extra=_body("OrderCreate"),
)
async def submit_order(request: Request, prefix: Prefix, credentials: CredentialsDep) -> Response:
    """Submit an order in a single request. The reply is sent after the order is stored."""
    return await _submit_order(request)


async def _submit_order(request: Request) -> Response:
    caller = await get_caller(request, credentials_of(request))
    key = idempotency.header_key(request)
    links = await templated.links_for(request, caller)
    linked = links.get(Endpoint.SUBMIT, Role.REQUEST)
    if linked is None:
        order = await _order_body(request, caller)
    else:
        order = await templated.transform_request(request, links, linked, OrderCreate)
    prepared = service.prepare_order(caller, order, now=utcnow(), reference=_reference(request))
    response = await idempotency.submit(
        request, prepared, key=key, prevent_duplicate=order.prevent_duplicate
    )
    templated.note_order(request, response)
    return await templated.transform_response(
        request, links, Endpoint.SUBMIT, response, request_template=linked
    )


@router.post(
    "/quote",
    summary="Quote Order",
    response_model=out.OrderQuote,
    responses=_errors(400, 413, 415),
    openapi_extra=_body("OrderCreate"),
)
async def quote_order(request: Request, prefix: Prefix, credentials: CredentialsDep) -> Response:
    """Price an order body and list every shipment method that can deliver it, from the
    facility it would be routed to. Nothing is stored."""
    caller = await get_caller(request, credentials)
    order = await _order_body(request, caller)
    return json_response(
        service.quote_order(caller, order, now=utcnow(), reference=_reference(request))
    )


async def _order_body(request: Request, caller: Principal) -> OrderCreate:
    """The JSON body as an order. When the schema refuses it, the products and currency
    it names are checked too, so that one answer lists every invalid field."""
    try:
        return await parse_json(request, OrderCreate)
    except MalformedBody:
        raise
    except ValidationFailed as failed:
        raise planning.with_catalog_errors(
            failed, _reference(request), caller.customer_id, _sent(await request.body())
        ) from None


def _sent(body: bytes) -> object:
    """The body as sent, for a second look after the schema refused it: ``None`` if the
    standard library cannot read it (the validator's parser takes NaN, Infinity and
    1e400, as this one does, but may nest deeper)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


@router.get(
    "/shipment-methods",
    summary="List Shipment Methods",
    response_model=out.ShipmentMethodList,
    responses=_errors(400),
    # Read after authentication (a bad query from an unknown caller is a 401), so the
    # parameter is documented here rather than declared to FastAPI.
    openapi_extra={
        "parameters": [
            {
                "name": "country",
                "in": "query",
                "required": True,
                "description": "Destination country (ISO 3166-1 alpha-2).",
                "schema": {"type": "string", "enum": sorted(COUNTRY_CODES)},
            }
        ]
    },
)
async def list_shipment_methods(
    request: Request, prefix: Prefix, credentials: CredentialsDep
) -> Response:
    """The shipment methods that can reach ``country`` from any production facility."""
    await get_caller(request, credentials)
    country = request.query_params.get("country")
    return json_response(service.shipment_methods(_reference(request), country=country))


@router.post(
    "/search",
    summary="Search Orders",
    response_model=out.OrderPage,
    responses=_errors(400, 413, 415),
    openapi_extra=_body("OrderSearch"),
)
async def search_orders(request: Request, prefix: Prefix, credentials: CredentialsDep) -> Response:
    """The caller's orders matching every given filter, newest first."""
    return await _search_orders(request)


async def _search_orders(request: Request) -> Response:
    credentials = credentials_of(request)
    try:
        search = await parse_json(request, OrderSearch)
    except DomainError:
        # A bad body from an unknown caller is still a 401: authentication comes first.
        await get_caller(request, credentials)
        raise
    read = partial(service.search_orders_as, credentials=credentials, now=utcnow(), search=search)
    return json_response(await database(request).read(read))


def _reference(request: Request) -> Reference:
    store: ReferenceStore = request.app.state.reference
    return store.current


@router.get(
    "/{orderId:order_key}",
    summary="Get Order",
    response_model=out.OrderRead,
    responses=_errors(400, 404, 405),
)
async def get_order(
    request: Request, prefix: Prefix, order_key: OrderKey, credentials: CredentialsDep
) -> Response:
    """The order in full, by Pressline id or by orderReferenceId."""
    return await _get_order(request)


async def _get_order(request: Request) -> Response:
    credentials = credentials_of(request)
    read = partial(
        service.get_order_as, credentials=credentials, now=utcnow(),
        order_key=_order_key(request), catalog=_reference(request).catalog,
    )  # fmt: skip
    return json_response(await database(request).read(read))


def _order_key(request: Request) -> str:
    """``{orderId}``, checked as ``OrderKey`` declares it (the convertor ensures a character)."""
    key: str = request.path_params["orderId"]
    if len(key) > ORDER_KEY_MAX:
        message = f"String should have at most {ORDER_KEY_MAX} characters"
        raise ValidationFailed([FieldError("too_long", "orderId", message)])
    if has_controls(key):  # as OrderKey's validator says on the other routes
        raise ValidationFailed([FieldError("invalid_characters", "orderId", CONTROLS_MESSAGE)])
    return key


#: Served before FastAPI's routes (see the module's docstring); same paths as theirs.
HOT_ROUTES = (
    HotRoute("/api/{prefix}/order", _submit_order, method="POST"),
    HotRoute("/api/{prefix}/search", _search_orders, method="POST"),
    HotRoute("/api/{prefix}/{orderId:order_key}", _get_order, method="GET"),
)


_CANCELED = {"code": 200, "message": "OK"}


@router.post(
    "/{orderId:order_key}/cancel",
    summary="Cancel Order",
    response_model=out.CancelResult,
    responses=_errors(400, 404, 409),
)
async def cancel_order(
    request: Request, prefix: Prefix, order_key: OrderKey, credentials: CredentialsDep
) -> Response:
    """Stop production and shipment; possible until the order is shipped."""
    caller = await get_caller(request, credentials)
    key = idempotency.header_key(request)
    links = await templated.links_for(request, caller)
    linked = links.get(Endpoint.CANCEL, Role.REQUEST)
    if linked is not None:
        named = await templated.transform_request(
            request, links, linked, templated.CancelRequest, variables={"pathOrderId": order_key}
        )
        order_key = named.order_id
        templated.note_order_key(request, order_key)
    cancel = partial(
        service.cancel_order, principal=caller, order_key=order_key, now=utcnow(),
        billing_state=_billing(request),
    )  # fmt: skip
    response = await idempotency.write(request, caller, key, cancel, answer=_CANCELED)
    return await templated.transform_response(
        request, links, Endpoint.CANCEL, response, request_template=linked
    )


@router.put(
    "/{orderId:order_key}",
    summary="Update Shipment",
    response_model=out.ShipmentUpdated,
    responses=_errors(400, 404, 405, 409, 413, 415),
    openapi_extra=_body("ShipmentUpdate"),
)
async def update_shipment(
    request: Request, prefix: Prefix, order_key: OrderKey, credentials: CredentialsDep
) -> Response:
    """Change the shipment method, the shipping address, or both, until shipped."""
    caller = await get_caller(request, credentials)
    key = idempotency.header_key(request)
    change = await parse_json(request, ShipmentUpdate)
    update = partial(
        service.update_shipment,
        principal=caller,
        order_key=order_key,
        change=change,
        now=utcnow(),
        reference=_reference(request),
    )
    return await idempotency.write(request, caller, key, update)


def _billing(request: Request) -> FinancialStatus:
    return FinancialStatus(request.app.state.settings.billing_state)


@router.patch(
    "/{orderId:order_key}",
    summary="Convert Draft",
    response_model=out.OrderRead,
    responses=_errors(400, 404, 405, 409, 413, 415),
    openapi_extra=_body("DraftUpdate"),
)
async def convert_draft(
    request: Request, prefix: Prefix, order_key: OrderKey, credentials: CredentialsDep
) -> Response:
    """Turn a draft into an order (`{"orderType": "order"}`): priced and charged as of now,
    `orderedAt` set, `created`/`pending`, then produced like any order. 409 if not a draft."""
    caller = await get_caller(request, credentials)
    await parse_json(request, drafts.DraftUpdate)
    convert = partial(
        drafts.convert_draft, principal=caller, order_key=order_key, now=utcnow(),
        reference=_reference(request), billing_state=_billing(request),
    )  # fmt: skip
    return json_response(await database(request).write(convert))


@router.delete(
    "/{orderId:order_key}",
    summary="Delete Draft",
    response_model=out.CancelResult,
    responses=_errors(400, 404, 405, 409),
)
async def delete_draft(
    request: Request, prefix: Prefix, order_key: OrderKey, credentials: CredentialsDep
) -> Response:
    """Delete a draft order; only drafts may be deleted (409 otherwise)."""
    caller = await get_caller(request, credentials)
    await database(request).write(
        partial(drafts.delete_draft, principal=caller, order_key=order_key)
    )
    return json_response(_CANCELED)
