"""When a postback is retried, and what a receiver's answer means (reliability.md 15).

An attempt's outcome (:func:`classify`):

- any ``2xx``: delivered;
- ``410 Gone``: the receiver says the endpoint is gone for good: stop and disable the
  trigger until the customer or operator enables it again;
- anything else is a failed attempt that is retried: other statuses, ``3xx`` too
  (redirects are never followed: a redirect could lead past the address check), and
  no answer at all (timeout, refused connection, TLS error, refused address).

Retries back off exponentially with *full jitter*: the n-th retry waits a random time
between zero and the n-th cap (5 s, 5 min, 30 min, 2 h, 5 h, then 10 h fourteen times).
Jitter spreads the retries of many events, so a receiver coming back up is not hit by
all of them at once. On average the retries span about three days (74 h, half the sum
of the caps); in 98 of 100 events the last retry falls between 2 and 4.1 days after the
first attempt, and never later than the sum of the caps (6.1 days). After it the event is
given up (the delivery log keeps it, and an operator can redeliver it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DISABLE = "disable"
    #: Given up without sending (its template cannot be loaded): never ``classify``'s.
    FAILED = "failed"


def classify(status_code: int | None) -> Outcome:
    """The outcome of an attempt that got ``status_code`` (None: no HTTP answer)."""
    if status_code is None:
        return Outcome.RETRY
    if 200 <= status_code < 300:
        return Outcome.DELIVERED
    if status_code == 410:
        return Outcome.DISABLE
    return Outcome.RETRY


class RandomSource(Protocol):
    """``random.Random`` or a fake: ``random()`` in [0, 1)."""

    def random(self) -> float: ...


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """``caps[n - 1]`` bounds the wait after the n-th failed attempt; one retry per cap."""

    caps: tuple[timedelta, ...]

    def __post_init__(self) -> None:
        if not self.caps or any(cap <= timedelta(0) for cap in self.caps):
            raise ValueError("a retry schedule needs at least one positive cap")

    @property
    def max_attempts(self) -> int:
        """The first attempt plus one retry per cap."""
        return len(self.caps) + 1

    @property
    def longest_span(self) -> timedelta:
        """From the first attempt to the last, if every wait drew its cap."""
        return sum(self.caps, timedelta(0))

    def next_attempt(
        self, attempt_number: int, now: datetime, rng: RandomSource
    ) -> datetime | None:
        """When to try again after attempt ``attempt_number`` (1 = the first) failed at
        ``now``; None once the retries are used up."""
        if attempt_number < 1:
            raise ValueError("attempts are numbered from 1")
        if attempt_number > len(self.caps):
            return None
        draw = rng.random()
        if not 0.0 <= draw < 1.0:
            raise ValueError("the random source must return a number in [0, 1)")
        return now + self.caps[attempt_number - 1] * draw


_S, _M, _H = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)

#: 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h fourteen times: 19 retries, 20 attempts.
DEFAULT_SCHEDULE: Final = RetrySchedule((5 * _S, 5 * _M, 30 * _M, 2 * _H, 5 * _H) + (10 * _H,) * 14)


def next_attempt(attempt_number: int, now: datetime, rng: RandomSource) -> datetime | None:
    """:meth:`RetrySchedule.next_attempt` on :data:`DEFAULT_SCHEDULE`."""
    return DEFAULT_SCHEDULE.next_attempt(attempt_number, now, rng)
