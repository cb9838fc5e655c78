"""Every DomainError maps to a documented status and error type, and renders one body shape."""

from __future__ import annotations

import pytest

import pressline.app  # noqa: F401  (imports every module that may define a DomainError)
from pressline import errors as e
from pressline.http_errors import error_body, internal_error_body, status_and_type

ALLOWED_TYPES = {
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "conflict",
    "idempotency",
    "rate_limit",
    "api",
}

# The family each error belongs to, and the status and type reliability.md gives it.
DOCUMENTED: list[tuple[type[e.DomainError], int, str]] = [
    (e.ValidationFailed, 400, "invalid_request"),
    (e.AuthenticationFailed, 401, "authentication"),
    (e.HttpsRequired, 403, "permission"),
    (e.NotFound, 404, "not_found"),
    (e.MethodNotAllowed, 405, "invalid_request"),
    (e.Conflict, 409, "conflict"),
    (e.BodyTooLarge, 413, "invalid_request"),
    (e.UnsupportedMediaType, 415, "invalid_request"),
    (e.RateLimited, 429, "rate_limit"),
    (e.IdempotencyKeyReused, 422, "idempotency"),
    (e.IdempotencyKeyInUse, 409, "idempotency"),
    (e.ServiceUnavailable, 503, "api"),
]


def all_subclasses(cls: type[e.DomainError]) -> list[type[e.DomainError]]:
    found: list[type[e.DomainError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *all_subclasses(sub)]
    return found


SUBCLASSES = all_subclasses(e.DomainError)


def bare(cls: type[e.DomainError]) -> e.DomainError:
    """An instance without calling ``__init__`` (constructors take different arguments)."""
    return cls.__new__(cls)


def documented(cls: type[e.DomainError]) -> tuple[int, str]:
    for family, status, kind in DOCUMENTED:
        if issubclass(cls, family):
            return status, kind
    raise AssertionError(f"{cls.__name__} belongs to no documented family")


def test_the_walk_finds_the_whole_tree() -> None:
    names = {cls.__name__ for cls in SUBCLASSES}
    assert {"MalformedBody", "OrderNotFound", "DuplicateOrderReference", "ApiKeyNotFound"} <= names
    assert len(SUBCLASSES) == len(set(SUBCLASSES)) >= 19


@pytest.mark.parametrize("cls", SUBCLASSES, ids=lambda cls: cls.__name__)
def test_every_domain_error_has_its_documented_status_and_type(
    cls: type[e.DomainError],
) -> None:
    status, kind = status_and_type(bare(cls))
    assert kind in ALLOWED_TYPES
    assert (status, kind) == documented(cls)


def test_domain_error_codes_are_unique_machine_codes() -> None:
    codes = [cls.code for cls in SUBCLASSES]
    assert len(codes) == len(set(codes)), codes
    for code in codes:
        assert code.replace("_", "").isalpha() and code == code.lower(), code


@pytest.mark.parametrize(
    ("error", "status", "code", "param"),
    [
        (e.AuthenticationFailed(), 401, "invalid_api_key", None),
        (e.HttpsRequired(), 403, "https_required", None),
        (e.OrderNotFound("abc"), 404, "order_not_found", None),
        (e.RouteNotFound(), 404, "route_not_found", None),
        (e.MethodNotAllowed("DELETE", ["GET", "PUT"]), 405, "method_not_allowed", None),
        (e.DuplicateOrderReference("ref-1", "id-1"), 409, "duplicate_order_reference", None),
        (e.OrderNotCancellable("shipped"), 409, "order_not_cancellable", None),
        (e.ShipmentNotUpdatable("shipped"), 409, "shipment_not_updatable", None),
        (e.BodyTooLarge(1024), 413, "body_too_large", None),
        (e.UnsupportedMediaType(), 415, "unsupported_media_type", None),
        (e.IdempotencyKeyReused("k-1", 24), 422, "idempotency_key_reused", "Idempotency-Key"),
        (e.IdempotencyKeyInUse("k-1"), 409, "idempotency_key_in_use", None),
    ],
)
def test_error_body_has_the_standard_shape(
    error: e.DomainError, status: int, code: str, param: str | None
) -> None:
    got_status, body = error_body(error, "req_123")
    assert got_status == status
    assert body == {
        "code": status,
        "message": error.message,
        "type": status_and_type(error)[1],
        "errors": [{"type": body["type"], "code": code, "param": param, "message": error.message}],
        "requestId": "req_123",
    }
    assert error.message


def test_a_malformed_body_is_a_400_validation_failure() -> None:
    status, body = error_body(e.MalformedBody("not JSON"), "req_1")
    assert (status, body["type"]) == (400, "invalid_request")
    assert [(item["code"], item["param"]) for item in body["errors"]] == [("malformed_body", None)]
    assert "not JSON" in body["message"]


def test_a_validation_failure_lists_every_field() -> None:
    error = e.ValidationFailed(
        [
            e.FieldError("invalid_email", "shippingAddress.email", "Email is not a valid format"),
            e.FieldError("invalid_value", "items[0].files[1].type", "Unknown file type"),
        ]
    )
    status, body = error_body(error, "req_1")
    assert status == 400
    assert [(item["param"], item["code"]) for item in body["errors"]] == [
        ("shippingAddress.email", "invalid_email"),
        ("items[0].files[1].type", "invalid_value"),
    ]
    assert body["message"].startswith("Invalid request: shippingAddress.email")
    assert "(and 1 more)" in body["message"]


def test_messages_name_what_went_wrong() -> None:
    assert "id-1" in e.DuplicateOrderReference("ref-1", "id-1").message
    assert "shipped" in e.OrderNotCancellable("shipped").message
    assert "GET, PUT" in e.MethodNotAllowed("DELETE", ["GET", "PUT"]).message


def test_the_internal_error_body_hides_everything_but_the_request_id() -> None:
    body = internal_error_body("req_abc")
    assert body["code"] == 500 and body["type"] == "api"
    assert body["requestId"] == "req_abc" and "req_abc" in body["message"]
    assert body["errors"] == [
        {"type": "api", "code": "internal_error", "param": None, "message": body["message"]}
    ]
    assert status_and_type(e.DomainError()) == (500, "api")


def test_a_503_says_when_to_retry_and_a_405_what_is_allowed() -> None:
    from pressline.templates import RendererUnavailable
    from pressline.web import error_response

    busy = error_response(RendererUnavailable("Every template worker is busy."), "req_1")
    assert (busy.status_code, busy.headers["retry-after"]) == (503, "1")
    wrong = error_response(e.MethodNotAllowed("PATCH", ["GET", "PUT"]), "req_2")
    assert (wrong.headers["allow"], "retry-after" in wrong.headers) == ("GET, PUT", False)
