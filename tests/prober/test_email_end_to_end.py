"""Email probes end to end: prober writes to the sandbox's simulated mailboxes over SMTP, their
answers come back through a real SMTP server into Dovecot, and what prober stored is compared
with the sandbox's ground truth."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from config.settings import Settings, SmtpSettings
from prober.probes.email import EmailProbes
from prober.project.database import Database
from sandbox.mail import MailSandbox, MailTruth, MailTruthLog, Relay, parse_mail_world
from storage.models import Attempt, Event, Reply
from tests.support.email_scene import MailTarget, mail_settings, seed_email_probes
from tests.support.mailservers import MailAccount, SmtpServer

TIME_SCALE = 0.05
DOMAIN = "mairies.test"

# Every behaviour of a structure's mailbox, several times with different delays.
BEHAVIOURS: list[tuple[str, str]] = [
    ("reply", "delay_s = 20"),
    ("reply", "delay_s = 45"),
    ("reply", "delay_s = 90"),
    ("reply", "delay_s = 130"),
    ("ack_then_reply", "ack_delay_s = 5\ndelay_s = 60"),
    ("ack_then_reply", "ack_delay_s = 15\ndelay_s = 100"),
    ("ack_then_reply", "ack_delay_s = 30\ndelay_s = 30"),
    ("out_of_office", "delay_s = 3"),
    ("out_of_office", "delay_s = 10"),
    ("out_of_office", "delay_s = 25"),
    ("bounce", "delay_s = 2"),
    ("bounce", "delay_s = 8"),
    ("bounce", "delay_s = 40"),
    ("reply_from_other_address", "delay_s = 35"),
    ("reply_from_other_address", "delay_s = 70"),
    ("reply_from_other_address", 'delay_s = 50\nreply_from = "secretariat@mairies.test"'),
    ("strip_threading", "delay_s = 55"),
    ("strip_threading", "delay_s = 15"),
    ("none", ""),
    ("none", ""),
    ("reject", ""),
]


def world_text() -> str:
    return "\n".join(
        f'[mailboxes."mairie{index}@{DOMAIN}"]\nbehaviour = "{behaviour}"\n{extra}\n'
        for index, (behaviour, extra) in enumerate(BEHAVIOURS)
    )


async def test_replies_are_matched_classified_and_timed_as_the_mailboxes_sent_them(
    engine: Engine, mail_delivery: SmtpServer, mail_account: MailAccount, tmp_path: Path
) -> None:
    targets = [MailTarget(f"mairie{index}@{DOMAIN}") for index in range(len(BEHAVIOURS))]
    probe_ids = seed_email_probes(engine, mail_account.address, targets)
    settings = mail_settings(mail_account, mail_delivery, tmp_path, poll_interval_s=1)
    truth = await _run_wave(engine, settings, mail_delivery, probe_ids)

    with Session(engine) as session:
        attempts = {a.probe_id: a for a in session.exec(select(Attempt))}
        replies = list(session.exec(select(Reply)))
        sent_events = {
            e.attempt_id: e for e in session.exec(select(Event).where(Event.kind == "email.sent"))
        }
    by_message_id = {reply.message_id: reply for reply in replies}
    address_of = {
        probe_id: target.address for probe_id, target in zip(probe_ids, targets, strict=True)
    }
    probe_of_address = {address: probe_id for probe_id, address in address_of.items()}

    sent_messages = [entry for entry in truth if entry.message_id is not None]
    # 4 replies, 3 acknowledgements + 3 replies, 3 absences, 3 bounces, 3 + 2 replies.
    assert len(sent_messages) == 4 + 6 + 3 + 3 + 3 + 2
    for entry in sent_messages:
        reply = by_message_id.get(entry.message_id)
        assert reply is not None, f"{entry.kind} from {entry.mailbox} never stored"
        attempt = attempts[probe_of_address[entry.mailbox]]
        assert reply.attempt_id == attempt.id, (entry, reply.match_method)
        assert reply.classification == entry.kind, (entry.kind, reply.reason)
        # The mailbox's clock (its Date: header) against our sending instant, in its seconds.
        # Mail dates have whole seconds: our sending instant is read at that resolution too.
        sent_at = sent_events[attempt.id].source_at.replace(microsecond=0)
        arrived_at = datetime.fromisoformat(entry.probe_arrived_at)
        delay_s = (datetime.fromisoformat(entry.sent_at or "") - arrived_at).total_seconds()
        assert reply.header_date is not None
        assert abs((reply.header_date - sent_at).total_seconds() - delay_s) <= 1.0, entry
    # How each reply was found: threading first, else the token in the address.
    behaviour_of = {f"mairie{i}@{DOMAIN}": behaviour for i, (behaviour, _) in enumerate(BEHAVIOURS)}
    methods: dict[str, set[str | None]] = {}
    for reply in replies:
        assert reply.probe_id is not None
        behaviour = behaviour_of[address_of[reply.probe_id]]
        methods.setdefault(behaviour, set()).add(reply.match_method)
    assert methods["reply"] == {"in_reply_to"}
    assert methods["reply_from_other_address"] == {"address_token"}
    assert methods["strip_threading"] <= {"address_token", "subject_token"}
    assert methods["bounce"] <= {"returned_message", "address_token"}

    outcomes = {address_of[probe_id]: attempt.outcome for probe_id, attempt in attempts.items()}
    expected = {
        "reply": "replied",
        "ack_then_reply": "replied",
        "out_of_office": "out_of_office",
        "bounce": "bounced",
        "reply_from_other_address": "replied",
        "strip_threading": "replied",
        "none": "sent",
        "reject": "bounced",
    }
    for index, (behaviour, _) in enumerate(BEHAVIOURS):
        assert outcomes[f"mairie{index}@{DOMAIN}"] == expected[behaviour], behaviour
    # Acknowledged then answered: both instants, the acknowledgement first.
    for index, (behaviour, _) in enumerate(BEHAVIOURS):
        if behaviour == "ack_then_reply":
            measured = attempts[probe_of_address[f"mairie{index}@{DOMAIN}"]].measurement
            ack = measured["first_automatic_acknowledgement"]["header_elapsed_s"]
            human = measured["first_human_reply"]["header_elapsed_s"]
            assert ack <= human
    assert all(reply.attempt_id is not None for reply in replies)  # nothing left unmatched


async def _run_wave(
    engine: Engine, settings: Settings, relay: SmtpServer, probe_ids: list[uuid.UUID]
) -> list[MailTruth]:
    world = parse_mail_world(world_text())
    async with MailSandbox(
        world, Relay(relay.host, relay.port), truth=MailTruthLog(None), time_scale=TIME_SCALE
    ) as mailboxes:
        settings = settings.model_copy(
            update={"smtp": SmtpSettings(host=mailboxes.host, port=mailboxes.port)}
        )
        database = Database(engine)
        try:
            probes = EmailProbes(settings, database)
            for probe_id in probe_ids:
                await probes.send(probe_id)
            stop = asyncio.Event()
            watcher = asyncio.create_task(probes.watch(stop))
            deadline = asyncio.get_running_loop().time() + 60
            while mailboxes.pending:
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError("the mailboxes never finished answering")
                await asyncio.sleep(0.1)
            expected = sum(1 for entry in mailboxes.truth.entries if entry.message_id is not None)

            def stored() -> int:
                with Session(engine) as session:
                    return len(list(session.exec(select(Reply))))

            while stored() < expected:
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"{stored()} of {expected} replies stored")
                await asyncio.sleep(0.1)
            stop.set()
            await watcher
        finally:
            database.close()
        return list(mailboxes.truth.entries)
