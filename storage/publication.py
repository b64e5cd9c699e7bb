"""Publication of a wave's results to its participants: before it, they see nothing."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from storage.errors import ConflictError, NotFoundError
from storage.models import Wave, WavePublication


def _wave(session: Session, wave_name: str) -> Wave:
    wave = session.exec(select(Wave).where(col(Wave.name) == wave_name)).first()
    if wave is None:
        raise NotFoundError(f"no wave {wave_name!r}: `prober wave list` shows them")
    return wave


def wave_published_at(session: Session, wave_name: str) -> datetime | None:
    """When the results of ``wave_name`` were published; None before (or for no such wave)."""
    row = session.exec(
        select(WavePublication)
        .join(Wave, col(Wave.id) == col(WavePublication.wave_id))
        .where(col(Wave.name) == wave_name)
    ).first()
    return None if row is None else row.published_at


def publish_wave(session: Session, wave_name: str, by: str) -> datetime:
    """Publish the results of ``wave_name``; ConflictError if they already are."""
    wave = _wave(session, wave_name)
    assert wave.id is not None  # noqa: S101 - stored
    if session.exec(select(WavePublication).where(col(WavePublication.wave_id) == wave.id)).first():
        raise ConflictError(f"the results of wave {wave_name!r} are already published")
    row = WavePublication(wave_id=wave.id, published_by=by)
    session.add(row)
    session.flush()
    return row.published_at


def published_waves(session: Session) -> dict[str, datetime]:
    """Every published wave's name and publication instant."""
    rows = session.exec(
        select(Wave.name, WavePublication.published_at).join(
            WavePublication, col(WavePublication.wave_id) == col(Wave.id)
        )
    ).all()
    return {name: at for name, at in rows}
