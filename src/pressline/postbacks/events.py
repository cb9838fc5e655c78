"""The default postback body: a Standard Webhooks event ``{id, type, timestamp, data}``.

Built from plain values the service already has (the order summary, its items, its
packages, its metadata), so this module knows nothing of tables or views. The body is
encoded once, stored in the outbox and sent byte for byte on every attempt, because
the signature covers those exact bytes. docs/postbacks.md documents the format.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Final

from pressline.orders.statuses import FulfillmentStatus


class EventType(StrEnum):
    """What a trigger subscribes to (GelatoConnect's trigger events, domain.md §6)."""

    ORDER_RECEIVED = "order.received"  # accepted at intake (not a draft)
    ORDER_FAILED = "order.failed"
    ORDER_CANCELED = "order.canceled"
    ORDER_PRINTED = "order.printed"  # "produced" in GelatoConnect's words
    ORDER_SHIPPED = "order.shipped"
    ORDER_IN_TRANSIT = "order.in_transit"
    ORDER_DELIVERED = "order.delivered"
    ORDER_RETURNED = "order.returned"
    PACKAGE_STATUS_UPDATED = "order.package_status_updated"  # tracking added or changed
    ORDER_DELAYED = "order.delayed"  # past its expected dispatch date, raised once


#: The event an order's new (derived) fulfillment status fires; other statuses fire none.
#: ``order.received`` is fired by intake, ``order.delayed`` and
#: ``order.package_status_updated`` by their own checks, not by a status.
STATUS_EVENTS: Final[Mapping[FulfillmentStatus, EventType]] = {
    FulfillmentStatus.FAILED: EventType.ORDER_FAILED,
    FulfillmentStatus.CANCELED: EventType.ORDER_CANCELED,
    FulfillmentStatus.PRINTED: EventType.ORDER_PRINTED,
    FulfillmentStatus.SHIPPED: EventType.ORDER_SHIPPED,
    FulfillmentStatus.IN_TRANSIT: EventType.ORDER_IN_TRANSIT,
    FulfillmentStatus.DELIVERED: EventType.ORDER_DELIVERED,
    FulfillmentStatus.RETURNED: EventType.ORDER_RETURNED,
}


def event_for_status(status: FulfillmentStatus) -> EventType | None:
    """The event an order reaching ``status`` fires, if any."""
    return STATUS_EVENTS.get(status)


def flat_metadata(entries: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """GelatoConnect's ``[{"key": k, "value": v}]`` as ``{k: v}``; a repeated key keeps
    its last value, as a dict would."""
    return {entry["key"]: entry["value"] for entry in entries}


def utc_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, the form Standard Webhooks' examples use."""
    if moment.utcoffset() is None:
        raise ValueError("event timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_event(
    *,
    event_id: str,
    event_type: EventType,
    timestamp: datetime,
    order: Mapping[str, object],
    items: Sequence[Mapping[str, object]] = (),
    packages: Sequence[Mapping[str, object]] = (),
    metadata: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """The event as a dict, ready for :func:`encode_event`.

    ``event_id`` is chosen by the caller and deterministic (the outbox row's id), so a
    retry or a redelivery sends the same ``id`` and the same ``webhook-id``.
    ``order`` is the order summary (id, references, statuses, …) in wire names.
    """
    if not event_id or any(ch.isspace() for ch in event_id):
        raise ValueError("event_id must be a non-empty string without whitespace")
    return {
        "id": event_id,
        "type": event_type.value,
        "timestamp": utc_timestamp(timestamp),
        "data": {
            "order": dict(order),
            "items": [dict(item) for item in items],
            "packages": [dict(package) for package in packages],
            "metadata": dict(metadata or {}),
        },
    }


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)  # money stays exact: "33.45", never 33.449999
    if isinstance(value, datetime):
        return utc_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable in an event")


def encode_event(event: Mapping[str, object]) -> str:
    """The body text: compact JSON, keys in the order built, no NaN (not JSON). Encode
    once, then sign and send that same text on every attempt."""
    return json.dumps(
        event, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default
    )
