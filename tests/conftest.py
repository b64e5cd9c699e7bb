"""Fixtures shared by the whole suite: a database on each backend, the servers on loopback, the
sandbox; and the lanes (markers) each test falls in, from the fixtures it uses."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from sandbox.mail import Dovecot
from sandbox.sound.voice import espeak_path
from storage.db import make_engine, normalise_database_url, session_scope, upgrade
from storage.outbox import ProbePlace
from tests.support.mailservers import (
    MailAccount,
    SmtpServer,
    delivering_smtp,
    new_account,
    start_dovecot,
)
from tests.support.mosquitto import Mosquitto
from tests.support.phone_scene import StartSandbox, running_sandbox
from tests.support.seeding import add_persona, add_probe, add_scenario, add_structure, add_wave

# -- Lanes: `make test-fast` runs the tests in none of them -----------------------------------

SERVICE_FIXTURES = frozenset({"dovecot", "mail_delivery", "mail_account", "mosquitto", "espeak"})
# The sandbox's world on loopback, or the command line run in a project from `init` on.
E2E_FIXTURES = frozenset({"phone_sandbox", "scene", "rough", "sandbox", "twilio", "prober_cli"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks each test `postgres`, `services` and `e2e` from the fixtures it uses, so that a lane
    follows a test's needs without anyone remembering to mark it."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("database_url") == "postgresql"
        if on_postgres and item.get_closest_marker("postgres") is None:
            item.add_marker(pytest.mark.postgres)
        if on_postgres or fixtures & SERVICE_FIXTURES:
            item.add_marker(pytest.mark.services)
        if fixtures & E2E_FIXTURES:
            item.add_marker(pytest.mark.e2e)


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


# -- Programs from Debian the sandbox uses ---------------------------------------------------


@pytest.fixture(scope="session")
def espeak() -> str:
    """The path of espeak-ng, which speaks the sandbox's French lines (sandbox/sound/voice.py).

    Fails (never skips) when it is missing: `make services` installs it.
    """
    path = espeak_path()
    if path is None:
        pytest.fail("espeak-ng is not installed; `make services` installs it (Debian espeak-ng)")
    return path


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
async def mosquitto(tmp_path: Path) -> AsyncIterator[Mosquitto]:
    """A throw-away Mosquitto broker on 127.0.0.1 and a free port, stopped afterwards.

    `mosquitto.stop()` then `mosquitto.start()` restarts it on the same port, keeping persistent
    sessions (from an async test: `await asyncio.to_thread(mosquitto.stop)`). Fails (never
    skips) when Mosquitto is missing: `make services` installs it.
    """
    broker = Mosquitto(tmp_path / "mosquitto")
    await asyncio.to_thread(broker.start)
    yield broker
    await asyncio.to_thread(broker.stop)


EVENT_WAVE = "2027-pre"
EVENT_STRUCTURES = ("21770001800011", "21670482500019", "20004071900013")


@pytest.fixture
def event_probes(engine: Engine) -> dict[uuid.UUID, ProbePlace]:
    """Wave 2027-pre with one phone and one email probe for each of three structures: where
    each probe's events belong, by probe id."""
    places: dict[uuid.UUID, ProbePlace] = {}
    with session_scope(engine) as session:
        add_persona(session, reply_mailbox="marie@probes.test")
        for channel in ("phone", "email"):
            add_scenario(session, f"s-{channel}", channel, title=channel)
        wave_id = add_wave(
            session,
            EVENT_WAVE,
            starts_on=date(2027, 3, 1),
            ends_on=date(2027, 3, 26),
            channels=["phone", "email"],
        )
        for number, official_id in enumerate(EVENT_STRUCTURES):
            structure_id = add_structure(
                session, official_id, name=f"Mairie {number}", departement="77"
            )
            for channel in ("phone", "email"):
                probe_id = add_probe(
                    session,
                    wave_id=wave_id,
                    structure_id=structure_id,
                    channel=channel,
                    scenario_id=f"s-{channel}",
                    persona_id="p",
                    scheduled_at=datetime(2027, 3, 2, 9, number, tzinfo=UTC),
                )
                places[probe_id] = ProbePlace(EVENT_WAVE, official_id, channel)
    return places


# -- The sandbox: Twilio's API and the structures' phones (tests/support/phone_scene.py) -------


@pytest.fixture
def phone_sandbox() -> StartSandbox:
    """``with phone_sandbox(world, time_scale=…) as sandbox:`` serves the sandbox's API and call
    runner on loopback until the block ends, in their own thread as the outside world would.
    Asking for it puts the test in the `e2e` lane."""
    return running_sandbox
