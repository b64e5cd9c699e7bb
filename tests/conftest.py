"""Fixtures shared by the whole suite: a database on each backend, a project folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from sandbox.mail import Dovecot
from storage.db import make_engine, normalise_database_url, session_scope, upgrade
from storage.models import Persona, Probe, Scenario, Structure, Wave
from storage.outbox import ProbePlace
from tests.support.mailservers import (
    MailAccount,
    SmtpServer,
    delivering_smtp,
    new_account,
    start_dovecot,
)
from tests.support.mosquitto import Mosquitto

POSTGRES_ADMIN_URL = os.environ.get(
    "PROBER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _postgres_admin() -> Engine:
    engine = create_engine(normalise_database_url(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({exc.orig}); "
            "`make services` starts it, PROBER_TEST_POSTGRES_URL points elsewhere"
        )
    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'prober.db'}"
        return
    admin = _postgres_admin()
    name = f"prober_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalise_database_url(POSTGRES_ADMIN_URL)).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to the newest schema."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


# -- Mail servers on loopback (tests/support/mailservers.py) ------------------------------------


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A throw-away Dovecot IMAP server on 127.0.0.1 and a free port, for the whole session.

    `dovecot.add_user(address, password=None)` creates accounts; `dovecot.port` is IMAP's.
    Fails (never skips) when Dovecot is missing: `make services` installs it.
    """
    server = start_dovecot()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mail_delivery(dovecot: Dovecot) -> Iterator[SmtpServer]:
    """An SMTP server (aiosmtpd) on loopback delivering into `dovecot`'s users' INBOXes."""
    with delivering_smtp(dovecot) as server:
        yield server


@pytest.fixture
def mail_account(dovecot: Dovecot) -> MailAccount:
    """A fresh Dovecot user with an empty INBOX, seen by this test only."""
    return new_account(dovecot)


# -- The event bus: a broker on loopback (tests/support/mosquitto.py), probes to announce ----

EVENT_WAVE = "2027-pre"
EVENT_STRUCTURES = ("21770001800011", "21670482500019", "20004071900013")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A throw-away Mosquitto broker on 127.0.0.1 and a free port, stopped afterwards.

    `mosquitto.stop()` then `mosquitto.start()` restarts it on the same port, keeping persistent
    sessions. Fails (never skips) when Mosquitto is missing: `make services` installs it.
    """
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def event_probes(engine: Engine) -> dict[uuid.UUID, ProbePlace]:
    """Wave 2027-pre with one phone and one email probe for each of three structures: where
    each probe's events belong, by probe id."""
    places: dict[uuid.UUID, ProbePlace] = {}
    with session_scope(engine) as session:
        session.add(
            Persona(
                id="p",
                display_name="Marie",
                caller_id="+33199000001",
                reply_mailbox="marie@probes.test",
            )
        )
        for channel in ("phone", "email"):
            session.add(Scenario(id=f"s-{channel}", channel=channel, title=channel))
        wave = Wave(
            name=EVENT_WAVE,
            starts_on=date(2027, 3, 1),
            ends_on=date(2027, 3, 26),
            channels=["phone", "email"],
        )
        session.add(wave)
        session.flush()
        assert wave.id is not None
        for number, official_id in enumerate(EVENT_STRUCTURES):
            structure = Structure(
                official_id=official_id,
                name=f"Mairie {number}",
                kind="mairie",
                departement="77",
                region="Île-de-France",
                timezone="Europe/Paris",
            )
            session.add(structure)
            session.flush()
            assert structure.id is not None
            for channel in ("phone", "email"):
                probe = Probe(
                    id=uuid.uuid4(),
                    wave_id=wave.id,
                    structure_id=structure.id,
                    channel=channel,
                    scenario_id=f"s-{channel}",
                    persona_id="p",
                    scheduled_at=datetime(2027, 3, 2, 9, number, tzinfo=UTC),
                )
                session.add(probe)
                places[probe.id] = ProbePlace(EVENT_WAVE, official_id, channel)
    return places
