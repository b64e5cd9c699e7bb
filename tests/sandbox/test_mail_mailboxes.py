"""The structures' mailboxes: probes sent over SMTP, answers read over IMAP, checked against truth.

Real servers only: the `MailSandbox` on loopback, its replies relayed to the Dovecot-backed SMTP
server (`mail_delivery`) and read from prober's mailbox (`mail_account`) with IMAP IDLE.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage, Message
from email.utils import make_msgid, parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from sandbox import SandboxConfigError
from sandbox.mail import (
    MailSandbox,
    MailTruthLog,
    Relay,
    free_port,
    parse_mail_world,
    read_mail_truth,
)
from tests.support.mailservers import (
    FetchedMessage,
    MailAccount,
    SmtpServer,
    fetch_messages,
    imap_inbox,
    running_mail_sandbox,
    until,
    wait_for_delivered,
    wait_for_messages,
)

TIME_SCALE = 0.001  # a thousand simulated seconds per real second
WORLD = parse_mail_world(
    """
[mailboxes.default]
behaviour = "reply"
delay_s = 120

[mailboxes."accueil@mairie-a.test"]
behaviour = "reply"
delay_s = 600
name = "Mairie A"

[mailboxes."accueil@mairie-b.test"]
behaviour = "ack_then_reply"
ack_delay_s = 60
delay_s = 900

[mailboxes."accueil@mairie-c.test"]
behaviour = "out_of_office"
delay_s = 2

[mailboxes."accueil@mairie-d.test"]
behaviour = "bounce"

[mailboxes."accueil@mairie-e.test"]
behaviour = "reply_from_other_address"
delay_s = 300

[mailboxes."accueil@mairie-f.test"]
behaviour = "strip_threading"
delay_s = 300

[mailboxes."accueil@mairie-g.test"]
behaviour = "none"

[mailboxes."accueil@mairie-h.test"]
behaviour = "reject"

