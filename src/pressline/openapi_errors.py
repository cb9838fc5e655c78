"""An example body on every error response the OpenAPI document lists.

Each example body is made by the code that answers the request (``http_errors.error_body``
of the error the service raises), so its shape cannot drift from the wire.
Conflicts differ per operation (a duplicate reference on submit, a shipped order on
cancel…), and a 400 names what the operation takes (its body, order key or query); the
other statuses are alike everywhere.
"""

from __future__ import annotations

from typing import Any

from pressline import errors as e
from pressline.error_schemas import ERROR_BODY_REF
from pressline.http_errors import error_body, internal_error_body
from pressline.orders import examples
from pressline.orders.fields import CONTROLS_MESSAGE
from pressline.orders.lifecycle import Actor, IllegalTransition
from pressline.orders.statuses import FulfillmentStatus

REQUEST_ID = "req_5f0c7a8e9b2d4c1fa3e6"
_ORDER_ID = examples.GET_ORDER_RESPONSE["id"]
_REFERENCE = "order-1001"
_ORDER = "/api/{prefix}/{orderId}"

_BY_STATUS: dict[str, e.DomainError] = {
    "400": e.ValidationFailed(
        [e.FieldError("invalid_email", "shippingAddress.email", "Email is not a valid format")]
    ),
    "401": e.AuthenticationFailed(),
    "403": e.HttpsRequired(),
    "404": e.OrderNotFound(_REFERENCE),
    "405": e.MethodNotAllowed("POST", ["GET", "PUT", "PATCH", "DELETE"]),
    "413": e.BodyTooLarge(1024 * 1024),
    "415": e.UnsupportedMediaType(),
    "422": e.IdempotencyKeyReused("4c1b3f2e-submit-1001", 24),
    "429": e.RateLimited(100, 1, 1),
    "503": e.ServiceUnavailable(),
}

#: A 400 about what an operation without a body of order fields takes; the others show
#: ``_BY_STATUS``'s body error, and the operations taking only an order key this one.
_BAD_ORDER_KEY = e.ValidationFailed(
    [e.FieldError("invalid_characters", "orderId", CONTROLS_MESSAGE)]
)
_BAD_INPUT: dict[tuple[str, str], e.DomainError] = {
    ("/api/{prefix}/search", "post"): e.ValidationFailed(
        [e.FieldError("invalid_datetime", "startDate", "Input should be an ISO 8601 date-time")]
    ),
    ("/api/{prefix}/shipment-methods", "get"): e.ValidationFailed(
        [e.FieldError("invalid_country", "country", "Country must be an ISO 3166-1 alpha-2 code")]
    ),
    ("/production/v2/orders", "get"): e.ValidationFailed(
        [e.FieldError("too_large", "limit", "Input should be less than or equal to 100")]
    ),
    (_ORDER, "patch"): e.ValidationFailed(
        [e.FieldError("invalid_value", "orderType", "Input should be 'order'")]
    ),
    ("/production/v2/order/status", "post"): e.ValidationFailed(
        [e.FieldError("invalid_value", "status", "Input should be 'received', 'printed', …")]
    ),
}

_CONFLICTS: dict[tuple[str, str], e.DomainError] = {
    ("/api/{prefix}/order", "post"): e.DuplicateOrderReference(_REFERENCE, _ORDER_ID),
    (f"{_ORDER}/cancel", "post"): e.OrderNotCancellable(FulfillmentStatus.SHIPPED.value),
    (_ORDER, "put"): e.ShipmentNotUpdatable(FulfillmentStatus.SHIPPED.value),
    (_ORDER, "patch"): e.OrderNotDraft(FulfillmentStatus.CREATED.value, "converted"),
    (_ORDER, "delete"): e.OrderNotDraft(FulfillmentStatus.CREATED.value, "deleted"),
    ("/production/v2/order/status", "post"): IllegalTransition(
        FulfillmentStatus.SHIPPED, FulfillmentStatus.PRINTED, Actor.FACILITY
    ),
}


def add_examples(path: str, operation: dict[str, Any], method: str) -> None:
    """Give each of the operation's error-body responses an ``example``."""
    responses: dict[str, Any] = operation["responses"]
    for status, response in responses.items():
        content = response.get("content", {}).get("application/json")
        if content is None or content.get("schema", {}).get("$ref") != ERROR_BODY_REF:
            continue
        if status == "500":
            content["example"] = internal_error_body(REQUEST_ID)
            continue
        if status == "409":
            error = _CONFLICTS.get((path, method))
        elif status == "400":
            default = _BY_STATUS[status] if "requestBody" in operation else _BAD_ORDER_KEY
            error = _BAD_INPUT.get((path, method), default)
        else:
            error = _BY_STATUS.get(status)
        if error is not None:
            content["example"] = error_body(error, REQUEST_ID)[1]
