"""How the OpenAPI document describes idempotency on the three write operations."""

from __future__ import annotations

from typing import Any

from pressline.error_schemas import error_content
from pressline.idempotency.keys import HEADER, MAX_KEY_LENGTH, REPLAYED_HEADER

#: (path, method) of the operations that take an Idempotency-Key.
OPERATIONS = frozenset(
    {
        ("/api/{prefix}/order", "post"),
        ("/api/{prefix}/{orderId}/cancel", "post"),
        ("/api/{prefix}/{orderId}", "put"),
    }
)


def _key_parameter(hours: int) -> dict[str, Any]:
    return {
        "name": HEADER,
        "in": "header",
        "required": False,
        "description": "Your name for this request (a UUID is ideal), to retry it safely: "
        f"the same key with the same request within {hours} hours gets the first answer "
        f"again, with `{REPLAYED_HEADER}: true`, and changes nothing. The same key with "
        "another request is 422 `idempotency`. Keys belong to your customer; a request "
        "that failed keeps no key, so its retry runs again.",
        # What can arrive: HTTP strips the spaces around a header value.
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_KEY_LENGTH,
            "pattern": "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$",
        },
    }


REPLAYED = {
    "description": "`true` when this is the stored answer to an earlier request with the "
    "same Idempotency-Key (on submit: the same orderReferenceId with `preventDuplicate`). "
    "Absent on a first answer.",
    "schema": {"type": "string", "enum": ["true"]},
}
REUSED = (
    "The Idempotency-Key (on submit with `preventDuplicate`: the orderReferenceId) already "
    "answered a different request in the last {hours} hours (`type` `idempotency`, code "
    "`idempotency_key_reused`)."
)
IN_USE = (
    " Or (`type` `idempotency`, code `idempotency_key_in_use`) a request with the same "
    "Idempotency-Key was still running: retry, and get its answer."
)


def document(path: str, method: str, operation: dict[str, Any], *, hours: int) -> None:
    """Add the header, the replay header and the idempotency errors to a write operation."""
    if (path, method) not in OPERATIONS:
        return
    operation.setdefault("parameters", []).append(_key_parameter(hours))
    responses = operation["responses"]
    responses["200"].setdefault("headers", {})[REPLAYED_HEADER] = dict(REPLAYED)
    responses["409"]["description"] += IN_USE
    responses["422"] = {
        "description": REUSED.format(hours=hours),
        "content": error_content(),
    }
