"""Benchmark: replies appended into a real Dovecot, read by prober's watcher (IDLE), stored.

Goal (issue 4): with 10,000 replies, the p99 delay from APPEND to stored (matched or not,
classified, raw kept, position advanced, matched ones moved) under 2 s.

A throw-away Dovecot on loopback holds the persona's mailbox; 1,000 email probes are sent through
a loopback SMTP server so that replies have probes to match; a second IMAP connection APPENDs
replies at ``--rate`` per second: human replies (threaded, or carrying only the address token),
acknowledgements, out-of-office replies and bounces, in turn. prober's watcher runs with SQLite.

    python bench/email_ingest.py [--messages 10000] [--rate 50] [--probes 1000]

Prints messages stored, how many per second the watcher kept up with, and p50/p99/max delay
from the APPEND's answer to the end of storing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import aioimaplib
from aiosmtpd.controller import Controller
from pydantic import SecretStr
from sqlmodel import Session, select

from channels.email.imap import FetchedMessage
from config.settings import EmailSettings, ImapSettings, Settings, SmtpSettings
from prober.probes.email import EmailProbes, Ingested
from prober.project.database import Database
from sandbox.mail import Dovecot
from sandbox.mail.delivery import DovecotDelivery
from sandbox.mail.dovecot import free_port
from storage.db import make_engine, upgrade
from storage.models import Attempt, Reply
from tests.support.email_scene import MailTarget, seed_email_probes

_APPENDUID = re.compile(rb"APPENDUID \d+ (\d+)")


class TimedProbes(EmailProbes):
    """The real watcher, noting when each message is stored."""

    stored: dict[int, float]

    async def ingest(self, message: FetchedMessage) -> Ingested:
        result = await super().ingest(message)
        self.stored[message.uid] = time.perf_counter()
        return result


def reply(index: int, sent: list[tuple[str, str]], persona: str) -> bytes:
    """The index-th reply: one of five kinds, to one of the probes sent."""
    message_id, sender = sent[index % len(sent)]
    message = EmailMessage()
    message["Message-ID"] = make_msgid(idstring=str(index), domain="mairie-exemple.fr")
    message["Date"] = format_datetime(datetime.now(UTC))
    kind = index % 5
    if kind == 4:  # a bounce for the probe, to its plus-address
        message["From"] = "MAILER-DAEMON@mx.mairie-exemple.fr"
        message["To"] = sender
        message["Subject"] = "Undelivered Mail Returned to Sender"
        message["Auto-Submitted"] = "auto-replied"
        message.set_content(
            "This is the mail system.\n\n<accueil@mairie-exemple.fr>: host said: 550 5.1.1"
            f" User unknown\n\nMessage-ID: {message_id}\n"
        )
        return message.as_bytes()
    message["From"] = "accueil@mairie-exemple.fr"
    message["To"] = sender if kind != 3 else persona
    if kind in (0, 1, 2):
        message["In-Reply-To"] = message_id
    subjects = {
        0: "RE: votre demande",
        1: "Accusé de réception de votre demande",
        2: "Réponse automatique : absence du bureau",
        3: "Votre demande",
    }
    message["Subject"] = subjects[kind]
    if kind in (1, 2):
        message["Auto-Submitted"] = "auto-replied"
    bodies = {
        0: "Bonjour,\n\nVoici la marche à suivre pour obtenir votre acte.\n\nCordialement",
        1: "Nous accusons réception de votre message, qui sera traité dans les meilleurs délais.",
        2: "Je suis absente du bureau jusqu'au 30 novembre. Votre message ne sera pas transféré.",
        3: "Bonjour, suite à votre courriel, je vous confirme nos horaires d'ouverture.",
    }
    message.set_content(bodies[kind])
    return message.as_bytes()


async def run(messages: int, rate: float, probes_count: int, folder: Path) -> None:
    with Dovecot() as dovecot:
        persona = dovecot.add_user("marie.dupont@probes-exemple.fr")
        # Structures' addresses all land in one catch-all account: only the persona's matters.
        catch_all = dovecot.add_user("mairies@mairie-exemple.fr")
        smtp_port = free_port()
        controller = Controller(
            DovecotDelivery(dovecot, catch_all=catch_all.address),
            hostname="127.0.0.1",
            port=smtp_port,
        )
        controller.start()
        engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
        upgrade(engine)
        probe_ids = seed_email_probes(
            engine,
            persona.address,
            [MailTarget(f"mairie{n}@mairie-exemple.fr") for n in range(probes_count)],
        )
        settings = Settings(
            smtp=SmtpSettings(host="127.0.0.1", port=smtp_port),
            imap=ImapSettings(
                host=dovecot.host,
                port=dovecot.port,
                username=persona.address,
                password=SecretStr(persona.password),
                sent_folder="",
            ),
            email=EmailSettings(),
            replies_dir=folder / "replies",
            base_dir=folder,
        )
        database = Database(engine)
        probes = TimedProbes(settings, database)
        probes.stored = {}
        for probe_id in probe_ids:
            await probes.send(probe_id)
        with Session(engine) as session:
            sent = [
                (a.external_id or "", f"marie.dupont+{a.reference}@probes-exemple.fr")
                for a in session.exec(select(Attempt))
            ]
        stop = asyncio.Event()
        watcher = asyncio.create_task(probes.watch(stop))
        appender = aioimaplib.IMAP4(host=dovecot.host, port=dovecot.port, timeout=30)
        await appender.wait_hello_from_server()
        await appender.login(persona.address, persona.password)
        appended: dict[int, float] = {}
        started = time.perf_counter()
        for index in range(messages):
            due = started + index / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            answer = await appender.append(reply(index, sent, persona.address), mailbox="INBOX")
            done = time.perf_counter()
            uid = next(
                int(m.group(1))
                for line in answer.lines
                if isinstance(line, bytes | bytearray) and (m := _APPENDUID.search(bytes(line)))
            )
            appended[uid] = done
        while len(probes.stored) < messages:  # noqa: ASYNC110 (polling the watcher's count)
            await asyncio.sleep(0.1)
        finished = time.perf_counter()
        stop.set()
        await watcher
        await appender.logout()
        database.close()
        controller.stop()
        with Session(engine) as session:
            replies = list(session.exec(select(Reply)))
        engine.dispose()
    delays = sorted(probes.stored[uid] - at for uid, at in appended.items())
    kinds: dict[str, int] = {}
    for stored in replies:
        kinds[stored.classification or "?"] = kinds.get(stored.classification or "?", 0) + 1
    matched = sum(1 for stored in replies if stored.attempt_id is not None)
    print(f"messages stored        {len(replies)} ({matched} matched to a probe)")
    print(f"classified as          {dict(sorted(kinds.items()))}")
    print(f"offered rate           {rate:.0f}/s over {finished - started:.1f} s")
    print(f"stored per second      {len(replies) / (finished - started):.0f}")
    p99 = delays[int(len(delays) * 0.99) - 1]
    print(
        f"APPEND to stored       p50 {statistics.median(delays) * 1000:.0f} ms,"
        f" p99 {p99 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms"
    )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS               {peak_mib:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=50.0, help="APPENDs per second")
    parser.add_argument("--probes", type=int, default=1000, help="email probes replied to")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(arguments.messages, arguments.rate, arguments.probes, Path(folder)))


if __name__ == "__main__":
    main()
