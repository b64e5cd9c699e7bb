"""Scores of a wave carried out against the simulated world, against a hand-computed expectation.

Nine structures, each called through the sandbox's Twilio-compatible API and written to through
its mailboxes (replies come back through SMTP into Dovecot). What each structure does is in
``WORLD``; the verdicts and scores each one must get under the default grid
(config/defaults/criteria.toml) are worked out by hand below from that world, never from what
prober measured. The sandbox's ground truth is checked first: it confirms the world did what
the expectation assumes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from config.settings import Settings, SmtpSettings
from prober.probes.email import EmailProbes
from prober.project.database import Database
from sandbox import CallTruth, parse_world
from sandbox.mail import MailSandbox, MailTruth, MailTruthLog, Relay, parse_mail_world
from storage.models import (
    Attempt,
    Channel,
    Recording,
    Reply,
    Review,
    Score,
    Structure,
    Wave,
)
from tests.support.cli import Run
from tests.support.email_scene import email_scenario, mail_settings
from tests.support.mailservers import MailAccount, SmtpServer
from tests.support.phone_scene import (
    CALLER_ID,
    StartSandbox,
    phone_scenario,
    running_prober,
    wait_until,
)
from tests.support.seeding import add_persona, add_probe, add_scenario, add_structure, add_wave

PHONE_TIME_SCALE = 0.2  # hold is measured on prober's clock: see docs/phone.md, Limits
MAIL_TIME_SCALE = 0.05
GRID_PATH = Path(__file__).resolve().parents[2] / "config" / "defaults" / "criteria.toml"
GRID_NAME = "Grille par défaut (Marianne / Services Publics+)"
DOMAIN = "mairies.test"

MENU = "Bonjour et bienvenue à la mairie. Tapez 1 pour l'état civil, 2 pour l'urbanisme."
VOICEMAIL = "Vous êtes sur la messagerie de la mairie, laissez votre message après le bip."
CLOSED = (
    "Mairie de Fontainebleau. Nos bureaux sont fermés. Nous sommes ouverts du lundi au"
    " vendredi de 9 h à 17 h. Laissez un message après le bip."
)
SCENARIOS = {
    "ask": phone_scenario("ask", max_ring_seconds=60, max_call_seconds=150),
    "transfer": phone_scenario(
        "transfer",
        request="Bonjour, pourriez-vous me passer le service de l'état civil ?",
        transfer_to="service état civil",
        max_ring_seconds=60,
        max_call_seconds=150,
    ),
}


@dataclass(frozen=True)
class Place:
    """One structure of the world: its number, mailbox, and how the probes go there."""

    label: str
    number: str
    scenario: str = "ask"
    slot_kind: str = "open"

    @property
    def mailbox(self) -> str:
        return f"{self.label}@{DOMAIN}"


PLACES = [
    Place("rapide", "+33164000001"),
    Place("lente", "+33164000002"),
    Place("repondeur", "+33164000003"),
    Place("menu40", "+33164000004", "transfer"),
    Place("menu70", "+33164000005", "transfer"),
    Place("occupee", "+33164000006"),
    Place("muette", "+33164000007"),
    Place("fermee", "+33164000008", slot_kind="off_hours"),
    Place("fermee-muette", "+33164000009", slot_kind="off_hours"),
]

# One file for both worlds: the phone loader ignores `mailboxes`, the mail loader `numbers`.
WORLD = f"""
[numbers."+33164000001"]          # rapide: a person after 2 rings
rings = 2
greeting = "Mairie d'Avon, bonjour."
[mailboxes."rapide@{DOMAIN}"]     # a person's reply
behaviour = "reply"
delay_s = 20

[numbers."+33164000002"]          # lente: a person, but after 7 rings
rings = 7
greeting = "Mairie de Samois, bonjour."
[mailboxes."lente@{DOMAIN}"]      # an acknowledgement; the reply is months away
behaviour = "ack_then_reply"
ack_delay_s = 5
delay_s = 10000000

[numbers."+33164000003"]          # repondeur: a voicemail after 3 rings
rings = 3
answer = "machine"
greeting = "{VOICEMAIL}"
[mailboxes."repondeur@{DOMAIN}"]  # the address is dead: a delivery report
behaviour = "bounce"
delay_s = 5

