"""Queries for scoring: a wave's contacts in bulk, and the score snapshots kept per grid."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlmodel import Session, col

from storage.models import (
    Attempt,
    Event,
    Probe,
    Recording,
    Review,
    ReviewAssignment,
    Score,
    Structure,
    Wave,
)
from storage.reviews import ReviewRow, decide
from storage.types import utcnow

# Rows per IN (...) list: well under SQLite's bound-parameter limit.
_CHUNK = 900


@dataclass(frozen=True, slots=True)
class StructureInfo:
    """What reports and comparisons show of a structure."""

    id: int
    official_id: str
    name: str
    kind: str
    departement: str
    region: str
    population: int | None
    peer_group: str
    timezone: str
    holiday_subdivision: str | None


@dataclass(frozen=True, slots=True)
class ProbeRow:
    id: uuid.UUID
    structure_id: int
    channel: str
    slot_kind: str
    scenario_id: str
    state: str


@dataclass(frozen=True, slots=True)
class AttemptRow:
    id: int
    probe_id: uuid.UUID
    number: int
    started_at: datetime
    outcome: str | None
    measurement: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventRow:
    id: uuid.UUID
    attempt_id: int
    kind: str
    source_at: datetime
    phase: str | None


@dataclass(frozen=True, slots=True)
class WaveContacts:
    """Everything scoring reads of a wave (or of some of its structures)."""

    structures: dict[int, StructureInfo]
    probes: list[ProbeRow]
    attempts: dict[uuid.UUID, list[AttemptRow]]
    events: dict[int, list[EventRow]]
    reviews: dict[uuid.UUID, dict[str, str]]
    recordings: dict[int, list[int]]


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def structure_info(structure: Structure) -> StructureInfo:
    """A structure row as scoring sees it."""
    if structure.id is None:
        raise ValueError("a structure not yet stored has no scores")
    return StructureInfo(
        id=structure.id,
        official_id=structure.official_id,
        name=structure.name,
        kind=structure.kind,
        departement=structure.departement,
        region=structure.region,
        population=structure.population,
        peer_group=structure.peer_group,
        timezone=structure.timezone,
        holiday_subdivision=structure.holiday_subdivision,
    )


_STRUCTURE_COLUMNS = (
    col(Structure.id),
    col(Structure.official_id),
    col(Structure.name),
    col(Structure.kind),
    col(Structure.departement),
    col(Structure.region),
    col(Structure.population),
    col(Structure.peer_group),
    col(Structure.timezone),
    col(Structure.holiday_subdivision),
)
"""``StructureInfo``'s fields, in order: read as plain rows, without ORM instances."""


def _structure_infos(session: Session, query: Any) -> dict[int, StructureInfo]:
    return {row[0]: StructureInfo(*row) for row in session.execute(query)}


def load_wave_contacts(
    session: Session,
    wave_id: int,
    *,
    structure_ids: Sequence[int] | None = None,
    with_events: bool = False,
) -> WaveContacts:
    """A wave's probes, attempts, reviews and recordings; events too when evidence is wanted.

    Events are many (ten per call): a wave-wide score reads only the stored measurements, a
    structure's detailed report reads the events that back each verdict.
    """

    def of_wave(query: Any) -> Any:
        """``query`` (joined to ``Probe``) limited to the wave and the structures asked for."""
        query = query.where(col(Probe.wave_id) == wave_id)
        if structure_ids is not None:
            query = query.where(col(Probe.structure_id).in_(list(structure_ids)))
        return query

    probe_query = of_wave(
        select(
            col(Probe.id),
            col(Probe.structure_id),
            col(Probe.channel),
            col(Probe.slot_kind),
            col(Probe.scenario_id),
            col(Probe.state),
        )
    )
    probes = [ProbeRow(*row) for row in session.execute(probe_query.order_by(col(Probe.id)))]
    # The wave's structures, by a subquery rather than thousands of ids bound in chunks.
    wanted = of_wave(select(col(Probe.structure_id))).scalar_subquery()
    structures = _structure_infos(
        session, select(*_STRUCTURE_COLUMNS).where(col(Structure.id).in_(wanted))
    )

    attempts: dict[uuid.UUID, list[AttemptRow]] = defaultdict(list)
    attempt_query = of_wave(
        select(
            col(Attempt.id),
            col(Attempt.probe_id),
            col(Attempt.number),
            col(Attempt.started_at),
            col(Attempt.outcome),
            col(Attempt.measurement),
        ).join(Probe, col(Probe.id) == col(Attempt.probe_id))
    )
    for row in session.execute(attempt_query.order_by(col(Attempt.probe_id), col(Attempt.number))):
        attempts[row.probe_id].append(AttemptRow(*row))

    review_query = of_wave(
        select(
            col(Review.probe_id),
            col(Review.criterion_id),
            col(Review.reviewer),
            col(Review.verdict),
            col(Review.kind),
        ).join(Probe, col(Probe.id) == col(Review.probe_id))
    )
    review_rows = [
        ReviewRow(*row)
        for row in session.execute(review_query.order_by(col(Review.created_at), col(Review.id)))
    ]
    double = set(
        session.scalars(
            of_wave(
                select(col(ReviewAssignment.probe_id))
                .join(Probe, col(Probe.id) == col(ReviewAssignment.probe_id))
                .where(col(ReviewAssignment.double))
            )
        )
    )
    reviews = decide(review_rows, double)

    recordings: dict[int, list[int]] = defaultdict(list)
    recording_query = of_wave(
        select(col(Recording.attempt_id), col(Recording.id))
        .join(Attempt, col(Attempt.id) == col(Recording.attempt_id))
        .join(Probe, col(Probe.id) == col(Attempt.probe_id))
    )
    for attempt_id, recording_id in session.execute(recording_query.order_by(col(Recording.id))):
        recordings[attempt_id].append(recording_id)

    events: dict[int, list[EventRow]] = defaultdict(list)
    if with_events:
        attempt_ids = [attempt.id for rows in attempts.values() for attempt in rows]
        for chunk in _chunks(attempt_ids):
            query_e = select(
                col(Event.id),
                col(Event.attempt_id),
                col(Event.kind),
                col(Event.source_at),
                col(Event.payload),
            ).where(col(Event.attempt_id).in_(chunk))
            for event_id, attempt_id, kind, source_at, payload in session.execute(
                query_e.order_by(col(Event.source_at), col(Event.received_at))
            ):
                phase = payload.get("phase") if isinstance(payload, dict) else None
                events[attempt_id].append(EventRow(event_id, attempt_id, kind, source_at, phase))
    return WaveContacts(structures, probes, dict(attempts), dict(events), reviews, dict(recordings))


