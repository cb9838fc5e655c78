"""Search dates: ISO 8601 as the seeds show it, plus the forms integrators also send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from pressline.orders.schemas import OrderSearch


def _search(**fields: object) -> OrderSearch:
    return OrderSearch.model_validate(fields)


def test_seed_dates_with_offsets_are_kept_as_given() -> None:
    search = _search(startDate="2025-04-01T00:00:00+00:00", endDate="2025-04-13T23:59:59+02:00")
    assert search.start_date == datetime(2025, 4, 1, tzinfo=UTC)
    assert search.end_date == datetime(2025, 4, 13, 23, 59, 59, tzinfo=timezone(timedelta(hours=2)))


def test_a_date_without_offset_means_utc() -> None:
    assert _search(startDate="2025-04-01T10:30:00").start_date == datetime(
        2025, 4, 1, 10, 30, tzinfo=UTC
    )


def test_a_date_alone_starts_at_midnight_and_ends_at_the_end_of_its_day() -> None:
    search = _search(startDate="2025-04-01", endDate="2025-04-01")
    assert search.start_date == datetime(2025, 4, 1, tzinfo=UTC)
    assert search.end_date == datetime(2025, 4, 1, 23, 59, 59, 999999, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["yesterday", "2025-13-01", "01/04/2025", ""])
def test_a_date_that_is_not_iso_8601_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _search(startDate=bad)
    assert caught.value.errors()[0]["loc"] == ("startDate",)


def test_both_single_and_multiple_references_filter_together() -> None:
    search = _search(orderReferenceId="A", orderReferenceIds=["B", "C"])
    assert sorted(search.reference_filter()) == ["A", "B", "C"]


@pytest.mark.parametrize(
    ("fields", "error_type"),
    [
        ({"offset": False}, "invalid_type"),
        ({"limit": True}, "invalid_type"),
        ({"limit": "10"}, "invalid_type"),
        ({"offset": "0"}, "invalid_type"),
        ({"limit": 1.5}, "int_from_float"),  # reported as invalid_type over HTTP (web._CODES)
    ],
)
def test_counts_must_be_json_integers(fields: dict[str, object], error_type: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _search(**fields)
    assert caught.value.errors()[0]["type"] == error_type


def test_is_business_must_be_a_json_boolean() -> None:
    from pressline.orders.schemas import ShippingAddress

    address = {
        "country": "GB", "firstName": "A", "lastName": "B", "addressLine1": "1 Road",
        "city": "London", "postCode": "N1 1AA", "email": "a@example.com", "phone": "+442079460000",
    }  # fmt: skip
    assert ShippingAddress.model_validate({**address, "isBusiness": True}).is_business
    with pytest.raises(ValidationError):
        ShippingAddress.model_validate({**address, "isBusiness": 0})
