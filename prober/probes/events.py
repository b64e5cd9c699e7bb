"""The event log: where the probes write what they observe, stored and announced in one step.

Every fact goes to the ``event`` table and, in the same transaction, to the outbox the event bus
publishes (docs/events.md: "every fact is announced"). An :class:`EventLog` is bound once to the
bus's topic prefix, so no caller can store a fact without announcing it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from channels.events import ObservedEvent
from config.settings import Settings
from storage import attempts

AfterAttempt = Callable[[Session, uuid.UUID, str], None]
"""Called in the transaction that settles an attempt: (session, probe id, outcome)."""


@dataclass(frozen=True, slots=True)
class EventLog:
    """Stores events and puts their bus message in the outbox, under ``prefix``."""

    prefix: str

    @classmethod
    def of(cls, settings: Settings) -> EventLog:
        """The event log of a project: its bus's ``mqtt.topic_prefix``."""
        return cls(settings.mqtt.topic_prefix)

    def record(
        self,
        session: Session,
        event: ObservedEvent,
        *,
        probe_id: uuid.UUID | None,
        attempt_id: int | None,
    ) -> bool:
        """Store ``event`` (once per dedup key) and announce it; True when it was new."""
        return attempts.record_event(
            session,
            publish_prefix=self.prefix,
            kind=event.kind,
            source=event.source,
            source_at=event.source_at,
            received_at=event.received_at,
            clock=event.clock,
            dedup_key=event.dedup_key,
            payload=event.payload,
            probe_id=probe_id,
            attempt_id=attempt_id,
        )

    def attempt_step(
        self,
        session: Session,
        *,
        probe_id: uuid.UUID,
        attempt_id: int,
        kind: str,
        step: str,
        at: datetime,
        payload: dict[str, Any],
        source: str = "prober",
        received_at: datetime | None = None,
        clock: str = "receipt",
    ) -> bool:
        """A step of one attempt (composed, placed, sent...), stored once per attempt and step.

        ``at`` is when it happened; without ``received_at`` it is also when prober learnt it.
        """
        event = ObservedEvent(
            kind=kind,
            source=source,
            source_at=at,
            received_at=at if received_at is None else received_at,
            dedup_key=f"attempt:{attempt_id}:{step}",
            clock=clock,
            payload=payload,
        )
        return self.record(session, event, probe_id=probe_id, attempt_id=attempt_id)
