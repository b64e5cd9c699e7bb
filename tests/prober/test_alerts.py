"""Alert rules: each alert is raised once while its condition holds, cleared when it ends,
announced on the bus (`prober/alerts/...`) and emailed to the operators."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from config.alerts import load_alert_rules
from config.errors import InvalidFileError
from config.settings import AlertSettings, ImapSettings, Settings, SmtpSettings
from prober.project.database import Database
from prober.runtime.alerts import AlertWatch
from sandbox.mail.dovecot import free_port
from storage.models import Alert, Attempt, OutboxMessage, Probe, Wave, WaveStatus
from storage.outbox import topic_level
from tests.support.cli import Run
from tests.support.seeding import add_persona, add_probe, add_scenario, add_structure, add_wave

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class World:
    """A wave's probes and their attempts, written as the daemon would have."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with Session(engine) as session:
            add_persona(session, "camille", caller_id="+33970000001", reply_mailbox="c@x.org")
            add_scenario(session, "ask", "phone")
            add_scenario(session, "write", "email")
            self.wave_id = add_wave(
                session,
                "w1",
                starts_on=date(2026, 11, 23),
                ends_on=date(2026, 11, 27),
                channels=["phone", "email"],
                status=WaveStatus.RUNNING,
            )
            session.commit()
        self.structures: dict[str, int] = {}
        self.probes: dict[str, uuid.UUID] = {}

    def probe(self, contact: str, channel: str = "phone", *, at: datetime = NOW) -> uuid.UUID:
        with Session(self.engine) as session:
            structure = add_structure(session, f"S{len(self.structures):04d}", name=contact)
            self.structures[contact] = structure
            probe_id = add_probe(
                session,
                wave_id=self.wave_id,
                structure_id=structure,
                channel=channel,
                scenario_id="ask" if channel == "phone" else "write",
                persona_id="camille",
                scheduled_at=at,
                contact=contact,
            )
            session.commit()
        self.probes[contact] = probe_id
        return probe_id

    def attempt(self, contact: str, outcome: str, *, at: datetime = NOW) -> None:
        probe_id = self.probes[contact]
        with Session(self.engine) as session:
            probe = session.get(Probe, probe_id)
            assert probe is not None
            probe.attempt_count += 1
            probe.state = "done"
            session.add(probe)
            session.add(
                Attempt(
                    probe_id=probe_id,
                    number=probe.attempt_count,
                    external_id=f"CA{uuid.uuid4().hex}",
                    started_at=at,
                    ended_at=at + timedelta(minutes=1),
                    outcome=outcome,
                )
            )
            session.commit()


@pytest.fixture
def database(engine: Engine) -> Iterator[Database]:
    database = Database(engine)
    yield database
    database.close()


def _watch(settings: Settings, database: Database, clock: Clock) -> AlertWatch:
    return AlertWatch(settings, database, phone=None, clock=clock)


def _open(engine: Engine) -> dict[tuple[str, str], Alert]:
    with Session(engine) as session:
        alerts = session.exec(select(Alert).where(col(Alert.cleared_at).is_(None)))
        return {(a.rule, a.subject): a for a in alerts}


