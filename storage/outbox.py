"""The outbox: messages for the event bus, written in the same transaction as the facts they
announce, then published in ``id`` order and marked once the broker acknowledged them.

This module also holds the topic scheme. An event of a probe goes to
``<prefix>/<wave>/<structure official id>/<channel>/<kind>``; an event of no probe goes to
``<prefix>/system/<kind>``. A wave-level message goes to ``<prefix>/<wave>/<kind>``. A level
never holds MQTT's separators or wildcards: ``%``, ``/``, ``+``, ``#`` and NUL are
percent-encoded, so that ``unquote_level`` gives back the name (see ``topic_level``).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Table, delete, func, insert, update
from sqlmodel import Session, col, select

from storage.errors import NotFoundError
from storage.models import OutboxMessage, Probe, Structure, Wave
from storage.types import utcnow

_OUTBOX_TABLE: Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_TOPIC_MAX_LENGTH = 500  # OutboxMessage.topic's column
_ESCAPED = {"%": "%25", "/": "%2F", "+": "%2B", "#": "%23", "\0": "%00"}


def topic_level(name: str) -> str:
    """``name`` as one topic level: MQTT's separator and wildcards percent-encoded."""
    return "".join(_ESCAPED.get(character, character) for character in name)


def unquote_level(level: str) -> str:
    """The name a ``topic_level`` stands for."""
    return unquote(level)


def wave_topic(*, prefix: str, wave: str, kind: str) -> str:
    """The topic of a wave-level message, e.g. ``prober/2027-pre/progress``."""
    return f"{prefix}/{topic_level(wave)}/{topic_level(kind)}"


def check_topic(topic: str) -> None:
    """Raise ValueError unless ``topic`` can be published to as it is."""
    problem = None
    if not topic:
        problem = "it is empty"
    elif "+" in topic or "#" in topic:
        problem = "it holds a wildcard (+ or #)"
    elif "\0" in topic:
        problem = "it holds a NUL character"
    elif len(topic) > _TOPIC_MAX_LENGTH:
        problem = f"it is longer than {_TOPIC_MAX_LENGTH} characters"
    if problem is not None:
        raise ValueError(f"topic {topic!r} cannot be published: {problem}")


@dataclass(frozen=True, slots=True)
class ProbePlace:
    """Where a probe's events belong: its wave, structure and channel (they never change)."""

    wave: str
    structure: str
    channel: str

    def topic(self, prefix: str, kind: str) -> str:
        levels = (self.wave, self.structure, self.channel, kind)
        return "/".join((prefix, *(topic_level(level) for level in levels)))


class _PlaceCache:
    """A small thread-safe LRU of probe places: the database workers share it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._places: OrderedDict[uuid.UUID, ProbePlace] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, probe_id: uuid.UUID) -> ProbePlace | None:
        with self._lock:
            place = self._places.get(probe_id)
            if place is not None:
                self._places.move_to_end(probe_id)
            return place

    def put(self, probe_id: uuid.UUID, place: ProbePlace) -> None:
        with self._lock:
            self._places[probe_id] = place
            self._places.move_to_end(probe_id)
            while len(self._places) > self.size:
                self._places.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._places.clear()


_places = _PlaceCache(size=20_000)


def clear_place_cache() -> None:
    """Forget the cached probe places (tests that reuse probe ids across databases)."""
    _places.clear()


def probe_place(session: Session, probe_id: uuid.UUID) -> ProbePlace:
    """The wave name, structure official id and channel of a probe (cached: they never change).

    Raises NotFoundError for an unknown probe.
    """
    place = _places.get(probe_id)
    if place is not None:
        return place
    row = session.exec(
        select(Wave.name, Structure.official_id, Probe.channel)
        .join(Wave, col(Wave.id) == col(Probe.wave_id))
        .join(Structure, col(Structure.id) == col(Probe.structure_id))
        .where(col(Probe.id) == probe_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no probe {probe_id}: its event has no topic")
    place = ProbePlace(wave=row[0], structure=row[1], channel=row[2])
    _places.put(probe_id, place)
    return place


def event_topic(session: Session, *, prefix: str, probe_id: uuid.UUID | None, kind: str) -> str:
    """The topic of an event: ``<prefix>/<wave>/<structure>/<channel>/<kind>`` for a probe's,
    ``<prefix>/system/<kind>`` for one of no probe."""
    if probe_id is None:
        return f"{prefix}/system/{topic_level(kind)}"
    return probe_place(session, probe_id).topic(prefix, kind)


def enqueue(
    session: Session,
    *,
    topic: str,
    payload: dict[str, Any],
    event_id: uuid.UUID | None = None,
) -> None:
    """Add a message to the outbox, in the caller's transaction: it leaves only if that commits.

    Raises ValueError for a topic no broker would take (wildcards, NUL, too long).
    """
    check_topic(topic)
    session.connection().execute(
        insert(_OUTBOX_TABLE).values(
            event_id=event_id,
            topic=topic,
            payload=payload,
            created_at=utcnow(),
            published_at=None,
            attempts=0,
        )
    )


def enqueue_event(
    session: Session,
    *,
    prefix: str,
    event_id: uuid.UUID,
    probe_id: uuid.UUID | None,
    kind: str,
    source: str,
    source_at: datetime,
    received_at: datetime,
    payload: dict[str, Any],
) -> None:
    """Announce a stored event on the bus: its JSON message on its topic (see docs/events.md)."""
    place = None if probe_id is None else probe_place(session, probe_id)
    message = {
        "id": str(event_id),
        "kind": kind,
        "probe": None if probe_id is None else str(probe_id),
        "wave": None if place is None else place.wave,
        "structure": None if place is None else place.structure,
        "channel": None if place is None else place.channel,
        "source": source,
        "source_at": source_at.isoformat(),
        "received_at": received_at.isoformat(),
        "payload": payload,
    }
    topic = event_topic(session, prefix=prefix, probe_id=probe_id, kind=kind)
    enqueue(session, topic=topic, payload=message, event_id=event_id)


def pending(session: Session, *, limit: int) -> list[OutboxMessage]:
    """The oldest ``limit`` messages not published yet, in the order they must be published."""
    return list(
        session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.published_at).is_(None))
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        )
    )


def mark_published(session: Session, ids: list[int], at: datetime) -> None:
    """Record that the broker acknowledged messages ``ids`` at ``at`` (one attempt more each)."""
    if not ids:
        return
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids), col(OutboxMessage.published_at).is_(None))
        .values(published_at=at, attempts=col(OutboxMessage.attempts) + 1)
    )


def note_failed_attempt(session: Session, ids: list[int]) -> None:
    """Count an attempt at publishing messages ``ids`` that was not acknowledged."""
    if not ids:
        return
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids))
        .values(attempts=col(OutboxMessage.attempts) + 1)
    )


def count_pending(session: Session) -> int:
    """How many messages wait to be published."""
    count = session.exec(
        select(func.count())
        .select_from(OutboxMessage)
        .where(col(OutboxMessage.published_at).is_(None))
    ).one()
    return int(count)


def purge_published(session: Session, *, before: datetime) -> int:
    """Delete messages the broker acknowledged before ``before``; how many went.

    Pending messages always stay; the events they announced stay in the ``event`` table.
    """
    result = session.execute(
        delete(OutboxMessage).where(
            col(OutboxMessage.published_at).is_not(None),
            col(OutboxMessage.published_at) < before,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
