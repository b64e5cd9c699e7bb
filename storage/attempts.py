"""Queries for carrying out probes, every channel alike: attempts and the events they observe.

Events are appended once per ``dedup_key``: a callback delivered twice, or a fact observed again
after a restart, is stored the first time only (``record_event`` says whether it was new).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.errors import ClaimLostError, ConflictError, NotFoundError
from storage.models import (
    Attempt,
    ContactPoint,
    Event,
    Persona,
    Probe,
    ProbeState,
    Recording,
    Structure,
    Wave,
)
from storage.outbox import enqueue_event
from storage.snapshots import PersonaSnapshot, ScenarioSnapshot, StructureSnapshot
from storage.types import utcnow
from storage.wave_parameters import catalogue_of, wave_parameter

_EVENT_TABLE: Table = Event.__table__  # type: ignore[attr-defined]
_ATTEMPT_TABLE: Table = Attempt.__table__  # type: ignore[attr-defined]
_PROBE_TABLE: Table = Probe.__table__  # type: ignore[attr-defined]
_STARTABLE = (ProbeState.PLANNED, ProbeState.DISPATCHING, ProbeState.IN_PROGRESS)


@dataclass(frozen=True, slots=True)
class AttemptContext:
    """Everything needed to carry out one attempt of a probe, read in one go."""

    attempt_id: int
    attempt_number: int
    probe_id: uuid.UUID
    channel: str
    structure_name: str
    timezone: str
    contact: str | None
    structure: StructureSnapshot
    persona: PersonaSnapshot
    scenario: ScenarioSnapshot


def start_attempt(
    session: Session, probe_id: uuid.UUID, *, claimed_by: str | None = None
) -> Attempt:
    """Record a new attempt of ``probe_id`` *before* contacting anybody, and mark it in progress.

    With ``claimed_by`` (a daemon carrying out its claim), the probe must still be
    ``dispatching`` under that daemon's claim: a claim that expired and was released, or that
    another daemon took since, raises :class:`ClaimLostError` and nobody is contacted. Without
    it (``prober phone call``, letters by hand) any unfinished probe may be attempted.

    Raises NotFoundError for an unknown probe and ConflictError when the probe is finished.
    """
    probe = session.get(Probe, probe_id, with_for_update=True, populate_existing=True)
    if probe is None:
        raise NotFoundError(f"no probe {probe_id}")
    if probe.state not in _STARTABLE:
        raise ConflictError(f"probe {probe_id} is {probe.state}: it cannot be attempted again")
    if claimed_by is not None and (
        probe.state != ProbeState.DISPATCHING or probe.claimed_by != claimed_by
    ):
        holder = f"held by {probe.claimed_by}" if probe.claimed_by else "not claimed"
        raise ClaimLostError(
            f"probe {probe_id} is {probe.state}, {holder}: daemon {claimed_by} lost its claim"
            " (its lease ran out); it is not attempted"
        )
    probe.attempt_count += 1
    probe.state = ProbeState.IN_PROGRESS
    probe.updated_at = utcnow()
    attempt = Attempt(probe_id=probe_id, number=probe.attempt_count)
    session.add(probe)
    session.add(attempt)
    session.flush()
    return attempt


def attempt_context(session: Session, probe_id: uuid.UUID, number: int) -> AttemptContext:
    """The probe, structure, contact, persona and frozen scenario of one attempt."""
    row = session.execute(
        sa_select(Attempt, Probe, Structure, col(Wave.name), wave_parameter("catalogue"))
        .join(Probe, col(Probe.id) == col(Attempt.probe_id))
        .join(Structure, col(Structure.id) == col(Probe.structure_id))
        .join(Wave, col(Wave.id) == col(Probe.wave_id))
        .where(col(Attempt.probe_id) == probe_id, col(Attempt.number) == number)
    ).first()
    if row is None:
        raise NotFoundError(f"no attempt {number} of probe {probe_id}")
    attempt, probe, structure, wave_name, stored_catalogue = row
    contact = None
    if probe.contact_point_id is not None:
        point = session.get(ContactPoint, probe.contact_point_id)
        contact = None if point is None else point.value
    catalogue = catalogue_of(stored_catalogue)
    scenario = catalogue.scenarios.get(probe.scenario_id)
    persona = catalogue.personas.get(probe.persona_id)
    if persona is None:
        stored = session.get(Persona, probe.persona_id)
        persona = {} if stored is None else stored.model_dump()
    if scenario is None:
        raise NotFoundError(
            f"wave {wave_name} has no frozen copy of scenario {probe.scenario_id}; re-create it"
        )
    assert attempt.id is not None  # noqa: S101 (a stored row)
    return AttemptContext(
        attempt_id=attempt.id,
        attempt_number=attempt.number,
        probe_id=probe.id,
        channel=probe.channel,
        structure_name=structure.name,
        timezone=structure.timezone,
        contact=contact,
        structure=StructureSnapshot.of(structure),
        persona=PersonaSnapshot.from_json(persona),
        scenario=ScenarioSnapshot.from_json(scenario),
    )


def find_attempt(session: Session, probe_id: uuid.UUID, number: int) -> Attempt | None:
    """One attempt of a probe, by its number (1, 2, ...)."""
    return session.exec(
        select(Attempt).where(col(Attempt.probe_id) == probe_id, col(Attempt.number) == number)
    ).first()


@dataclass(frozen=True, slots=True)
class AttemptState:
    """The little a callback needs to know of its attempt (read without the ORM: it is hot)."""

    id: int
    external_id: str | None
    ended: bool


def attempt_state(session: Session, probe_id: uuid.UUID, number: int) -> AttemptState | None:
    """Whether attempt ``number`` of a probe exists, its external id, and whether it ended."""
    table = _ATTEMPT_TABLE
    row = (
        session.connection()
        .execute(
            sa_select(table.c.id, table.c.external_id, table.c.ended_at).where(
                table.c.probe_id == probe_id, table.c.number == number
            )
        )
        .first()
    )
    if row is None:
        return None
    return AttemptState(id=row.id, external_id=row.external_id, ended=row.ended_at is not None)


def set_external_id(session: Session, attempt_id: int, external_id: str) -> None:
    """Remember the outside world's id for the attempt (Twilio's call SID)."""
    session.execute(
        update(Attempt).where(col(Attempt.id) == attempt_id).values(external_id=external_id)
    )


def record_event(
    session: Session,
    *,
    kind: str,
    source: str,
    source_at: datetime,
    received_at: datetime,
    dedup_key: str | None,
    payload: dict[str, Any],
    clock: str = "source",
    probe_id: uuid.UUID | None = None,
    attempt_id: int | None = None,
    publish_prefix: str,
) -> bool:
    """Append an event unless one with the same ``dedup_key`` exists; True when it was new.

    A new event is also put in the outbox, in the same transaction, for the event bus to
    publish under ``publish_prefix``: every stored fact is announced (docs/events.md). The
    probes write through ``prober.probes.events.EventLog``, bound once to the bus's prefix.
    """
    event_id = uuid.uuid4()
    values = {
        "id": event_id,
        "probe_id": probe_id,
        "attempt_id": attempt_id,
        "kind": kind,
        "source": source,
        "dedup_key": dedup_key,
        "source_at": source_at,
        "clock": clock,
        "received_at": received_at,
        "payload": payload,
    }
    connection = session.connection()
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    # On the table, not the mapped class: a plain INSERT, without the ORM's bulk machinery.
    statement = insert(_EVENT_TABLE).values(**values)
    result = connection.execute(statement.on_conflict_do_nothing(index_elements=["dedup_key"]))
    new = bool(result.rowcount)
    if new:
        enqueue_event(
            session,
            prefix=publish_prefix,
            event_id=event_id,
            probe_id=probe_id,
            kind=kind,
            source=source,
            source_at=source_at,
            received_at=received_at,
            payload=payload,
        )
    return new


def attempt_events(session: Session, attempt_id: int) -> list[Event]:
    """The events of one attempt, in the order they were received."""
    return list(
        session.exec(
            select(Event)
            .where(col(Event.attempt_id) == attempt_id)
            .order_by(col(Event.received_at), col(Event.source_at))
        )
    )


def probe_events(session: Session, probe_id: uuid.UUID) -> list[Event]:
    """Every event of a probe, all attempts, in the order they were received."""
    return list(
        session.exec(
            select(Event)
            .where(col(Event.probe_id) == probe_id)
            .order_by(col(Event.received_at), col(Event.source_at))
        )
    )


def call_sid_seen(session: Session, attempt_id: int) -> str | None:
    """A call SID that a callback of this attempt already named (for reconciliation)."""
    for event in attempt_events(session, attempt_id):
        sid = event.payload.get("call_sid")
        if isinstance(sid, str) and sid:
            return sid
    return None


def call_sids_taken(session: Session, sids: list[str], attempt_id: int) -> set[str]:
    """Which of ``sids`` attempts other than ``attempt_id`` hold as their call."""
    if not sids:
        return set()
    rows = session.exec(
        select(Attempt.external_id).where(
            col(Attempt.external_id).in_(sids), col(Attempt.id) != attempt_id
        )
    )
    return {sid for sid in rows if sid is not None}


def finish_attempt(
    session: Session,
    attempt_id: int,
    *,
    outcome: str,
    ended_at: datetime,
    measurement: dict[str, Any],
    probe_state: ProbeState,
) -> None:
    """Close an attempt with its outcome and measurement, and settle its probe's state."""
    attempt = session.get(Attempt, attempt_id)
    if attempt is None:
        raise NotFoundError(f"no attempt {attempt_id}")
    attempt.outcome = outcome
    attempt.ended_at = ended_at
    attempt.measurement = measurement
    session.add(attempt)
    probe = session.get(Probe, attempt.probe_id)
    if probe is not None:
        probe.state = probe_state
        probe.updated_at = utcnow()
        session.add(probe)