def _messages(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return [(m.topic, m.payload["state"]) for m in rows if "/alerts/" in m.topic]


async def test_each_alert_is_raised_once_while_it_holds_and_cleared_when_it_ends(
    engine: Engine, database: Database
) -> None:
    world = World(engine)
    clock = Clock()
    watch = _watch(Settings(), database, clock)
    # A dead number (two failed calls), a structure that never answers (three calls), a
    # bouncing address, and a wave whose planned probe is an hour late.
    world.probe("+33142700001")
    world.attempt("+33142700001", "failed")
    world.attempt("+33142700001", "failed")
    world.probe("+33142700002")
    for _ in range(3):
        world.attempt("+33142700002", "no-answer")
    world.probe("mairie@bounce.test", "email")
    world.attempt("mairie@bounce.test", "bounced")
    world.probe("+33142700009", at=NOW - timedelta(hours=1))

    await watch.check()
    await watch.check()  # once only, however often the rules run

    opened = _open(engine)
    assert set(opened) == {
        ("number_not_in_service", "+33142700001"),
        ("structure_unreachable", "w1/S0001"),
        ("address_bouncing", "mairie@bounce.test"),
        ("wave_behind_schedule", "w1"),
    }
    assert "+33142700001" in opened["number_not_in_service", "+33142700001"].message
    assert "2 derniers appels" in opened["number_not_in_service", "+33142700001"].message
    assert _messages(engine) == [
        (f"prober/alerts/{rule}/{topic_level(subject)}", "raised")
        for rule, subject in sorted(opened, key=lambda key: opened[key].id or 0)
    ]

    # Resolved: the number answers, the structure too, the address takes a reply, the late
    # probe leaves.
    world.attempt("+33142700001", "answered", at=NOW + timedelta(minutes=5))
    world.attempt("+33142700002", "answered", at=NOW + timedelta(minutes=5))
    world.attempt("mairie@bounce.test", "replied", at=NOW + timedelta(minutes=5))
    with Session(engine) as session:
        late = session.get(Probe, world.probes["+33142700009"])
        assert late is not None
        late.state = "done"
        session.add(late)
        session.commit()
    await watch.check()
    await watch.check()

    assert _open(engine) == {}
    cleared = [m for m in _messages(engine) if m[1] == "cleared"]
    assert sorted(cleared) == sorted((topic, "cleared") for topic, _ in _messages(engine)[:4])
    assert len(_messages(engine)) == 8


async def test_the_twilio_error_rate_alert_follows_the_last_hour(
    engine: Engine, database: Database
) -> None:
    world = World(engine)
    clock = Clock()
    watch = _watch(Settings(), database, clock)
    for index in range(10):
        world.probe(f"+3314270{index:04d}")
        world.attempt(f"+3314270{index:04d}", "failed" if index < 3 else "answered")
    await watch.check()
    assert ("twilio_error_rate", "twilio") in _open(engine)
    assert "3 appels en erreur sur 10" in _open(engine)["twilio_error_rate", "twilio"].message
    clock.now = NOW + timedelta(hours=2)  # those calls leave the window
    await watch.check()
    assert ("twilio_error_rate", "twilio") not in _open(engine)


async def test_budget_reached_pauses_the_wave_and_clears_when_the_budget_is_raised(
    engine: Engine, database: Database
) -> None:
    world = World(engine)
    watch = _watch(Settings(), database, Clock())
    world.probe("+33142700001")
    world.attempt("+33142700001", "answered")
    with Session(engine) as session:
        attempt = session.exec(select(Attempt)).one()
        attempt.price = Decimal("-0.04600")
        wave = session.exec(select(Wave)).one()
        wave.budget = Decimal("0.04")
        session.add_all([attempt, wave])
        session.commit()
    await watch.check()
    assert ("budget_reached", "w1") in _open(engine)
    assert "0.04600 sur 0.04 USD" in _open(engine)["budget_reached", "w1"].message
    with Session(engine) as session:
        wave = session.exec(select(Wave)).one()
        assert wave.status == WaveStatus.PAUSED
        wave.budget = Decimal("1.00")
        wave.status = WaveStatus.RUNNING
        session.add(wave)
        session.commit()
    await watch.check()
    assert _open(engine) == {}


async def test_only_the_daemon_watching_the_mailbox_checks_it(
    engine: Engine, database: Database
) -> None:
    """A daemon with ``imap.watch = false`` neither checks the mailbox nor clears the alert the
    watching daemon raised about it."""
    closed = free_port()
    imap = ImapSettings(host="127.0.0.1", port=closed, username="replies@x.org")
    await _watch(Settings(imap=imap), database, Clock()).check()
    [alert] = _open(engine).values()
    assert alert.rule == "imap_unreachable"
    other = Settings(imap=imap.model_copy(update={"watch": False, "port": free_port()}))
    await _watch(other, database, Clock()).check()
    assert list(_open(engine).values()) == [alert]


async def test_an_unreachable_reply_mailbox_raises_an_alert_emailed_to_the_operators(
    engine: Engine, database: Database
) -> None:
    closed = free_port()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        settings = Settings(
            imap=ImapSettings(host="127.0.0.1", port=closed, username="replies@x.org"),
            smtp=SmtpSettings(host="127.0.0.1", port=smtp.port),
            alerts=AlertSettings(operators_email="ops@x.org", from_address="prober@x.org"),
        )
        watch = _watch(settings, database, Clock())
        await watch.check()
        await watch.check()
    finally:
        smtp.stop()
    received = inbox.messages
    [alert] = _open(engine).values()
    assert alert.rule == "imap_unreachable"
    assert alert.subject == f"127.0.0.1:{closed}"
    [email] = received
    assert email["To"] == "ops@x.org"
    assert "imap_unreachable" in email["Subject"]
    assert "injoignable" in email.get_content()


def test_a_rules_file_with_an_unknown_check_is_refused_with_its_line(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text('[[rule]]\nid = "x"\ncheck = "numbre_dead"\nmessage = "m"\n')
    with pytest.raises(InvalidFileError) as raised:
        load_alert_rules(rules)
    assert "line 3" in str(raised.value)
    assert "numbre_dead" in str(raised.value)


class Inbox:
    """An SMTP handler keeping what it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = BytesParser(policy=policy.default).parsebytes(content)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


async def test_two_daemons_checking_at_once_raise_an_alert_once(engine: Engine) -> None:
    world = World(engine)
    world.probe("+33142700001")
    world.attempt("+33142700001", "failed")
    world.attempt("+33142700001", "failed")
    databases = [Database(engine) for _ in range(4)]
    try:
        watches = [_watch(Settings(), database, Clock()) for database in databases]
        await asyncio.gather(*(watch.check() for watch in watches))
    finally:
        for database in databases:
            database.close()
    with Session(engine) as session:
        alerts = list(session.exec(select(Alert)))
    assert [(a.rule, a.subject) for a in alerts] == [("number_not_in_service", "+33142700001")]
    assert _messages(engine) == [("prober/alerts/number_not_in_service/%2B33142700001", "raised")]


async def test_alerts_list_and_ack_from_the_command_line(
    engine: Engine, database: Database, prober_cli: Run
) -> None:
    world = World(engine)
    world.probe("+33142700001")
    world.attempt("+33142700001", "failed")
    world.attempt("+33142700001", "failed")
    await _watch(Settings(), database, Clock()).check()
    [listed] = [
        json.loads(line)
        for line in prober_cli("alerts", "list", "--json").stdout.split("\n")
        if line
    ]
    assert (listed["rule"], listed["subject"], listed["acked_by"]) == (
        "number_not_in_service",
        "+33142700001",
        None,
    )
    acked = prober_cli("alerts", "ack", str(listed["id"]), "--by", "dupont")
    assert acked.exit_code == 0
    assert "acknowledged by dupont" in acked.stdout
    table = prober_cli("alerts", "list")
    assert "acked by dupont" in table.stdout
    unknown = prober_cli("alerts", "ack", "999")
    assert unknown.exit_code != 0
    assert "no alert 999" in unknown.stderr
    # Resolved: no longer listed, but kept with --all.
    world.attempt("+33142700001", "answered", at=NOW + timedelta(minutes=5))
    await _watch(Settings(), database, Clock()).check()
    assert prober_cli("alerts", "list", "--json").stdout.strip() == ""
    assert "cleared" in prober_cli("alerts", "list", "--all").stdout


async def test_a_wave_over_budget_is_paused_even_without_a_budget_rule(
    engine: Engine, database: Database, tmp_path: Path
) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text('[[rule]]\nid = "dead"\ncheck = "number_not_in_service"\nmessage = "m"\n')
    settings = Settings(alerts=AlertSettings(rules_file=rules))
    world = World(engine)
    world.probe("+33142700001")
    world.attempt("+33142700001", "answered")
    with Session(engine) as session:
        attempt = session.exec(select(Attempt)).one()
        attempt.price = Decimal("-0.05")
        wave = session.exec(select(Wave)).one()
        wave.budget = Decimal("0.05")
        session.add_all([attempt, wave])
        session.commit()
    await _watch(settings, database, Clock()).check()
    with Session(engine) as session:
        assert session.exec(select(Wave.status)).one() == WaveStatus.PAUSED
    assert _open(engine) == {}
