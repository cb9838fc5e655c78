"""Linked templates applied on a connector's submit and cancel endpoints.

A linked request template turns the raw body (the customer's JSON or XML) into the
canonical request, which is then validated like any request; a linked response
template turns the canonical answer into the customer's format. Unlinked templates
are never applied. A render waits for its worker process on the event loop
(``render_async``), never blocking it and without a thread hop.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pressline.accounts.keys import Principal
from pressline.deps import database
from pressline.errors import UnsupportedMediaType
from pressline.orders.fields import text
from pressline.templates.formats import Format, JsonValue, PayloadError, parse
from pressline.templates.links import NO_LINKS, EndpointLinks, LinkCache
from pressline.templates.model import (
    RendererUnavailable,
    TemplateError,
    TemplateOutputInvalid,
    TemplateSource,
)
from pressline.templates.render import render_async, validate_output
from pressline.templates.store import Endpoint, Role
from pressline.web import is_json

log = logging.getLogger(__name__)
ModelT = TypeVar("ModelT", bound=BaseModel)

#: The header a response carries when its response template failed (the canonical
#: answer is sent instead: the order was stored and must not look refused).
TEMPLATE_ERROR_HEADER = "Response-Template-Error"


class CancelRequest(BaseModel):
    """What a cancel request template produces: the order to cancel."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    order_id: Annotated[str, text(100, 1)] = Field(alias="orderId")


async def links_for(request: Request, caller: Principal) -> EndpointLinks:
    """The caller's connector's linked templates (a dictionary lookup when cached)."""
    cache: LinkCache | None = getattr(request.app.state, "templates", None)
    if cache is None:
        return NO_LINKS
    return await cache.for_connector(database(request), caller.connector_id)


def _state(request: Request) -> dict[str, Any]:
    state: dict[str, Any] = request.scope.setdefault("state", {})
    return state


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _accepts(fmt: Format, request: Request) -> bool:
    if fmt is Format.JSON:
        return is_json(request)  # the same rule as untemplated bodies, charset included
    media_type = _media_type(request)
    return media_type in ("application/xml", "text/xml") or media_type.endswith("+xml")


async def transform_request(
    request: Request,
    links: EndpointLinks,
    template: TemplateSource,
    model: type[ModelT],
    *,
    variables: dict[str, Any] | None = None,
) -> ModelT:
    """The raw body through ``template``, validated as ``model`` (400 naming the template)."""
    fmt = template.input_format
    if not _accepts(fmt, request):
        raise UnsupportedMediaType(
            f"{template.label} reads {fmt.value.upper()}: send the body with "
            f"'Content-Type: {fmt.media_type}'."
        )
    body = await request.body()
    state = _state(request)
    state["template"] = f"{template.name} v{template.version}"
    try:
        rendered = await render_async(
            template, body, lookups=links.lookups, variables=variables, owner=links.owner
        )
    except TemplateOutputInvalid as exc:
        state["transformed_request"] = exc.output  # the operator sees what was wrong
        raise
    state["transformed_request"] = rendered.body
    return validate_output(rendered, model)


async def transform_response(
    request: Request,
    links: EndpointLinks,
    endpoint: Endpoint,
    response: Response,
    *,
    request_template: TemplateSource | None,
) -> Response:
    """``response`` in the customer's format when a response template is linked.

    Only a 200 is rendered: errors keep the standard error body, which clients
    handle alike on every endpoint.
    """
    template = links.get(endpoint, Role.RESPONSE)
    if template is None or response.status_code != 200:
        return response
    canonical = orjson.loads(response.body)
    customer_request = _customer_request(await request.body(), request_template)
    headers = {k: v for k, v in response.headers.items() if k.lower().startswith("idempotent-")}
    try:
        rendered = await render_async(
            template, canonical, lookups=links.lookups, variables={"request": customer_request},
            owner=links.owner,
        )  # fmt: skip
    except (TemplateError, RendererUnavailable) as exc:
        log.warning("response template failed", extra={"template": template.label})
        headers[TEMPLATE_ERROR_HEADER] = exc.message.encode("ascii", "replace").decode()[:500]
        return Response(response.body, 200, headers=headers, media_type="application/json")
    return Response(rendered.body, 200, headers=headers, media_type=rendered.media_type)


def _customer_request(body: bytes, template: TemplateSource | None) -> JsonValue:
    """The customer's request as their request template read it (JSON when none)."""
    if not body.strip():
        return {}
    try:
        return parse(body, template.input_format if template else Format.JSON)
    except PayloadError:
        return {}


def note_order(request: Request, response: Response) -> None:
    """Tell the request log which order a successful submit created."""
    if response.status_code == 200:
        with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError):
            _state(request)["order_id"] = orjson.loads(response.body)["id"]


def note_order_key(request: Request, order_key: str) -> None:
    """Tell the request log which order a templated cancel named."""
    _state(request)["order_key"] = order_key
