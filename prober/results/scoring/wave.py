"""Scoring a whole wave (or some of its structures) from stored data, and keeping the snapshot.

Scores are derived data: ``score_wave`` reads attempts' stored measurements (themselves
recomputed from the raw events by each channel), judges them against a grid, and replaces the
wave's snapshot for that grid. Raw events, attempts and replies are only read.
"""

from __future__ import annotations

import gc
import hashlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from config.criteria import CriteriaGrid
from prober.results.scoring.aggregate import aggregate
from prober.results.scoring.judge import score_contact
from prober.results.scoring.metrics import reached_structure
from prober.results.scoring.model import ChannelScore, Contact, ContactScore, EventRef
from storage import scores as stored
from storage.models import Wave
from storage.types import utcnow


@dataclass(frozen=True, slots=True)
class WaveScoring:
    """The result of scoring a wave: one ``ChannelScore`` per structure × channel."""

    wave: str
    grid: str
    grid_digest: str
    as_of: datetime
    structures: dict[int, stored.StructureInfo]
    scores: list[ChannelScore]


def grid_digest(grid: CriteriaGrid) -> str:
    """A short fingerprint of a grid's content: tells whether stored scores used this grid."""
    return hashlib.sha256(grid.model_dump_json().encode()).hexdigest()[:12]


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection meanwhile (reference counting still frees memory).

    Scoring a wave builds millions of small objects that all live until it ends: each full
    collection their allocations trigger walks all of them again, which made scoring a
    35,000-structure wave half as slow again. Scoring makes no reference cycles to collect.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def contacts_of(data: stored.WaveContacts) -> dict[tuple[int, str], tuple[list[Contact], int, int]]:
    """Per structure × channel: the contacts that reached it, its probes, and attempts excluded."""
    grouped: dict[tuple[int, str], tuple[list[Contact], int, int]] = {}
    counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    contacts: dict[tuple[int, str], list[Contact]] = defaultdict(list)
    for probe in data.probes:
        key = (probe.structure_id, probe.channel)
        counts[key][0] += 1
        structure = data.structures[probe.structure_id]
        for attempt in data.attempts.get(probe.id, ()):
            contact = _contact(data, probe, attempt, structure)
            if reached_structure(contact):
                contacts[key].append(contact)
            elif attempt.outcome is not None:
                counts[key][1] += 1
    for key, (probes, excluded) in counts.items():
        grouped[key] = (contacts.get(key, []), probes, excluded)
    return grouped


def _contact(
    data: stored.WaveContacts,
    probe: stored.ProbeRow,
    attempt: stored.AttemptRow,
    structure: stored.StructureInfo,
) -> Contact:
    return Contact(
        probe_id=probe.id,
        structure_id=probe.structure_id,
        channel=probe.channel,
        slot_kind=probe.slot_kind,
        scenario_id=probe.scenario_id,
        attempt_id=attempt.id,
        attempt_number=attempt.number,
        started_at=attempt.started_at,
        outcome=attempt.outcome,
        measurement=attempt.measurement,
        events=tuple(
            EventRef(str(event.id), event.kind, event.source_at, event.phase)
            for event in data.events.get(attempt.id, ())
        )
        if data.events
        else (),
        reviews=data.reviews.get(probe.id, {}),
        recording_ids=tuple(data.recordings.get(attempt.id, ())),
        timezone=structure.timezone,
        holiday_subdivision=structure.holiday_subdivision,
    )


def score_contacts(
    grid: CriteriaGrid,
    data: stored.WaveContacts,
    as_of: datetime,
    *,
    keep_contacts: bool = True,
) -> list[ChannelScore]:
    """Judge and aggregate every structure × channel of ``data`` (scored channels only);
    each contact's verdicts are kept with ``keep_contacts``, else only the totals."""
    scored_channels = {criterion.channel for criterion in grid.criteria}
    results: list[ChannelScore] = []
    for (structure_id, channel), (contacts, probes, excluded) in sorted(contacts_of(data).items()):
        if channel not in scored_channels:
            continue
        criteria = grid.for_channel(channel)
        judged: list[ContactScore] = [
            score_contact(grid, c, as_of, criteria=criteria) for c in contacts
        ]
        results.append(
            aggregate(
                grid,
                structure_id,
                channel,
                judged,
                probes=probes,
                excluded=excluded,
                keep_contacts=keep_contacts,
            )
        )
    return results


def score_wave(
    session: Session,
    wave: Wave,
    grid: CriteriaGrid,
    *,
    as_of: datetime | None = None,
    structure_ids: Sequence[int] | None = None,
    with_evidence: bool = False,
) -> WaveScoring:
    """Score ``wave`` (or only ``structure_ids``) under ``grid``; nothing is written.

    ``with_evidence`` reads the events too and keeps every contact's verdicts with their
    evidence (a structure's detailed view); otherwise each score keeps its totals and failures.
    """
    assert wave.id is not None  # noqa: S101 - a stored wave
    moment = as_of or utcnow()
    with collector_paused():
        data = stored.load_wave_contacts(
            session, wave.id, structure_ids=structure_ids, with_events=with_evidence
        )
        return WaveScoring(
            wave=wave.name,
            grid=grid.name,
            grid_digest=grid_digest(grid),
            as_of=moment,
            structures=data.structures,
            scores=score_contacts(grid, data, moment, keep_contacts=with_evidence),
        )


def score_row(score: ChannelScore, *, grid_digest: str, as_of: datetime) -> dict[str, Any]:
    """The ``Score`` columns storing ``score`` (per-contact evidence is not kept: it is rebuilt)."""
    details = score.to_json()
    for key in ("structure_id", "channel", "score", "accessibility", "responsiveness", "quality"):
        details.pop(key)
    details["grid_digest"] = grid_digest
    details["as_of"] = as_of.isoformat()
    details["verdicts"] = [failure.to_json() for failure in score.failures]
    return {
        "structure_id": score.structure_id,
        "channel": score.channel,
        "score": score.score,
        "accessibility": score.accessibility,
        "responsiveness": score.responsiveness,
        "quality": score.quality,
        "sample_size": score.contacts,
        "details": details,
    }


def store_scoring(session: Session, wave: Wave, scoring: WaveScoring) -> datetime:
    """Replace the wave's stored scores for the scoring's grid; returns when they were stored."""
    assert wave.id is not None  # noqa: S101 - a stored wave
    with collector_paused():
        rows = [
            score_row(score, grid_digest=scoring.grid_digest, as_of=scoring.as_of)
            for score in scoring.scores
        ]
        return stored.replace_scores(session, wave.id, scoring.grid, rows)
