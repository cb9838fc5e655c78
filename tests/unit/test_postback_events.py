"""The default postback body (``pressline.postbacks.events``)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from pressline.orders.statuses import FulfillmentStatus
from pressline.postbacks.events import (
    EventType,
    build_event,
    encode_event,
    event_for_status,
    flat_metadata,
    utc_timestamp,
)

F = FulfillmentStatus
AT = datetime(2026, 3, 10, 9, 30, 5, tzinfo=UTC)
ORDER = {
    "id": "9f9ff09f-5891-4d3d-be35-9b302db835a1",
    "orderReferenceId": "shop-1001",
    "customerReferenceId": "sandbox-customer",
    "fulfillmentStatus": "shipped",
    "financialStatus": "to_be_invoiced",
    "totalInclVat": Decimal("33.45"),
}
ITEMS = [{"id": "e9f6", "itemReferenceId": "line-1", "fulfillmentStatus": "shipped"}]
PACKAGES = [
    {"id": "p1", "trackingCode": "00340434", "trackingUrl": "https://track.example/00340434"}
]


def _shipped() -> dict[str, object]:
    return build_event(
        event_id="msg_2c1f",
        event_type=EventType.ORDER_SHIPPED,
        timestamp=AT,
        order=ORDER,
        items=ITEMS,
        packages=PACKAGES,
        metadata={"shopOrder": "1001"},
    )


def test_an_event_has_the_standard_webhooks_shape() -> None:
    event = _shipped()
    assert list(event) == ["id", "type", "timestamp", "data"]
    assert event["id"] == "msg_2c1f"
    assert event["type"] == "order.shipped"
    assert event["timestamp"] == "2026-03-10T09:30:05Z"


def test_the_data_carries_order_items_packages_and_flat_metadata() -> None:
    data = json.loads(encode_event(_shipped()))["data"]
    assert data["order"]["orderReferenceId"] == "shop-1001"
    assert data["items"] == ITEMS
    assert data["packages"][0]["trackingCode"] == "00340434"
    assert data["metadata"] == {"shopOrder": "1001"}


def test_money_is_encoded_as_an_exact_string() -> None:
    body = encode_event(_shipped())
    assert '"totalInclVat":"33.45"' in body


def test_the_body_is_compact_and_the_same_every_time() -> None:
    body = encode_event(_shipped())
    assert body == encode_event(_shipped())
    assert ": " not in body and ", " not in body


def test_non_ascii_text_is_kept_as_utf8_not_escaped() -> None:
    event = build_event(
        event_id="msg_1",
        event_type=EventType.ORDER_RECEIVED,
        timestamp=AT,
        order={"city": "Köln"},
    )
    assert "Köln" in encode_event(event)


def test_dates_and_times_in_the_summary_are_iso_8601() -> None:
    later = datetime(2026, 3, 10, 11, 0, tzinfo=timezone(timedelta(hours=1)))
    event = build_event(
        event_id="msg_1",
        event_type=EventType.ORDER_DELAYED,
        timestamp=AT,
        order={"expectedDispatchDate": date(2026, 3, 9), "updatedAt": later},
    )
    order = json.loads(encode_event(event))["data"]["order"]
    assert order == {"expectedDispatchDate": "2026-03-09", "updatedAt": "2026-03-10T10:00:00Z"}


def _failed_with(order: dict[str, object]) -> dict[str, object]:
    return build_event(event_id="m", event_type=EventType.ORDER_FAILED, timestamp=AT, order=order)


def test_a_value_json_cannot_carry_is_refused() -> None:
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        encode_event(_failed_with({"x": {1, 2}}))
    with pytest.raises(ValueError, match="Out of range float"):
        encode_event(_failed_with({"x": float("nan")}))


def test_the_timestamp_is_utc_whatever_zone_it_was_given_in() -> None:
    paris = datetime(2026, 3, 10, 10, 30, 5, tzinfo=timezone(timedelta(hours=1)))
    assert utc_timestamp(paris) == "2026-03-10T09:30:05Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        utc_timestamp(datetime(2026, 3, 10))


@pytest.mark.parametrize("bad", ["", "msg 1", "msg\t1"])
def test_an_event_id_must_be_usable_as_a_webhook_id(bad: str) -> None:
    with pytest.raises(ValueError, match="event_id"):
        build_event(event_id=bad, event_type=EventType.ORDER_FAILED, timestamp=AT, order={})


def test_gelatoconnect_metadata_entries_become_a_flat_dict() -> None:
    entries = [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}, {"key": "a", "value": "3"}]
    assert flat_metadata(entries) == {"a": "3", "b": "2"}


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (F.FAILED, EventType.ORDER_FAILED),
        (F.CANCELED, EventType.ORDER_CANCELED),
        (F.PRINTED, EventType.ORDER_PRINTED),
        (F.SHIPPED, EventType.ORDER_SHIPPED),
        (F.IN_TRANSIT, EventType.ORDER_IN_TRANSIT),
        (F.DELIVERED, EventType.ORDER_DELIVERED),
        (F.RETURNED, EventType.ORDER_RETURNED),
        (F.IN_PRODUCTION, None),
        (F.CREATED, None),
        (F.ON_HOLD, None),
    ],
)
def test_each_status_fires_its_event_or_none(
    status: FulfillmentStatus, event: EventType | None
) -> None:
    assert event_for_status(status) is event


def test_every_event_type_is_named_order_dot_something() -> None:
    names = [event.value for event in EventType]
    assert len(names) == 10
    assert all(name.startswith("order.") and name == name.lower() for name in names)
