"""Writing a probe email: templates filled in, a unique Message-ID, a reply token everywhere.

The token identifies the probe attempt in every place a reply can carry it back: the plus-address
used as From, Reply-To and envelope sender (``marie.dupont+k7q2m6xab3cdef45@probes.example.org``),
our ``Message-ID`` (``<k7q2m6xab3cdef45.…@probes.example.org>``, echoed by
``In-Reply-To``/``References``), and, unless turned off, a reference in the subject
("(réf. K7Q2-M6XA-B3CD-EF45)"). It is random (80 bits from ``secrets``), drawn once per attempt
and stored with it before anything is sent: nobody can compute it from public facts.

Templates are filled in by Jinja2's immutable sandbox, with bounds on ``range``, on repeated
strings and lists, and on the output, so a template that overflows fails at once.
"""

from __future__ import annotations

import base64
import operator
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from channels.errors import ChannelError

TOKEN_BYTES = 10
TOKEN_LENGTH = TOKEN_BYTES * 8 // 5  # base32: 16 characters
SUBJECT_REFERENCE = "(réf. {reference})"
MAX_TEMPLATE_OUTPUT_CHARS = 1_000_000
MAX_RANGE_ITEMS = 10_000
"""Items all ``range`` calls of one rendering may produce together."""
_TOKEN_ALPHABET = re.compile(r"^[a-z2-7]+$")
_REFERENCE_SEPARATORS = re.compile(r"[\s-]")


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


def new_reply_token() -> str:
    """A fresh attempt token: 16 base32 letters and digits (80 random bits)."""
    return base64.b32encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii").lower()


def reference_text(token: str) -> str:
    """The token as people read and type it: ``K7Q2-M6XA-B3CD-EF45``."""
    upper = token.upper()
    return "-".join(upper[i : i + 4] for i in range(0, len(upper), 4))


def token_of_reference(reference: str) -> str:
    """The token a reference stands for, however it was typed (case, spaces, dashes)."""
    return _REFERENCE_SEPARATORS.sub("", reference).lower()


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


class _TemplateEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with ``*`` and ``**`` bounded: ``"x" * 10**9`` is refused."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int) and abs(right) > 64:
                raise SecurityError(f"exponent {right} is too large for a template")
            return operator.pow(left, right)
        if isinstance(left, int) and isinstance(right, str | list | tuple):
            left, right = right, left
        if isinstance(left, str | list | tuple) and isinstance(right, int):
            if len(left) * right > MAX_TEMPLATE_OUTPUT_CHARS:
                raise SecurityError(
                    f"repeating a {type(left).__name__} {right} times is too large for a template"
                )
        return operator.mul(left, right)


def render(template: str, name: str, context: dict[str, Any]) -> str:
    """Fill in one template; undefined names, syntax errors and templates that would run away
    (a huge ``range``, output over a million characters) are reported with the name."""
    environment = _TemplateEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
    budget = [MAX_RANGE_ITEMS]

    def bounded_range(*arguments: int) -> range:
        items = range(*arguments)
        budget[0] -= len(items)
        if budget[0] < 0:
            raise SecurityError(
                f"range() produces more than {MAX_RANGE_ITEMS} items in one template"
            )
        return items

    environment.globals["range"] = bounded_range
    try:
        return _bounded_output(environment.from_string(template).generate(**context), name)
    except TemplateSyntaxError as error:
        message = f"template {name}, line {error.lineno}: {error.message}"
        raise TemplateRenderError(message) from None
    except TemplateError as error:
        raise TemplateRenderError(f"template {name}: {error}") from None
    except (OverflowError, MemoryError, RecursionError, ValueError, TypeError) as error:
        raise TemplateRenderError(f"template {name}: {error}") from None


def _bounded_output(chunks: Iterator[str], name: str) -> str:
    kept: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_TEMPLATE_OUTPUT_CHARS:
            raise TemplateRenderError(
                f"template {name}: the text would exceed {MAX_TEMPLATE_OUTPUT_CHARS} characters;"
                " check its loops"
            )
        kept.append(chunk)
    return "".join(kept)


def compose(
    templates: EmailTemplates,
    *,
    token: str,
    persona: dict[str, Any],
    structure: dict[str, Any],
    recipient: str,
    now: datetime,
    subject_reference: bool = True,
) -> ProbeEmail:
    """The probe email for the attempt whose token is ``token`` (see :func:`new_reply_token`,
    stored with the attempt); nothing is sent."""
    mailbox = str(persona.get("reply_mailbox") or "")
    sender = plus_address(mailbox, token)
    domain = sender.rpartition("@")[2]
    reference = reference_text(token)
    context = {"persona": persona, "structure": structure, "reference": reference}
    subject = " ".join(
        render(templates.subject, f"{templates.scenario_id}.subject", context).split()
    )
    if subject_reference:
        subject = f"{subject} {SUBJECT_REFERENCE.format(reference=reference)}"
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
