"""Postback retries and outcomes (``pressline.postbacks.schedule``, reliability.md 15)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from pressline.postbacks.schedule import (
    DEFAULT_SCHEDULE,
    Outcome,
    RetrySchedule,
    classify,
    next_attempt,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


class Fixed:
    """A random source that always draws ``value``."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_delivered(status: int) -> None:
    assert classify(status) is Outcome.DELIVERED


def test_410_gone_disables_the_trigger() -> None:
    assert classify(410) is Outcome.DISABLE


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_attempt_not_followed(status: int) -> None:
    assert classify(status) is Outcome.RETRY


@pytest.mark.parametrize("status", [None, 100, 199, 300, 400, 401, 404, 409, 429, 500, 503])
def test_everything_else_and_no_answer_at_all_is_retried(status: int | None) -> None:
    assert classify(status) is Outcome.RETRY


def test_the_documented_caps_grow_exponentially_then_stay_at_ten_hours() -> None:
    hours = timedelta(hours=1)
    first = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30))
    expected = (*first, 2 * hours, 5 * hours) + (10 * hours,) * 14
    assert DEFAULT_SCHEDULE.caps == expected
    assert DEFAULT_SCHEDULE.max_attempts == 20


def test_each_wait_is_drawn_between_zero_and_its_cap() -> None:
    assert next_attempt(1, NOW, Fixed(0.0)) == NOW
    assert next_attempt(1, NOW, Fixed(0.5)) == NOW + timedelta(seconds=2.5)
    assert next_attempt(2, NOW, Fixed(0.5)) == NOW + timedelta(minutes=2.5)
    latest = next_attempt(6, NOW, Fixed(0.999999))
    assert latest is not None
    assert NOW + timedelta(hours=9.99) < latest < NOW + timedelta(hours=10)


def test_jitter_spreads_the_retries_of_events_that_failed_together() -> None:
    rng = random.Random(7)
    times = {next_attempt(4, NOW, rng) for _ in range(50)}
    assert len(times) == 50
    assert all(t is not None and NOW <= t < NOW + timedelta(hours=2) for t in times)


def test_after_the_last_cap_the_event_is_given_up() -> None:
    assert next_attempt(19, NOW, Fixed(0.5)) is not None
    assert next_attempt(20, NOW, Fixed(0.5)) is None


def _span(rng: random.Random) -> timedelta:
    moment, attempt = NOW, 1
    while (following := next_attempt(attempt, moment, rng)) is not None:
        moment, attempt = following, attempt + 1
    assert attempt == DEFAULT_SCHEDULE.max_attempts
    return moment - NOW


def test_retries_span_about_three_days() -> None:
    assert _span(random.Random(0)) <= DEFAULT_SCHEDULE.longest_span
    assert DEFAULT_SCHEDULE.longest_span / 2 == timedelta(hours=73, minutes=47, seconds=32.5)
    spans = sorted(_span(random.Random(seed)) for seed in range(500))
    middle = spans[len(spans) // 2]
    assert timedelta(days=2.75) < middle < timedelta(days=3.25)
    assert timedelta(days=2) < spans[5] and spans[-6] < timedelta(days=4.2)


def test_a_short_schedule_serves_tests_that_cannot_wait_days() -> None:
    quick = RetrySchedule((timedelta(milliseconds=50),) * 4)
    assert quick.max_attempts == 5
    assert quick.next_attempt(4, NOW, Fixed(0.5)) == NOW + timedelta(milliseconds=25)
    assert quick.next_attempt(5, NOW, Fixed(0.5)) is None


def test_attempts_are_numbered_from_one() -> None:
    with pytest.raises(ValueError, match="numbered from 1"):
        next_attempt(0, NOW, Fixed(0.5))


def test_a_random_source_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        next_attempt(1, NOW, Fixed(1.0))


@pytest.mark.parametrize("caps", [(), (timedelta(0),), (timedelta(seconds=1), timedelta(-1))])
def test_a_schedule_needs_positive_caps(caps: tuple[timedelta, ...]) -> None:
    with pytest.raises(ValueError, match="positive cap"):
        RetrySchedule(caps)
