"""Reply latency in working days and opening hours, against hand-counted French calendars."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from scheduler.latency import open_seconds_between, working_days_between

PARIS = ZoneInfo("Europe/Paris")


def at(text: str, zone: ZoneInfo = PARIS) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def test_working_days_skip_weekends_and_holidays() -> None:
    # Sent Monday 4 May 2026; Friday 8 May is a public holiday.
    sent = at("2026-05-04T10:00")
    assert (
        working_days_between(
            sent, at("2026-05-04T17:00"), timezone="Europe/Paris", subdivision=None
        )
        == 0
    )
    assert (
        working_days_between(
            sent, at("2026-05-05T09:00"), timezone="Europe/Paris", subdivision=None
        )
        == 1
    )
    assert (
        working_days_between(
            sent, at("2026-05-11T09:00"), timezone="Europe/Paris", subdivision=None
        )
        == 4
    )
    # A reply on Saturday counts the working days before it.
    assert (
        working_days_between(
            sent, at("2026-05-09T11:00"), timezone="Europe/Paris", subdivision=None
        )
        == 3
    )


def test_regional_holidays_and_time_zones() -> None:
    # Good Friday 3 April 2026 is a holiday in Moselle (57), not in Paris.
    sent, reply = at("2026-04-02T10:00"), at("2026-04-07T10:00")  # Easter Monday 6 April everywhere
    assert working_days_between(sent, reply, timezone="Europe/Paris", subdivision=None) == 2
    assert working_days_between(sent, reply, timezone="Europe/Paris", subdivision="57") == 1
    # 22:30 UTC on Monday is 23:30 in Paris but already Tuesday in La Réunion (UTC+4).
    sent_utc = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    reply_utc = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)
    assert (
        working_days_between(sent_utc, reply_utc, timezone="Indian/Reunion", subdivision="974") == 1
    )
    assert working_days_between(sent_utc, reply_utc, timezone="Europe/Paris", subdivision=None) == 0


def test_open_seconds_count_only_opening_hours() -> None:
    hours = "Mo-Fr 08:30-12:00,13:30-17:00"
    # Friday 16:00 to Monday 09:00: one hour on Friday, half an hour on Monday.
    seconds = open_seconds_between(
        at("2026-03-06T16:00"), at("2026-03-09T09:00"),
        opening_hours=hours, timezone="Europe/Paris", subdivision=None,
    )  # fmt: skip
    assert seconds == 1.5 * 3600
    # Over a holiday (Ascension, Thursday 14 May 2026) nothing counts that day.
    seconds = open_seconds_between(
        at("2026-05-13T17:00"), at("2026-05-15T08:30"),
        opening_hours=hours, timezone="Europe/Paris", subdivision=None,
    )  # fmt: skip
    assert seconds == 0
    assert open_seconds_between(
        at("2026-03-06T16:00"), at("2026-03-09T09:00"),
        opening_hours=None, timezone="Europe/Paris", subdivision=None,
    ) is None  # fmt: skip
