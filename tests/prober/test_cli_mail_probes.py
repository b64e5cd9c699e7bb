"""`prober mail send / watch / results` and `prober replies` against Dovecot and SMTP."""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
import pytest

from sandbox.mail import Dovecot
from tests.support.cli import Run
from tests.support.mailservers import SmtpServer, new_account, wait_for_messages


async def send(smtp: SmtpServer, message: EmailMessage, to: str) -> None:
    sender = str(message["From"])
    await aiosmtplib.send(
        message, hostname=smtp.host, port=smtp.port, sender=sender, recipients=[to]
    )


async def test_send_watch_results_and_manual_assignment(
    prober_cli: Run,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    dovecot: Dovecot,
    mail_delivery: SmtpServer,
) -> None:
    # Structure and persona addresses go through import validation: no special-use domains.
    mairies = [new_account(dovecot, "mairie", domain="mairie-exemple.fr") for _ in range(2)]
    mail_account = new_account(dovecot, "marie", domain="probes-exemple.fr")
    csv = tmp_path / "structures.csv"
    csv.write_text(
        "official_id,name,kind,departement,population,phone,email,opening_hours\n"
        + "".join(
            f"2177000{index}800011,Mairie {index},mairie,77,5800,01 64 81 00 1{index},"
            f"{mairie.address},Mo-Fr 08:30-12:00\n"
            for index, mairie in enumerate(mairies)
        ),
        encoding="utf-8",
    )
    assert prober_cli("init").exit_code == 0
    personas = Path("personas.toml")
    personas.write_text(
        '[[persona]]\nid = "marie"\ndisplay_name = "Marie Dupont"\n'
        f'caller_id = "+33199000001"\nreply_mailbox = "{mail_account.address}"\n',
        encoding="utf-8",
    )
    assert prober_cli("structures", "import", str(csv)).exit_code == 0
    created = prober_cli(
        "wave", "create", "courriels", "--start", "2027-03-01", "--end", "2027-03-26",
        "--channels", "email", "--emails-per-structure", "1",
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    assert prober_cli("wave", "plan", "courriels").exit_code == 0
    for name, value in {
        "PROBER_SMTP__HOST": mail_delivery.host,
        "PROBER_SMTP__PORT": str(mail_delivery.port),
        "PROBER_IMAP__HOST": mail_account.imap_host,
        "PROBER_IMAP__PORT": str(mail_account.imap_port),
        "PROBER_IMAP__USERNAME": mail_account.address,
        "PROBER_IMAP__PASSWORD": mail_account.password,
        "PROBER_IMAP__POLL_INTERVAL_S": "0.5",
    }.items():
        monkeypatch.setenv(name, value)

    sent = await prober_cli.in_thread("mail", "send", "courriels", "--json")
    assert sent.exit_code == 0, sent.stderr
    records = [json.loads(line) for line in sent.stdout.splitlines()]
    assert sorted(r["address"] for r in records) == sorted(m.address for m in mairies)
    assert {r["outcome"] for r in records} == {"sent"}
    again = await prober_cli.in_thread("mail", "send", "courriels")
    assert again.exit_code == 1 and "no planned email probe" in again.stderr

    [probe] = await wait_for_messages(mairies[0], 1)
    answer = EmailMessage()
    answer["From"] = mairies[0].address
    answer["To"] = str(probe.message["Reply-To"])
    answer["Subject"] = "RE: " + str(probe.message["Subject"])
    answer["In-Reply-To"] = answer["References"] = str(probe.message["Message-ID"])
    answer["Message-ID"] = make_msgid(domain="mairie.test")
    answer.set_content("Bonjour, vous trouverez la marche à suivre ci-dessous.")
    await send(mail_delivery, answer, str(probe.message["Reply-To"]))
    stray = EmailMessage()
    stray["From"] = "secretariat@mairie.test"
    stray["To"] = mail_account.address
    stray["Subject"] = "Votre demande"
    stray["Message-ID"] = make_msgid(domain="mairie.test")
    stray.set_content("Bonjour, suite à votre appel, voici les horaires.")
    await send(mail_delivery, stray, mail_account.address)

    assert (await prober_cli.in_thread("mail", "watch", "--for", "3")).exit_code == 0
    results = [
        json.loads(line)
        for line in prober_cli("mail", "results", "courriels", "--json").stdout.splitlines()
    ]
    by_address = {r["address"]: r for r in results}
    assert by_address[mairies[0].address]["outcome"] == "replied"
    assert by_address[mairies[0].address]["first_human_reply"]["working_days"] >= 0
    assert by_address[mairies[1].address]["outcome"] == "sent"

    [unmatched] = [
        json.loads(line)
        for line in prober_cli("replies", "unmatched", "--json").stdout.splitlines()
    ]
    assert unmatched["subject"] == "Votre demande"
    second = by_address[mairies[1].address]["probe"]
    assigned = prober_cli("replies", "assign", str(unmatched["id"]), second)
    assert assigned.exit_code == 0, assigned.stderr
    results = [
        json.loads(line)
        for line in prober_cli("mail", "results", "courriels", "--json").stdout.splitlines()
    ]
    assert {r["address"]: r["outcome"] for r in results}[mairies[1].address] == "replied"
    assert prober_cli("replies", "unmatched", "--json").stdout == ""
    wrong = prober_cli("replies", "assign", str(unmatched["id"]), second)
    assert wrong.exit_code == 1 and "already matched" in wrong.stderr
