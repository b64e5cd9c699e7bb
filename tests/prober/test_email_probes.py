"""Email probes against real Dovecot and SMTP servers on loopback: send once, match and time
replies, survive crashes between composing and sending."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
from sqlalchemy import Engine
from sqlmodel import Session, select

from config.settings import Settings
from prober.probes.email import EmailProbes
from prober.project.database import Database
from sandbox.mail import Dovecot
from storage.db import make_engine
from storage.models import Event, MailboxCursor, Probe, ProbeState, Reply
from tests.support.cli import child_prober, prober_to_the_end
from tests.support.email_scene import (
    MailTarget,
    all_replies,
    email_attempts,
    mail_settings,
    seed_email_probes,
)
from tests.support.mailservers import (
    TEST_DOMAIN,
    MailAccount,
    SmtpServer,
    imap_inbox,
    new_account,
    wait_for_messages,
)


async def deliver(smtp: SmtpServer, message: EmailMessage, sender: str, to: str) -> None:
    await aiosmtplib.send(
        message, hostname=smtp.host, port=smtp.port, sender=sender, recipients=[to]
    )


def reply_to(original: EmailMessage, sender: str, body: str, **headers: str) -> EmailMessage:
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = str(original["Reply-To"])
    reply["Subject"] = "RE: " + str(original["Subject"])
    reply["Date"] = format_datetime(datetime.now(UTC))
    reply["Message-ID"] = make_msgid(domain="mairie.test")
    reply["In-Reply-To"] = str(original["Message-ID"])
    reply["References"] = str(original["Message-ID"])
    for name, value in headers.items():
        del reply[name.replace("_", "-")]
        if value:
            reply[name.replace("_", "-")] = value
    reply.set_content(body)
    return reply


async def watch_until(
    probes: EmailProbes, condition: Callable[[], bool], timeout_s: float = 30
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(probes.watch(stop))
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the watcher did not get there in time")
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def test_a_probe_is_sent_once_and_its_replies_are_matched_classified_and_timed(
    engine: Engine,
    dovecot: Dovecot,
    mail_delivery: SmtpServer,
    mail_account: MailAccount,
    tmp_path: Path,
) -> None:
    mairie = new_account(dovecot, "mairie")
    probe_ids = seed_email_probes(engine, mail_account.address, [MailTarget(mairie.address)])
    settings = mail_settings(mail_account, mail_delivery, tmp_path, poll_interval_s=1)
    await _send_and_answer(engine, settings, mairie, mail_delivery, probe_ids[0])

    [attempt] = email_attempts(engine, probe_ids)
    replies = all_replies(engine)
    assert [(r.classification, r.match_method) for r in replies] == [
        ("auto_ack", "in_reply_to"),
        ("human_reply", "address_token"),
    ]
    assert all(r.attempt_id == attempt.id and r.moved_at is not None for r in replies)
    measured = attempt.measurement
    assert measured["outcome"] == attempt.outcome == "replied"
    sent_at = datetime.fromisoformat(measured["sent_at"])
    human = measured["first_human_reply"]
    assert human["reply_id"] == replies[1].id
    # INTERNALDATE has whole seconds: elapsed is never below zero.
    expected_s = max(0.0, (replies[1].received_at - sent_at).total_seconds())
    assert abs(human["elapsed_s"] - expected_s) < 1e-3
    assert measured["first_automatic_acknowledgement"]["reply_id"] == replies[0].id
    for reply in replies:
        assert reply.raw_path is not None and Path(reply.raw_path).read_bytes()
    with Session(engine) as session:
        probe = session.get(Probe, probe_ids[0])
        assert probe is not None and probe.state == ProbeState.DONE
        kinds = [e.kind for e in session.exec(select(Event).where(Event.probe_id == probe_ids[0]))]
    assert kinds.count("email.composed") == kinds.count("email.sent") == 1


async def _send_and_answer(
    engine: Engine, settings: Settings, mairie: MailAccount, smtp: SmtpServer, probe_id: uuid.UUID
) -> None:
    database = Database(engine)
    try:
        probes = EmailProbes(settings, database)
        email = await probes.send(probe_id)
        assert email is not None
        [received] = await wait_for_messages(mairie, 1)
        probe = received.message
        assert probe["Message-ID"] == email.message_id
        ack = reply_to(probe, mairie.address, "Nous accusons réception de votre message.",
                       Auto_Submitted="auto-replied",
                       Subject="Accusé de réception : " + str(probe["Subject"]))  # fmt: skip
        await deliver(smtp, ack, "", email.sender)
        # The person answers from another address of the structure's domain, without threading
        # headers nor reference.
        other = f"etat-civil@{TEST_DOMAIN}"
        human = reply_to(probe, other, "Bonjour, votre acte est en route.",
                         In_Reply_To="", References="", Subject="Votre demande")  # fmt: skip
        await deliver(smtp, human, other, email.sender)
        await watch_until(probes, lambda: len(all_replies(engine)) == 2
                          and all(r.moved_at for r in all_replies(engine)))  # fmt: skip
    finally:
        database.close()


async def test_a_restarted_watcher_processes_every_message_once(
    engine: Engine,
    dovecot: Dovecot,
    mail_delivery: SmtpServer,
    mail_account: MailAccount,
    tmp_path: Path,
) -> None:
    settings = mail_settings(mail_account, mail_delivery, tmp_path, poll_interval_s=1)
    await _restart_while_mail_arrives(engine, settings, mail_delivery, mail_account)
    replies = all_replies(engine)
    assert len(replies) == 30
    assert len({r.sha256 for r in replies}) == 30
    with Session(engine) as session:
        [cursor] = session.exec(select(MailboxCursor))
    assert cursor.last_uid == max(r.imap_uid or 0 for r in replies)


async def _restart_while_mail_arrives(
    engine: Engine, settings: Settings, smtp: SmtpServer, account: MailAccount
) -> None:
    database = Database(engine)

    async def send_all() -> None:
        for index in range(30):
            message = EmailMessage()
            message["From"] = f"agent{index}@mairie.test"
            message["To"] = account.address
            message["Subject"] = f"Message {index}"
            message["Message-ID"] = make_msgid(domain="mairie.test")
            message.set_content(f"Bonjour, voici la réponse numéro {index}.")
            await deliver(smtp, message, f"agent{index}@mairie.test", account.address)
            await asyncio.sleep(0.01)

    try:
        async with asyncio.timeout(120):  # a hang fails the test instead of stalling the suite
            await _kill_and_restart(EmailProbes(settings, database), send_all(), engine)
    finally:
        database.close()


async def _kill_and_restart(
    probes: EmailProbes, sending: Coroutine[Any, Any, None], engine: Engine
) -> None:
    sender = asyncio.create_task(sending)
    # Kill the watcher (cancel it mid-work) several times while mail arrives.
    for _ in range(5):
        watcher = asyncio.create_task(probes.watch(asyncio.Event()))
        await asyncio.sleep(0.08)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    await sender
    await watch_until(probes, lambda: len(all_replies(engine)) >= 30)


async def test_after_a_crash_a_probe_is_sent_again_only_if_it_surely_never_left(
    engine: Engine,
    dovecot: Dovecot,
    mail_delivery: SmtpServer,
    mail_account: MailAccount,
    tmp_path: Path,
) -> None:
    never_left, maybe_left = new_account(dovecot, "mairie"), new_account(dovecot, "mairie")
    probe_ids = seed_email_probes(
        engine,
        mail_account.address,
        [MailTarget(never_left.address), MailTarget(maybe_left.address)],
    )
    settings = mail_settings(mail_account, mail_delivery, tmp_path)
    counts = await _crash_and_reconcile(engine, settings, mail_delivery, probe_ids)
    assert counts == {"sent": 0, "not_sent": 1, "uncertain": 1}
    # The structure whose probe never left got it once, after reconciliation; the other once.
    assert len(await wait_for_messages(never_left, 1)) == 1
    assert len(await wait_for_messages(maybe_left, 1)) == 1
    with Session(engine) as session:
        states = {p.id: p.state for p in session.exec(select(Probe))}
    assert states[probe_ids[0]] == ProbeState.DONE  # sent on the second attempt
    assert states[probe_ids[1]] == ProbeState.FAILED  # uncertain: left for a person to decide
    outcomes = sorted(
        (a.probe_id == probe_ids[0], a.number, a.outcome) for a in email_attempts(engine, probe_ids)
    )
    assert outcomes == [(False, 1, "uncertain"), (True, 1, "not_sent"), (True, 2, "sent")]


async def _crash_and_reconcile(
    engine: Engine, settings: Settings, smtp: SmtpServer, probe_ids: list[uuid.UUID]
) -> dict[str, int]:
    from channels.email.imap import SENDING_KEYWORD, Mailbox
    from channels.email.smtp import send_email

    database = Database(engine)
    try:
        probes = EmailProbes(settings, database)
        # 1. Crash right after composing: nothing reached the Sent folder nor the server.
        await database.run(lambda s: probes._compose(s, probe_ids[0]))
        # 2. Crash right after the SMTP transaction: the Sent copy still carries the mark.
        email, _ = await database.run(lambda s: probes._compose(s, probe_ids[1]))
        async with Mailbox(settings.imap) as mailbox:
            await mailbox.ensure_folder("Sent")
            await mailbox.append(email.raw, "Sent", f"\\Seen {SENDING_KEYWORD}")
        await send_email(settings.smtp, email)
        counts = await probes.reconcile()
        again = await probes.send(probe_ids[0])
        assert again is not None
        return counts
    finally:
        database.close()


async def test_a_watcher_killed_with_sigkill_loses_nothing_and_repeats_nothing(
    mail_account: MailAccount, tmp_path: Path
) -> None:
    """`prober mail watch` killed (SIGKILL) several times while replies arrive, then restarted."""
    project = tmp_path / "project"
    environment = {
        **os.environ,
        "PROBER_DATABASE_URL": f"sqlite:///{project / 'prober.db'}",
        "PROBER_IMAP__HOST": mail_account.imap_host,
        "PROBER_IMAP__PORT": str(mail_account.imap_port),
        "PROBER_IMAP__USERNAME": mail_account.address,
        "PROBER_IMAP__PASSWORD": mail_account.password,
        "PROBER_IMAP__POLL_INTERVAL_S": "0.5",
    }
    await prober_to_the_end("init", str(project), cwd=tmp_path, env=environment)
    total = 80
    chance = random.Random(7)  # noqa: S311 (kill instants, not security)

    async def append_all() -> None:
        async with imap_inbox(mail_account) as client:
            for index in range(total):
                message = EmailMessage()
                message["From"] = f"agent{index}@mairie.test"
                message["To"] = mail_account.address
                message["Subject"] = f"Réponse {index}"
                message["Message-ID"] = make_msgid(domain="mairie.test")
                message.set_content(f"Bonjour, réponse numéro {index}.")
                await client.append(message.as_bytes(), mailbox="INBOX")
                await asyncio.sleep(0.02)

    appending = asyncio.create_task(append_all())
    for _ in range(5):
        watcher = await child_prober("mail", "watch", cwd=project, env=environment)
        await asyncio.sleep(chance.uniform(0.3, 1.2))
        watcher.send_signal(signal.SIGKILL)
        await watcher.wait()
    await appending
    engine = make_engine(environment["PROBER_DATABASE_URL"])
    try:
        # Watched again until every reply is in (a loaded machine may need several rounds).
        for _ in range(30):
            await prober_to_the_end("mail", "watch", "--for", "2", cwd=project, env=environment)
            with Session(engine) as session:
                if len(list(session.exec(select(Reply)))) >= total:
                    break
        with Session(engine) as session:
            replies = list(session.exec(select(Reply)))
            events = list(session.exec(select(Event)))
            [cursor] = session.exec(select(MailboxCursor))
    finally:
        engine.dispose()
    assert sorted(r.subject for r in replies) == sorted(f"Réponse {i}" for i in range(total))
    assert len([e for e in events if e.kind.startswith("email.")]) == total
    assert cursor.last_uid == max(r.imap_uid or 0 for r in replies)
