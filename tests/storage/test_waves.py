"""Storing plans: a plan is replaced only while none of its probes has started."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlmodel import col

from storage.catalog import PersonaRow, ScenarioRow, upsert_personas, upsert_scenarios
from storage.db import session_scope
from storage.errors import ConflictError
from storage.models import Probe, ProbeState
from storage.waves import ProbeRow, create_wave, get_wave, replace_plan, summarise
from tests.support.seeding import add_structure


def seed_catalogue(engine: Engine) -> int:
    with session_scope(engine) as session:
        structure_id = add_structure(
            session, "S1", departement="974", region="La Réunion", timezone="Indian/Reunion"
        )
        upsert_personas(session, [PersonaRow("p", "Marie", "+33199000001", "m@example.org", "")])
        upsert_scenarios(session, [ScenarioRow("s", "phone", "Appel", Path("s.toml"), {"id": "s"})])
        create_wave(
            session,
            name="w",
            starts_on=date(2026, 3, 2),
            ends_on=date(2026, 3, 6),
            channels=["phone"],
            panel={},
        )
        return structure_id


def probe(structure_id: int, hour: int) -> ProbeRow:
    return ProbeRow(
        id=uuid.uuid4(),
        structure_id=structure_id,
        channel="phone",
        scenario_id="s",
        persona_id="p",
        contact_point_id=None,
        slot_index=hour,
        slot_kind="open",
        scheduled_at=datetime(2026, 3, 3, hour, 0, tzinfo=UTC),
    )


def test_a_plan_is_replaced_until_a_probe_starts(engine: Engine) -> None:
    structure_id = seed_catalogue(engine)
    with session_scope(engine) as session:
        replace_plan(session, get_wave(session, "w"), [probe(structure_id, 6)], seed=1)
    with session_scope(engine) as session:
        wave = get_wave(session, "w")
        replace_plan(session, wave, [probe(structure_id, 7), probe(structure_id, 9)], seed=2)
        [summary] = summarise(session, wave)
    assert (summary.probes, summary.structures) == (2, 1)
    assert summary.first_at == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
    assert summary.last_at == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert summary.states == {"planned": 2}

    with session_scope(engine) as session:
        session.execute(
            update(Probe).where(col(Probe.slot_index) == 7).values(state=ProbeState.DISPATCHING)
        )
    with session_scope(engine) as session, pytest.raises(ConflictError, match="1 probe"):
        replace_plan(session, get_wave(session, "w"), [probe(structure_id, 8)], seed=3)
    with session_scope(engine) as session:
        [summary] = summarise(session, get_wave(session, "w"))
    assert summary.states == {"planned": 1, "dispatching": 1}


def test_wave_names_are_unique(engine: Engine) -> None:
    seed_catalogue(engine)
    with session_scope(engine) as session, pytest.raises(ConflictError, match="exists already"):
        create_wave(
            session,
            name="w",
            starts_on=date(2026, 3, 2),
            ends_on=date(2026, 3, 6),
            channels=["phone"],
            panel={},
        )
