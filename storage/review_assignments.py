"""Who reviews which contact of a wave: assignments, the blind double-review draw, the queue.

A share of a wave's reviewable contacts (``review.double_share``) is drawn for a blind double
review: the draw ranks contacts by a hash of the wave and the probe id, so the same wave and
contacts draw the same ones on any machine. Contacts go to the auditors with the fewest
assignments (ties by login), two distinct auditors for a double review.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, exists, func, insert, or_, select
from sqlmodel import Session, col

from storage.errors import ConflictError
from storage.models import Attempt, Probe, Reply, Review, ReviewAssignment, Structure, Wave
from storage.reviews import probes_to_review
from storage.types import utcnow

_REVIEW_TABLE: Table = Review.__table__  # type: ignore[attr-defined]

REACHED = ("answered", "replied")
"""Attempt outcomes where an exchange took place, so there is something to review."""


def draw_key(wave_name: str, probe_id: uuid.UUID) -> str:
    """The probe's rank in the wave's draws: a SHA-256 of the wave's name and the probe id."""
    return hashlib.sha256(f"{wave_name}\x00{probe_id}".encode()).hexdigest()


def draw_double(wave_name: str, probe_ids: Collection[uuid.UUID], share: float) -> set[uuid.UUID]:
    """The ``share`` of ``probe_ids`` reviewed blind by two auditors (rounded to nearest)."""
    if not 0 <= share <= 1:
        raise ValueError(f"double review share {share}: expected between 0 and 1")
    count = int(len(probe_ids) * share + 0.5)
    ranked = sorted(probe_ids, key=lambda probe_id: draw_key(wave_name, probe_id))
    return set(ranked[:count])


@dataclass(frozen=True, slots=True)
class AssignmentSummary:
    """What ``assign_reviews`` did: contacts newly assigned, how many doubly, per auditor."""

    assigned: int
    double: int
    already: int
    per_auditor: dict[str, int]


def assign_reviews(
    session: Session,
    wave: Wave,
    auditors: Sequence[str],
    *,
    double_share: float,
    reviewed_channels: Collection[str],
) -> AssignmentSummary:
    """Assign the wave's unassigned reviewable contacts (an exchange took place within opening
    hours, on a channel with reviewed criteria) to ``auditors``; earlier assignments stay."""
    logins = sorted(set(auditors))
    if not logins:
        raise ConflictError("no auditor to assign reviews to: add one with `prober users add`")
    if wave.id is None:
        raise ValueError("a wave not yet stored has no contacts")
    channel_of = {
        item.probe_id: item.channel
        for item in probes_to_review(session, wave.name, REACHED)
        if item.slot_kind != "off_hours" and item.channel in reviewed_channels
    }
    candidates = list(channel_of)
    assigned_before = set(
        session.scalars(
            select(col(ReviewAssignment.probe_id)).where(col(ReviewAssignment.wave_id) == wave.id)
        )
    )
    fresh = [probe_id for probe_id in candidates if probe_id not in assigned_before]
    double = draw_double(wave.name, fresh, double_share) if len(logins) >= 2 else set()
    load = dict.fromkeys(logins, 0)
    for auditor, count in session.execute(
        select(col(ReviewAssignment.auditor), func.count())
        .where(col(ReviewAssignment.wave_id) == wave.id)
        .group_by(col(ReviewAssignment.auditor))
    ):
        if auditor in load:
            load[auditor] = count
    added = dict.fromkeys(logins, 0)
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for probe_id in sorted(fresh, key=lambda probe_id: draw_key(wave.name, probe_id)):
        is_double = probe_id in double
        chosen = sorted(logins, key=lambda login: (load[login], login))[: 2 if is_double else 1]
        for auditor in chosen:
            load[auditor] += 1
            added[auditor] += 1
            rows.append(
                {
                    "wave_id": wave.id,
                    "probe_id": probe_id,
                    "auditor": auditor,
                    "channel": channel_of[probe_id],
                    "double": is_double,
                    "disputed": False,
                    "created_at": now,
                }
            )
    for start in range(0, len(rows), 5_000):
        session.execute(insert(ReviewAssignment), rows[start : start + 5_000])
    session.flush()
    return AssignmentSummary(
        assigned=len(fresh), double=len(double), already=len(assigned_before), per_auditor=added
    )