[mailboxes."accueil@mairie-i.test"]
behaviour = "reply"
delay_s = 100000000
"""
)


@dataclass(frozen=True)
class SentProbe:
    """A probe as prober would send it: its token in Reply-To, MAIL FROM and Subject."""

    message: EmailMessage
    tag: str
    reply_to: str

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass(frozen=True)
class Exchange:
    probe: SentProbe
    received: list[FetchedMessage]
    truth: list[dict[str, Any]]


def compose_probe(account: MailAccount, mailboxes: list[str], tag: str) -> SentProbe:
    local, _, domain = account.address.partition("@")
    reply_to = f"{local}+{tag}@{domain}"
    message = EmailMessage()
    message["From"] = f"Prober <{account.address}>"
    message["Reply-To"] = reply_to
    message["To"] = ", ".join(mailboxes)
    message["Subject"] = f"[PRB-{tag}] Demande de renseignements"
    message["Message-ID"] = make_msgid(idstring=tag, domain=domain)
    message.set_content("Bonjour,\n\nQuels sont vos horaires d'ouverture ?\n")
    return SentProbe(message, tag, reply_to)


async def exchange(
    account: MailAccount,
    relay: SmtpServer,
    mailboxes: list[str],
    tmp_path: Path,
    *,
    messages: int,
    truth_lines: int,
) -> Exchange:
    """Send one probe to `mailboxes`; wait for `messages` answers and `truth_lines` lines."""
    truth_path = tmp_path / "mail-truth.jsonl"
    truth = MailTruthLog(truth_path)
    probe = compose_probe(account, mailboxes, tag="4F2A9C")
    async with MailSandbox(
        WORLD, Relay(relay.host, relay.port), truth=truth, time_scale=TIME_SCALE
    ) as sandbox:
        await aiosmtplib.send(
            probe.message,
            hostname=sandbox.host,
            port=sandbox.port,
            sender=probe.reply_to,
            recipients=mailboxes,
        )
        received = await wait_for_messages(account, messages) if messages else []
        await until(lambda: len(truth.entries) >= truth_lines)
    return Exchange(probe, received, read_mail_truth(truth_path))


def date_of(message: Message) -> datetime:
    return parsedate_to_datetime(str(message["Date"]))


def offset_s(line: dict[str, Any]) -> float:
    sent = datetime.fromisoformat(line["sent_at"])
    return (sent - datetime.fromisoformat(line["probe_arrived_at"])).total_seconds()


async def test_a_reply_is_threaded_and_goes_to_the_reply_to_after_its_delay(
    mail_account: MailAccount, mail_delivery: SmtpServer, tmp_path: Path
) -> None:
    result = await exchange(
        mail_account,
        mail_delivery,
        ["accueil@mairie-a.test"],
        tmp_path,
        messages=1,
        truth_lines=1,
    )

    [reply] = [m.message for m in result.received]
    [line] = result.truth
    assert line["kind"] == "human_reply"
    assert line["outcome"] == "relayed"
    assert line["probe_message_id"] == result.probe.message_id
    assert line["mailbox"] == "accueil@mairie-a.test"
    assert line["from"] == "accueil@mairie-a.test"
    assert line["to"] == result.probe.reply_to
    assert offset_s(line) == 600
    assert reply["Message-ID"] == line["message_id"]
    assert date_of(reply) == datetime.fromisoformat(line["sent_at"])
    assert reply["From"] == "Mairie A <accueil@mairie-a.test>"
    assert reply["To"] == result.probe.reply_to
    assert reply["In-Reply-To"] == result.probe.message_id
    assert str(reply["References"]).split() == [result.probe.message_id]
    assert reply["Subject"] == "RE: [PRB-4F2A9C] Demande de renseignements"
    assert reply["Auto-Submitted"] is None
    assert reply.get_all("Return-Path") == ["<accueil@mairie-a.test>"]
    assert reply.get_all("Delivered-To") == [result.probe.reply_to]
    assert "Mairie A" in reply.get_content()


async def test_ack_then_reply_sends_an_automatic_acknowledgement_first(
    mail_account: MailAccount, mail_delivery: SmtpServer, tmp_path: Path
) -> None:
    result = await exchange(
        mail_account,
        mail_delivery,
        ["accueil@mairie-b.test"],
        tmp_path,
        messages=2,
        truth_lines=2,
    )

    ack_line, reply_line = result.truth
    assert [ack_line["kind"], reply_line["kind"]] == ["auto_ack", "human_reply"]
    assert [offset_s(ack_line), offset_s(reply_line)] == [60, 900]
    by_id = {str(m.message["Message-ID"]): m.message for m in result.received}
    ack, reply = by_id[ack_line["message_id"]], by_id[reply_line["message_id"]]
    assert ack["Subject"] == "Accusé de réception : [PRB-4F2A9C] Demande de renseignements"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == result.probe.message_id
    assert ack.get_all("Return-Path") == ["<>"]  # RFC 3834: automatic replies from <>
    assert ack_line["to"] == result.probe.reply_to  # the probe's envelope sender
    assert reply["Auto-Submitted"] is None
    assert reply["In-Reply-To"] == result.probe.message_id
    assert date_of(ack) < date_of(reply)


async def test_out_of_office_is_an_automatic_french_notice(
    mail_account: MailAccount, mail_delivery: SmtpServer, tmp_path: Path
) -> None:
    result = await exchange(
        mail_account,
        mail_delivery,
        ["accueil@mairie-c.test"],
        tmp_path,
        messages=1,
        truth_lines=1,
    )

    [notice] = [m.message for m in result.received]
    [line] = result.truth
    assert line["kind"] == "out_of_office"
    assert offset_s(line) == 2
    assert notice["Subject"] == "Réponse automatique : absence du bureau"
    assert notice["Auto-Submitted"] == "auto-replied"
    assert notice["In-Reply-To"] == result.probe.message_id
    assert notice.get_all("Return-Path") == ["<>"]
    assert "absent(e) du bureau" in notice.get_content()


async def test_a_bounce_is_an_rfc_3464_delivery_status_notification(
    mail_account: MailAccount, mail_delivery: SmtpServer, tmp_path: Path
) -> None:
    result = await exchange(
        mail_account,
        mail_delivery,
        ["accueil@mairie-d.test"],
        tmp_path,
        messages=1,
        truth_lines=1,
    )

    [dsn] = [m.message for m in result.received]
    [line] = result.truth
    assert line["kind"] == "bounce"
    assert line["from"] == "MAILER-DAEMON@mx.sandbox.test"
    assert line["to"] == result.probe.reply_to
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    assert dsn["From"] == "Mail Delivery System <MAILER-DAEMON@mx.sandbox.test>"
    assert dsn["To"] == result.probe.reply_to
    assert dsn.get_all("Return-Path") == ["<>"]
    assert dsn["Message-ID"] == line["message_id"]
    text, status, returned = dsn.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert "<accueil@mairie-d.test>: 550 5.1.1" in text.get_content()
    assert status.get_content_type() == "message/delivery-status"
    payload = status.get_payload()
    assert isinstance(payload, list)
    per_message, per_recipient = [part for part in payload if isinstance(part, Message)]
    assert per_message["Reporting-MTA"] == "dns; mx.sandbox.test"
    assert per_recipient["Final-Recipient"] == "rfc822; accueil@mairie-d.test"
    assert per_recipient["Action"] == "failed"
    assert per_recipient["Status"] == "5.1.1"
    assert per_recipient["Diagnostic-Code"].startswith("smtp; 550 5.1.1")
    assert returned.get_content_type() == "text/rfc822-headers"
    assert f"Message-ID: {result.probe.message_id}" in returned.get_content()


async def test_a_colleague_replies_from_another_address_without_threading_headers(
    mail_account: MailAccount, mail_delivery: SmtpServer, tmp_path: Path
) -> None:
    result = await exchange(
        mail_account,
        mail_delivery,
        ["accueil@mairie-e.test"],
        tmp_path,
        messages=1,
        truth_lines=1,
    )

    [reply] = [m.message for m in result.received]
    [line] = result.truth
    assert line["kind"] == "human_reply"
    assert line["from"] == "etat-civil@mairie-e.test"
    assert reply["From"] == "etat-civil@mairie-e.test"
    assert reply.get_all("Return-Path") == ["<etat-civil@mairie-e.test>"]
    assert reply["In-Reply-To"] is None
    assert reply["References"] is None
    assert reply["To"] == result.probe.reply_to  # the token in the address still matches
    assert "PRB-4F2A9C" in reply["Subject"]


async def test_strip_threading_leaves_only_the_token_in_the_reply_address(
    mail_account: MailAccount, mail_delivery: SmtpServer, tmp_path: Path
) -> None:
    result = await exchange(
        mail_account,
        mail_delivery,
        ["accueil@mairie-f.test"],
        tmp_path,
        messages=1,
        truth_lines=1,
    )

    [reply] = [m.message for m in result.received]
    assert result.truth[0]["kind"] == "human_reply"
    assert reply["From"] == "accueil@mairie-f.test"
    assert reply["In-Reply-To"] is None
    assert reply["References"] is None
    assert reply["Subject"] == "RE: Demande de renseignements"
    assert reply["To"] == result.probe.reply_to


async def test_a_mailbox_that_never_answers_is_recorded_as_no_reply(
    mail_account: MailAccount, mail_delivery: SmtpServer, tmp_path: Path
) -> None:
    result = await exchange(
        mail_account,
        mail_delivery,
        ["accueil@mairie-g.test"],
        tmp_path,
        messages=0,
        truth_lines=1,
    )

    [line] = result.truth
    assert line["kind"] == "no_reply"
    assert line["probe_message_id"] == result.probe.message_id
    assert line["probe_envelope_sender"] == result.probe.reply_to
    assert line["message_id"] is None
    assert line["sent_at"] is None

    async def inbox() -> list[FetchedMessage]:
        async with imap_inbox(mail_account) as client:
            return await fetch_messages(client)

    assert await inbox() == []  # the sandbox is closed: nothing can arrive any more


async def test_a_rejecting_mailbox_refuses_the_probe_at_rcpt(
    mail_account: MailAccount, mail_delivery: SmtpServer, tmp_path: Path
) -> None:
    truth = MailTruthLog()
    probe = compose_probe(mail_account, ["accueil@mairie-h.test"], tag="REJ")

    async def send() -> None:
        relay = Relay(mail_delivery.host, mail_delivery.port)
        async with MailSandbox(WORLD, relay, truth=truth, time_scale=TIME_SCALE) as sandbox:
            await aiosmtplib.send(
                probe.message,
                hostname=sandbox.host,
                port=sandbox.port,
                sender=probe.reply_to,
                recipients=["accueil@mairie-h.test"],
            )

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await send()

    [recipient] = refused.value.recipients
    assert (recipient.code, recipient.message[:6]) == (550, "5.1.1 ")
    [line] = truth.entries
    assert (line.kind, line.mailbox, line.probe_message_id) == (
        "rejected",
        "accueil@mairie-h.test",
        None,
    )
    assert line.probe_envelope_sender == probe.reply_to


async def test_each_recipient_of_one_probe_answers_by_its_own_behaviour(
    mail_account: MailAccount, mail_delivery: SmtpServer, tmp_path: Path
) -> None:
    mailboxes = ["accueil@mairie-c.test", "Accueil@Mairie-G.test", "contact@inconnue.test"]
    result = await exchange(
        mail_account, mail_delivery, mailboxes, tmp_path, messages=2, truth_lines=3
    )

    kinds = {line["mailbox"]: line["kind"] for line in result.truth}
    assert kinds == {
        "accueil@mairie-c.test": "out_of_office",
        "accueil@mairie-g.test": "no_reply",
        "contact@inconnue.test": "human_reply",  # [mailboxes.default]
    }
    assert {line["probe_message_id"] for line in result.truth} == {result.probe.message_id}
    default_reply = next(line for line in result.truth if line["kind"] == "human_reply")
    assert offset_s(default_reply) == 120
    assert {str(m.message["Message-ID"]) for m in result.received} == {
        line["message_id"] for line in result.truth if line["message_id"]
    }


async def test_a_reply_the_relay_refuses_is_recorded_as_refused(
    mail_delivery: SmtpServer, tmp_path: Path
) -> None:
    stranger = MailAccount("inconnu@probes.test", "-", "127.0.0.1", 0, tmp_path)
    truth = MailTruthLog()
    probe = compose_probe(stranger, ["accueil@mairie-a.test"], tag="NOBODY")

    async def send() -> None:
        relay = Relay(mail_delivery.host, mail_delivery.port)
        async with MailSandbox(WORLD, relay, truth=truth, time_scale=TIME_SCALE) as sandbox:
            await aiosmtplib.send(
                probe.message,
                hostname=sandbox.host,
                port=sandbox.port,
                sender=probe.reply_to,
                recipients=["accueil@mairie-a.test"],
            )
            await until(lambda: len(truth.entries) == 1)

    await send()

    [line] = truth.entries
    assert (line.kind, line.outcome, line.to) == ("human_reply", "refused", probe.reply_to)
    assert line.relay_response is not None
    assert line.relay_response.startswith("550 5.1.1")


async def test_a_reply_to_an_unreachable_relay_is_recorded_as_unreachable(
    mail_account: MailAccount, tmp_path: Path
) -> None:
    truth = MailTruthLog()
    probe = compose_probe(mail_account, ["accueil@mairie-c.test"], tag="LOST")

    async def send() -> None:
        relay = Relay("127.0.0.1", free_port())  # nobody listens there
        async with MailSandbox(WORLD, relay, truth=truth, time_scale=TIME_SCALE) as sandbox:
            await aiosmtplib.send(
                probe.message,
                hostname=sandbox.host,
                port=sandbox.port,
                sender=probe.reply_to,
                recipients=["accueil@mairie-c.test"],
            )
            await until(lambda: len(truth.entries) == 1)

    await send()

    [line] = truth.entries
    assert (line.kind, line.outcome) == ("out_of_office", "unreachable")


async def test_messages_still_due_when_the_sandbox_stops_are_recorded_as_cancelled(
    mail_account: MailAccount, mail_delivery: SmtpServer, tmp_path: Path
) -> None:
    truth = MailTruthLog(tmp_path / "mail-truth.jsonl")
    probe = compose_probe(mail_account, ["accueil@mairie-i.test"], tag="LATE")

    async def send_then_stop() -> int:
        relay = Relay(mail_delivery.host, mail_delivery.port)
        async with MailSandbox(WORLD, relay, truth=truth, time_scale=TIME_SCALE) as sandbox:
            await aiosmtplib.send(
                probe.message,
                hostname=sandbox.host,
                port=sandbox.port,
                sender=probe.reply_to,
                recipients=["accueil@mairie-i.test"],
            )
            pending = sandbox.pending
        return pending

    assert await send_then_stop() == 1

    [line] = read_mail_truth(tmp_path / "mail-truth.jsonl")
    assert line["kind"] == "human_reply"
    assert line["outcome"] == "cancelled"
    assert (line["sent_at"], line["message_id"]) == (None, None)
    assert line["probe_message_id"] == probe.message_id


def test_a_mail_sandbox_runs_in_a_thread_for_synchronous_tests(
    mail_account: MailAccount, mail_delivery: SmtpServer, tmp_path: Path
) -> None:
    probe = compose_probe(mail_account, ["accueil@mairie-a.test"], tag="SYNC")
    relay = Relay(mail_delivery.host, mail_delivery.port)

    # No event loop here: the standard library's blocking SMTP client, the maildir on disk.
    with running_mail_sandbox(WORLD, relay, truth_path=tmp_path / "truth.jsonl") as sandbox:
        with smtplib.SMTP(sandbox.host, sandbox.port) as smtp:
            smtp.send_message(
                probe.message, from_addr=probe.reply_to, to_addrs=["accueil@mairie-a.test"]
            )
        [reply] = wait_for_delivered(mail_account, 1)

    [line] = read_mail_truth(tmp_path / "truth.jsonl")
    assert reply["Message-ID"] == line["message_id"]
    assert date_of(reply) - timedelta(seconds=600) == datetime.fromisoformat(
        line["probe_arrived_at"]
    )


def test_the_time_scale_must_be_positive() -> None:
    with pytest.raises(SandboxConfigError, match="time scale must be positive"):
        MailSandbox(WORLD, Relay(), time_scale=0)
