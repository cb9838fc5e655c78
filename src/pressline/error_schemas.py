"""The error body every API answers with, as OpenAPI documents it (``http_errors``
renders it; ``openapi_errors`` puts an example on each response)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

#: Where the OpenAPI document keeps the error body's schema.
ERROR_BODY_REF = "#/components/schemas/ErrorBody"


def error_content() -> dict[str, Any]:
    """A response's ``content`` that is the error body: a new dict each time, as each
    response gets its own example (``openapi_errors``)."""
    return {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}}


class ErrorItem(BaseModel):
    type: str
    code: str
    param: str | None
    message: str


class ErrorBody(BaseModel):
    """Every non-2xx response (seed 000 + seed 004)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": 400,
                    "message": "Invalid request: shippingAddress.email: "
                    "Email is not a valid format",
                    "type": "invalid_request",
                    "errors": [
                        {
                            "type": "invalid_request",
                            "code": "invalid_email",
                            "param": "shippingAddress.email",
                            "message": "Email is not a valid format",
                        }
                    ],
                    "requestId": "req_5f0c7a8e9b2d4c1fa3e6",
                }
            ]
        }
    )

    code: int
    message: str
    type: str
    errors: list[ErrorItem]
    requestId: str


#: What every API's errors mean unless its routes say more precisely.
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Invalid request: every bad field is listed in `errors` with its `param`.",
    403: "Plain HTTP: this API answers only over HTTPS.",
    413: "Body larger than PRESSLINE_MAX_BODY_BYTES (1 MiB unless the operator changed it).",
    415: "Body is not JSON.",
    500: "Unexpected error; quote the requestId.",
    503: "Unavailable for a moment (the database down or restarting): retry after "
    "`Retry-After` seconds.",
}


def error_responses(described: dict[int, str], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for ``statuses`` plus the 401, 403, 500 and 503 every
    operation may answer, each with the error body; ``described`` adds or overrides
    meanings."""
    meanings = {**ERROR_DESCRIPTIONS, **described}
    return {
        code: {"model": ErrorBody, "description": meanings[code]}
        for code in (*statuses, 401, 403, 500, 503)
    }
