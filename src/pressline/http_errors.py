"""The one table from domain errors to HTTP, and the one error-body renderer.

Every non-2xx response Pressline sends is rendered here::

    {"code": 400, "message": "...", "type": "invalid_request",
     "errors": [{"type": ..., "code": ..., "param": ..., "message": ...}],
     "requestId": "req_..."}
"""

from __future__ import annotations

from typing import Any

from pressline import errors as e

# Most specific class first is not needed: lookup walks the MRO of the raised class.
STATUS_AND_TYPE: dict[type[e.DomainError], tuple[int, str]] = {
    e.DomainError: (500, "api"),
    e.ValidationFailed: (400, "invalid_request"),
    e.AuthenticationFailed: (401, "authentication"),
    e.HttpsRequired: (403, "permission"),
    e.NotFound: (404, "not_found"),
    e.MethodNotAllowed: (405, "invalid_request"),
    e.Conflict: (409, "conflict"),
    e.BodyTooLarge: (413, "invalid_request"),
    e.UnsupportedMediaType: (415, "invalid_request"),
    e.ServiceUnavailable: (503, "api"),
    e.RateLimited: (429, "rate_limit"),
    e.IdempotencyKeyReused: (422, "idempotency"),
    e.IdempotencyKeyInUse: (409, "idempotency"),
}


def status_and_type(error: e.DomainError) -> tuple[int, str]:
    """The HTTP status and error ``type`` of a domain error."""
    for cls in type(error).__mro__:
        if cls in STATUS_AND_TYPE:
            return STATUS_AND_TYPE[cls]
    raise LookupError(f"{type(error).__name__} is not mapped")  # pragma: no cover


def error_body(error: e.DomainError, request_id: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body for ``error``."""
    status, kind = status_and_type(error)
    return status, {
        "code": status,
        "message": error.message,
        "type": kind,
        "errors": [
            {"type": kind, "code": item.code, "param": item.param, "message": item.message}
            for item in error.field_errors
        ],
        "requestId": request_id,
    }


def internal_error_body(request_id: str) -> dict[str, Any]:
    """The 500 body: no internals, just the id to quote to the operator."""
    message = f"An unexpected error occurred. Quote request id {request_id} to support."
    return {
        "code": 500,
        "message": message,
        "type": "api",
        "errors": [{"type": "api", "code": "internal_error", "param": None, "message": message}],
        "requestId": request_id,
    }


def not_ready_body(request_id: str, unavailable: list[str]) -> dict[str, Any]:
    """The 503 of ``/readyz``: which dependency is down, no connection details."""
    message = "Not ready: " + ", ".join(f"{name} unreachable" for name in unavailable) + "."
    return {
        "code": 503,
        "message": message,
        "type": "api",
        "errors": [
            {"type": "api", "code": "dependency_unavailable", "param": name,
             "message": f"{name} is not reachable"}
            for name in unavailable
        ],
        "requestId": request_id,
    }  # fmt: skip
