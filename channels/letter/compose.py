"""Writing a probe letter: the scenario's body filled in, both postal addresses, a reference.

The reference is the attempt's email reply token as people read it (``K7Q2-M6XA-B3CD-EF45``), so
a reply quoting it is matched to its probe the same way whichever channel the request went by.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from channels.email.compose import TemplateRenderError, reference_text, render
from channels.errors import ChannelError

MAX_ADDRESS_LINES = 6
"""La Poste's norm NF Z10-011: an address block holds six lines at most, the name included."""

_POSTCODE = re.compile(r"^\d{5}(\s+|$)")
_CEDEX = re.compile(r"\s+cedex(\s+\d+)?$", re.IGNORECASE)


class LetterError(ChannelError):
    """A letter cannot be composed or rendered; the message names what and why."""


@dataclass(frozen=True, slots=True)
class PostalAddress:
    """An address block as printed: the name, then one line per part, the town line in capitals."""

    lines: tuple[str, ...]

    @classmethod
    def from_directory(cls, name: str, address: str) -> PostalAddress:
        """A structure's address block from the directory's one-line, comma-separated address."""
        parts = _address_parts(address)
        if not parts:
            raise LetterError(
                f"structure {name!r} has no postal address: add one to the directory "
                "before sending it a letter"
            )
        return cls._block(name, parts, address)

    @classmethod
    def from_persona(cls, display_name: str, postal_address: str) -> PostalAddress:
        """The persona's own address block, where replies to its letters come back."""
        parts = _address_parts(postal_address)
        if not parts:
            raise LetterError(
                f"persona {display_name!r} has no postal address: set postal_address in the "
                "personas file (replies to a letter come back there)"
            )
        return cls._block(display_name, parts, postal_address)

    @classmethod
    def _block(cls, name: str, parts: list[str], address: str) -> PostalAddress:
        lines = [name.strip(), *parts[:-1], parts[-1].upper()]
        if len(lines) > MAX_ADDRESS_LINES:
            raise LetterError(
                f"address of {name!r} makes {len(lines)} lines with the name, more than the "
                f"{MAX_ADDRESS_LINES} La Poste accepts (NF Z10-011): {address!r}; "
                "merge some of its comma-separated parts"
            )
        return cls(tuple(lines))


@dataclass(frozen=True, slots=True)
class LetterTemplates:
    """A scenario's ``[letter]`` section: the body (Jinja2)."""

    scenario_id: str
    body: str


@dataclass(frozen=True, slots=True)
class ProbeLetter:
    """A composed probe letter, ready to print; ``place`` and ``dated`` make its date line."""

    reference: str
    sender: PostalAddress
    recipient: PostalAddress
    place: str
    dated: date
    body: str
    scenario_id: str


def compose_letter(
    templates: LetterTemplates,
    *,
    token: str,
    persona: Mapping[str, Any],
    structure: Mapping[str, Any],
    recipient_address: str,
    dated: date,
) -> ProbeLetter:
    """The probe letter of the attempt whose reply token is ``token`` (stored with it), from the
    persona to the structure; nothing is printed."""
    display_name = str(persona.get("display_name") or "")
    persona_address = str(persona.get("postal_address") or "")
    sender = PostalAddress.from_persona(display_name, persona_address)
    recipient = PostalAddress.from_directory(str(structure["name"]), recipient_address)
    reference = reference_text(token)
    context = {"persona": persona, "structure": structure, "reference": reference}
    try:
        body = render(templates.body, f"{templates.scenario_id}.letter.body", context)
    except TemplateRenderError as error:
        raise LetterError(str(error)) from None
    return ProbeLetter(
        reference=reference,
        sender=sender,
        recipient=recipient,
        place=_town(display_name, persona_address),
        dated=dated,
        body=body,
        scenario_id=templates.scenario_id,
    )


def _address_parts(address: str) -> list[str]:
    return [part.strip() for part in address.split(",") if part.strip()]


def _town(display_name: str, postal_address: str) -> str:
    """The town of the address's last part, as written: ``94300 Vincennes`` -> ``Vincennes``."""
    town = _CEDEX.sub("", _POSTCODE.sub("", _address_parts(postal_address)[-1])).strip()
    if not town:
        raise LetterError(
            f"postal_address of persona {display_name!r} ends without a town "
            f"({postal_address!r}): end it with the postcode and town, like '94300 Vincennes'"
        )
    return town