[numbers."+33164000004"]          # menu40: a menu; état civil (1) after 40 s on hold
rings = 1
answer = "ivr"
greeting = "{MENU}"
[numbers."+33164000004".menu."1"]
hold_s = 40
then = "human"
greeting = "État civil, bonjour."
[mailboxes."menu40@{DOMAIN}"]     # never answers
behaviour = "none"

[numbers."+33164000005"]          # menu70: the same menu, 70 s on hold
rings = 1
answer = "ivr"
greeting = "{MENU}"
[numbers."+33164000005".menu."1"]
hold_s = 70
then = "human"
greeting = "État civil, bonjour."
[mailboxes."menu70@{DOMAIN}"]     # an absence notice only
behaviour = "out_of_office"
delay_s = 5

[numbers."+33164000006"]          # occupee: always busy
outcome = "busy"
[mailboxes."occupee@{DOMAIN}"]
behaviour = "reply"
delay_s = 40

[numbers."+33164000007"]          # muette: rings until prober gives up
outcome = "no-answer"
[mailboxes."muette@{DOMAIN}"]     # refused at RCPT TO
behaviour = "reject"

[numbers."+33164000008"]          # fermee (called off hours): a message giving the hours
rings = 2
answer = "machine"
greeting = "{CLOSED}"
[mailboxes."fermee@{DOMAIN}"]     # a colleague answers from another address
behaviour = "reply_from_other_address"
delay_s = 30

[numbers."+33164000009"]          # fermee-muette (called off hours): a bare voicemail
rings = 2
answer = "machine"
greeting = "{VOICEMAIL}"
[mailboxes."fermee-muette@{DOMAIN}"]
behaviour = "ack_then_reply"
ack_delay_s = 5
delay_s = 60
"""

P, F, NA, PE, TR = "passed", "failed", "not_applicable", "pending", "to_review"
PHONE_CRITERIA = (
    "phone.answered",  # weight 3, accessibility
    "phone.answered_within_5_rings",  # 2, accessibility, when answered
    "phone.answered_by_agent",  # 2, accessibility, when answered
    "phone.menu_under_30s",  # 1, accessibility, when answered
    "phone.transfer_succeeded",  # 2, accessibility, when answered
    "phone.hold_under_60s",  # 1, responsiveness, when answered
    "phone.off_hours_message_gives_hours",  # 1, accessibility
    "phone.greeting_names_structure",  # reviewed: 1, quality
    "phone.courtesy",  # reviewed: 1, quality
    "phone.personalisation",  # reviewed: 1, quality
    "phone.answer_quality",  # reviewed: 2, quality
)
EMAIL_CRITERIA = (
    "email.not_bounced",  # weight 2, accessibility
    "email.acknowledged_within_7_days",  # 1, responsiveness
    "email.replied_within_5_working_days",  # 2, responsiveness
    "email.greeting_names_structure",  # reviewed: 1, quality
    "email.courtesy",  # reviewed: 1, quality
    "email.personalisation",  # reviewed: 1, quality
    "email.answer_quality",  # reviewed: 2, quality
)


@dataclass(frozen=True)
class Expected:
    """One structure × channel: each criterion's verdict, the score and the three indices."""

    verdicts: tuple[str, ...]
    score: float | None
    accessibility: float | None
    responsiveness: float | None
    quality: float | None
    pending: int = 0


