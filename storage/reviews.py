"""Auditors' reviews: verdicts on the criteria only a person can judge."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import String, cast, select
from sqlmodel import Session, col

from storage.errors import NotFoundError
from storage.models import Attempt, Probe, Review, Structure
from storage.waves import get_wave

REVIEW_VERDICTS = ("passed", "failed", "not_applicable")
# A probe is named by its id or by a prefix this long at least (like a git commit).
MIN_PREFIX = 8


@dataclass(frozen=True, slots=True)
class ProbeToReview:
    """A probe whose contact reached the structure, with the reviews it already has."""

    probe_id: uuid.UUID
    official_id: str
    name: str
    channel: str
    slot_kind: str
    reviewed: frozenset[str]


def find_probe(session: Session, reference: str) -> Probe:
    """The probe whose id is ``reference`` or starts with it; a clear error otherwise."""
    text = reference.strip().lower()
    try:
        found = session.get(Probe, uuid.UUID(text))
    except ValueError:
        found = None
        if len(text.replace("-", "")) < MIN_PREFIX:
            raise NotFoundError(
                f"probe {reference!r}: give its id, or at least its first {MIN_PREFIX} characters"
            ) from None
        matches = list(
            session.scalars(
                select(Probe)
                .where(cast(col(Probe.id), String).like(f"{_stored_prefix(session, text)}%"))
                .limit(2)
            )
        )
        if len(matches) > 1:
            raise NotFoundError(f"probe {reference!r} is ambiguous: give more characters") from None
        found = matches[0] if matches else None
    if found is None:
        raise NotFoundError(f"no probe {reference!r}: see `prober review todo WAVE` for ids")
    return found


def _stored_prefix(session: Session, text: str) -> str:
    """The prefix as the database spells ids: SQLite keeps 32 hex digits, PostgreSQL 8-4-4-4-12."""
    digits = text.replace("-", "")
    if session.get_bind().dialect.name == "sqlite":
        return digits
    groups, start = [], 0
    for size in (8, 4, 4, 4, 12):
        if start >= len(digits):
            break
        groups.append(digits[start : start + size])
        start += size
    return "-".join(groups)


def add_review(
    session: Session,
    probe: Probe,
    criterion_id: str,
    *,
    reviewer: str,
    verdict: str,
    comment: str = "",
) -> Review:
    """Record a review; an earlier one of the same criterion stays, the latest counts."""
    if verdict not in REVIEW_VERDICTS:
        raise ValueError(f"verdict {verdict!r}: expected one of {', '.join(REVIEW_VERDICTS)}")
    review = Review(
        probe_id=probe.id,
        criterion_id=criterion_id,
        reviewer=reviewer,
        verdict=verdict,
        comment=comment,
    )
    session.add(review)
    session.flush()
    return review


def probes_to_review(
    session: Session, wave_name: str, reached: Collection[str]
) -> list[ProbeToReview]:
    """The wave's probes with an attempt whose outcome is in ``reached``, and their reviews."""
    wave = get_wave(session, wave_name)
    query = (
        select(
            col(Probe.id),
            col(Structure.official_id),
            col(Structure.name),
            col(Probe.channel),
            col(Probe.slot_kind),
        )
        .join(Structure, col(Structure.id) == col(Probe.structure_id))
        .where(col(Probe.wave_id) == wave.id)
        .where(
            col(Probe.id).in_(
                select(col(Attempt.probe_id)).where(col(Attempt.outcome).in_(list(reached)))
            )
        )
        .order_by(col(Structure.official_id), col(Probe.channel), col(Probe.scheduled_at))
    )
    rows = list(session.execute(query))
    reviewed: dict[uuid.UUID, set[str]] = {}
    ids = [row[0] for row in rows]
    for start in range(0, len(ids), 900):
        for probe_id, criterion_id in session.execute(
            select(col(Review.probe_id), col(Review.criterion_id)).where(
                col(Review.probe_id).in_(ids[start : start + 900])
            )
        ):
            reviewed.setdefault(probe_id, set()).add(criterion_id)
    return [
        ProbeToReview(
            probe_id=probe_id,
            official_id=official_id,
            name=name,
            channel=channel,
            slot_kind=slot_kind,
            reviewed=frozenset(reviewed.get(probe_id, ())),
        )
        for probe_id, official_id, name, channel, slot_kind in rows
    ]
