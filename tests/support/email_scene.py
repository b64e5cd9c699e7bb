"""An email probe scene on loopback: Dovecot + SMTP (support/mailservers.py) and prober's side.

The persona's mailbox is a Dovecot account; structures are other accounts (or sandbox
mailboxes); prober sends through the delivering SMTP server and watches the persona's INBOX.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from config.scenarios import Scenario as ScenarioFile
from config.settings import EmailSettings, ImapSettings, Settings, SmtpSettings
from storage.models import (
    Attempt,
    Channel,
    Reply,
)
from tests.support.mailservers import MailAccount, SmtpServer
from tests.support.seeding import add_persona, add_probe, add_scenario, add_structure, add_wave

SUBJECT = "Demande de copie intégrale d'acte de naissance"
BODY = (
    "Madame, Monsieur,\n\nJe souhaiterais obtenir une copie intégrale de mon acte de naissance"
    " auprès de {{ structure.name }}.\n\nBien cordialement,\n\n{{ persona.display_name }}\n"
)


def email_scenario(scenario_id: str = "etat-civil-email") -> dict[str, Any]:
    """A validated email scenario, as a wave freezes it (inline templates)."""
    scenario = ScenarioFile.model_validate(
        {
            "id": scenario_id,
            "channel": "email",
            "title": scenario_id,
            "email": {"subject": SUBJECT, "body": BODY},
        }
    )
    return scenario.model_dump(mode="json")


def mail_settings(
    account: MailAccount, smtp: SmtpServer, base_dir: Path, *, poll_interval_s: float = 30.0
) -> Settings:
    """Settings pointing prober at the test's SMTP server and the persona's Dovecot mailbox."""
    return Settings(
        smtp=SmtpSettings(host=smtp.host, port=smtp.port),
        imap=ImapSettings(
            host=account.imap_host,
            port=account.imap_port,
            username=account.address,
            password=SecretStr(account.password),
            poll_interval_s=poll_interval_s,
        ),
        email=EmailSettings(),
        replies_dir=base_dir / "replies",
        base_dir=base_dir,
    )


@dataclass(frozen=True)
class MailTarget:
    """One structure to write to, and its opening hours."""

    address: str
    opening_hours: str = "Mo-Fr 08:30-12:00,13:30-17:00"


def seed_email_probes(
    engine: Engine, persona_mailbox: str, targets: Sequence[MailTarget]
) -> list[uuid.UUID]:
    """One structure, contact and email probe per target, in a new wave; the probes' ids."""
    scenario = email_scenario()
    persona = {
        "id": "marie",
        "display_name": "Marie Dupont",
        "caller_id": "+33199000001",
        "reply_mailbox": persona_mailbox,
    }
    probe_ids: list[uuid.UUID] = []
    with Session(engine) as session:
        add_persona(
            session,
            "marie",
            display_name="Marie Dupont",
            caller_id="+33199000001",
            reply_mailbox=persona_mailbox,
        )
        add_scenario(session, scenario["id"], "email", title="x", definition=scenario)
        wave_id = add_wave(
            session,
            f"email-{uuid.uuid4().hex[:6]}",
            starts_on=date(2026, 11, 23),
            ends_on=date(2026, 11, 27),
            channels=["email"],
            parameters={
                "catalogue": {
                    "scenarios": {scenario["id"]: scenario},
                    "personas": {"marie": persona},
                }
            },
        )
        for target in targets:
            structure_id = add_structure(
                session,
                f"mail-{uuid.uuid4().hex[:10]}",
                name=f"Mairie de {target.address.split('@')[0]}",
                departement="77",
                opening_hours=target.opening_hours,
            )
            probe_ids.append(
                add_probe(
                    session,
                    wave_id=wave_id,
                    structure_id=structure_id,
                    channel=Channel.EMAIL,
                    scenario_id=scenario["id"],
                    persona_id="marie",
                    scheduled_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
                    contact=target.address,
                )
            )
        session.commit()
    return probe_ids


def email_attempts(engine: Engine, probe_ids: Sequence[uuid.UUID]) -> list[Attempt]:
    """Every attempt of these probes."""
    with Session(engine) as session:
        return list(session.exec(select(Attempt).where(col(Attempt.probe_id).in_(probe_ids))))


def all_replies(engine: Engine) -> list[Reply]:
    """Every stored reply, oldest first."""
    with Session(engine) as session:
        return list(session.exec(select(Reply).order_by(col(Reply.id))))