# Phone, in opening hours unless said. Reviewed criteria wait for an auditor when a call was
# answered in opening hours, and are not applicable otherwise.
PHONE_EXPECTED = {
    # 2 rings, a person: 3 + 2 + 2 of 7. No menu, no transfer asked, no hold.
    "rapide": Expected((P, P, P, NA, NA, NA, NA, TR, TR, TR, TR), 100.0, 100.0, None, None),
    # 7 rings > 5: the 2 of the ring criterion fail: 5/7.
    "lente": Expected((P, F, P, NA, NA, NA, NA, TR, TR, TR, TR), 71.4, 71.4, None, None),
    # A voicemail in 3 rings: no agent (2 failed): 5/7.
    "repondeur": Expected((P, P, F, NA, NA, NA, NA, TR, TR, TR, TR), 71.4, 71.4, None, None),
    # 1 ring, menu key 1 in a few seconds, 40 s on hold, then a person: 11/11 (accessibility
    # 10/10, the transfer included; responsiveness 1/1; quality waits for reviews).
    "menu40": Expected((P, P, P, P, P, P, NA, TR, TR, TR, TR), 100.0, 100.0, 100.0, None),
    # 70 s on hold >= 60: the hold (1, the only responsiveness criterion) fails: 10/11.
    "menu70": Expected((P, P, P, P, P, F, NA, TR, TR, TR, TR), 90.9, 100.0, 0.0, None),
    # Busy: answered (3) fails, everything after the answer is not applicable: 0/3.
    "occupee": Expected((F, NA, NA, NA, NA, NA, NA, NA, NA, NA, NA), 0.0, 0.0, None, None),
    # No answer: likewise.
    "muette": Expected((F, NA, NA, NA, NA, NA, NA, NA, NA, NA, NA), 0.0, 0.0, None, None),
    # Off hours, the message gives the hours: only that criterion (1) counts: 1/1.
    "fermee": Expected((NA, NA, NA, NA, NA, NA, P, NA, NA, NA, NA), 100.0, 100.0, None, None),
    # Off hours, a voicemail without the hours: 0/1.
    "fermee-muette": Expected((NA, NA, NA, NA, NA, NA, F, NA, NA, NA, NA), 0.0, 0.0, None, None),
}

# Email, judged the day after sending: every reply came within seconds (0 working days, 0
# days), a reply not yet come is still within both deadlines (pending).
EMAIL_NEXT_DAY = {
    # A person's reply: not bounced 2, acknowledged 1 (a reply acknowledges), replied 2: 5/5.
    "rapide": Expected((P, P, P, TR, TR, TR, TR), 100.0, 100.0, 100.0, None),
    # An acknowledgement, no reply yet: 3/3, one criterion pending.
    "lente": Expected((P, P, PE, NA, NA, NA, NA), 100.0, 100.0, 100.0, None, pending=1),
    # Bounced: every criterion fails, none waits: 0/5.
    "repondeur": Expected((F, F, F, NA, NA, NA, NA), 0.0, 0.0, 0.0, None),
    # Nothing: only the address is judged yet: 2/2.
    "menu40": Expected((P, PE, PE, NA, NA, NA, NA), 100.0, 100.0, None, None, pending=1),
    # An absence notice is not an acknowledgement: as nothing.
    "menu70": Expected((P, PE, PE, NA, NA, NA, NA), 100.0, 100.0, None, None, pending=1),
    "occupee": Expected((P, P, P, TR, TR, TR, TR), 100.0, 100.0, 100.0, None),
    # Refused at RCPT TO: a bounce too.
    "muette": Expected((F, F, F, NA, NA, NA, NA), 0.0, 0.0, 0.0, None),
    # A reply from another address of the structure still counts.
    "fermee": Expected((P, P, P, TR, TR, TR, TR), 100.0, 100.0, 100.0, None),
    "fermee-muette": Expected((P, P, P, TR, TR, TR, TR), 100.0, 100.0, 100.0, None),
}

# Judged 30 days after sending (> 7 days, > 5 working days): what waited has failed.
EMAIL_A_MONTH_LATER = {
    **EMAIL_NEXT_DAY,
    # Acknowledged, never answered: 2 + 1 of 5; responsiveness 1 of 3.
    "lente": Expected((P, P, F, NA, NA, NA, NA), 60.0, 100.0, 33.3, None),
    # Nothing at all: only the address (2 of 5); responsiveness 0 of 3.
    "menu40": Expected((P, F, F, NA, NA, NA, NA), 40.0, 100.0, 0.0, None),
    "menu70": Expected((P, F, F, NA, NA, NA, NA), 40.0, 100.0, 0.0, None),
}


