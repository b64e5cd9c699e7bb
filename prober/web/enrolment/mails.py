"""The emails of enrolment and publication, written from the text templates beside this
module (one per message, one per offer for publication), and sent through ``[smtp]``."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import jinja2

from channels.email.smtp import send_notice
from config.settings import Settings
from prober.web.enrolment.service import PARIS
from storage.models import Offer
from storage.participants import StoredParticipant

MAILS_DIR = Path(__file__).parent / "mails"
OFFER_FR = {Offer.FREE: "gratuite", Offer.DETAILED: "détaillée"}
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(MAILS_DIR),
    autoescape=False,  # noqa: S701 - plain-text emails, never HTML
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _message(
    settings: Settings, to: str, subject: str, template: str, **context: Any
) -> EmailMessage:
    sender = settings.enrolment.from_address
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(_TEMPLATES.get_template(template).render(**context))
    return message


def _when(instant: datetime) -> str:
    return instant.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")


def confirmation(
    settings: Settings, p: StoredParticipant, url: str, expires: datetime
) -> EmailMessage:
    return _message(
        settings,
        p.contact_email,
        "Baromètre : confirmez votre adresse électronique",
        "confirm.txt",
        p=p,
        url=url,
        offer=OFFER_FR[p.offer],
        expires=_when(expires),
    )


def acceptance(
    settings: Settings,
    p: StoredParticipant,
    *,
    login: str,
    url: str,
    expires: datetime,
    ranking: str,
) -> EmailMessage:
    return _message(
        settings,
        p.contact_email,
        "Baromètre : votre inscription est acceptée",
        "accepted.txt",
        p=p,
        url=url,
        login=login,
        offer=OFFER_FR[p.offer],
        ranking=ranking,
        expires=_when(expires),
    )


def refusal(settings: Settings, p: StoredParticipant, explanation: str) -> EmailMessage:
    return _message(
        settings,
        p.contact_email,
        "Baromètre : votre inscription n'est pas retenue",
        "refused.txt",
        p=p,
        explanation=explanation,
    )


def publication(
    settings: Settings, p: StoredParticipant, *, wave: str, login: str, url: str
) -> EmailMessage:
    return _message(
        settings,
        p.contact_email,
        f"Baromètre : vos résultats de la vague {wave} sont publiés",
        f"published-{p.offer.value}.txt",
        p=p,
        wave=wave,
        login=login,
        url=url,
    )


async def send(settings: Settings, message: EmailMessage) -> None:
    """Send through ``[smtp]``; channels' ContactError when it cannot be sent."""
    await send_notice(settings.smtp, message)
