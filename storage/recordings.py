"""Queries for call recordings: announced by Twilio, downloaded, or known to be missing."""

from __future__ import annotations

import uuid

from sqlmodel import Session, col, select

from storage.errors import ConflictError, NotFoundError
from storage.models import Recording


def announce_recording(
    session: Session,
    *,
    probe_id: uuid.UUID,
    attempt_id: int | None,
    external_id: str,
    duration_seconds: float | None,
) -> Recording:
    """The recording row for ``external_id``, created on first announcement."""
    recording = session.exec(
        select(Recording).where(col(Recording.external_id) == external_id)
    ).first()
    if recording is None:
        recording = Recording(
            probe_id=probe_id,
            attempt_id=attempt_id,
            external_id=external_id,
            duration_seconds=duration_seconds,
        )
        session.add(recording)
        session.flush()
    return recording


def store_recording_media(
    session: Session,
    external_id: str,
    *,
    media_path: str,
    content_type: str,
    sha256: str,
    size_bytes: int,
) -> None:
    """Record where a downloaded recording lies and its checksum."""
    recording = session.exec(
        select(Recording).where(col(Recording.external_id) == external_id)
    ).first()
    if recording is None:
        raise NotFoundError(f"no recording {external_id}")
    if recording.sha256 is not None and recording.sha256 != sha256:
        raise ConflictError(
            f"recording {external_id} was stored with checksum {recording.sha256}; the new copy"
            f" differs ({sha256}): kept the first"
        )
    recording.media_path = media_path
    recording.content_type = content_type
    recording.sha256 = sha256
    recording.size_bytes = size_bytes
    recording.status = "stored"
    session.add(recording)


def recordings_to_fetch(session: Session) -> list[tuple[uuid.UUID, str]]:
    """(probe id, recording SID) of the recordings announced but not downloaded yet, oldest
    first (to resume after a restart or a failed download)."""
    rows = session.exec(
        select(Recording.probe_id, Recording.external_id)
        .where(col(Recording.status) == "announced")
        .order_by(col(Recording.id))
    )
    return [(probe_id, external_id) for probe_id, external_id in rows]


def mark_recording_missing(session: Session, external_id: str) -> None:
    """Twilio does not have this recording (deleted, or never made): stop asking for it."""
    recording = session.exec(
        select(Recording).where(col(Recording.external_id) == external_id)
    ).first()
    if recording is not None and recording.status == "announced":
        recording.status = "missing"
        session.add(recording)


def get_recording(session: Session, recording_id: int) -> Recording:
    """The recording with id ``recording_id``; NotFoundError if there is none."""
    recording = session.get(Recording, recording_id)
    if recording is None:
        raise NotFoundError(f"no recording {recording_id}")
    return recording


def recording_by_sid(session: Session, external_id: str) -> Recording | None:
    return session.exec(select(Recording).where(col(Recording.external_id) == external_id)).first()
