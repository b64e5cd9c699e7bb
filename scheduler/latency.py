"""How long a structure took to answer, in the units its commitments use.

- elapsed seconds;
- **working days** ("jours ouvrés": Monday to Friday, public holidays of the structure's region
  excluded): the working days after the day of sending up to and including the day of the
  reply, so a reply the same day is 0 and one on the next working day is 1 (the Marianne
  commitment "answer within 5 working days" holds when this is at most 5);
- **working hours**: the seconds of the interval that fall within the structure's opening
  hours, public holidays excluded (what the structure could actually use to answer).

All counting is done in the structure's own time zone.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.calendar import MONDAY_TO_FRIDAY, days_between, is_public_holiday, open_days


def is_working_day(day: date, subdivision: str | None) -> bool:
    """Monday to Friday and not a public holiday where the structure is."""
    return day.weekday() in MONDAY_TO_FRIDAY and not is_public_holiday(day, subdivision)


def working_days_between(
    sent_at: datetime, replied_at: datetime, *, timezone: str, subdivision: str | None
) -> int:
    """Working days from the day after sending to the day of the reply, both included."""
    zone = ZoneInfo(timezone)
    sent_day = sent_at.astimezone(zone).date()
    reply_day = replied_at.astimezone(zone).date()
    if reply_day <= sent_day:
        return 0
    return sum(
        1
        for day in days_between(sent_day + timedelta(days=1), reply_day)
        if is_working_day(day, subdivision)
    )


def open_seconds_between(
    start: datetime,
    end: datetime,
    *,
    opening_hours: str | None,
    timezone: str,
    subdivision: str | None,
) -> float | None:
    """Seconds of ``[start, end]`` within opening hours (holidays excluded); None if unknown."""
    if not opening_hours or end <= start:
        return None if not opening_hours else 0.0
    zone = ZoneInfo(timezone)
    first = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    total = 0.0
    for day, intervals in open_days(opening_hours, subdivision, first, last):
        for opens, closes in intervals:
            window_start = _at(day, opens, zone)
            window_end = _at(day, closes, zone)
            overlap = (min(end, window_end) - max(start, window_start)).total_seconds()
            total += max(0.0, overlap)
    return total


def _at(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    if minutes >= 24 * 60:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
