"""The conditions alert rules check, as queries: each returns what holds now, by subject."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from storage.alerts import Finding
from storage.models import (
    Attempt,
    ContactPoint,
    Probe,
    ProbeState,
    Structure,
    Wave,
    WaveStatus,
)

# A call that could not be made at all: Twilio failed it (an unallocated number: SIP 404).
FAILED_CALL = "failed"
BOUNCED_EMAIL = "bounced"
# Outcomes that count against Twilio: it failed the call, or refused or lost the create.
TWILIO_ERRORS = ("failed", "not_placed")


def _last_outcomes(session: Session, channel: str, wanted: str) -> dict[str, list[str]]:
    """The ended attempts' outcomes, oldest first, of each contact that had ``wanted`` once."""
    suspects = (
        sa_select(col(ContactPoint.value))
        .join(Probe, col(Probe.contact_point_id) == col(ContactPoint.id))
        .join(Attempt, col(Attempt.probe_id) == col(Probe.id))
        .where(col(Probe.channel) == channel, col(Attempt.outcome) == wanted)
        .distinct()
    )
    rows = session.execute(
        sa_select(col(ContactPoint.value), col(Attempt.outcome))
        .join(Probe, col(Probe.id) == col(Attempt.probe_id))
        .join(ContactPoint, col(ContactPoint.id) == col(Probe.contact_point_id))
        .where(
            col(Probe.channel) == channel,
            col(ContactPoint.value).in_(suspects),
            col(Attempt.ended_at).is_not(None),
            col(Attempt.outcome).is_not(None),
            col(Attempt.outcome) != "not_placed",
        )
        .order_by(col(Attempt.started_at), col(Attempt.id))
    )
    outcomes: dict[str, list[str]] = defaultdict(list)
    for value, outcome in rows:
        if outcome is not None:
            outcomes[value].append(outcome)
    return outcomes


def _tail_of(outcomes: dict[str, list[str]], wanted: str, at_least: int) -> dict[str, int]:
    """Contacts whose last ``at_least`` (or more) outcomes are all ``wanted``: how many."""
    found = {}
    for contact, seen in outcomes.items():
        tail = 0
        for outcome in reversed(seen):
            if outcome != wanted:
                break
            tail += 1
        if tail >= at_least:
            found[contact] = tail
    return found


def numbers_not_in_service(session: Session, *, min_attempts: int) -> dict[str, Finding]:
    tails = _tail_of(_last_outcomes(session, "phone", FAILED_CALL), FAILED_CALL, min_attempts)
    return {number: Finding("", {"count": count}) for number, count in tails.items()}


def addresses_bouncing(session: Session, *, min_attempts: int) -> dict[str, Finding]:
    tails = _tail_of(_last_outcomes(session, "email", BOUNCED_EMAIL), BOUNCED_EMAIL, min_attempts)
    return {address: Finding("", {"count": count}) for address, count in tails.items()}


def unreachable_structures(session: Session, *, min_attempts: int) -> dict[str, Finding]:
    """Structures of a wave called at least ``min_attempts`` times, never answered."""
    rows = session.execute(
        sa_select(
            col(Wave.id),
            col(Wave.name),
            col(Structure.official_id),
            col(Structure.name),
            func.count(),
            func.sum(case((col(Attempt.outcome) == "answered", 1), else_=0)),
        )
        .join(Probe, col(Probe.id) == col(Attempt.probe_id))
        .join(Wave, col(Wave.id) == col(Probe.wave_id))
        .join(Structure, col(Structure.id) == col(Probe.structure_id))
        .where(
            col(Probe.channel) == "phone",
            col(Attempt.ended_at).is_not(None),
            col(Attempt.outcome).is_not(None),
            col(Attempt.outcome) != "not_placed",
        )
        .group_by(col(Wave.id), col(Wave.name), col(Structure.official_id), col(Structure.name))
    )
    return {
        f"{wave}/{official_id}": Finding(
            "", {"count": calls, "wave": wave, "structure": name}, wave_id=wave_id
        )
        for wave_id, wave, official_id, name, calls, answered in rows
        if calls >= min_attempts and not answered
    }


def twilio_error_rate(
    session: Session, *, now: datetime, window: timedelta, min_calls: int, threshold: float
) -> dict[str, Finding]:
    rows = session.execute(
        sa_select(col(Attempt.outcome), func.count())
        .join(Probe, col(Probe.id) == col(Attempt.probe_id))
        .where(
            col(Probe.channel) == "phone",
            col(Attempt.started_at) >= now - window,
            col(Attempt.outcome).is_not(None),
        )
        .group_by(col(Attempt.outcome))
    )
    counts: dict[str | None, int] = {outcome: count for outcome, count in rows}
    calls = sum(counts.values())
    failed = sum(counts.get(outcome, 0) for outcome in TWILIO_ERRORS)
    if calls < min_calls or failed / calls <= threshold:
        return {}
    return {"twilio": Finding("", {"count": calls, "failed": failed, "rate": failed / calls})}


def waves_behind_schedule(
    session: Session, *, now: datetime, lag: timedelta, min_probes: int
) -> dict[str, Finding]:
    rows = session.execute(
        sa_select(col(Wave.id), col(Wave.name), func.count())
        .join(Probe, col(Probe.wave_id) == col(Wave.id))
        .where(
            col(Wave.status) == WaveStatus.RUNNING,
            col(Probe.state) == ProbeState.PLANNED,
            col(Probe.channel) != "letter",
            col(Probe.scheduled_at) < now - lag,
        )
        .group_by(col(Wave.id), col(Wave.name))
    )
    return {
        name: Finding("", {"count": count, "lag_minutes": int(lag.total_seconds() // 60)}, wave_id)
        for wave_id, name, count in rows
        if count >= min_probes
    }