async def test_scores_of_a_sandbox_wave_match_the_hand_computed_expectation(
    phone_sandbox: StartSandbox,
    engine: Engine,
    prober_cli: Run,
    mail_delivery: SmtpServer,
    mail_account: MailAccount,
    tmp_path: Path,
) -> None:
    assert prober_cli("init").exit_code == 0
    wave, probes = seed_wave(engine, PLACES, mail_account.address)
    started = datetime.now(UTC)
    calls, mails = await carry_out(
        phone_sandbox, engine, PLACES, probes, mail_delivery, mail_account, tmp_path
    )
    check_ground_truth(calls, mails)

    next_day = score(prober_cli, wave, GRID_PATH, started + timedelta(days=1))
    assert "pending" in next_day.stdout  # the command's table
    check_scores(engine, wave, "phone", PHONE_EXPECTED)
    check_scores(engine, wave, "email", EMAIL_NEXT_DAY)

    month_later = started + timedelta(days=30)
    score(prober_cli, wave, GRID_PATH, month_later)
    check_scores(engine, wave, "phone", PHONE_EXPECTED)
    check_scores(engine, wave, "email", EMAIL_A_MONTH_LATER)

    # Auditors' verdicts count from the next scoring, where there was an exchange to judge.
    with Session(engine) as session:
        for label, channel, criterion, verdict in [
            ("rapide", "phone", "phone.courtesy", P),
            ("rapide", "phone", "phone.answer_quality", F),
            ("rapide", "email", "email.courtesy", P),
            ("occupee", "phone", "phone.courtesy", P),  # a busy line: nothing to review
        ]:
            session.add(
                Review(
                    probe_id=probes[label][channel],
                    criterion_id=criterion,
                    reviewer="A. Martin",
                    verdict=verdict,
                )
            )
        session.commit()
    score(prober_cli, wave, GRID_PATH, month_later)
    check_scores(
        engine,
        wave,
        "phone",
        {
            **PHONE_EXPECTED,
            # 7 + courtesy 1 of 7 + 1 + answer quality 2: 8/10; quality 1 of 3.
            "rapide": Expected((P, P, P, NA, NA, NA, NA, TR, P, TR, F), 80.0, 100.0, None, 33.3),
        },
    )
    check_scores(
        engine,
        wave,
        "email",
        {
            **EMAIL_A_MONTH_LATER,
            # 5 + courtesy 1 of 6; quality 1 of 1.
            "rapide": Expected((P, P, P, TR, P, TR, TR), 100.0, 100.0, 100.0, 100.0),
        },
    )


# -- The scene --------------------------------------------------------------------------------


def seed_wave(
    engine: Engine, places: Sequence[Place], persona_mailbox: str
) -> tuple[str, dict[str, dict[str, uuid.UUID]]]:
    """A phone + email wave, one structure per place; the probes by label and channel."""
    mail_scenario = email_scenario()
    scenarios = {**SCENARIOS, mail_scenario["id"]: mail_scenario}
    persona = {
        "id": "camille",
        "display_name": "Camille Martin",
        "caller_id": CALLER_ID,
        "reply_mailbox": persona_mailbox,
    }
    probes: dict[str, dict[str, uuid.UUID]] = {}
    name = f"scores-{uuid.uuid4().hex[:6]}"
    with Session(engine) as session:
        add_persona(
            session,
            "camille",
            display_name="Camille Martin",
            caller_id=CALLER_ID,
            reply_mailbox=persona_mailbox,
        )
        for scenario_id, definition in scenarios.items():
            channel = "email" if scenario_id == mail_scenario["id"] else "phone"
            add_scenario(session, scenario_id, channel, definition=definition)
        wave_id = add_wave(
            session,
            name,
            starts_on=date(2026, 11, 23),
            ends_on=date(2026, 12, 18),
            channels=["phone", "email"],
            parameters={"catalogue": {"scenarios": scenarios, "personas": {"camille": persona}}},
        )
        for index, place in enumerate(places):
            structure_id = add_structure(
                session,
                f"2177000{index:04d}0011",
                name=place.label,
                departement="77",
                opening_hours="Mo-Fr 08:30-12:00,13:30-17:00",
            )
            probes[place.label] = {}
            for channel, value, scenario_id, slot_kind in [
                (Channel.PHONE, place.number, place.scenario, place.slot_kind),
                (Channel.EMAIL, place.mailbox, mail_scenario["id"], "open"),
            ]:
                probes[place.label][channel] = add_probe(
                    session,
                    wave_id=wave_id,
                    structure_id=structure_id,
                    channel=channel,
                    scenario_id=scenario_id,
                    persona_id="camille",
                    scheduled_at=datetime(2026, 11, 23, 9, index, tzinfo=UTC),
                    contact=value,
                    slot_kind=slot_kind,
                )
        session.commit()
    return name, probes