def remeasure_attempt(session: Session, attempt_id: int, measurement: dict[str, Any]) -> None:
    """Replace an attempt's derived measurement (after a late or out-of-order event)."""
    session.execute(
        update(Attempt).where(col(Attempt.id) == attempt_id).values(measurement=measurement)
    )


def planned_probes(
    session: Session, wave_name: str, channel: str, official_ids: list[str], limit: int | None
) -> list[uuid.UUID]:
    """Planned probes of a wave on ``channel`` (first scheduled first), optionally of some
    structures; a structure the wave has no such probe for is an error naming it."""
    wave = session.exec(select(Wave).where(col(Wave.name) == wave_name)).first()
    if wave is None:
        raise NotFoundError(f"no wave named {wave_name!r}: `prober wave list` shows them")
    query = (
        select(Probe.id)
        .join(Structure, col(Structure.id) == col(Probe.structure_id))
        .where(
            col(Probe.wave_id) == wave.id,
            col(Probe.channel) == channel,
            col(Probe.state) == ProbeState.PLANNED,
        )
        .order_by(col(Probe.scheduled_at), col(Probe.id))
    )
    if official_ids:
        query = query.where(col(Structure.official_id).in_(official_ids))
    if official_ids:
        known = set(
            session.exec(
                select(Structure.official_id)
                .join(Probe, col(Probe.structure_id) == col(Structure.id))
                .where(
                    col(Probe.wave_id) == wave.id,
                    col(Probe.channel) == channel,
                    col(Structure.official_id).in_(official_ids),
                )
            )
        )
        unknown = [official_id for official_id in official_ids if official_id not in known]
        if unknown:
            raise NotFoundError(
                f"wave {wave_name!r} has no {channel} probe for {', '.join(unknown)}:"
                " `prober wave export` lists its probes"
            )
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query))


