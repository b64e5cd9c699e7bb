"""When to try a probe again after an attempt that reached nobody, and when a structure opens next.

:func:`retry_at` decides: our own failure (the call was never placed, the email never sent) is
carried out again at once in its slot; the structure's outcome (busy, no answer) moves it to
another slot.

A retry goes to another slot: at least ``min_delay`` later, inside the structure's opening hours
(not on a public holiday, not in the last ``closing_margin_minutes`` before a closing, as the
planner places probes), and in the other half of the day when the wave allows it: a call that
found the line busy at 10:00 is tried again in an afternoon, one tried at 15:00 in a morning.
Pure functions of the calendar in ``scheduler.calendar``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

from scheduler.calendar import open_days, working_days_with_hours
from scheduler.plan import MIDDAY_MINUTE, local_instant, split_at_midday, start_windows

CLOSING_MARGIN_MINUTES = 15
# Outcomes that say nothing about the structure: the contact was never made (our side failed).
OWN_FAILURES = frozenset({"not_placed", "not_sent"})
# How many attempts more than ``max_attempts`` our own failures may use.
OWN_FAILURE_ALLOWANCE = 2
# How far ahead a structure's next opening is looked for when no end date bounds the search.
OPENING_HORIZON = timedelta(days=366)


class HalfDay(Enum):
    """Before or after noon, local time."""

    MORNING = "morning"
    AFTERNOON = "afternoon"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Which outcomes are tried again, how many attempts in all, and how long to wait at least."""

    max_attempts: int = 3
    min_delay: timedelta = timedelta(hours=2)
    # Calls and emails that did not get through; websites that did not answer (checked again
    # in another slot, so that one bad moment is not reported as a site down).
    retry_outcomes: frozenset[str] = field(
        default=frozenset(
            {"busy", "no-answer", "failed", "not_placed", "not_sent"}
            | {"unreachable", "timeout", "http_error"}
        )
    )


def _no_retry(policy: RetryPolicy, outcome: str | None, attempt_count: int) -> bool:
    return outcome not in policy.retry_outcomes or attempt_count >= policy.max_attempts


def next_try(
    policy: RetryPolicy,
    *,
    outcome: str | None,
    attempt_count: int,
    now: datetime,
    opening_hours: str | None,
    timezone: str,
    subdivision: str | None,
    wave_ends_on: date,
) -> datetime | None:
    """When to try again a probe whose last attempt ended with ``outcome`` at ``now``.

    None when the outcome is final, ``attempt_count`` attempts used up the policy, the opening
    hours are unknown or no slot is left on or before ``wave_ends_on`` (local date). Otherwise
    the first instant from ``now + min_delay`` inside the opening hours, in the other half of
    the day than ``now`` (the previous try) if any such slot is left, else in either half.
    """
    if _no_retry(policy, outcome, attempt_count) or not opening_hours:
        return None
    local_now = now.astimezone(ZoneInfo(timezone))
    tried_in_morning = local_now.hour * 60 + local_now.minute < MIDDAY_MINUTE
    other_half = HalfDay.AFTERNOON if tried_in_morning else HalfDay.MORNING
    earliest = now + policy.min_delay
    for half in (other_half, None):
        instant = next_opening(
            opening_hours,
            after=earliest,
            timezone=timezone,
            subdivision=subdivision,
            last_day=wave_ends_on,
            half=half,
        )
        if instant is not None:
            return instant
    return None


def retry_at(
    policy: RetryPolicy,
    *,
    outcome: str,
    attempt_count: int,
    now: datetime,
    scheduled_at: datetime,
    off_hours: bool,
    opening_hours: str | None,
    timezone: str,
    subdivision: str | None,
    wave_ends_on: date,
) -> datetime | None:
    """When to carry out again a probe whose attempt ``attempt_count`` ended with ``outcome``.

    Our own failure (see :data:`OWN_FAILURES`: nothing was observed of the structure) is simply
    carried out again at once, in its slot, up to ``max_attempts + OWN_FAILURE_ALLOWANCE``
    attempts. The structure's own outcome (busy, no answer...) goes to another slot: an off-hours
    call by :func:`next_off_hours_try`, any other probe by :func:`next_try`. None: not again.
    """
    if outcome in OWN_FAILURES and attempt_count < policy.max_attempts + OWN_FAILURE_ALLOWANCE:
        return max(now, scheduled_at)
    if off_hours:
        return next_off_hours_try(
            policy,
            outcome=outcome,
            attempt_count=attempt_count,
            now=now,
            scheduled_at=scheduled_at,
            opening_hours=opening_hours,
            timezone=timezone,
            subdivision=subdivision,
            wave_ends_on=wave_ends_on,
        )
    return next_try(
        policy,
        outcome=outcome,
        attempt_count=attempt_count,
        now=now,
        opening_hours=opening_hours,
        timezone=timezone,
        subdivision=subdivision,
        wave_ends_on=wave_ends_on,
    )


def next_off_hours_try(
    policy: RetryPolicy,
    *,
    outcome: str | None,
    attempt_count: int,
    now: datetime,
    scheduled_at: datetime,
    opening_hours: str | None,
    timezone: str,
    subdivision: str | None,
    wave_ends_on: date,
) -> datetime | None:
    """When to try again an off-hours call: the local time it was planned for, on a later
    working day (Monday to Friday, open, not a holiday) where that time is still outside the
    opening hours, at least ``min_delay`` after ``now`` and on or before ``wave_ends_on``.

    None in the cases :func:`next_try` gives up, or when no such day is left.
    """
    if _no_retry(policy, outcome, attempt_count) or not opening_hours:
        return None
    zone = ZoneInfo(timezone)
    planned = scheduled_at.astimezone(zone)
    minute = planned.hour * 60 + planned.minute
    earliest = now + policy.min_delay
    first = earliest.astimezone(zone).date()
    if first > wave_ends_on:
        return None
    for day, intervals in working_days_with_hours(opening_hours, subdivision, first, wave_ends_on):
        if any(start <= minute < end for start, end in intervals):
            continue
        instant = datetime.combine(day, planned.time(), tzinfo=zone)
        if instant >= earliest:
            return instant.astimezone(UTC)
    return None


def next_opening(
    opening_hours: str,
    *,
    after: datetime,
    timezone: str,
    subdivision: str | None,
    last_day: date | None = None,
    half: HalfDay | None = None,
    closing_margin_minutes: int = CLOSING_MARGIN_MINUTES,
) -> datetime | None:
    """The first instant at or after ``after`` when a probe may start at the structure.

    Inside an opening interval, at least ``closing_margin_minutes`` before it closes, not on a
    public holiday of ``subdivision``; within ``half`` of the day when given; on or before
    ``last_day`` (local date; without it, within :data:`OPENING_HORIZON`). None if there is no
    such instant.
    """
    zone = ZoneInfo(timezone)
    first = after.astimezone(zone).date()
    last = last_day if last_day is not None else (after + OPENING_HORIZON).date()
    if last < first:
        return None
    for day, intervals in open_days(opening_hours, subdivision, first, last):
        windows = start_windows(intervals, closing_margin_minutes)
        if half is not None:
            morning, afternoon = split_at_midday(windows)
            windows = morning if half is HalfDay.MORNING else afternoon
        for start, end in windows:
            candidate = max(local_instant(day, start, zone), after.astimezone(UTC))
            if candidate < local_instant(day, end, zone):
                return candidate
    return None
