"""`prober run` killed with SIGKILL at random points while a wave of 120 probes runs against the
sandbox, and restarted each time: every probe is carried out exactly once, nothing is lost.

The last kill waits until recordings are announced whose downloads the sandbox refused: the
restart must then fetch them, whatever the machine's speed."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from sandbox import parse_world
from sandbox.mail import MailSandbox, MailTruth, Relay, parse_mail_world
from sandbox.mail.dovecot import free_port
from storage.db import make_engine, upgrade
from storage.models import (
    Attempt,
    Probe,
    ProbeState,
    Recording,
    Reply,
    Structure,
    Wave,
    WaveStatus,
)
from tests.support.cli import start_prober
from tests.support.email_scene import MailTarget, seed_email_probes
from tests.support.mailservers import MailAccount, SmtpServer, running_mail_sandbox
from tests.support.phone_scene import (
    ACCOUNT,
    Sandbox,
    StartSandbox,
    Target,
    free_listener,
    phone_scenario,
    seed_probes,
)

TIME_SCALE = 0.05
CALLS = 60
EMAILS = 60
KILLS = 5
PHONE_WORLD = """
[default]
rings = 2
answer = "human"
greeting = "Mairie, bonjour."
hangup_after_s = 90
"""
MAIL_WORLD = """
[mailboxes.default]
behaviour = "reply"
delay_s = 30
"""


def daemon_environment(
    database_url: str, sandbox_url: str, web_port: int, mail_port: int, account: MailAccount
) -> dict[str, str]:
    return {
        **os.environ,
        "PROBER_DATABASE_URL": database_url,
        "PROBER_TWILIO__ACCOUNT_SID": ACCOUNT.sid,
        "PROBER_TWILIO__AUTH_TOKEN": ACCOUNT.auth_token,
        "PROBER_TWILIO__API_BASE_URL": sandbox_url,
        "PROBER_TWILIO__WEBHOOK_BASE_URL": f"http://127.0.0.1:{web_port}",
        "PROBER_TWILIO__TIME_SCALE": str(TIME_SCALE),
        "PROBER_TWILIO__CALLS_PER_SECOND": "20",
        "PROBER_WEB__PORT": str(web_port),
        "PROBER_WORKSPACE__PORT": str(free_port()),
        "PROBER_SMTP__PORT": str(mail_port),
        "PROBER_IMAP__HOST": account.imap_host,
        "PROBER_IMAP__PORT": str(account.imap_port),
        "PROBER_IMAP__USERNAME": account.address,
        "PROBER_IMAP__PASSWORD": account.password,
        "PROBER_IMAP__POLL_INTERVAL_S": "1",
        "PROBER_DISPATCH__RETRY_DELAY_MINUTES": "0",
        "PROBER_DISPATCH__TICK_SECONDS": "0.2",
        "PROBER_DISPATCH__LEASE_MINUTES": "1",
    }


def seed(
    engine: Engine, persona: str, *, calls: int = CALLS, emails: int = EMAILS
) -> list[uuid.UUID]:
    scenarios = {"ask": phone_scenario("ask", max_ring_seconds=60, max_call_seconds=120)}
    phone = seed_probes(
        engine, [Target(f"+331427{index:05d}", "ask") for index in range(calls)], scenarios
    )
    email = (
        seed_email_probes(
            engine, persona, [MailTarget(f"mairie{index}@mairies.test") for index in range(emails)]
        )
        if emails
        else []
    )
    with Session(engine) as session:
        session.execute(update(Structure).values(opening_hours="24/7"))
        session.execute(update(Wave).values(status=WaveStatus.RUNNING))
        session.commit()
    return phone + email


def test_sigkill_at_random_points_loses_nothing_and_contacts_no_structure_twice(
    phone_sandbox: StartSandbox,
    mail_delivery: SmtpServer,
    mail_account: MailAccount,
    tmp_path: Path,
) -> None:
    # One SQLite daemon here; several daemons on PostgreSQL have their own test.
    database_url = f"sqlite:///{tmp_path / 'prober.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    probe_ids = seed(engine, mail_account.address)
    chance = random.Random(2026)  # noqa: S311 (kill instants, not security)
    listener = free_listener()
    web_port = listener.getsockname()[1]
    listener.close()
    command = ("run", "--log-format", "json")
    with (
        contextlib.ExitStack() as stack,
        phone_sandbox(parse_world(PHONE_WORLD), time_scale=TIME_SCALE) as calls,
        running_mail_sandbox(
            parse_mail_world(MAIL_WORLD),
            Relay(mail_delivery.host, mail_delivery.port),
            time_scale=TIME_SCALE,
        ) as mailboxes,
    ):
        environment = daemon_environment(
            database_url, calls.base_url, web_port, mailboxes.port, mail_account
        )
        logs = stack.enter_context((tmp_path / "daemon.log").open("ab"))
        # While the daemons are killed, Twilio refuses every recording download: the recordings
        # announced meanwhile are left for the last start to fetch.
        calls.faults.fail_recording_downloads = 1_000_000
        for kill in range(KILLS):
            daemon = start_prober(*command, cwd=tmp_path, env=environment, stderr=logs)
            time.sleep(chance.uniform(1.0, 4.0))
            if kill == KILLS - 1:
                _wait_for_refused_downloads(engine, calls, daemon, tmp_path / "daemon.log")
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
        refused_downloads = 1_000_000 - calls.faults.fail_recording_downloads
        left_to_fetch = _recordings_not_stored(engine)
        calls.faults.fail_recording_downloads = 0
        daemon = start_prober(*command, cwd=tmp_path, env=environment, stderr=logs)
        try:
            _wait_until_finished(engine, probe_ids, mailboxes, daemon, tmp_path / "daemon.log")
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=120)
        call_truth = list(calls.truth.entries)
        mail_truth = list(mailboxes.truth.entries)

    with Session(engine) as session:
        probes = list(session.exec(select(Probe).where(col(Probe.id).in_(probe_ids))))
        attempts = list(session.exec(select(Attempt)))
        replies = list(session.exec(select(Reply)))
        waves = list(session.exec(select(Wave)))
        recordings = list(session.exec(select(Recording)))
    engine.dispose()
    # No structure was ever contacted twice: one call per number, one email per mailbox.
    calls_per_number = Counter(entry.to for entry in call_truth)
    assert set(calls_per_number.values()) == {1}, calls_per_number.most_common(3)
    assert len(calls_per_number) == CALLS
    emails_per_mailbox = Counter(
        mailbox
        for mailbox, _ in {
            (e.mailbox, e.probe_message_id) for e in mail_truth if e.probe_message_id
        }
    )
    assert set(emails_per_mailbox.values()) == {1}, emails_per_mailbox.most_common(3)
    # Every probe settled, done exactly once. The only exception allowed: an email whose SMTP
    # DATA exchange a SIGKILL cut short cannot be confirmed, and is failed, never resent; at
    # most one per kill, and only when no reply proved it left.
    assert {p.state for p in probes} <= {ProbeState.DONE, ProbeState.FAILED}
    failed = [p for p in probes if p.state == ProbeState.FAILED]
    assert all(
        any(a.probe_id == p.id and a.outcome == "uncertain" for a in attempts) for p in failed
    ), "only an email whose send could not be confirmed may fail"
    assert len(failed) <= KILLS
    assert len(emails_per_mailbox) >= EMAILS - len(failed)
    phone_attempts = [a for a in attempts if a.external_id and a.external_id.startswith("CA")]
    assert {a.external_id for a in phone_attempts} == {entry.sid for entry in call_truth}
    assert all(a.ended_at is not None for a in phone_attempts)
    sent_replies = {entry.message_id for entry in mail_truth if entry.kind == "human_reply"}
    assert sent_replies <= {r.message_id for r in replies}
    assert {w.status for w in waves} == {WaveStatus.DONE}
    # The recordings whose downloads were refused before a kill are downloaded by a later start.
    assert refused_downloads > 0 and left_to_fetch
    assert left_to_fetch <= {r.external_id for r in recordings if r.status == "stored"}
    assert recordings
    for recording in recordings:
        assert recording.status == "stored", recording
        assert recording.media_path is not None
        media = Path(recording.media_path).read_bytes()
        assert hashlib.sha256(media).hexdigest() == recording.sha256


def _recordings_not_stored(engine: Engine) -> set[str]:
    """The recordings announced (by Twilio's callback) but not downloaded: their ids."""
    with Session(engine) as session:
        return set(
            session.exec(
                select(Recording.external_id).where(col(Recording.status) != "stored")
            ).all()
        )


def _wait_for_refused_downloads(
    engine: Engine, calls: Sandbox, daemon: subprocess.Popen[bytes], log: Path
) -> None:
    """Waits until the sandbox has refused a download and a recording is left to fetch: the
    situation a kill must leave for the next start (calls take their time on a busy machine)."""
    deadline = time.monotonic() + 120
    while calls.faults.fail_recording_downloads == 1_000_000 or not _recordings_not_stored(engine):
        assert daemon.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "no recording download was tried within 120 s"
        time.sleep(0.1)


def _wait_until_finished(
    engine: Engine,
    probe_ids: list[uuid.UUID],
    mailboxes: MailSandbox,
    daemon: subprocess.Popen[bytes],
    log: Path,
) -> None:
    """Wait (180 s at most) until every probe settled and every reply the mailboxes will ever
    send is sent, and stored."""
    deadline = time.monotonic() + 180
    while mailboxes.pending or not _finished(engine, probe_ids, mailboxes.truth.entries):
        assert daemon.poll() is None, log.read_text()[-3000:]
        if time.monotonic() > deadline:
            raise AssertionError(_state(engine, probe_ids))
        time.sleep(0.5)


def _finished(engine: Engine, probe_ids: list[uuid.UUID], mail_truth: list[MailTruth]) -> bool:
    with Session(engine) as session:
        states = set(session.exec(select(Probe.state).where(col(Probe.id).in_(probe_ids))))
        open_attempts = session.exec(select(Attempt).where(col(Attempt.ended_at).is_(None))).all()
        stored = {r.message_id for r in session.exec(select(Reply))}
        not_downloaded = session.exec(
            select(Recording.id).where(col(Recording.status) != "stored")
        ).all()
    replies = {e.message_id for e in mail_truth if e.kind == "human_reply"}
    phone_open = [a for a in open_attempts if a.external_id and a.external_id.startswith("CA")]
    return (
        states <= {ProbeState.DONE, ProbeState.FAILED}
        and not phone_open
        and not not_downloaded
        and replies <= stored
        and bool(replies)
    )


def _state(engine: Engine, probe_ids: list[uuid.UUID]) -> str:
    with Session(engine) as session:
        states = Counter(session.exec(select(Probe.state).where(col(Probe.id).in_(probe_ids))))
    return f"not finished: probes by state {dict(states)}"
