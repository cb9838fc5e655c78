"""Business-day arithmetic behind a shipment's delivery dates (pure).

The rule, in the facility's own time zone:

1. **Production start.** An order placed on an open day before the facility's cut-off
   (strictly before: an order at exactly 14:00 with a 14:00 cut-off waits) starts that
   day; any other order starts on the next open day. Open days are the weekdays the
   facility does not close on, minus its holidays.
2. **Dispatch** is ``lead_days`` open days after the production start (0 ships the same
   day): a lead time of 1 for an order started on Friday ships on Monday.
3. **Delivery.** The earliest and latest delivery dates are the carrier's ``min_days``
   and ``max_days`` transit business days after dispatch, counting Monday to Friday.
   Carriers' and destination countries' holidays are not known, so they are not skipped:
   the dates are a promise made at order time, like seed 000's ``initialMinDeliveryDate``.

"Today" is the local date of ``ordered_at`` at the facility, so an order placed at
23:30 UTC is already the next day in Sydney and still the same day in New York.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_ONE_DAY = timedelta(days=1)
_SATURDAY = 5


@dataclass(frozen=True, slots=True)
class ProductionCalendar:
    """When one facility works and how long it takes to hand an order to the carrier."""

    timezone: ZoneInfo
    cut_off: time  # local wall-clock time
    lead_days: int  # open days between production start and dispatch
    closed_weekdays: frozenset[int]  # date.weekday() numbers, Monday = 0
    holidays: frozenset[date]

    def __post_init__(self) -> None:
        # With every weekday closed no day is ever open and the day counting never ends.
        if len(self.closed_weekdays) >= 7:
            raise ValueError("a facility must be open on at least one weekday")
        if self.lead_days < 0:
            raise ValueError("lead_days cannot be negative")

    def is_open(self, day: date) -> bool:
        """Whether the facility works on ``day``."""
        return day.weekday() not in self.closed_weekdays and day not in self.holidays

    def next_open_day(self, day: date) -> date:
        """The first open day strictly after ``day``."""
        day += _ONE_DAY
        while not self.is_open(day):
            day += _ONE_DAY
        return day

    def production_start(self, ordered_at: datetime) -> date:
        """The local day production of an order placed at ``ordered_at`` starts."""
        if ordered_at.tzinfo is None or ordered_at.utcoffset() is None:
            raise ValueError("ordered_at must be timezone-aware")
        local = ordered_at.astimezone(self.timezone)
        today = local.date()
        if self.is_open(today) and local.time() < self.cut_off:
            return today
        return self.next_open_day(today)

    def dispatch_date(self, ordered_at: datetime) -> date:
        """The day an order placed at ``ordered_at`` leaves the facility."""
        day = self.production_start(ordered_at)
        for _ in range(self.lead_days):
            day = self.next_open_day(day)
        return day


def add_business_days(start: date, days: int) -> date:
    """``days`` Monday-to-Friday days after ``start`` (``start`` itself when 0).

    Constant time, because it runs for every quoted method. A weekend start counts
    like the Friday before it: Saturday + 1 is Monday.
    """
    if days < 0:
        raise ValueError("days cannot be negative")
    if days == 0:
        return start
    weekday = start.weekday()
    if weekday >= _SATURDAY:
        start -= timedelta(days=weekday - 4)
        weekday = 4
    weeks, rest = divmod(days, 5)
    total = weeks * 7 + rest
    if weekday + rest >= _SATURDAY:
        total += 2  # the remainder crosses a weekend
    return start + timedelta(days=total)
