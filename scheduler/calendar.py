"""The French calendar as a structure lives it: its public holidays, working days and open days."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays

from config.opening_hours import Interval, OpeningHours, parse_opening_hours

MONDAY_TO_FRIDAY = frozenset(range(5))


@lru_cache(maxsize=64)
def _holiday_dates(subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("FR", subdiv=subdivision, years=year))


def is_public_holiday(day: date, subdivision: str | None) -> bool:
    """Whether ``day`` is a public holiday where the structure is.

    ``subdivision`` is the ``holidays`` package's code: ``57`` (Moselle), ``6AE`` (Alsace),
    ``971``..``976`` (overseas departments), ``PM``, ``BL``, ``MF``, ... or None for the rest
    of France.
    """
    return day in _holiday_dates(subdivision, day.year)


def days_between(first: date, last: date) -> list[date]:
    """Every date from ``first`` to ``last``, both included."""
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


@lru_cache(maxsize=4096)
def opening_hours_of(text: str) -> OpeningHours:
    """Parsed opening hours, cached: many structures share the same text."""
    return parse_opening_hours(text)


@lru_cache(maxsize=65536)
def open_days(
    opening_hours: str, subdivision: str | None, first: date, last: date
) -> tuple[tuple[date, tuple[Interval, ...]], ...]:
    """The days in ``[first, last]`` when the structure is open, with that day's intervals.

    Public holidays are excluded whatever the opening hours say: nobody is probed on them.
    """
    hours = opening_hours_of(opening_hours)
    result = []
    for day in days_between(first, last):
        intervals = hours.on_weekday(day.weekday())
        if intervals and not is_public_holiday(day, subdivision):
            result.append((day, intervals))
    return tuple(result)


@lru_cache(maxsize=65536)
def working_days_with_hours(
    opening_hours: str, subdivision: str | None, first: date, last: date
) -> tuple[tuple[date, tuple[Interval, ...]], ...]:
    """Like :func:`open_days`, restricted to working days (Monday to Friday)."""
    return tuple(
        (day, intervals)
        for day, intervals in open_days(opening_hours, subdivision, first, last)
        if day.weekday() in MONDAY_TO_FRIDAY
    )
