"""Rows the tests write by hand, one builder each: persona, scenario, wave, structure, probe.

Every scene (phone, email, results, claims, the event bus) seeds through these, in the caller's
session; a default is what most tests want, a keyword says what a test cares about.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from storage.models import ContactPoint, Persona, Probe, Scenario, Structure, Wave, WaveStatus


def add_persona(
    session: Session,
    persona_id: str = "p",
    *,
    display_name: str = "Marie",
    caller_id: str = "+33199000001",
    reply_mailbox: str = "",
) -> None:
    """The persona probes are made in the name of, unless it is there already."""
    if session.get(Persona, persona_id) is None:
        session.add(
            Persona(
                id=persona_id,
                display_name=display_name,
                caller_id=caller_id,
                reply_mailbox=reply_mailbox,
            )
        )


def add_scenario(
    session: Session,
    scenario_id: str,
    channel: str,
    *,
    title: str | None = None,
    definition: dict[str, Any] | None = None,
) -> None:
    """A scenario probes follow, unless it is there already."""
    if session.get(Scenario, scenario_id) is None:
        session.add(
            Scenario(
                id=scenario_id,
                channel=channel,
                title=scenario_id if title is None else title,
                definition=definition or {},
            )
        )


def add_wave(
    session: Session,
    name: str,
    *,
    starts_on: date,
    ends_on: date,
    channels: list[str],
    status: WaveStatus = WaveStatus.DRAFT,
    parameters: dict[str, Any] | None = None,
) -> int:
    """A wave; its id."""
    wave = Wave(
        name=name,
        starts_on=starts_on,
        ends_on=ends_on,
        channels=channels,
        status=status,
        parameters=parameters or {},
    )
    session.add(wave)
    session.flush()
    assert wave.id is not None
    return wave.id


def add_structure(
    session: Session,
    official_id: str | None = None,
    *,
    name: str = "Mairie",
    departement: str = "75",
    region: str = "Île-de-France",
    timezone: str = "Europe/Paris",
    opening_hours: str | None = None,
    holiday_subdivision: str | None = None,
) -> int:
    """A mairie (its official id drawn at random unless given); its id."""
    structure = Structure(
        official_id=official_id or f"S-{uuid.uuid4().hex[:10]}",
        name=name,
        kind="mairie",
        departement=departement,
        region=region,
        timezone=timezone,
        holiday_subdivision=holiday_subdivision,
        opening_hours=opening_hours,
    )
    session.add(structure)
    session.flush()
    assert structure.id is not None
    return structure.id


def add_probe(
    session: Session,
    *,
    wave_id: int,
    structure_id: int,
    channel: str,
    scenario_id: str,
    persona_id: str,
    scheduled_at: datetime,
    contact: str | None = None,
    slot_kind: str = "open",
) -> uuid.UUID:
    """A planned probe, sent to ``contact`` (a number or an address) when given; its id."""
    contact_point_id = None
    if contact is not None:
        point = ContactPoint(structure_id=structure_id, kind=channel, value=contact)
        session.add(point)
        session.flush()
        contact_point_id = point.id
    probe = Probe(
        id=uuid.uuid4(),
        wave_id=wave_id,
        structure_id=structure_id,
        channel=channel,
        scenario_id=scenario_id,
        persona_id=persona_id,
        contact_point_id=contact_point_id,
        slot_kind=slot_kind,
        scheduled_at=scheduled_at,
    )
    session.add(probe)
    return probe.id
