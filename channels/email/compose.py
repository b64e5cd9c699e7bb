"""Writing a probe email: templates filled in, a unique Message-ID, a reply token everywhere.

The token identifies the probe attempt in every place a reply can carry it back: the plus-address
used as From, Reply-To and envelope sender (``marie.dupont+k7q2m9xa@probes.example.org``), our
``Message-ID`` (``<k7q2m9xa.…@probes.example.org>``, echoed by ``In-Reply-To``/``References``),
and, unless turned off, a short reference in the subject ("(réf. K7Q2M9XA)").
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from channels.errors import ChannelError

TOKEN_LENGTH = 8
SUBJECT_REFERENCE = "(réf. {token})"
_TOKEN_ALPHABET = re.compile(r"^[a-z2-7]+$")


class TemplateRenderError(ChannelError):
    """A scenario template cannot be filled in; the message names the template and the problem."""


@dataclass(frozen=True, slots=True)
class EmailTemplates:
    """A scenario's ``[email]`` section: subject, plain body and optional HTML body (Jinja2)."""

    scenario_id: str
    subject: str
    body: str
    html_body: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeEmail:
    """A composed probe email, ready to send; ``raw`` is exactly what will go on the wire."""

    token: str
    message_id: str
    sender: str  # the plus-address: From, Reply-To and envelope sender
    recipient: str
    subject: str
    raw: bytes
    date: datetime


def reply_token(probe_id: str, attempt: int) -> str:
    """The attempt's token: 8 base32 letters and digits derived from the probe and attempt."""
    digest = hashlib.sha256(f"{probe_id}/{attempt}".encode()).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:TOKEN_LENGTH]


def plus_address(mailbox: str, token: str) -> str:
    """``local+token@domain`` for ``local@domain`` (an existing ``+tag`` is kept before it)."""
    local, at, domain = mailbox.rpartition("@")
    if not at or not local or not domain:
        raise TemplateRenderError(f"reply mailbox {mailbox!r} is not an address like name@domain")
    return f"{local}+{token}@{domain}"


def token_in_address(address: str) -> str | None:
    """The token of a plus-address we made (the last ``+`` tag), if it looks like one."""
    local = address.rpartition("@")[0].strip('<>" ').lower()
    _, plus, tag = local.rpartition("+")
    if plus and len(tag) == TOKEN_LENGTH and _TOKEN_ALPHABET.match(tag):
        return tag
    return None


def render(template: str, name: str, context: dict[str, Any]) -> str:
    """Fill in one template; undefined names and syntax errors are reported with the name."""
    environment = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
    try:
        return environment.from_string(template).render(**context)
    except TemplateSyntaxError as error:
        message = f"template {name}, line {error.lineno}: {error.message}"
        raise TemplateRenderError(message) from None
    except TemplateError as error:
        raise TemplateRenderError(f"template {name}: {error}") from None


def compose(
    templates: EmailTemplates,
    *,
    probe_id: str,
    attempt: int,
    persona: dict[str, Any],
    structure: dict[str, Any],
    recipient: str,
    now: datetime,
    subject_reference: bool = True,
) -> ProbeEmail:
    """The probe email for one attempt, with its Message-ID and token; nothing is sent."""
    token = reply_token(probe_id, attempt)
    mailbox = str(persona.get("reply_mailbox") or "")
    sender = plus_address(mailbox, token)
    domain = sender.rpartition("@")[2]
    context = {"persona": persona, "structure": structure, "reference": token.upper()}
    subject = " ".join(
        render(templates.subject, f"{templates.scenario_id}.subject", context).split()
    )
    if subject_reference:
        subject = f"{subject} {SUBJECT_REFERENCE.format(token=token.upper())}"
    body = render(templates.body, f"{templates.scenario_id}.body", context)
    message = EmailMessage()
    display_name = str(persona.get("display_name") or "")
    message["From"] = Address(display_name, addr_spec=sender)
    message["Reply-To"] = Address(display_name, addr_spec=sender)
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message_id = f"<{token}.{secrets.token_hex(6)}@{domain}>"
    message["Message-ID"] = message_id
    message["MIME-Version"] = "1.0"
    message.set_content(body, subtype="plain", charset="utf-8")
    if templates.html_body:
        html = render(templates.html_body, f"{templates.scenario_id}.html_body", context)
        message.add_alternative(html, subtype="html", charset="utf-8")
    return ProbeEmail(
        token=token,
        message_id=message_id,
        sender=sender,
        recipient=recipient,
        subject=subject,
        raw=message.as_bytes(),
        date=now,
    )
