"""`retry_at`, the decision after an attempt: our own failure is carried out again at once in its
slot; the structure's outcome goes to another slot, off hours for an off-hours call."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from scheduler.retry import OWN_FAILURE_ALLOWANCE, RetryPolicy, retry_at

PARIS = ZoneInfo("Europe/Paris")
HOURS = "Mo-Fr 08:30-12:00,13:30-17:30"
POLICY = RetryPolicy(max_attempts=3)


def paris(day: str, clock: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=PARIS)


def decide(
    outcome: str,
    *,
    attempt_count: int = 1,
    now: datetime,
    scheduled_at: datetime,
    off_hours: bool = False,
) -> datetime | None:
    return retry_at(
        POLICY,
        outcome=outcome,
        attempt_count=attempt_count,
        now=now,
        scheduled_at=scheduled_at,
        off_hours=off_hours,
        opening_hours=HOURS,
        timezone="Europe/Paris",
        subdivision=None,
        wave_ends_on=date(2026, 4, 30),
    )


def test_our_own_failure_is_carried_out_again_at_once_in_its_slot() -> None:
    slot = paris("2026-03-03", "10:00")
    # Tuesday 3 March 2026: the call could not be placed at 10:00:05.
    assert decide("not_placed", now=paris("2026-03-03", "10:00:05"), scheduled_at=slot) == paris(
        "2026-03-03", "10:00:05"
    )
    # Claimed early (the daemon's lease), it keeps its planned instant.
    assert decide("not_sent", now=paris("2026-03-03", "09:59"), scheduled_at=slot) == slot


def test_our_own_failures_stop_once_their_allowance_is_used() -> None:
    used = POLICY.max_attempts + OWN_FAILURE_ALLOWANCE
    at = paris("2026-03-03", "10:00")
    assert decide("not_placed", attempt_count=used - 1, now=at, scheduled_at=at) == at
    assert decide("not_placed", attempt_count=used, now=at, scheduled_at=at) is None


def test_the_structure_s_outcome_goes_to_another_slot() -> None:
    at = paris("2026-03-03", "10:00")
    assert decide("busy", now=at, scheduled_at=at) == paris("2026-03-03", "13:30")
    assert decide("completed", now=at, scheduled_at=at) is None


def test_an_off_hours_call_is_retried_off_hours_at_the_same_local_time() -> None:
    evening = paris("2026-03-03", "18:30")
    assert decide("no-answer", now=evening, scheduled_at=evening, off_hours=True) == paris(
        "2026-03-04", "18:30"
    )


def test_a_site_that_did_not_answer_is_checked_again_in_another_slot_not_one_that_did() -> None:
    at = paris("2026-03-03", "10:00")  # Tuesday morning
    for outcome in ("timeout", "unreachable", "http_error"):
        again = decide(outcome, now=at, scheduled_at=at)
        assert again is not None and again.astimezone(PARIS) >= paris("2026-03-03", "13:30")
    for outcome in ("ok", "bad_certificate", "redirect_loop", "robots_disallowed"):
        assert decide(outcome, now=at, scheduled_at=at) is None
