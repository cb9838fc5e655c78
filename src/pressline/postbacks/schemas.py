"""The body of ``GET {base}/{orderId}/postbacks``: an order's postbacks and their attempts.

Documents the contract (OpenAPI); ``views`` builds plain dicts of the same shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Read(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class PostbackAttempt(_Read):
    number: int = Field(description="1 for the first attempt.")
    at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null: no answer.")
    latency_ms: int | None
    outcome: Literal["delivered", "retry", "disable", "failed"]
    error: str | None = Field(description="What went wrong (at most 1 KiB).")
    response_excerpt: str | None = Field(description="The start of the answer (at most 1 KiB).")


class Postback(_Read):
    id: str = Field(description="The event id, also its `webhook-id` header: `msg_…`.")
    event: str = Field(description="The event type, e.g. `order.shipped`.")
    destination: Literal["webhook", "email"]
    url: str | None
    method: str
    email: str | None
    status: Literal["pending", "delivered", "failed", "disabled"] = Field(
        description="pending: queued or retrying; failed: given up after the last retry; "
        "disabled: its trigger was disabled (e.g. after a 410)."
    )
    attempt_count: int
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    attempts: list[PostbackAttempt]


class PostbackList(_Read):
    postbacks: list[Postback]