@dataclass(frozen=True, slots=True)
class MeasuredCall:
    """One call attempt as shown to operators: whom it called and what it measured."""

    probe_id: uuid.UUID
    attempt: int
    official_id: str
    structure: str
    number: str
    call_sid: str | None
    outcome: str | None
    measurement: dict[str, Any]
    recording: str | None


def attempts_with_contact(
    session: Session,
    channel: str,
    *,
    wave_name: str | None = None,
    probe_ids: list[uuid.UUID] | None = None,
) -> list[tuple[Attempt, Probe, Structure, ContactPoint | None]]:
    """Attempts on ``channel`` with their probe, structure and contact, of a wave or of some
    probes, by structure then attempt number."""
    query = (
        select(Attempt, Probe, Structure, ContactPoint)
        .join(Probe, col(Probe.id) == col(Attempt.probe_id))
        .join(Structure, col(Structure.id) == col(Probe.structure_id))
        .join(ContactPoint, col(ContactPoint.id) == col(Probe.contact_point_id), isouter=True)
        .where(col(Probe.channel) == channel)
        .order_by(col(Structure.official_id), col(Attempt.number))
    )
    if wave_name is not None:
        query = query.join(Wave, col(Wave.id) == col(Probe.wave_id)).where(
            col(Wave.name) == wave_name
        )
    if probe_ids is not None:
        query = query.where(col(Probe.id).in_(probe_ids))
    return list(session.exec(query))