async def carry_out(
    phone_sandbox: StartSandbox,
    engine: Engine,
    places: Sequence[Place],
    probes: dict[str, dict[str, uuid.UUID]],
    relay: SmtpServer,
    account: MailAccount,
    tmp_path: Path,
) -> tuple[list[CallTruth], list[MailTruth]]:
    """Every probe once: the calls and the emails at the same time; the two ground truths."""
    phone_ids = [probes[place.label]["phone"] for place in places]
    email_ids = [probes[place.label]["email"] for place in places]
    settings = mail_settings(account, relay, tmp_path, poll_interval_s=1)
    with phone_sandbox(parse_world(WORLD), time_scale=PHONE_TIME_SCALE) as sandbox:
        async with (
            running_prober(
                engine, sandbox.base_url, tmp_path / "recordings", time_scale=PHONE_TIME_SCALE
            ) as prober,
            MailSandbox(
                parse_mail_world(WORLD),
                Relay(relay.host, relay.port),
                truth=MailTruthLog(None),
                time_scale=MAIL_TIME_SCALE,
            ) as mailboxes,
        ):
            settings = settings.model_copy(
                update={"smtp": SmtpSettings(host=mailboxes.host, port=mailboxes.port)}
            )
            emails = await _send_and_watch(engine, settings, email_ids, places, mailboxes)
            placed = await asyncio.gather(*(prober.probes.place(probe) for probe in phone_ids))
            assert all(call is not None for call in placed)

            def calls_measured() -> bool:
                attempts = _rows(engine, Attempt, phone_ids)
                answered = [a for a in attempts if a.outcome == "answered"]
                stored = [r for r in _rows(engine, Recording, phone_ids) if r.status == "stored"]
                return (
                    len(attempts) == len(places)
                    and all(a.ended_at is not None for a in attempts)
                    and len(stored) == len(answered)
                    and len(sandbox.truth.entries) == len(places)
                )

            await wait_until(calls_measured, timeout_s=120, what="every call measured")
            await emails
        # Read once the mailboxes stopped: what was still due is logged as cancelled.
        return list(sandbox.truth.entries), list(mailboxes.truth.entries)


async def _send_and_watch(
    engine: Engine,
    settings: Settings,
    email_ids: list[uuid.UUID],
    places: Sequence[Place],
    mailboxes: MailSandbox,
) -> asyncio.Task[None]:
    """Send every email, then watch the replies in a task that ends once all have come."""
    database = Database(engine)
    probes = EmailProbes(settings, database)
    for probe_id in email_ids:
        await probes.send(probe_id)

    expected = sum(MESSAGES_SENT[place.mailbox] for place in places)

    async def watch() -> None:
        stop = asyncio.Event()
        watcher = asyncio.create_task(probes.watch(stop))
        try:

            def every_reply_stored() -> bool:
                # The messages the mailboxes sent (the far-off reply of `lente` is not one).
                sent = {e.message_id for e in mailboxes.truth.entries if e.outcome == "relayed"}
                with Session(engine) as session:
                    replies = session.exec(select(Reply.message_id, Reply.attempt_id)).all()
                matched = {message_id for message_id, attempt in replies if attempt is not None}
                return len(sent) == expected and sent <= matched

            await wait_until(every_reply_stored, timeout_s=60, what="every reply stored")
        finally:
            stop.set()
            await watcher
            database.close()

    return asyncio.create_task(watch())


# Messages each mailbox sends while the test runs (the world above).
MESSAGES_SENT = {
    f"rapide@{DOMAIN}": 1,
    f"lente@{DOMAIN}": 1,  # the acknowledgement only
    f"repondeur@{DOMAIN}": 1,
    f"menu40@{DOMAIN}": 0,
    f"menu70@{DOMAIN}": 1,
    f"occupee@{DOMAIN}": 1,
    f"muette@{DOMAIN}": 0,
    f"fermee@{DOMAIN}": 1,
    f"fermee-muette@{DOMAIN}": 2,
}


def _rows(engine: Engine, table: Any, probe_ids: Sequence[uuid.UUID]) -> list[Any]:
    with Session(engine) as session:
        return list(session.exec(select(table).where(col(table.probe_id).in_(probe_ids))))


