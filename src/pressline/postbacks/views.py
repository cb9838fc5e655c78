"""Delivery-log rows as the API's and the CLI's dicts (``schemas`` documents the shape).
Times are to the second, as everywhere in the order API."""

from __future__ import annotations

from typing import Any

from pressline.db import AnyRow
from pressline.orders.plan_views import iso
from pressline.postbacks.outbox import message_id


def attempt_view(row: AnyRow) -> dict[str, Any]:
    return {
        "number": row.number,
        "at": iso(row.at),
        "statusCode": row.status_code,
        "latencyMs": row.latency_ms,
        "outcome": row.outcome,
        "error": row.error,
        "responseExcerpt": row.response_excerpt,
    }


def postback_view(row: AnyRow, attempts: list[AnyRow]) -> dict[str, Any]:
    return {
        "id": message_id(row.id),
        "event": row.event_type,
        "destination": row.destination,
        "url": row.url,
        "method": row.method,
        "email": row.email,
        "status": row.status,
        "attemptCount": len(attempts),
        "createdAt": iso(row.created_at),
        "nextAttemptAt": iso(row.next_attempt_at),
        "deliveredAt": iso(row.delivered_at),
        "attempts": [attempt_view(attempt) for attempt in attempts],
    }


def delivery_summary(row: AnyRow) -> dict[str, Any]:
    """One line of ``pressline deliveries list``."""
    return {
        "id": message_id(row.id),
        "customer": row.customer_reference_id,
        "order": None if row.order_id is None else str(row.order_id),
        "purpose": row.purpose,
        "event": row.event_type,
        "to": row.email if row.destination == "email" else row.url,
        "status": row.status,
        "attempts": row.attempts,
        "lastStatus": row.last_status_code,
        "nextAttemptAt": iso(row.next_attempt_at),
        "createdAt": iso(row.created_at),
    }