def replace_scores(
    session: Session, wave_id: int, grid: str, rows: Sequence[dict[str, Any]]
) -> datetime:
    """Replace the wave's stored scores under ``grid`` by ``rows`` (one per structure × channel).

    Rows are the ``Score`` columns as a mapping; returns the computation time stamped on them.
    """
    computed_at = utcnow()
    session.execute(delete(Score).where(col(Score.wave_id) == wave_id, col(Score.grid) == grid))
    # A Core insert of the table: one executemany per chunk (the ORM's bulk insert of the
    # entity ran one INSERT per row here, a third of the time of scoring a large wave).
    table = Score.metadata.tables["score"]
    for chunk in _chunks(list(rows)):
        session.execute(
            insert(table),
            [
                {**row, "wave_id": wave_id, "grid": grid, "computed_at": computed_at}
                for row in chunk
            ],
        )
    return computed_at


def stored_scores(session: Session, wave_id: int, grid: str) -> list[Score]:
    """The wave's stored scores under ``grid``, by structure then channel."""
    query = select(Score).where(col(Score.wave_id) == wave_id, col(Score.grid) == grid)
    return list(session.scalars(query.order_by(col(Score.structure_id), col(Score.channel))))


def stored_digest(session: Session, wave_id: int, grid: str) -> str | None:
    """The fingerprint of the grid content the wave's scores under ``grid`` used; None if
    there are none."""
    details = session.scalars(
        select(col(Score.details))
        .where(col(Score.wave_id) == wave_id, col(Score.grid) == grid)
        .limit(1)
    ).first()
    return None if details is None else details.get("grid_digest")


def scored_grids(session: Session, wave_id: int) -> list[tuple[str, datetime]]:
    """The grids a wave was scored under, with when."""
    query = (
        select(col(Score.grid), col(Score.computed_at))
        .where(col(Score.wave_id) == wave_id)
        .group_by(col(Score.grid), col(Score.computed_at))
    )
    return [(grid, at) for grid, at in session.execute(query)]


def structures_by_ids(session: Session, ids: Sequence[int]) -> dict[int, StructureInfo]:
    """Structure facts for ``ids``."""
    found: dict[int, StructureInfo] = {}
    for chunk in _chunks(list(ids)):
        found.update(
            _structure_infos(
                session, select(*_STRUCTURE_COLUMNS).where(col(Structure.id).in_(chunk))
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class StructureScore:
    """One stored score of one structure: a wave, a channel, the measures."""

    wave: str
    starts_on: date
    channel: str
    grid: str
    score: float | None
    accessibility: float | None
    responsiveness: float | None
    quality: float | None
    sample_size: int
    computed_at: datetime


def scores_of_structure(session: Session, structure_id: int) -> list[StructureScore]:
    """Every stored score of one structure, newest wave first, channels in name order."""
    rows = session.execute(
        select(Score, Wave)
        .join(Wave, col(Wave.id) == col(Score.wave_id))
        .where(col(Score.structure_id) == structure_id)
        .order_by(col(Wave.starts_on).desc(), col(Wave.id).desc(), col(Score.channel))
    ).all()
    return [
        StructureScore(
            wave.name,
            wave.starts_on,
            score.channel,
            score.grid,
            score.score,
            score.accessibility,
            score.responsiveness,
            score.quality,
            score.sample_size,
            score.computed_at,
        )
        for score, wave in rows
    ]
