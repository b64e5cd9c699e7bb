"""Hostile replies on real Dovecot: a message that would freeze the daemon, one too big to
read, one too big to fetch whole, and a reply forged by someone who is not the structure."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from channels.email.imap import Mailbox
from config.settings import EmailSettings, Settings
from prober.probes.email import EmailProbes
from prober.project.database import Database
from sandbox.mail import Dovecot
from storage import mail
from storage.models import Attempt, MailboxCursor, Reply
from tests.support.cli import Run
from tests.support.email_scene import (
    MailTarget,
    all_replies,
    email_attempts,
    mail_settings,
    seed_email_probes,
)
from tests.support.hostile_mail import large_attachment_message, repeated_a_message
from tests.support.mailservers import MailAccount, SmtpServer, new_account, until, wait_for_messages


def with_email(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update={"email": EmailSettings(**changes)})


async def append(account_settings: Settings, raw: bytes) -> None:
    async with Mailbox(account_settings.imap) as mailbox:
        await mailbox.append(raw, account_settings.imap.mailbox, "")


async def watch_while(probes: EmailProbes, work: Callable[[], Awaitable[None]]) -> None:
    """Run the reply watcher while ``work`` runs, then stop it."""
    stop = asyncio.Event()
    watcher = asyncio.create_task(probes.watch(stop))
    try:
        await work()
    finally:
        stop.set()
        await watcher


async def test_an_html_message_of_repeated_a_does_not_stall_the_event_loop(
    engine: Engine, mail_delivery: SmtpServer, mail_account: MailAccount, tmp_path: Path
) -> None:
    settings = mail_settings(mail_account, mail_delivery, tmp_path, poll_interval_s=0.5)
    gaps = await _ingest_with_heartbeat(engine, settings, repeated_a_message())
    [reply] = all_replies(engine)
    assert reply.classification == "human_reply", reply.reason
    # The old reader held the loop for minutes on this message (152 s on the project's
    # machine); the bound only tells "responsive" from "frozen", bench/hostile_mail.py measures.
    assert len(gaps) > 10
    assert max(gaps) < 2.0, f"the event loop stalled {max(gaps):.1f} s"


async def _ingest_with_heartbeat(engine: Engine, settings: Settings, raw: bytes) -> list[float]:
    database = Database(engine)
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    stored = asyncio.Event()

    async def heartbeat() -> None:
        last = loop.time()
        while not stored.is_set():
            await asyncio.sleep(0.01)
            now = loop.time()
            gaps.append(now - last)
            last = now

    async def deliver_and_wait() -> None:
        await append(settings, raw)
        await until(lambda: len(all_replies(engine)) == 1)
        stored.set()

    try:
        probes = EmailProbes(settings, database)
        beating = asyncio.create_task(heartbeat())
        await watch_while(probes, deliver_and_wait)
        await beating
    finally:
        database.close()
    return gaps


@pytest.mark.parametrize(
    ("limit", "attachment_bytes", "in_reason"),
    [
        ({"parse_timeout_s": 0.001}, 4_000_000, "email.parse_timeout_s"),
        # Reading 27 MB takes some 200 MB: far over 64 MiB, while receiving it fits.
        ({"parse_memory_mb": 64}, 20_000_000, "email.parse_memory_mb"),
    ],
)
async def test_a_message_over_the_worker_limits_is_stored_unparsed_and_never_read_again(
    engine: Engine,
    database_url: str,
    mail_delivery: SmtpServer,
    mail_account: MailAccount,
    tmp_path: Path,
    prober_cli: Run,
    limit: dict[str, Any],
    attachment_bytes: int,
    in_reason: str,
) -> None:
    settings = mail_settings(mail_account, mail_delivery, tmp_path, poll_interval_s=0.5)
    raw = large_attachment_message(attachment_bytes, subject="Trop lourd à lire")
    await _unparsed_then_restart(engine, settings, limit, raw)

    reply, marker = all_replies(engine)
    assert marker.subject == "marqueur"
    assert reply.classification == "unparsed"
    assert in_reason in reply.reason
    assert reply.attempt_id is None and reply.subject == "Trop lourd à lire"
    assert reply.sender == "agent@mairie-exemple.fr"
    assert reply.raw_path is not None and Path(reply.raw_path).read_bytes() == raw
    assert prober_cli("init").exit_code == 0
    listed = prober_cli("replies", "unmatched", "--json")
    assert listed.exit_code == 0, listed.stderr
    record, _ = [json.loads(line) for line in listed.stdout.splitlines()]
    assert record["kind"] == "unparsed" and in_reason in record["reason"]
    shown = prober_cli("replies", "unmatched")
    assert "could not be read within the limits" in shown.stdout
    classified = prober_cli("mail", "classify", reply.raw_path)
    assert classified.exit_code == 0, classified.stderr
    assert "Traceback" not in classified.stdout + classified.stderr


async def _unparsed_then_restart(
    engine: Engine, settings: Settings, limit: dict[str, Any], raw: bytes
) -> None:
    database = Database(engine)
    try:
        limited = EmailProbes(with_email(settings, max_message_bytes=50_000_000, **limit), database)

        async def deliver_and_wait() -> None:
            await append(settings, raw)
            await until(lambda: len(all_replies(engine)) == 1)

        await watch_while(limited, deliver_and_wait)
        [first] = all_replies(engine)
        with Session(engine) as session:
            [cursor] = session.exec(select(MailboxCursor))
        assert cursor.last_uid == first.imap_uid  # the position moved past it
        # A restart with generous limits: the cursor is past the message, which is not read
        # again, neither from the mailbox nor when the same bytes come back.
        restarted = EmailProbes(with_email(settings, max_message_bytes=50_000_000), database)
        marker = b"Subject: marqueur\r\n\r\nfin\r\n"
        await append(settings, marker)
        await watch_while(restarted, lambda: until(lambda: len(all_replies(engine)) == 2))
        async with Mailbox(settings.imap) as mailbox:
            await mailbox.select(settings.imap.mailbox)
            [again] = await mailbox.fetch_many([first.imap_uid or 0], max_message_bytes=None)
        ingested = await restarted.ingest(again)
        restarted.close()
        assert not ingested.new and ingested.kind == "unparsed"
    finally:
        database.close()


async def test_a_message_over_max_message_bytes_is_fetched_in_part(
    engine: Engine, mail_delivery: SmtpServer, mail_account: MailAccount, tmp_path: Path
) -> None:
    limit = 10_000
    settings = with_email(
        mail_settings(mail_account, mail_delivery, tmp_path, poll_interval_s=0.5),
        max_message_bytes=limit,
    )
    raw = large_attachment_message(300_000)
    await _fetch_in_part(engine, settings, raw)
    [reply] = all_replies(engine)
    assert reply.raw_path is not None
    kept = Path(reply.raw_path).read_bytes()
    assert kept == raw[:limit]
    assert reply.raw_size_bytes == len(raw)
    assert reply.details["truncated"] is True and reply.details["kept_bytes"] == limit
    assert reply.classification == "human_reply" and reply.flagged
    assert reply.subject == "Pièce jointe"


async def _fetch_in_part(engine: Engine, settings: Settings, raw: bytes) -> None:
    database = Database(engine)
    try:
        probes = EmailProbes(settings, database)

        async def deliver_and_wait() -> None:
            await append(settings, raw)
            await until(lambda: len(all_replies(engine)) == 1)

        await watch_while(probes, deliver_and_wait)
    finally:
        database.close()


def old_token(probe_id: uuid.UUID, attempt: int) -> str:
    """The token as prober computed it before: from the probe id and attempt number alone."""
    digest = hashlib.sha256(f"{probe_id}/{attempt}".encode()).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:8]


async def test_a_forged_reply_is_flagged_and_counts_only_once_confirmed(
    engine: Engine,
    dovecot: Dovecot,
    mail_delivery: SmtpServer,
    mail_account: MailAccount,
    tmp_path: Path,
    prober_cli: Run,
) -> None:
    mairie = new_account(dovecot, "mairie", domain="mairie-exemple.fr")
    [probe_id] = seed_email_probes(engine, mail_account.address, [MailTarget(mairie.address)])
    settings = mail_settings(mail_account, mail_delivery, tmp_path, poll_interval_s=0.5)
    token = await _forge_replies(engine, settings, mairie, probe_id)

    with Session(engine) as session:
        assert mail.attempt_by_reference(session, old_token(probe_id, 1)) is None
    [attempt] = email_attempts(engine, [probe_id])
    assert attempt.reference == token and len(token) == 16
    by_subject = {reply.subject: reply for reply in all_replies(engine)}
    computed = by_subject["Re: demande (réf. COMPUTED)"]
    assert computed.attempt_id is None  # the token of public facts matches nothing
    forged = by_subject["Re: demande (réf. QUOTED)"]
    assert forged.attempt_id == attempt.id and forged.classification == "human_reply"
    assert forged.sender == "attacker@evil.example"
    assert forged.sender_check == "sender_mismatch"
    assert attempt.outcome == "sent"  # not "replied": the forged reply does not count
    assert attempt.measurement["first_human_reply"] is None
    assert attempt.measurement["replies_to_review"] == 1

    assert prober_cli("init").exit_code == 0
    flagged = prober_cli("replies", "flagged", "--json")
    assert flagged.exit_code == 0, flagged.stderr
    [record] = [json.loads(line) for line in flagged.stdout.splitlines()]
    assert record["id"] == forged.id and record["sender"] == "attacker@evil.example"
    confirmed = prober_cli("replies", "confirm", str(forged.id), "--by", "A. Auditrice")
    assert confirmed.exit_code == 0, confirmed.stderr
    with Session(engine) as session:
        after = session.get(Attempt, attempt.id)
        reviewed = session.get(Reply, forged.id)
    assert after is not None and after.outcome == "replied"
    assert reviewed is not None and reviewed.sender_check == "confirmed"
    assert reviewed.sender_checked_by == "A. Auditrice"
    assert prober_cli("replies", "flagged", "--json").stdout == ""
    rejected = prober_cli("replies", "reject", str(forged.id), "--by", "B. Auditeur")
    assert rejected.exit_code == 0, rejected.stderr
    with Session(engine) as session:
        again = session.get(Attempt, attempt.id)
    assert again is not None and again.outcome == "sent"
    not_flagged = prober_cli("replies", "confirm", str(computed.id), "--by", "A. Auditrice")
    assert not_flagged.exit_code == 1 and "nothing to review" in not_flagged.stderr


async def _forge_replies(
    engine: Engine, settings: Settings, mairie: MailAccount, probe_id: uuid.UUID
) -> str:
    database = Database(engine)
    try:
        probes = EmailProbes(settings, database)
        email = await probes.send(probe_id)
        assert email is not None
        await wait_for_messages(mairie, 1)
        persona = settings.imap.username
        local, _, domain = persona.partition("@")
        computed = old_token(probe_id, 1)
        forged = [
            (f"{local}+{computed}@{domain}", f"Re: demande (réf. {computed.upper()})", "COMPUTED"),
            (email.sender, f"Re: demande (réf. {email.token.upper()})", "QUOTED"),
        ]
        for to, subject, label in forged:
            raw = (
                f"From: attacker@evil.example\r\nTo: {to}\r\n"
                f"Subject: Re: demande (réf. {label})\r\n"
                f"Message-ID: <{uuid.uuid4().hex}@evil.example>\r\n"
                f"Date: Fri, 04 Dec 2026 10:00:00 +0000\r\n\r\n"
                f"Bonjour, votre demande est acceptée. ({subject})\r\n"
            ).encode()
            await append(settings, raw)
        await watch_while(probes, lambda: until(lambda: len(all_replies(engine)) == 2))
        return email.token
    finally:
        database.close()
