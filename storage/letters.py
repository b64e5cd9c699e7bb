"""Queries for letter probes: which are due for printing, and finding a letter by its reference.

A letter's life is written as events on its attempt: ``letter.composed`` when prober printed it,
``letter.sent`` when an operator declares it posted; replies are `Reply` rows like an email's.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from storage.errors import ConflictError, NotFoundError
from storage.models import (
    Attempt,
    Event,
    Probe,
    ProbeState,
    Reply,
    Structure,
    Wave,
    WaveStatus,
)

CHANNEL = "letter"


@dataclass(frozen=True, slots=True)
class LetterRow:
    """Where one letter probe stands, for listings."""

    probe_id: uuid.UUID
    official_id: str
    structure_name: str
    state: str
    scheduled_at: datetime | None
    reference: str | None
    printed_at: datetime | None
    posted_at: datetime | None
    outcome: str | None
    replies: int


def _wave(session: Session, wave_name: str) -> Wave:
    wave = session.exec(select(Wave).where(col(Wave.name) == wave_name)).first()
    if wave is None:
        raise NotFoundError(f"no wave named {wave_name!r}: `prober wave list` shows them")
    return wave


def letters_due(
    session: Session, wave_name: str, until: datetime, limit: int | None = None
) -> list[uuid.UUID]:
    """Planned letter probes of a wave scheduled at or before ``until``, first due first.

    Raises ConflictError when the wave is not planned or running (paused, done, cancelled).
    """
    wave = _wave(session, wave_name)
    if wave.status not in (WaveStatus.PLANNED, WaveStatus.RUNNING):
        raise ConflictError(
            f"wave {wave_name} is {wave.status}: no letter of it is printed"
            + (
                f"; `prober wave resume {wave_name}` first"
                if wave.status == WaveStatus.PAUSED
                else ""
            )
        )
    query = (
        select(Probe.id)
        .where(
            col(Probe.wave_id) == wave.id,
            col(Probe.channel) == CHANNEL,
            col(Probe.state) == ProbeState.PLANNED,
            col(Probe.scheduled_at) <= until,
        )
        .order_by(col(Probe.scheduled_at), col(Probe.id))
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query))


def letters_printed_not_posted(session: Session, wave_name: str) -> list[tuple[uuid.UUID, int]]:
    """(probe id, attempt number) of the wave's letters printed but not declared posted."""
    wave = _wave(session, wave_name)
    posted = select(Event.attempt_id).where(col(Event.kind) == "letter.sent")
    composed = select(Event.attempt_id).where(col(Event.kind) == "letter.composed")
    rows = session.exec(
        select(Attempt.probe_id, Attempt.number)
        .join(Probe, col(Probe.id) == col(Attempt.probe_id))
        .where(
            col(Probe.wave_id) == wave.id,
            col(Probe.channel) == CHANNEL,
            col(Attempt.id).in_(composed),
            col(Attempt.id).not_in(posted),
        )
        .order_by(col(Probe.scheduled_at), col(Probe.id))
    )
    return [(probe_id, number) for probe_id, number in rows]


def _printed(token: str) -> str:
    """A reference as the letter prints it (``channels.email.compose.reference_text``)."""
    upper = token.upper()
    return "-".join(upper[i : i + 4] for i in range(0, len(upper), 4))


def letter_attempt(session: Session, reference: str) -> tuple[Attempt, Probe]:
    """The letter attempt printed with ``reference`` (any case), and its probe."""
    token = re.sub(r"[\s-]", "", reference).lower()  # as printed: K7Q2-M6XA-B3CD-EF45
    row = session.exec(
        select(Attempt, Probe)
        .join(Probe, col(Probe.id) == col(Attempt.probe_id))
        .where(col(Attempt.reference) == token, col(Probe.channel) == CHANNEL)
    ).first()
    if row is None:
        raise NotFoundError(
            f"no letter printed with reference {reference.strip().upper()!r}:"
            " `prober letter list WAVE` shows the references"
        )
    return row


def letter_event(session: Session, attempt_id: int, kind: str) -> Event | None:
    """The attempt's first event of ``kind`` (``letter.composed`` or ``letter.sent``)."""
    return session.exec(
        select(Event)
        .where(col(Event.attempt_id) == attempt_id, col(Event.kind) == kind)
        .order_by(col(Event.source_at))
    ).first()


def letter_rows(session: Session, wave_name: str) -> list[LetterRow]:
    """Every letter probe of a wave with its latest attempt's print, post and reply facts."""
    wave = _wave(session, wave_name)
    latest = (
        select(Attempt.probe_id, func.max(Attempt.number).label("number"))
        .group_by(col(Attempt.probe_id))
        .subquery()
    )
    rows = session.exec(
        select(Probe, Structure, Attempt)
        .join(Structure, col(Structure.id) == col(Probe.structure_id))
        .join(latest, latest.c.probe_id == col(Probe.id), isouter=True)
        .join(
            Attempt,
            (col(Attempt.probe_id) == col(Probe.id)) & (col(Attempt.number) == latest.c.number),
            isouter=True,
        )
        .where(col(Probe.wave_id) == wave.id, col(Probe.channel) == CHANNEL)
        .order_by(col(Probe.scheduled_at), col(Structure.official_id))
    ).all()
    attempt_ids = [attempt.id for _, _, attempt in rows if attempt is not None]
    events: dict[tuple[int, str], datetime] = {}
    replies: dict[int, int] = {}
    if attempt_ids:
        for attempt_id, kind, at in session.exec(
            select(Event.attempt_id, Event.kind, func.min(Event.source_at))
            .where(
                col(Event.attempt_id).in_(attempt_ids),
                col(Event.kind).in_(("letter.composed", "letter.sent")),
            )
            .group_by(col(Event.attempt_id), col(Event.kind))
        ):
            if attempt_id is not None:
                events[(attempt_id, kind)] = at
        for attempt_id, count in session.exec(
            select(Reply.attempt_id, func.count())
            .where(col(Reply.attempt_id).in_(attempt_ids))
            .group_by(col(Reply.attempt_id))
        ):
            if attempt_id is not None:
                replies[attempt_id] = count
    result = []
    for probe, structure, attempt in rows:
        attempt_id = None if attempt is None else attempt.id
        result.append(
            LetterRow(
                probe_id=probe.id,
                official_id=structure.official_id,
                structure_name=structure.name,
                state=str(probe.state),
                scheduled_at=probe.scheduled_at,
                reference=None
                if attempt is None or attempt.reference is None
                else _printed(attempt.reference),
                printed_at=None
                if attempt_id is None
                else events.get((attempt_id, "letter.composed")),
                posted_at=None if attempt_id is None else events.get((attempt_id, "letter.sent")),
                outcome=None if attempt is None else attempt.outcome,
                replies=0 if attempt_id is None else replies.get(attempt_id, 0),
            )
        )
    return result