def measured_calls(
    session: Session, *, wave_name: str | None = None, probe_ids: list[uuid.UUID] | None = None
) -> list[MeasuredCall]:
    """Phone attempts with their measurement, of a wave or of some probes."""
    rows = attempts_with_contact(session, "phone", wave_name=wave_name, probe_ids=probe_ids)
    attempt_ids = [attempt.id for attempt, *_ in rows]
    recordings = {
        recording.attempt_id: recording.media_path
        for recording in session.exec(
            select(Recording).where(col(Recording.attempt_id).in_(attempt_ids))
        )
    }
    return [
        MeasuredCall(
            probe_id=probe.id,
            attempt=attempt.number,
            official_id=structure.official_id,
            structure=structure.name,
            number="" if contact is None else contact.value,
            call_sid=attempt.external_id,
            outcome=attempt.outcome,
            measurement=attempt.measurement,
            recording=recordings.get(attempt.id),
        )
        for attempt, probe, structure, contact in rows
    ]


def open_phone_attempts(
    session: Session, *, started_before: datetime | None = None
) -> list[tuple[int, uuid.UUID, int, str | None, datetime, str | None, str | None]]:
    """Phone attempts not ended (optionally, only those started before ``started_before``):
    (attempt id, probe id, number, call SID, started, to, from)."""
    query = (
        select(Attempt, Probe, ContactPoint, Persona)
        .join(Probe, col(Probe.id) == col(Attempt.probe_id))
        .join(ContactPoint, col(ContactPoint.id) == col(Probe.contact_point_id), isouter=True)
        .join(Persona, col(Persona.id) == col(Probe.persona_id), isouter=True)
        .where(col(Probe.channel) == "phone", col(Attempt.ended_at).is_(None))
    )
    if started_before is not None:
        query = query.where(col(Attempt.started_at) < started_before)
    rows = session.exec(query)
    return [
        (
            attempt.id or 0,
            probe.id,
            attempt.number,
            attempt.external_id,
            attempt.started_at,
            None if contact is None else contact.value,
            None if persona is None else persona.caller_id,
        )
        for attempt, probe, contact, persona in rows
    ]


def renew_holds(session: Session, *, channel: str, claimed_by: str, until: datetime) -> int:
    """Extend to ``until`` the lease of the ``channel`` probes in progress that ``claimed_by``
    holds: a live daemon's attempts stay its own; how many."""
    result = session.connection().execute(
        update(_PROBE_TABLE)
        .where(
            _PROBE_TABLE.c.state == ProbeState.IN_PROGRESS,
            _PROBE_TABLE.c.channel == channel,
            _PROBE_TABLE.c.claimed_by == claimed_by,
        )
        .values(lease_until=until)
    )
    return result.rowcount


def take_over_attempt(
    session: Session, probe_id: uuid.UUID, *, claimed_by: str, now: datetime, until: datetime
) -> bool:
    """Make ``claimed_by`` the holder of a probe in progress, held until ``until``, if it holds
    it already or nobody does (no holder, or a lease that ran out before ``now``: its daemon
    stopped renewing it); False when another daemon holds it, or it is no longer in progress.

    One conditional UPDATE: of two daemons trying at once, one wins (PostgreSQL re-checks the
    condition on the row the other updated).
    """
    table = _PROBE_TABLE
    result = session.connection().execute(
        update(table)
        .where(
            table.c.id == probe_id,
            table.c.state == ProbeState.IN_PROGRESS,
            or_(
                table.c.claimed_by.is_(None),
                table.c.claimed_by == claimed_by,
                table.c.lease_until.is_(None),
                table.c.lease_until <= now,
            ),
        )
        .values(claimed_by=claimed_by, lease_until=until)
    )
    return bool(result.rowcount)


def plan_again(session: Session, probe_id: uuid.UUID, *, at: datetime) -> None:
    """A finished attempt is to be tried again at ``at``: the probe goes back to planned."""
    probe = session.get(Probe, probe_id)
    if probe is None:
        raise NotFoundError(f"no probe {probe_id}")
    probe.state = ProbeState.PLANNED
    probe.scheduled_at = at
    probe.claimed_by = None
    probe.lease_until = None
    probe.updated_at = utcnow()
    session.add(probe)
