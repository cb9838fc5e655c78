"""HTTP helpers shared by every router: JSON in, JSON out, errors rendered once."""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from pressline import errors as e
from pressline.db import unavailable, why
from pressline.http_errors import error_body, internal_error_body

ModelT = TypeVar("ModelT", bound=BaseModel)

log = logging.getLogger(__name__)

# Pydantic's error types renamed to Pressline's stable codes; custom validators
# already raise with Pressline codes and pass through unchanged.
_CODES = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "string_too_long": "too_long",
    "string_too_short": "required",
    "too_long": "too_many",
    "too_short": "too_few",
    "greater_than_equal": "too_small",
    "greater_than": "too_small",
    "less_than_equal": "too_large",
    "less_than": "too_large",
    "string_pattern_mismatch": "invalid_format",
    "enum": "invalid_value",
    "literal_error": "invalid_value",
    "int_parsing": "invalid_type",
    "int_type": "invalid_type",
    "int_from_float": "invalid_type",
    "string_type": "invalid_type",
    "bool_type": "invalid_type",
    "bool_parsing": "invalid_type",
    "list_type": "invalid_type",
    "dict_type": "invalid_type",
    "model_type": "invalid_type",
    "model_attributes_type": "invalid_type",
    "decimal_parsing": "invalid_type",
    "decimal_type": "invalid_type",
    "decimal_max_digits": "too_precise",
    "decimal_max_places": "too_precise",
    "finite_number": "invalid_type",
    "datetime_parsing": "invalid_datetime",
    "datetime_from_date_parsing": "invalid_datetime",
    "datetime_type": "invalid_datetime",
    "timezone_aware": "invalid_datetime",
}

#: pydantic's wording where it speaks Python, not JSON.
_MESSAGES = {
    "extra_forbidden": "Unknown field",
    "decimal_type": "Input should be a number",
}


def param_path(loc: tuple[int | str, ...]) -> str | None:
    """('items', 0, 'files', 1, 'type') -> 'items[0].files[1].type'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or None


def field_errors(exc: ValidationError | RequestValidationError) -> list[e.FieldError]:
    result = []
    for item in exc.errors():
        loc = tuple(item["loc"])
        if loc and loc[0] in {"body", "path", "query", "header"}:
            loc = loc[1:]
        message = _MESSAGES.get(item["type"], str(item["msg"]))
        if loc[-1:] == ("[key]",):  # a map's key is at fault: name the map, quote the key
            message = f"Key {loc[-2]!r}: {message}"
            loc = loc[:-2]
        result.append(
            e.FieldError(_CODES.get(item["type"], item["type"]), param_path(loc), message)
        )
    return result


class HotRoute(Route):
    """A plain Starlette route for one method, in front of FastAPI's for the same path.

    Only that method matches (Starlette would add HEAD to GET; FastAPI answers HEAD with
    405), and ``scope["route"]`` is set as FastAPI's routes set it, for the access log.
    """

    def __init__(self, path: str, endpoint: Any, *, method: str) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.methods = {method}

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


#: UTF-8, and US-ASCII, which is UTF-8 (RFC 8259: JSON is UTF-8).
_JSON_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def is_json(request: Request) -> bool:
    """A JSON media type, in UTF-8: the only encoding of JSON (RFC 8259), so another
    charset would be decoded wrongly without a word."""
    media_type, *parameters = request.headers.get("content-type", "").lower().split(";")
    media_type = media_type.strip()
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in _JSON_CHARSETS:
            return False
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def parse_json(request: Request, model: type[ModelT]) -> ModelT:
    """Validate the body straight from its bytes: no dict in between (cheaper)."""
    if not is_json(request):
        raise e.UnsupportedMediaType()
    body = await request.body()
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if any(item["type"] == "json_invalid" for item in exc.errors()):
            raise e.MalformedBody("the body is not valid JSON (or is nested too deeply)") from None
        if any(item["type"] == "model_type" and not item["loc"] for item in exc.errors()):
            raise e.MalformedBody("the body must be a JSON object") from None
        raise e.ValidationFailed(field_errors(exc)) from None


def json_response(data: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status_code, media_type="application/json")


def request_id(request: Request) -> str:
    rid: str = request.scope.get("state", {}).get("request_id", "req_unknown")
    return rid


def error_response(error: e.DomainError, rid: str) -> Response:
    status, body = error_body(error, rid)
    headers = {"request-id": rid}
    if isinstance(error, e.MethodNotAllowed):
        headers["allow"] = ", ".join(error.allowed)
    elif isinstance(error, e.ServiceUnavailable):
        headers["retry-after"] = str(error.retry_after)
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.DomainError)
    return error_response(exc, request_id(request))


async def on_request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(e.ValidationFailed(field_errors(exc)), request_id(request))


async def on_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no route, wrong method) in the standard body."""
    assert isinstance(exc, StarletteHTTPException)
    error: e.DomainError
    if exc.status_code == 405:
        error = e.MethodNotAllowed(request.method, allowed_methods(request))
    elif exc.status_code == 404:
        error = e.RouteNotFound()
    else:  # pragma: no cover - Starlette raises no other status on its own
        error = e.DomainError(str(exc.detail))
    return error_response(error, request_id(request))


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@lru_cache(maxsize=64)
def _template_pattern(template: str) -> re.Pattern[str]:
    """'/api/{prefix}/{orderId}/cancel' as a regex (an order id may contain '/')."""
    parts = re.split(r"\{[^}]+\}", template)
    return re.compile("^" + ".+".join(re.escape(part) for part in parts) + "$")


def allowed_methods(request: Request) -> list[str]:
    """The methods documented for the resource at this path, for ``Allow``.

    The most specific documented path wins: ``…/order`` is the submit resource (POST)
    even though ``…/{orderId}`` would also match it. Undocumented routes (``/docs``)
    fall back to the methods of the routes that match the path.
    """
    path = request.scope["path"]
    best: tuple[int, set[str]] | None = None
    for template, operations in request.app.openapi().get("paths", {}).items():
        if _template_pattern(template).match(path):
            literal = len(re.sub(r"\{[^}]+\}", "", template))
            if best is None or literal > best[0]:
                best = (literal, {method.upper() for method in operations})
    if best is not None:
        methods = best[1]
    else:
        methods = set()
        for route in request.app.router.routes:
            match, _ = route.matches({**request.scope, "method": "\x00"})
            if match is Match.PARTIAL:
                methods.update(getattr(route, "methods", None) or ())
    return [method for method in _METHODS if method in methods]


async def on_client_disconnect(request: Request, exc: Exception) -> Response:
    """The body stopped before its end: the client hung up, or sent chunked encoding the
    server could not read (both reach the application as a disconnect). A 400, not a 500
    with a traceback: nothing failed here. If the client is gone, nobody reads it."""
    error = e.MalformedBody(
        "the request body ended before it was complete (connection closed, or a malformed "
        "chunked encoding)"
    )
    return error_response(error, request_id(request))


async def on_database_error(request: Request, exc: Exception) -> Response:
    """The database away (down, restarting, out of connections, locked): a 503 the client
    may retry, and one log line; any other database error goes on to the 500 handler."""
    if not unavailable(exc):
        raise exc
    rid = request_id(request)
    log.warning("database unavailable: %s", why(exc), extra={"request_id": rid})
    return error_response(e.ServiceUnavailable(), rid)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    rid = request_id(request)
    return Response(
        orjson.dumps(internal_error_body(rid)),
        500,
        headers={"request-id": rid},
        media_type="application/json",
    )
