"""What waves cost: the price Twilio gives each call, spending per wave, the past calls that
estimate the next ones, and waves' budgets."""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage.errors import ConflictError
from storage.models import Attempt, ContactPoint, Probe, ProbeState, Wave, WaveStatus
from storage.waves import get_wave

# Email and letter attempts that did not leave (nothing spent on them).
NOT_SENT_OUTCOMES = ("not_sent", "composed")


@dataclass(frozen=True, slots=True)
class UnpricedCall:
    attempt_id: int
    call_sid: str
    wave_id: int


@dataclass(frozen=True, slots=True)
class PlannedContact:
    """A probe of a wave still to be carried out, with what its cost depends on."""

    probe_id: uuid.UUID
    structure_id: int
    channel: str
    scenario_id: str
    contact: str | None


@dataclass(frozen=True, slots=True)
class PastCalls:
    """A structure's ended calls: how many, how many answered, their billed minutes."""

    calls: int = 0
    answered: int = 0
    billed_minutes: int = 0


@dataclass(frozen=True, slots=True)
class WaveSpending:
    """What a wave has cost so far: Twilio's prices of its calls, emails and letters sent."""

    calls_priced: int
    calls_unpriced: int
    twilio: Decimal
    price_unit: str | None
    emails_sent: int
    letters_sent: int


def unpriced_calls(
    session: Session, *, now: datetime, wait: timedelta, limit: int = 500
) -> list[UnpricedCall]:
    """Ended calls whose price Twilio has not given yet, ended less than ``wait`` ago."""
    rows = session.exec(
        select(Attempt.id, Attempt.external_id, Probe.wave_id)
        .join(Probe, col(Probe.id) == col(Attempt.probe_id))
        .where(
            col(Probe.channel) == "phone",
            col(Attempt.external_id).is_not(None),
            col(Attempt.ended_at).is_not(None),
            col(Attempt.ended_at) >= now - wait,
            col(Attempt.price).is_(None),
        )
        .order_by(col(Attempt.id))
        .limit(limit)
    )
    return [UnpricedCall(a, sid, w) for a, sid, w in rows if a is not None and sid is not None]


def store_price(
    session: Session, attempt_id: int, price: Decimal, unit: str | None, *, at: datetime
) -> None:
    attempt = session.get(Attempt, attempt_id)
    if attempt is None or attempt.price is not None:
        return
    attempt.price = price
    attempt.price_unit = unit
    attempt.priced_at = at
    session.add(attempt)


def wave_spending(session: Session, wave_id: int) -> WaveSpending:
    priced = session.exec(
        select(func.count(), func.sum(Attempt.price), func.max(Attempt.price_unit))
        .join(Probe, col(Probe.id) == col(Attempt.probe_id))
        .where(col(Probe.wave_id) == wave_id, col(Attempt.price).is_not(None))
    ).one()
    unpriced = session.exec(
        select(func.count())
        .select_from(Attempt)
        .join(Probe, col(Probe.id) == col(Attempt.probe_id))
        .where(
            col(Probe.wave_id) == wave_id,
            col(Probe.channel) == "phone",
            col(Attempt.external_id).is_not(None),
            col(Attempt.price).is_(None),
        )
    ).one()
    sent: dict[str, int] = defaultdict(int)
    for channel, count in session.exec(
        select(Probe.channel, func.count())
        .join(Attempt, col(Attempt.probe_id) == col(Probe.id))
        .where(
            col(Probe.wave_id) == wave_id,
            col(Probe.channel).in_(("email", "letter")),
            col(Attempt.outcome).is_not(None),
            col(Attempt.outcome).not_in(NOT_SENT_OUTCOMES),
        )
        .group_by(col(Probe.channel))
    ):
        sent[channel] = count
    count, total, unit = priced
    # Twilio writes charges as negative prices.
    twilio = -Decimal(total or 0)
    return WaveSpending(count, unpriced, twilio, unit, sent["email"], sent["letter"])


def planned_contacts(session: Session, wave_id: int) -> list[PlannedContact]:
    """The wave's probes not settled yet (all of them before it starts), with their contact."""
    rows = session.execute(
        sa_select(
            col(Probe.id),
            col(Probe.structure_id),
            col(Probe.channel),
            col(Probe.scenario_id),
            col(ContactPoint.value),
        )
        .join(ContactPoint, col(ContactPoint.id) == col(Probe.contact_point_id), isouter=True)
        .where(
            col(Probe.wave_id) == wave_id,
            col(Probe.state).in_(
                (ProbeState.PLANNED, ProbeState.DISPATCHING, ProbeState.IN_PROGRESS)
            ),
        )
    )
    return [PlannedContact(p, s, c, sc, v) for p, s, c, sc, v in rows]


def past_calls(session: Session, structure_ids: set[int]) -> dict[int, PastCalls]:
    """Each structure's ended calls in any wave (billed minutes: started minutes of talk)."""
    calls: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    ids = sorted(structure_ids)
    for start in range(0, len(ids), 1000):
        rows = session.exec(
            select(Probe.structure_id, Attempt.outcome, Attempt.measurement)
            .join(Probe, col(Probe.id) == col(Attempt.probe_id))
            .where(
                col(Probe.channel) == "phone",
                col(Probe.structure_id).in_(ids[start : start + 1000]),
                col(Attempt.ended_at).is_not(None),
                col(Attempt.external_id).is_not(None),
            )
        )
        for structure_id, outcome, measurement in rows:
            counts = calls[structure_id]
            counts[0] += 1
            talk_s = measurement.get("talk_s") if isinstance(measurement, dict) else None
            if outcome == "answered":
                counts[1] += 1
            if isinstance(talk_s, int | float) and talk_s > 0:
                counts[2] += math.ceil(talk_s / 60)
    return {sid: PastCalls(*counts) for sid, counts in calls.items()}


def set_budget(session: Session, name: str, budget: Decimal | None) -> Wave:
    wave = get_wave(session, name)
    if wave.status in (WaveStatus.DONE, WaveStatus.CANCELLED):
        raise ConflictError(f"wave {name!r} is {wave.status}: its budget no longer matters")
    wave.budget = budget
    session.add(wave)
    session.flush()
    return wave


def budgeted_waves(
    session: Session, *, statuses: tuple[WaveStatus, ...] = (WaveStatus.RUNNING,)
) -> list[Wave]:
    """Waves in one of ``statuses`` that have a budget."""
    return list(
        session.exec(
            select(Wave).where(col(Wave.status).in_(statuses), col(Wave.budget).is_not(None))
        )
    )
