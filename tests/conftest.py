"""Fixtures shared by the whole suite: a database on each backend, a project folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from sandbox.mail import Dovecot
from storage.db import make_engine, normalise_database_url, upgrade
from tests.mailservers import (
    MailAccount,
    SmtpServer,
    delivering_smtp,
    new_account,
    start_dovecot,
)

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


# -- Mail servers on loopback (tests/mailservers.py) --------------------------------------------


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