@dataclass(frozen=True, slots=True)
class QueueFilters:
    """The queue's filters; empty strings and None filter nothing."""

    auditor: str | None = None
    channel: str = ""
    structure: str = ""
    criterion: str = ""
    flagged: bool = False
    blind: bool = False
    """An auditor's own view: disagreements with the other blind auditor are not shown."""


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One contact of the queue, as its auditor (or a lead) sees it."""

    probe_id: uuid.UUID
    official_id: str
    name: str
    channel: str
    auditors: tuple[str, ...]
    double: bool
    reviewed: frozenset[str]
    disagreement: bool
    arbitrated: bool


@dataclass(frozen=True, slots=True)
class QueuePage:
    """A page of the queue with the progress over the whole filtered queue."""

    items: list[QueueItem]
    total: int
    done: int


def _flagged_condition(*, blind: bool) -> Any:
    """Contacts needing attention: two blind auditors disagreeing on a criterion no lead
    arbitrated yet (``disputed``, kept by :func:`update_dispute`), or a reply flagged by the mail
    checks (an unusual sender, a suspicious message). ``blind`` (an auditor's view) leaves
    disagreements out."""
    flagged_replies = select(col(Reply.probe_id)).where(
        or_(col(Reply.flagged).is_(True), col(Reply.sender_check) == "sender_mismatch")
    )
    replies = col(ReviewAssignment.probe_id).in_(flagged_replies)
    return replies if blind else or_(col(ReviewAssignment.disputed).is_(True), replies)


def review_queue(
    session: Session,
    wave_id: int,
    filters: QueueFilters,
    *,
    reviewed_criteria: dict[str, list[str]],
    limit: int = 50,
    offset: int = 0,
) -> QueuePage:
    """The wave's assigned contacts matching ``filters``: one page, with the progress over all
    of them (assignments whose auditor gave a verdict on every reviewed criterion, see
    :func:`mark_reviewed`); a contact reviewed blind counts once per auditor in a lead's view.

    ``reviewed_criteria`` maps each channel to its reviewed criteria (from the grid).
    """
    conditions: list[Any] = [col(ReviewAssignment.wave_id) == wave_id]
    if filters.auditor is not None:
        conditions.append(col(ReviewAssignment.auditor) == filters.auditor)
    if filters.channel:
        conditions.append(col(ReviewAssignment.channel) == filters.channel)
    if filters.structure:
        text = filters.structure.strip()
        matching = (
            select(col(Probe.id))
            .join(Structure, col(Structure.id) == col(Probe.structure_id))
            .where(col(Probe.wave_id) == wave_id)
            .where(
                or_(
                    col(Structure.official_id) == text,
                    func.lower(col(Structure.name)).contains(text.lower(), autoescape=True),
                )
            )
        )
        conditions.append(col(ReviewAssignment.probe_id).in_(matching))
    if filters.criterion:
        channel = next(
            (ch for ch, ids in reviewed_criteria.items() if filters.criterion in ids), None
        )
        conditions.append(col(ReviewAssignment.channel) == (channel or ""))
        conditions.append(
            ~exists(
                select(1)
                .where(col(Review.probe_id) == col(ReviewAssignment.probe_id))
                .where(col(Review.reviewer) == col(ReviewAssignment.auditor))
                .where(col(Review.criterion_id) == filters.criterion)
            )
        )
    if filters.flagged:
        conditions.append(_flagged_condition(blind=filters.blind))

    base = select(col(ReviewAssignment.probe_id)).where(*conditions)
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    done = session.execute(
        select(func.count()).select_from(
            base.where(col(ReviewAssignment.reviewed_at).is_not(None)).subquery()
        )
    ).scalar_one()
    page_ids = list(
        dict.fromkeys(
            session.scalars(base.order_by(col(ReviewAssignment.id)).limit(limit).offset(offset))
        )
    )
    return QueuePage(items=_queue_items(session, page_ids, filters.auditor), total=total, done=done)


def _queue_items(
    session: Session, probe_ids: list[uuid.UUID], auditor: str | None
) -> list[QueueItem]:
    if not probe_ids:
        return []
    info = {
        row[0]: row[1:]
        for row in session.execute(
            select(
                col(Probe.id), col(Structure.official_id), col(Structure.name), col(Probe.channel)
            )
            .join(Structure, col(Structure.id) == col(Probe.structure_id))
            .where(col(Probe.id).in_(probe_ids))
        )
    }
    assigned: dict[uuid.UUID, list[tuple[str, bool]]] = {}
    for probe_id, login, double in session.execute(
        select(
            col(ReviewAssignment.probe_id),
            col(ReviewAssignment.auditor),
            col(ReviewAssignment.double),
        )
        .where(col(ReviewAssignment.probe_id).in_(probe_ids))
        .order_by(col(ReviewAssignment.auditor))
    ):
        assigned.setdefault(probe_id, []).append((login, double))
    latest: dict[uuid.UUID, dict[tuple[str, str], str]] = {}
    arbitrated: dict[uuid.UUID, set[str]] = {}
    for probe_id, criterion_id, reviewer, verdict, kind in session.execute(
        select(
            col(Review.probe_id),
            col(Review.criterion_id),
            col(Review.reviewer),
            col(Review.verdict),
            col(Review.kind),
        )
        .where(col(Review.probe_id).in_(probe_ids))
        .order_by(col(Review.created_at), col(Review.id))
    ):
        if kind == "arbitration":
            arbitrated.setdefault(probe_id, set()).add(criterion_id)
        else:
            latest.setdefault(probe_id, {})[(reviewer, criterion_id)] = verdict
    items = []
    for probe_id in probe_ids:
        official_id, name, channel = info[probe_id]
        logins = tuple(login for login, _ in assigned.get(probe_id, []))
        double = any(flag for _, flag in assigned.get(probe_id, []))
        verdicts = latest.get(probe_id, {})
        by_criterion: dict[str, set[str]] = {}
        for (reviewer, criterion_id), verdict in verdicts.items():
            if reviewer in logins:
                by_criterion.setdefault(criterion_id, set()).add(verdict)
        open_disagreements = {
            criterion_id
            for criterion_id, seen in by_criterion.items()
            if len(seen) > 1 and criterion_id not in arbitrated.get(probe_id, set())
        }
        mine = (
            frozenset(c for (r, c) in verdicts if r == auditor)
            if auditor is not None
            else frozenset(c for (r, c) in verdicts if r in logins)
        )
        items.append(
            QueueItem(
                probe_id=probe_id,
                official_id=official_id,
                name=name,
                channel=channel,
                auditors=logins,
                double=double,
                reviewed=mine,
                disagreement=double and bool(open_disagreements),
                arbitrated=bool(arbitrated.get(probe_id)),
            )
        )
    return items


def assignments_of(session: Session, probe_id: uuid.UUID) -> list[tuple[str, bool]]:
    """(auditor, double) of every assignment of a probe."""
    return [
        (login, double)
        for login, double in session.execute(
            select(col(ReviewAssignment.auditor), col(ReviewAssignment.double))
            .where(col(ReviewAssignment.probe_id) == probe_id)
            .order_by(col(ReviewAssignment.auditor))
        )
    ]


def waves_of_auditor(session: Session, auditor: str) -> list[int]:
    """The ids of the waves where ``auditor`` has contacts to review."""
    return list(
        session.scalars(
            select(col(ReviewAssignment.wave_id))
            .where(col(ReviewAssignment.auditor) == auditor)
            .distinct()
        )
    )


@dataclass(frozen=True, slots=True)
class BlindPair:
    """Two auditors' latest verdicts on one criterion of a contact they both reviewed blind."""

    probe_id: uuid.UUID
    criterion_id: str
    first_auditor: str
    first_verdict: str
    second_auditor: str
    second_verdict: str


def blind_pairs(session: Session, wave_id: int) -> list[BlindPair]:
    """Every criterion of the wave's double-reviewed contacts that both auditors judged."""
    assigned: dict[uuid.UUID, list[str]] = {}
    for probe_id, login in session.execute(
        select(col(ReviewAssignment.probe_id), col(ReviewAssignment.auditor))
        .where(col(ReviewAssignment.wave_id) == wave_id)
        .where(col(ReviewAssignment.double).is_(True))
        .order_by(col(ReviewAssignment.auditor))
    ):
        assigned.setdefault(probe_id, []).append(login)
    latest: dict[tuple[uuid.UUID, str], dict[str, str]] = {}
    for probe_id, criterion_id, reviewer, verdict in session.execute(
        select(
            col(Review.probe_id),
            col(Review.criterion_id),
            col(Review.reviewer),
            col(Review.verdict),
        )
        .join(
            ReviewAssignment,
            and_(
                col(ReviewAssignment.probe_id) == col(Review.probe_id),
                col(ReviewAssignment.auditor) == col(Review.reviewer),
            ),
        )
        .where(col(ReviewAssignment.wave_id) == wave_id)
        .where(col(ReviewAssignment.double).is_(True))
        .where(col(Review.kind) == "review")
        .order_by(col(Review.created_at), col(Review.id))
    ):
        latest.setdefault((probe_id, criterion_id), {})[reviewer] = verdict
    pairs = []
    for (probe_id, criterion_id), verdicts in sorted(latest.items(), key=lambda kv: str(kv[0])):
        logins = assigned.get(probe_id, [])
        if len(logins) >= 2 and all(login in verdicts for login in logins[:2]):
            first, second = logins[:2]
            pairs.append(
                BlindPair(probe_id, criterion_id, first, verdicts[first], second, verdicts[second])
            )
    return pairs


def reached_attempt(session: Session, probe_id: uuid.UUID) -> Attempt | None:
    """The probe's latest attempt that reached the structure, if any."""
    return session.scalars(
        select(Attempt)
        .where(col(Attempt.probe_id) == probe_id)
        .where(col(Attempt.outcome).in_(list(REACHED)))
        .order_by(col(Attempt.number).desc())
    ).first()


def mark_reviewed(
    session: Session, probe_id: uuid.UUID, auditor: str, criteria: Collection[str]
) -> bool:
    """Date the auditor's assignment of the contact as reviewed once their verdicts cover
    ``criteria`` (the channel's reviewed criteria); True when it is (now or before)."""
    assignment = session.scalars(
        select(ReviewAssignment)
        .where(col(ReviewAssignment.probe_id) == probe_id)
        .where(col(ReviewAssignment.auditor) == auditor)
    ).first()
    if assignment is None:
        return False
    if assignment.reviewed_at is not None:
        return True
    given = set(
        session.scalars(
            select(col(Review.criterion_id))
            .where(col(Review.probe_id) == probe_id)
            .where(col(Review.reviewer) == auditor)
            .where(col(Review.kind) == "review")
        )
    )
    if not set(criteria) <= given:
        return False
    assignment.reviewed_at = utcnow()
    session.add(assignment)
    session.flush()
    return True


def update_dispute(session: Session, probe_id: uuid.UUID) -> bool:
    """Recompute whether the contact's blind auditors disagree on a criterion that no lead
    arbitrated (their latest verdicts differ); stored on its assignments, returned."""
    logins = [login for login, double in assignments_of(session, probe_id) if double]
    latest: dict[str, dict[str, str]] = {}
    arbitrated: set[str] = set()
    for criterion_id, reviewer, verdict, kind in session.execute(
        select(
            col(Review.criterion_id), col(Review.reviewer), col(Review.verdict), col(Review.kind)
        )
        .where(col(Review.probe_id) == probe_id)
        .order_by(col(Review.created_at), col(Review.id))
    ):
        if kind == "arbitration":
            arbitrated.add(criterion_id)
        elif reviewer in logins:
            latest.setdefault(criterion_id, {})[reviewer] = verdict
    disputed = any(
        len(set(verdicts.values())) > 1 and criterion_id not in arbitrated
        for criterion_id, verdicts in latest.items()
    )
    for assignment in session.scalars(
        select(ReviewAssignment).where(col(ReviewAssignment.probe_id) == probe_id)
    ):
        if assignment.disputed != disputed:
            assignment.disputed = disputed
            session.add(assignment)
    session.flush()
    return disputed
