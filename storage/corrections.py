"""Queries on what the directory publishes of structures, and on what a wave observed of it.

One read of a wave: the structures' directory entries (phones, addresses, websites, hours), each
attempt with the contact it used and its outcome, the events that evidence the outcome, and the
bounce reports received. Deriving findings from them is the application's job.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from storage.models import Attempt, ContactPoint, Event, Probe, Reply, Structure

_CHUNK = 900

EVIDENCE_KINDS = (
    "call.failed",
    "call.no-answer",
    "call.busy",
    "call.completed",
    "email.sent",
    "email.refused",
    "email.bounce",
    "site.checked",
)
"""The event kinds a correction may cite."""


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """What the directory publishes of one structure."""

    structure_id: int
    official_id: str
    name: str
    opening_hours: str | None
    phones: tuple[str, ...]
    emails: tuple[str, ...]
    websites: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EvidenceEvent:
    """A stored event cited as evidence."""

    id: uuid.UUID
    kind: str
    source_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ObservedAttempt:
    """One attempt of a wave's probe, with the contact it used and the events it observed."""

    structure_id: int
    probe_id: uuid.UUID
    channel: str
    contact: str | None
    attempt_id: int
    number: int
    started_at: datetime
    outcome: str | None
    measurement: dict[str, Any]
    events: tuple[EvidenceEvent, ...]


@dataclass(frozen=True, slots=True)
class BounceReport:
    """A delivery status notification received for one of the wave's emails."""

    reply_id: int
    received_at: datetime
    status: str | None
    action: str | None
    diagnostic: str | None


@dataclass(frozen=True, slots=True)
class WaveObservations:
    """Everything corrections read of a wave."""

    entries: dict[int, DirectoryEntry]
    attempts: list[ObservedAttempt]
    bounces: dict[int, BounceReport]


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _entries(session: Session, wave_id: int) -> dict[int, DirectoryEntry]:
    wanted = select(col(Probe.structure_id)).where(col(Probe.wave_id) == wave_id).scalar_subquery()
    contacts: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for structure_id, kind, value in session.execute(
        select(col(ContactPoint.structure_id), col(ContactPoint.kind), col(ContactPoint.value))
        .where(col(ContactPoint.structure_id).in_(wanted))
        .order_by(col(ContactPoint.structure_id), col(ContactPoint.position), col(ContactPoint.id))
    ):
        contacts[structure_id][kind].append(value)
    entries: dict[int, DirectoryEntry] = {}
    for structure_id, official_id, name, hours in session.execute(
        select(
            col(Structure.id),
            col(Structure.official_id),
            col(Structure.name),
            col(Structure.opening_hours),
        ).where(col(Structure.id).in_(wanted))
    ):
        points = contacts.get(structure_id, {})
        entries[structure_id] = DirectoryEntry(
            structure_id=structure_id,
            official_id=official_id,
            name=name,
            opening_hours=hours,
            phones=tuple(points.get("phone", ())),
            emails=tuple(points.get("email", ())),
            websites=tuple(points.get("web", ())),
        )
    return entries


def wave_observations(session: Session, wave_id: int) -> WaveObservations:
    """The wave's directory entries, attempts (with their evidence events) and bounce reports."""
    rows = session.execute(
        select(
            col(Probe.structure_id),
            col(Probe.id),
            col(Probe.channel),
            col(ContactPoint.value),
            col(Attempt.id),
            col(Attempt.number),
            col(Attempt.started_at),
            col(Attempt.outcome),
            col(Attempt.measurement),
        )
        .join(Attempt, col(Attempt.probe_id) == col(Probe.id))
        .join(ContactPoint, col(ContactPoint.id) == col(Probe.contact_point_id), isouter=True)
        .where(col(Probe.wave_id) == wave_id)
        .order_by(col(Probe.structure_id), col(Probe.channel), col(Attempt.started_at))
    ).all()
    events: dict[int, list[EvidenceEvent]] = defaultdict(list)
    for chunk in _chunks([row[4] for row in rows]):
        for event_id, attempt_id, kind, source_at, payload in session.execute(
            select(
                col(Event.id),
                col(Event.attempt_id),
                col(Event.kind),
                col(Event.source_at),
                col(Event.payload),
            )
            .where(col(Event.attempt_id).in_(chunk), col(Event.kind).in_(EVIDENCE_KINDS))
            .order_by(col(Event.source_at), col(Event.received_at))
        ):
            events[attempt_id].append(EvidenceEvent(event_id, kind, source_at, payload or {}))
    attempts = [
        ObservedAttempt(
            structure_id=structure_id,
            probe_id=probe_id,
            channel=channel,
            contact=contact,
            attempt_id=attempt_id,
            number=number,
            started_at=started_at,
            outcome=outcome,
            measurement=measurement or {},
            events=tuple(events.get(attempt_id, ())),
        )
        for (
            structure_id,
            probe_id,
            channel,
            contact,
            attempt_id,
            number,
            started_at,
            outcome,
            measurement,
        ) in rows
    ]
    bounces: dict[int, BounceReport] = {}
    for chunk in _chunks([row[4] for row in rows if row[2] == "email"]):
        for reply_id, received_at, details in session.execute(
            select(col(Reply.id), col(Reply.received_at), col(Reply.details)).where(
                col(Reply.attempt_id).in_(chunk), col(Reply.classification) == "bounce"
            )
        ):
            report = (details or {}).get("bounce") or {}
            bounces[reply_id] = BounceReport(
                reply_id=reply_id,
                received_at=received_at,
                status=report.get("status"),
                action=report.get("action"),
                diagnostic=report.get("diagnostic"),
            )
    return WaveObservations(_entries(session, wave_id), attempts, bounces)


def directory_entry(session: Session, structure_id: int) -> DirectoryEntry | None:
    """What the directory publishes of one structure (None for an unknown structure)."""
    structure = session.get(Structure, structure_id)
    if structure is None or structure.id is None:
        return None
    points: dict[str, list[str]] = defaultdict(list)
    for kind, value in session.execute(
        select(col(ContactPoint.kind), col(ContactPoint.value))
        .where(col(ContactPoint.structure_id) == structure_id)
        .order_by(col(ContactPoint.position), col(ContactPoint.id))
    ):
        points[kind].append(value)
    return DirectoryEntry(
        structure_id=structure.id,
        official_id=structure.official_id,
        name=structure.name,
        opening_hours=structure.opening_hours,
        phones=tuple(points.get("phone", ())),
        emails=tuple(points.get("email", ())),
        websites=tuple(points.get("web", ())),
    )


def open_attempts(session: Session, channel: str) -> list[tuple[int, uuid.UUID]]:
    """Attempts on ``channel`` that started and never ended: (attempt id, probe id)."""
    return [
        (attempt_id, probe_id)
        for attempt_id, probe_id in session.execute(
            select(col(Attempt.id), col(Attempt.probe_id))
            .join(Probe, col(Probe.id) == col(Attempt.probe_id))
            .where(col(Probe.channel) == channel, col(Attempt.ended_at).is_(None))
        )
    ]
