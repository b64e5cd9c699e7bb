"""The mail servers the tests run on loopback: Dovecot over IMAP, and SMTP delivering into it."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import make_msgid

import aioimaplib
import aiosmtplib
import pytest

from sandbox.mail import Dovecot, MailServerUnavailable
from tests.support.mailservers import (
    MailAccount,
    SmtpServer,
    delivering_smtp,
    fetch_messages,
    imap_inbox,
    log_out,
    new_account,
    wait_for_messages,
)

SENDER = "accueil@mairie-exemple.test"


def probe_to(account: MailAccount, subject: str = "Demande de renseignements") -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = account.address
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="mairie-exemple.test")
    message.set_content("Bonjour,\n\nVoici notre réponse.\n")
    return message


async def test_dovecot_serves_imap_with_idle_to_its_users(dovecot: Dovecot) -> None:
    account = new_account(dovecot)

    async def capabilities() -> tuple[bool, str]:
        async with imap_inbox(account) as client:
            return client.has_capability("IDLE"), client.get_state()

    has_idle, state = await capabilities()

    assert has_idle
    assert state == "SELECTED"


async def test_dovecot_refuses_a_wrong_password(dovecot: Dovecot) -> None:
    account = new_account(dovecot)

    async def login() -> str:
        client = aioimaplib.IMAP4(host=account.imap_host, port=account.imap_port, timeout=10)
        await client.wait_hello_from_server()
        response = await client.login(account.address, "wrong")
        await log_out(client)
        return str(response.result)

    assert await login() == "NO"


async def test_smtp_delivers_into_the_mailbox_with_return_path_and_delivered_to(
    mail_account: MailAccount, mail_delivery: SmtpServer
) -> None:
    probe = probe_to(mail_account)

    async def send_while_idling() -> tuple[list[bytes], list[EmailMessage]]:
        async with imap_inbox(mail_account) as client:
            idle = await client.idle_start(timeout=30)
            await aiosmtplib.send(
                probe,
                hostname=mail_delivery.host,
                port=mail_delivery.port,
                sender=SENDER,
                recipients=[mail_account.address],
            )
            pushed = await client.wait_server_push(timeout=30)
            client.idle_done()
            await asyncio.wait_for(idle, 10)
            return pushed, [m.message for m in await fetch_messages(client)]

    pushed, [received] = await send_while_idling()

    assert b"1 EXISTS" in pushed
    assert received["Message-ID"] == probe["Message-ID"]
    assert received.get_all("Return-Path") == [f"<{SENDER}>"]
    assert received.get_all("Delivered-To") == [mail_account.address]
    assert received.get_content() == "Bonjour,\n\nVoici notre réponse.\n"


async def test_the_null_sender_gets_an_empty_return_path(
    mail_account: MailAccount, mail_delivery: SmtpServer
) -> None:
    async def send_from_null_sender() -> None:
        async with aiosmtplib.SMTP(hostname=mail_delivery.host, port=mail_delivery.port) as smtp:
            await smtp.sendmail("", [mail_account.address], probe_to(mail_account).as_bytes())

    await send_from_null_sender()
    [received] = await wait_for_messages(mail_account, 1)

    assert received.message.get_all("Return-Path") == ["<>"]


async def test_unknown_recipients_are_refused_at_rcpt_with_5_1_1(
    mail_account: MailAccount, mail_delivery: SmtpServer
) -> None:
    stranger = "nobody@probes.test"

    async def send_to_both() -> dict[str, aiosmtplib.SMTPResponse]:
        refused, _ = await aiosmtplib.send(
            probe_to(mail_account),
            hostname=mail_delivery.host,
            port=mail_delivery.port,
            sender=SENDER,
            recipients=[mail_account.address, stranger],
        )
        return refused

    refused = await send_to_both()

    assert list(refused) == [stranger]
    assert refused[stranger].code == 550
    assert refused[stranger].message.startswith("5.1.1 ")
    [received] = await wait_for_messages(mail_account, 1)
    assert received.message.get_all("Delivered-To") == [mail_account.address]


async def test_all_recipients_unknown_raises_recipients_refused(mail_delivery: SmtpServer) -> None:
    async def send() -> None:
        await aiosmtplib.send(
            "Subject: x\r\n\r\nx\r\n",
            hostname=mail_delivery.host,
            port=mail_delivery.port,
            sender=SENDER,
            recipients=["nobody@probes.test"],
        )

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await send()

    assert [r.code for r in refused.value.recipients] == [550]


async def test_each_account_sees_only_its_own_mail(
    dovecot: Dovecot, mail_delivery: SmtpServer
) -> None:
    first, second = new_account(dovecot), new_account(dovecot)

    async def send_two() -> None:
        for account, subject in ((first, "pour le premier"), (second, "pour le second")):
            await aiosmtplib.send(
                probe_to(account, subject),
                hostname=mail_delivery.host,
                port=mail_delivery.port,
                sender=SENDER,
                recipients=[account.address],
            )

    await send_two()
    [to_first] = await wait_for_messages(first, 1)
    [to_second] = await wait_for_messages(second, 1)

    assert to_first.message["Subject"] == "pour le premier"
    assert to_second.message["Subject"] == "pour le second"
    assert first.maildir.is_dir()


def test_a_missing_dovecot_fails_with_the_way_to_install_it() -> None:
    with pytest.raises(MailServerUnavailable, match=r"run `make services`"):
        Dovecot(binary="/nonexistent/dovecot").start()


async def test_a_plus_address_reaches_its_user_and_stays_in_delivered_to(
    mail_account: MailAccount, mail_delivery: SmtpServer
) -> None:
    local, _, domain = mail_account.address.partition("@")
    plus_address = f"{local}+PRB-4f2a@{domain}"

    async def send() -> None:
        await aiosmtplib.send(
            probe_to(mail_account),
            hostname=mail_delivery.host,
            port=mail_delivery.port,
            sender=SENDER,
            recipients=[plus_address],
        )

    await send()
    [received] = await wait_for_messages(mail_account, 1)

    assert received.message.get_all("Delivered-To") == [plus_address]


async def test_a_catch_all_account_receives_every_unknown_address_of_its_domain(
    dovecot: Dovecot,
) -> None:
    catch_all = new_account(dovecot, domain="reponses.test")

    async def send() -> None:
        with delivering_smtp(dovecot, catch_all=catch_all.address) as server:
            refused, _ = await aiosmtplib.send(
                probe_to(catch_all),
                hostname=server.host,
                port=server.port,
                sender=SENDER,
                recipients=["r-7c1d2e@reponses.test", "r-7c1d2e@ailleurs.test"],
            )
        assert list(refused) == ["r-7c1d2e@ailleurs.test"]

    await send()
    [received] = await wait_for_messages(catch_all, 1)

    assert received.message.get_all("Delivered-To") == ["r-7c1d2e@reponses.test"]
