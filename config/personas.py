"""Persona files: the fictional identities mystery citizens call, write and sign with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, ValidationError, field_validator

from config._tomlfile import FileModel, Identifier, Text, first_duplicate, invalid, read_toml, show
from config.errors import InvalidFileError

DEFAULT_PHONE_REGION = "FR"
"""National numbers (``06 12 34 56 78``) are read as numbers of this country."""


def _e164(value: str) -> str:
    expected = (
        "expected a phone number in international form like '+33612345678'"
        f" (or a French number like '06 12 34 56 78'), got {show(value)}"
    )
    try:
        number = phonenumbers.parse(value, DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise invalid(expected) from None
    if not phonenumbers.is_valid_number(number):
        raise invalid(f"{expected}, which is not a valid number (no such number range)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _mailbox(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise invalid(f"expected an email address, got {show(value)}: {exc}") from None


PhoneNumber = Annotated[str, AfterValidator(_e164)]
"""A valid phone number, normalised to E.164 (``+33612345678``)."""

Mailbox = Annotated[str, AfterValidator(_mailbox)]
"""A syntactically valid email address, normalised (domain lower-cased)."""


class Persona(FileModel):
    """A fictional citizen: the name, number and addresses a probe presents."""

    id: Identifier
    display_name: Text
    caller_id: PhoneNumber
    """The number shown to the structure when this persona calls."""
    reply_mailbox: Mailbox
    """Where replies to this persona's emails arrive (the Reply-To of sent emails)."""
    postal_address: Text | None = None


class _PersonasFile(FileModel):
    persona: list[Persona] = Field(min_length=1)

    @field_validator("persona")
    @classmethod
    def _unique_ids(cls, personas: list[Persona]) -> list[Persona]:
        duplicate = first_duplicate(persona.id for persona in personas)
        if duplicate is not None:
            first, again = duplicate
            raise invalid(
                f"duplicate id {personas[again].id!r}, already used by persona[{first}]",
                again,
                "id",
            )
        return personas


def load_personas(path: Path) -> dict[str, Persona]:
    """Read and validate a personas file (``[[persona]]`` tables); returns personas by id."""
    document = read_toml(path)
    try:
        personas = _PersonasFile.model_validate(document.data)
    except ValidationError as exc:
        raise InvalidFileError(path, document.problems(exc, _PersonasFile)) from None
    return {persona.id: persona for persona in personas.persona}
