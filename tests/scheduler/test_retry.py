"""Retries: another slot inside opening hours, never on a holiday or a weekend, the other half of
the day, and no more once the attempts or the wave are used up.

Expected instants are written out by hand (local time of the structure).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.retry import HalfDay, RetryPolicy, next_off_hours_try, next_opening, next_try

PARIS = ZoneInfo("Europe/Paris")
REUNION = ZoneInfo("Indian/Reunion")
HOURS = "Mo-Fr 08:30-12:00,13:30-17:30"
MORNINGS = "Mo-Fr 08:30-12:00"
POLICY = RetryPolicy()


def paris(day: str, clock: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=PARIS)


def retry(
    now: datetime,
    *,
    outcome: str | None = "busy",
    attempt_count: int = 1,
    hours: str | None = HOURS,
    subdivision: str | None = None,
    wave_ends_on: date = date(2026, 4, 30),
    policy: RetryPolicy = POLICY,
) -> datetime | None:
    return next_try(
        policy,
        outcome=outcome,
        attempt_count=attempt_count,
        now=now,
        opening_hours=hours,
        timezone="Europe/Paris",
        subdivision=subdivision,
        wave_ends_on=wave_ends_on,
    )


def test_a_morning_try_is_retried_in_an_afternoon_and_the_other_way_round() -> None:
    # Tuesday 3 March 2026.
    assert retry(paris("2026-03-03", "10:00")) == paris("2026-03-03", "13:30")
    assert retry(paris("2026-03-03", "11:59")) == paris("2026-03-03", "13:59")
    assert retry(paris("2026-03-03", "14:00")) == paris("2026-03-04", "08:30")
    assert retry(paris("2026-03-03", "07:00")) == paris("2026-03-03", "13:30")


def test_successive_retries_alternate_halves_of_the_day() -> None:
    tries = [paris("2026-03-03", "09:10")]
    for _ in range(3):
        following = retry(tries[-1])
        assert following is not None
        tries.append(following)
    assert tries[1:] == [
        paris("2026-03-03", "13:30"),
        paris("2026-03-04", "08:30"),
        paris("2026-03-04", "13:30"),
    ]


def test_without_an_afternoon_the_retry_takes_the_next_morning_slot_before_the_margin() -> None:
    assert retry(paris("2026-03-03", "09:00"), hours=MORNINGS) == paris("2026-03-03", "11:00")
    # 11:44 is the last start 15 minutes before a 12:00 closing; 11:45 is too late.
    assert retry(paris("2026-03-03", "09:44"), hours=MORNINGS) == paris("2026-03-03", "11:44")
    assert retry(paris("2026-03-03", "09:45"), hours=MORNINGS) == paris("2026-03-04", "08:30")


def test_weekends_and_public_holidays_are_skipped() -> None:
    # Friday 13 March 15:00 -> Monday 16 March.
    assert retry(paris("2026-03-13", "15:00")) == paris("2026-03-16", "08:30")
    # Friday 3 April (Good Friday, a holiday in Moselle only) from Thursday afternoon.
    assert retry(paris("2026-04-02", "15:00")) == paris("2026-04-03", "08:30")
    # In Moselle: Good Friday, the weekend and Easter Monday (6 April) are skipped.
    assert retry(paris("2026-04-02", "15:00"), subdivision="57") == paris("2026-04-07", "08:30")
    # Monday 13 July 15:00 -> not 14 July (national day) but Wednesday 15.
    assert retry(paris("2026-07-13", "15:00"), wave_ends_on=date(2026, 7, 31)) == paris(
        "2026-07-15", "08:30"
    )


def test_hours_are_the_structures_own_local_time() -> None:
    # La Réunion is UTC+4: a busy line at 10:00 there is tried again at 13:30 there.
    now = datetime(2026, 3, 3, 10, 0, tzinfo=REUNION)
    found = next_try(
        POLICY,
        outcome="no-answer",
        attempt_count=1,
        now=now,
        opening_hours=HOURS,
        timezone="Indian/Reunion",
        subdivision="974",
        wave_ends_on=date(2026, 3, 31),
    )
    assert found == datetime(2026, 3, 3, 13, 30, tzinfo=REUNION)
    assert found is not None and found.utcoffset() == timedelta(0)


@pytest.mark.parametrize("outcome", ["completed", "answered", "refused", None])
def test_a_final_outcome_is_not_retried(outcome: str | None) -> None:
    assert retry(paris("2026-03-03", "10:00"), outcome=outcome) is None


def test_retries_stop_after_max_attempts() -> None:
    now = paris("2026-03-03", "10:00")
    assert retry(now, attempt_count=2) is not None
    assert retry(now, attempt_count=3) is None
    assert retry(now, attempt_count=1, policy=RetryPolicy(max_attempts=1)) is None


def test_retries_stop_at_the_end_of_the_wave() -> None:
    friday = paris("2026-03-13", "15:00")
    # The wave ends today: the morning is gone, the afternoon's 17:00 is the last chance.
    assert retry(friday, wave_ends_on=date(2026, 3, 13)) == paris("2026-03-13", "17:00")
    friday = paris("2026-03-13", "15:30")  # 17:30 is past the last start (17:15)
    assert retry(friday, wave_ends_on=date(2026, 3, 13)) is None
    assert retry(friday, wave_ends_on=date(2026, 3, 15)) is None  # a weekend is left
    assert retry(friday, wave_ends_on=date(2026, 3, 16)) == paris("2026-03-16", "08:30")
    # Only a slot in the same half is left before the end: better than none.
    assert retry(paris("2026-03-13", "08:40"), hours=MORNINGS, wave_ends_on=date(2026, 3, 13)) == (
        paris("2026-03-13", "10:40")
    )


def test_unknown_hours_and_a_longer_delay() -> None:
    now = paris("2026-03-03", "10:00")
    assert retry(now, hours=None) is None
    slow = RetryPolicy(min_delay=timedelta(days=1))
    assert retry(now, policy=slow) == paris("2026-03-04", "13:30")


def test_an_off_hours_call_is_tried_again_at_its_time_on_a_later_working_day() -> None:
    # Planned 08:10, before the 08:30 opening; on Wednesdays the structure opens at 08:00.
    hours = "Mo,Tu,Th,Fr 08:30-12:00; We 08:00-12:00"
    planned = paris("2026-03-03", "08:10")

    def again(now: datetime, **overrides: object) -> datetime | None:
        values: dict[str, object] = {
            "outcome": "no-answer",
            "attempt_count": 1,
            "now": now,
            "scheduled_at": planned,
            "opening_hours": hours,
            "timezone": "Europe/Paris",
            "subdivision": None,
            "wave_ends_on": date(2026, 3, 31),
        } | overrides
        return next_off_hours_try(POLICY, **values)  # type: ignore[arg-type]

    assert again(paris("2026-03-03", "08:11")) == paris("2026-03-05", "08:10")
    # From Friday: the weekend is skipped.
    assert again(paris("2026-03-06", "08:11")) == paris("2026-03-09", "08:10")
    assert again(paris("2026-03-03", "08:11"), attempt_count=3) is None
    assert again(paris("2026-03-03", "08:11"), outcome="completed") is None
    assert again(paris("2026-03-03", "08:11"), wave_ends_on=date(2026, 3, 4)) is None


def test_next_opening() -> None:
    sunday = paris("2026-03-08", "18:00")
    found = next_opening(HOURS, after=sunday, timezone="Europe/Paris", subdivision=None)
    assert found == paris("2026-03-09", "08:30")
    inside = paris("2026-03-09", "15:02:30")
    assert next_opening(HOURS, after=inside, timezone="Europe/Paris", subdivision=None) == inside
    assert next_opening(
        HOURS, after=inside, timezone="Europe/Paris", subdivision=None, half=HalfDay.MORNING
    ) == paris("2026-03-10", "08:30")
    assert (
        next_opening("Mo-Su off", after=inside, timezone="Europe/Paris", subdivision=None) is None
    )
