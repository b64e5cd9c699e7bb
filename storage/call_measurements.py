"""Queries for a call's figures by witness (callbacks, audio) and the auditors' checks on them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from storage.errors import NotFoundError
from storage.models import CallMeasurement
from storage.types import utcnow

DISAGREEMENT = "disagreement"
VERDICTS = frozenset({"confirmed", "rejected"})
FIGURES = (
    "rings",
    "rings_after_answer",
    "answered_at_s",
    "hold_s",
    "first_words_s",
    "music_s",
    "announcement_s",
    "busy",
)


def save_measurement(
    session: Session,
    *,
    attempt_id: int,
    source: str,
    figures: dict[str, Any],
    details: dict[str, Any],
    recording_external_id: str | None = None,
    check: str | None = None,
) -> CallMeasurement:
    """Store (or replace) the attempt's figures from ``source``; an auditor's verdict stays."""
    row = measurement_of(session, attempt_id, source)
    if row is None:
        row = CallMeasurement(attempt_id=attempt_id, source=source)
    for name in FIGURES:
        setattr(row, name, figures.get(name))
    row.details = details
    row.recording_external_id = recording_external_id
    row.computed_at = utcnow()
    if row.check not in VERDICTS:  # a verdict already given is not asked for again
        row.check = check
    session.add(row)
    session.flush()
    return row


def measurement_of(session: Session, attempt_id: int, source: str) -> CallMeasurement | None:
    return session.exec(
        select(CallMeasurement).where(
            col(CallMeasurement.attempt_id) == attempt_id, col(CallMeasurement.source) == source
        )
    ).first()


def measurements_to_check(session: Session, *, pending_only: bool = True) -> list[CallMeasurement]:
    """Audio measurements flagged for an auditor (or already checked, with ``pending_only``
    false), oldest first."""
    checks = [DISAGREEMENT] if pending_only else [DISAGREEMENT, *VERDICTS]
    return list(
        session.exec(
            select(CallMeasurement)
            .where(col(CallMeasurement.check).in_(checks))
            .order_by(col(CallMeasurement.id))
        )
    )


def check_measurement(session: Session, measurement_id: int, verdict: str, *, by: str) -> None:
    """An auditor's verdict on a flagged measurement: ``confirmed`` (the audio is right) or
    ``rejected`` (it is not: the callbacks' figures stand)."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r}: expected one of {sorted(VERDICTS)}")
    row = session.get(CallMeasurement, measurement_id)
    if row is None or row.check is None:
        raise NotFoundError(f"no flagged call measurement {measurement_id}")
    row.check = verdict
    row.checked_by, row.checked_at = by, utcnow()
    session.add(row)


def audio_measurements(session: Session, attempt_ids: Sequence[int]) -> dict[int, CallMeasurement]:
    """The audio measurement of each of these attempts that has one."""
    if not attempt_ids:
        return {}
    rows = session.exec(
        select(CallMeasurement).where(
            col(CallMeasurement.attempt_id).in_(list(attempt_ids)),
            col(CallMeasurement.source) == "audio",
        )
    )
    return {row.attempt_id: row for row in rows}
