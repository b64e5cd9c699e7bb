"""Probes to claim: waves, structures with opening hours and planned probes, in one call each.

Shared by the claims tests (tests/storage/test_dispatch.py) and the dispatcher's
(tests/scheduler/test_dispatch.py); each builder commits its rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from storage import attempts
from storage.db import session_scope
from storage.models import Probe, ProbeState, WaveStatus
from tests.support import seeding

WEEKDAY_HOURS = "Mo-Fr 08:30-12:00,13:30-17:30"


def add_wave(
    engine: Engine,
    name: str = "w",
    *,
    status: WaveStatus = WaveStatus.RUNNING,
    ends_on: date = date(2026, 3, 27),
    parameters: dict[str, Any] | None = None,
) -> int:
    """A wave (with the persona and scenario its probes name, created once per database)."""
    with session_scope(engine) as session:
        seeding.add_persona(session, display_name="P", caller_id="+33100000000")
        seeding.add_scenario(session, "s", "phone")
        return seeding.add_wave(
            session,
            name,
            starts_on=date(2026, 3, 2),
            ends_on=ends_on,
            channels=["phone", "email"],
            status=status,
            parameters=parameters,
        )


def add_structures(
    engine: Engine,
    count: int,
    *,
    hours: str | None = WEEKDAY_HOURS,
    timezone: str = "Europe/Paris",
    subdivision: str | None = None,
) -> list[int]:
    """``count`` structures with these opening hours; their ids."""
    with session_scope(engine) as session:
        return [
            seeding.add_structure(
                session,
                name=f"Mairie {index}",
                timezone=timezone,
                holiday_subdivision=subdivision,
                opening_hours=hours,
            )
            for index in range(count)
        ]


def add_probe(
    engine: Engine,
    wave_id: int,
    structure_id: int,
    scheduled_at: datetime,
    *,
    channel: str = "phone",
    slot_kind: str = "open",
) -> uuid.UUID:
    """One planned probe; its id."""
    with session_scope(engine) as session:
        return seeding.add_probe(
            session,
            wave_id=wave_id,
            structure_id=structure_id,
            channel=channel,
            scenario_id="s",
            persona_id="p",
            scheduled_at=scheduled_at,
            slot_kind=slot_kind,
        )


def probe_row(engine: Engine, probe_id: uuid.UUID) -> Probe:
    with Session(engine) as session:
        probe = session.get(Probe, probe_id)
        assert probe is not None
        return probe


def end_attempt(session: Session, probe_id: uuid.UUID, *, outcome: str = "completed") -> None:
    """Finish the probe's last attempt: the probe is done."""
    probe = session.get(Probe, probe_id)
    assert probe is not None
    attempt = attempts.find_attempt(session, probe_id, probe.attempt_count)
    assert attempt is not None and attempt.id is not None
    attempts.finish_attempt(
        session,
        attempt.id,
        outcome=outcome,
        ended_at=datetime.now(UTC),
        measurement={},
        probe_state=ProbeState.DONE,
    )


def carry_out(session: Session, probe_id: uuid.UUID) -> None:
    """Start an attempt of the probe and finish it: the probe is done."""
    attempts.start_attempt(session, probe_id)
    end_attempt(session, probe_id)
