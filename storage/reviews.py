"""Auditors' reviews: verdicts on the criteria only a person can judge, and which one counts.

What counts (docs/scoring.md) is the latest decision: a lead's arbitration, else the single
review; a contact reviewed blind by two auditors counts once both agree, or once arbitrated.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import String, cast, select
from sqlmodel import Session, col

from storage.errors import NotFoundError
from storage.models import Attempt, Probe, Review, Structure
from storage.waves import get_wave

REVIEW_VERDICTS = ("passed", "failed", "not_applicable")
REVIEW_KINDS = ("review", "arbitration")
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
    kind: str = "review",
    submission: str | None = None,
) -> Review:
    """Record a review; an earlier one of the same criterion stays, the latest counts.

    With ``submission`` (the id of the form that carried it), a second save of the same form
    returns the review the first one recorded instead of adding another.
    """
    if verdict not in REVIEW_VERDICTS:
        raise ValueError(f"verdict {verdict!r}: expected one of {', '.join(REVIEW_VERDICTS)}")
    if kind not in REVIEW_KINDS:
        raise ValueError(f"review kind {kind!r}: expected one of {', '.join(REVIEW_KINDS)}")
    if submission is not None:
        earlier = session.scalars(
            select(Review)
            .where(col(Review.submission) == submission)
            .where(col(Review.criterion_id) == criterion_id)
        ).first()
        if earlier is not None:
            return earlier
    review = Review(
        probe_id=probe.id,
        criterion_id=criterion_id,
        reviewer=reviewer,
        verdict=verdict,
        comment=comment,
        kind=kind,
        submission=submission,
    )
    session.add(review)
    session.flush()
    return review


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """One stored review as the decision reads it, in the order they were recorded."""

    probe_id: uuid.UUID
    criterion_id: str
    reviewer: str
    verdict: str
    kind: str


def decide(
    rows: Iterable[ReviewRow], double: Collection[uuid.UUID]
) -> dict[uuid.UUID, dict[str, str]]:
    """The verdict that counts per probe and criterion, from reviews in recording order.

    The latest arbitration wins; otherwise, on a probe of ``double`` (reviewed blind by two
    auditors), the auditors' latest verdicts count when at least two of them gave one and all
    agree (a disagreement waits for a lead); on any other probe the latest review counts.
    """
    arbitrated: dict[tuple[uuid.UUID, str], str] = {}
    single: dict[tuple[uuid.UUID, str], str] = {}
    by_reviewer: dict[tuple[uuid.UUID, str], dict[str, str]] = {}
    for row in rows:
        key = (row.probe_id, row.criterion_id)
        if row.kind == "arbitration":
            arbitrated[key] = row.verdict
        else:
            single[key] = row.verdict
            by_reviewer.setdefault(key, {})[row.reviewer] = row.verdict
    decided: dict[uuid.UUID, dict[str, str]] = {}
    for key in single.keys() | arbitrated.keys():
        probe_id, criterion_id = key
        verdict: str | None
        if key in arbitrated:
            verdict = arbitrated[key]
        elif probe_id in double:
            verdicts = set(by_reviewer.get(key, {}).values())
            agreed = len(by_reviewer.get(key, {})) >= 2 and len(verdicts) == 1
            verdict = verdicts.pop() if agreed else None
        else:
            verdict = single[key]
        if verdict is not None:
            decided.setdefault(probe_id, {})[criterion_id] = verdict
    return decided


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