# -- Ground truth, scores -------------------------------------------------------------------


# What the world did, as the expectation above assumes it: number → (status, rings, who
# answered, transfer outcome, hold seconds).
CALL_TRUTH = {
    "+33164000001": ("completed", 2, "human", None, None),
    "+33164000002": ("completed", 7, "human", None, None),
    "+33164000003": ("completed", 3, "machine", None, None),
    "+33164000004": ("completed", 1, "ivr", "human", 40),
    "+33164000005": ("completed", 1, "ivr", "human", 70),
    "+33164000006": ("busy", 0, None, None, None),
    "+33164000007": ("no-answer", 12, None, None, None),  # 60 s at 5 s a ring
    "+33164000008": ("completed", 2, "machine", None, None),
    "+33164000009": ("completed", 2, "machine", None, None),
}
MAIL_TRUTH = {
    f"rapide@{DOMAIN}": ["human_reply"],
    f"lente@{DOMAIN}": ["auto_ack", "human_reply"],  # the reply still due: cancelled at the end
    f"repondeur@{DOMAIN}": ["bounce"],
    f"menu40@{DOMAIN}": ["no_reply"],
    f"menu70@{DOMAIN}": ["out_of_office"],
    f"occupee@{DOMAIN}": ["human_reply"],
    f"muette@{DOMAIN}": ["rejected"],
    f"fermee@{DOMAIN}": ["human_reply"],
    f"fermee-muette@{DOMAIN}": ["auto_ack", "human_reply"],
}


def check_ground_truth(
    calls: list[CallTruth], mails: list[MailTruth], places: Sequence[Place] = PLACES
) -> None:
    """The sandbox's logs say the world behaved as ``WORLD`` describes."""
    numbers = {place.number for place in places}
    assert {
        call.to: (call.status, call.rings, call.answered_by, call.transfer_outcome, call.hold_s)
        for call in calls
    } == {number: truth for number, truth in CALL_TRUTH.items() if number in numbers}
    mailboxes = {place.mailbox for place in places}
    kinds: dict[str, list[str]] = {}
    for entry in mails:
        kinds.setdefault(entry.mailbox, []).append(entry.kind)
    assert {box: sorted(found) for box, found in kinds.items()} == {
        box: sorted(found) for box, found in MAIL_TRUTH.items() if box in mailboxes
    }
    late = [e for e in mails if e.mailbox == f"lente@{DOMAIN}" and e.kind == "human_reply"]
    assert all(entry.outcome == "cancelled" for entry in late)


def score(prober_cli: Run, wave: str, grid: Path, as_of: datetime) -> Any:
    """``prober score WAVE --criteria GRID --as-of AS_OF``."""
    result = prober_cli("score", wave, "--criteria", str(grid), "--as-of", as_of.isoformat())
    assert result.exit_code == 0, result.stderr
    return result


def stored_scores(engine: Engine, wave: str) -> dict[tuple[str, str], Score]:
    """The wave's stored scores under the default grid's name, by structure label × channel."""
    with Session(engine) as session:
        wave_id = session.exec(select(Wave.id).where(Wave.name == wave)).one()
        rows = session.exec(
            select(Score, Structure.name)
            .join(Structure, col(Structure.id) == col(Score.structure_id))
            .where(Score.wave_id == wave_id, Score.grid == GRID_NAME)
        ).all()
        return {(label, score.channel): score for score, label in rows}


def check_scores(engine: Engine, wave: str, channel: str, expected: dict[str, Expected]) -> None:
    criteria = PHONE_CRITERIA if channel == "phone" else EMAIL_CRITERIA
    scores = stored_scores(engine, wave)
    found: dict[str, Expected] = {}
    for label in expected:
        row = scores[(label, channel)]
        tallies = row.details["criteria"]
        verdicts = []
        for criterion in criteria:
            (verdict,) = [key for key in (P, F, NA, PE, TR) if tallies[criterion][key] == 1]
            verdicts.append(verdict)
        assert row.sample_size == 1
        assert row.details["excluded"] == 0
        found[label] = Expected(
            tuple(verdicts),
            row.score,
            row.accessibility,
            row.responsiveness,
            row.quality,
            pending=row.details["pending"],
        )
    assert found == expected
