"""Queries on the scenario and persona catalogue a wave draws from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session

from storage.models import Persona, Scenario
from storage.types import utcnow


@dataclass(frozen=True, slots=True)
class PersonaRow:
    """A persona as the catalogue stores it."""

    id: str
    display_name: str
    caller_id: str
    reply_mailbox: str
    postal_address: str


@dataclass(frozen=True, slots=True)
class ScenarioRow:
    """A scenario as the catalogue stores it: ``definition`` is the validated file's content."""

    id: str
    channel: str
    title: str
    source_path: Path
    definition: dict[str, Any]


def upsert_personas(session: Session, personas: Iterable[PersonaRow]) -> None:
    """Insert or update personas by id."""
    for row in personas:
        persona = session.get(Persona, row.id) or Persona(
            id=row.id, display_name="", caller_id="", reply_mailbox=""
        )
        persona.display_name = row.display_name
        persona.caller_id = row.caller_id
        persona.reply_mailbox = row.reply_mailbox
        persona.postal_address = row.postal_address
        session.add(persona)
    session.flush()


def upsert_scenarios(session: Session, scenarios: Iterable[ScenarioRow]) -> None:
    """Insert or update scenarios by id, keeping the definition used by later probes."""
    for row in scenarios:
        scenario = session.get(Scenario, row.id) or Scenario(id=row.id, channel="", title="")
        scenario.channel = row.channel
        scenario.title = row.title
        scenario.source_path = str(row.source_path)
        scenario.definition = row.definition
        scenario.updated_at = utcnow()
        session.add(scenario)
    session.flush()
