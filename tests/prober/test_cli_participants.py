"""``prober participants list|accept|refuse|export``, ``wave plan --panel participants`` and
``wave publish``, emails through a real SMTP server into Dovecot."""

from __future__ import annotations

import csv
import io
import json

import pytest

from config.settings import load_settings
from prober.web.enrolment.service import confirm, parse_enrolment, register
from sandbox.mail import Dovecot
from storage.db import make_engine, session_scope
from tests.support.cli import SAMPLES, Run
from tests.support.mailservers import SmtpServer, new_account, wait_for_messages

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def enrol(siret: str, email: str, **more: str) -> int:
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    try:
        fields = {
            "siret": siret,
            "offre": "free",
            "contact_name": "Claire Martin",
            "contact_email": email,
            "postal_address": "1 place de la Mairie",
            "conditions": "oui",
            **more,
        }
        with session_scope(engine) as session:
            registered = register(session, settings, parse_enrolment(fields))
        with session_scope(engine) as session:
            confirm(session, registered.token)
        return registered.participant.id
    finally:
        engine.dispose()


async def test_participants_from_the_command_line(
    prober_cli: Run,
    mail_delivery: SmtpServer,
    dovecot: Dovecot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROBER_SMTP__HOST", mail_delivery.host)
    monkeypatch.setenv("PROBER_SMTP__PORT", str(mail_delivery.port))
    monkeypatch.setenv("PROBER_ENROLMENT__FREE_PLACES", "1")
    monkeypatch.setenv("PROBER_ENROLMENT__PUBLIC_URL", "https://barometre.example.fr")
    assert prober_cli("init").exit_code == 0
    assert prober_cli("structures", "import", str(SAMPLES / "structures.csv")).exit_code == 0
    organisation = new_account(dovecot, "dgs")
    other = new_account(dovecot, "ccas")
    first = enrol(
        "21770001800011",
        organisation.address,
        organisation="Ville exemple",
        sites="21750056000015",
    )
    second = enrol("21690123000014", other.address)

    listed = prober_cli("participants", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["id"], r["status"], r["free_rank"]) for r in rows] == [
        (first, "confirmed", 1),
        (second, "confirmed", 2),
    ]
    assert rows[1]["ranking"].endswith("au-delà des places gratuites : liste d'attente.")

    refused = await prober_cli.in_thread("participants", "accept", str(second))
    assert refused.exit_code == 1
    assert "Places gratuites épuisées : Rang 2 pour 1 place gratuite" in refused.stderr
    accepted = await prober_cli.in_thread("participants", "accept", str(first))
    assert accepted.exit_code == 0, accepted.stderr
    assert f"account {organisation.address.lower()!r}" in accepted.stdout
    invitation = (await wait_for_messages(organisation, 1))[0].message
    text = str(invitation.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert "https://barometre.example.fr/inscription/mot-de-passe?jeton=" in text
    assert "Places gratuites : Rang 1 pour 1 place gratuite" in text
    refusing = await prober_cli.in_thread(
        "participants", "refuse", str(second), "--reason", "Complet."
    )
    assert refusing.exit_code == 0, refusing.stderr
    refusal = (await wait_for_messages(other, 1))[0].message
    assert "Complet. Rang 2 pour 1 place gratuite" in str(
        refusal.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    )

    exported = prober_cli("participants", "export", "--status", "accepted")
    assert exported.exit_code == 0
    (row,) = csv.DictReader(io.StringIO(exported.stdout))
    assert row["sites"] == "21770001800011 21750056000015" and row["offer"] == "free"
    assert row["contact_phone"] == "" and row["organisation"] == "Ville exemple"

    created = prober_cli(
        "wave", "create", "hiver", "--start", "2027-01-11", "--end", "2027-01-29",
        "--channels", "phone",
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    planned = prober_cli("wave", "plan", "hiver", "--panel", "participants")
    assert planned.exit_code == 0, planned.stderr
    assert "planned for 2 structure(s)" in planned.stdout

    published = await prober_cli.in_thread("wave", "publish", "hiver")
    assert published.exit_code == 0, published.stderr
    assert "wave hiver published; 1 participant(s) emailed" in published.stdout
    notice = (await wait_for_messages(organisation, 2))[1].message
    assert notice["Subject"] == "Baromètre : vos résultats de la vague hiver sont publiés"
    again = await prober_cli.in_thread("wave", "publish", "hiver")
    assert again.exit_code == 1
    assert "Les résultats de la vague hiver sont déjà publiés." in again.stderr
