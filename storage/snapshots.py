"""Typed, read-only copies of what an attempt works from: the structure it contacts, the persona
it speaks as, and the scenario frozen with its wave (stored as JSON, read back here).

A wave freezes its scenarios and personas when it is created (``wave.parameters["catalogue"]``,
see scheduler/waves.py): later edits of the files change nothing for it. A section a scenario
lacks reads as empty, with the defaults of config/scenarios.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from storage.models import Structure

DEFAULT_LANGUAGE = "fr"
DEFAULT_RING_SECONDS = 60
DEFAULT_CALL_SECONDS = 300


def _text(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name)
    return "" if value is None else str(value)


def _optional(values: Mapping[str, Any], name: str) -> str | None:
    value = values.get(name)
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class PhoneScript:
    """What a call asks for, and how long it may ring and last."""

    request: str = ""
    transfer_to: str | None = None
    ivr_choice: str | None = None
    max_ring_seconds: int = DEFAULT_RING_SECONDS
    max_call_seconds: int = DEFAULT_CALL_SECONDS
    record: bool = True

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> PhoneScript:
        return cls(
            request=_text(values, "request"),
            transfer_to=_optional(values, "transfer_to"),
            ivr_choice=_optional(values, "ivr_choice"),
            max_ring_seconds=int(values.get("max_ring_seconds", DEFAULT_RING_SECONDS)),
            max_call_seconds=int(values.get("max_call_seconds", DEFAULT_CALL_SECONDS)),
            record=bool(values.get("record", True)),
        )


@dataclass(frozen=True, slots=True)
class MessageTemplates:
    """The Jinja2 sources of an email or a letter (the text of the files the scenario named)."""

    subject: str = ""
    body: str = ""
    html_body: str | None = None

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> MessageTemplates:
        # A wave keeps both the file name (``body``) and, for a template file, its text
        # (``body_text``): the text is what is rendered.
        html = values.get("html_body_text") or values.get("html_body")
        return cls(
            subject=str(values.get("subject_text") or values.get("subject") or ""),
            body=str(values.get("body_text") or values.get("body") or ""),
            html_body=None if html is None else str(html),
        )


@dataclass(frozen=True, slots=True)
class ScenarioSnapshot:
    """A scenario as its wave froze it."""

    id: str
    channel: str
    title: str
    language: str
    phone: PhoneScript
    email: MessageTemplates
    letter: MessageTemplates

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> ScenarioSnapshot:
        return cls(
            id=_text(values, "id"),
            channel=_text(values, "channel"),
            title=_text(values, "title"),
            language=str(values.get("language") or DEFAULT_LANGUAGE),
            phone=PhoneScript.from_json(values.get("phone") or {}),
            email=MessageTemplates.from_json(values.get("email") or {}),
            letter=MessageTemplates.from_json(values.get("letter") or {}),
        )


@dataclass(frozen=True, slots=True)
class PersonaSnapshot:
    """The mystery citizen an attempt speaks as."""

    id: str = ""
    display_name: str = ""
    caller_id: str = ""
    reply_mailbox: str = ""
    postal_address: str = ""

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> PersonaSnapshot:
        return cls(
            id=_text(values, "id"),
            display_name=_text(values, "display_name"),
            caller_id=_text(values, "caller_id"),
            reply_mailbox=_text(values, "reply_mailbox"),
            postal_address=_text(values, "postal_address"),
        )

    def template_values(self) -> dict[str, Any]:
        """The persona as templates read it (``{{ persona.display_name }}``)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StructureSnapshot:
    """The structure an attempt contacts, as stored when the attempt starts."""

    official_id: str
    name: str
    kind: str
    departement: str
    region: str
    peer_group: str
    population: int | None
    timezone: str
    holiday_subdivision: str | None
    opening_hours: str | None
    opening_hours_note: str
    source: str

    @classmethod
    def of(cls, structure: Structure) -> StructureSnapshot:
        return cls(
            official_id=structure.official_id,
            name=structure.name,
            kind=structure.kind,
            departement=structure.departement,
            region=structure.region,
            peer_group=structure.peer_group,
            population=structure.population,
            timezone=structure.timezone,
            holiday_subdivision=structure.holiday_subdivision,
            opening_hours=structure.opening_hours,
            opening_hours_note=structure.opening_hours_note,
            source=structure.source,
        )

    def template_values(self) -> dict[str, Any]:
        """The structure as templates read it (``{{ structure.name }}``)."""
        return asdict(self)
