"""`python -m sandbox --smtp-port …`: the mailboxes served beside the API, as a user starts them."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
import pytest

from sandbox.__main__ import main
from sandbox.mail import free_port, read_mail_truth
from tests.support.mailservers import MailAccount, SmtpServer, wait_for_messages

ACCOUNT_SID = "AC" + "ab" * 16
MAIL_WORLD = """
[mailboxes.default]
behaviour = "none"

[mailboxes."accueil@mairie-a.test"]
behaviour = "ack_then_reply"
ack_delay_s = 30
delay_s = 7200
"""


@contextmanager
def python_m_sandbox_with_mail(*options: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`python -m sandbox` with its mailboxes on a free SMTP port, until the block ends."""
    smtp_port = free_port()
    command = [sys.executable, "-m", "sandbox", "--port", str(free_port())]
    command += ["--account-sid", ACCOUNT_SID, "--auth-token", "tok"]
    command += ["--smtp-port", str(smtp_port), *options]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", smtp_port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        yield smtp_port, server
    finally:
        if server.poll() is None:
            server.terminate()
        server.wait(timeout=10)
        if server.stderr is not None:
            server.stderr.close()


def probe(account: MailAccount, to: str) -> tuple[EmailMessage, str]:
    local, _, domain = account.address.partition("@")
    reply_to = f"{local}+PRB-77@{domain}"
    message = EmailMessage()
    message["From"] = account.address
    message["Reply-To"] = reply_to
    message["To"] = to
    message["Subject"] = "[PRB-77] Demande de renseignements"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content("Bonjour,\n")
    return message, reply_to


async def test_the_mailboxes_answer_through_the_relay_and_write_the_truth(
    mail_account: MailAccount, mail_delivery: SmtpServer, tmp_path: Path
) -> None:
    world = tmp_path / "mail.toml"
    world.write_text(MAIL_WORLD, encoding="utf-8")
    truth = tmp_path / "mail-truth.jsonl"
    message, reply_to = probe(mail_account, "accueil@mairie-a.test")
    options = ["--mail-world", str(world), "--mail-truth", str(truth), "--time-scale", "0.0005"]
    options += ["--relay-host", mail_delivery.host, "--relay-port", str(mail_delivery.port)]

    with python_m_sandbox_with_mail(*options) as (smtp_port, server):
        await aiosmtplib.send(
            message,
            hostname="127.0.0.1",
            port=smtp_port,
            sender=reply_to,
            recipients=["accueil@mairie-a.test", "contact@ailleurs.test"],
        )
        received = await wait_for_messages(mail_account, 2)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
        assert server.stderr is not None
        stderr = server.stderr.read().decode()

    lines = read_mail_truth(truth)
    assert [(line["mailbox"], line["kind"]) for line in lines] == [
        ("contact@ailleurs.test", "no_reply"),
        ("accueil@mairie-a.test", "auto_ack"),
        ("accueil@mairie-a.test", "human_reply"),
    ]
    assert {str(m.message["Message-ID"]) for m in received} == {
        line["message_id"] for line in lines[1:]
    }
    assert f"boîtes aux lettres en SMTP sur 127.0.0.1:{smtp_port}" in stderr


async def test_messages_still_due_at_sigterm_are_logged_as_cancelled(
    mail_delivery: SmtpServer, mail_account: MailAccount, tmp_path: Path
) -> None:
    world = tmp_path / "mail.toml"
    world.write_text(MAIL_WORLD, encoding="utf-8")
    truth = tmp_path / "mail-truth.jsonl"
    message, reply_to = probe(mail_account, "accueil@mairie-a.test")
    options = ["--mail-world", str(world), "--mail-truth", str(truth)]  # real time: hours away
    options += ["--relay-port", str(mail_delivery.port)]

    with python_m_sandbox_with_mail(*options) as (smtp_port, server):
        await aiosmtplib.send(
            message,
            hostname="127.0.0.1",
            port=smtp_port,
            sender=reply_to,
            recipients=["accueil@mairie-a.test"],
        )
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)

    lines = read_mail_truth(truth)
    assert [(line["kind"], line["outcome"]) for line in lines] == [
        ("auto_ack", "cancelled"),
        ("human_reply", "cancelled"),
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--mail-world", "w.toml"], "sandbox : --mail-world needs --smtp-port"),
        (["--relay-port", "2526"], "sandbox : --relay-port needs --smtp-port"),
        (["--smtp-port", "70000"], "sandbox : --smtp-port must be a TCP port (1-65535), got 70000"),
        (
            ["--smtp-port", "2525", "--mail-world", "absent.toml"],
            "sandbox : absent.toml: (file): cannot be read (No such file or directory)",
        ),
    ],
)
def test_bad_mail_options_are_refused_in_one_line(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--account-sid", ACCOUNT_SID, "--auth-token", "tok", *options])

    assert code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(message)


def test_a_busy_smtp_port_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        options = ["--port", str(free_port()), "--smtp-port", str(port)]
        code = main(["--account-sid", ACCOUNT_SID, "--auth-token", "tok", *options])

    assert code == 2
    assert capsys.readouterr().err.startswith(f"sandbox : cannot serve SMTP on 127.0.0.1:{port} (")


@pytest.mark.services  # `python -m sandbox.mail` runs its own Dovecot
async def test_python_m_sandbox_mail_serves_prober_mailbox_and_removes_it_on_sigterm() -> None:
    imap_port, smtp_port = free_port(), free_port()
    command = [sys.executable, "-m", "sandbox.mail", "--imap-port", str(imap_port)]
    command += ["--smtp-port", str(smtp_port), "--user", "prober@probes.test:secret"]
    host = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        assert host.stderr is not None
        started = (await host.stderr.readline()).decode()
        assert started.startswith(f"sandbox.mail : IMAP sur 127.0.0.1:{imap_port}, SMTP sur ")
        folder = Path(started.rsplit("dossier ", 1)[1].strip())
        account = MailAccount("prober@probes.test", "secret", "127.0.0.1", imap_port, folder)
        message, reply_to = probe(account, "prober+PRB-77@probes.test")
        await aiosmtplib.send(
            message,
            hostname="127.0.0.1",
            port=smtp_port,
            sender="accueil@mairie-a.test",
            recipients=[reply_to],
        )
        [received] = await wait_for_messages(account, 1)
    finally:
        host.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(host.wait(), 15)

    assert received.message.get_all("Delivered-To") == [reply_to]
    assert code == 0
    assert not folder.exists()
