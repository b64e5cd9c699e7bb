"""Database engines: SQLite (one file, WAL) by default, PostgreSQL by URL; and migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from storage.errors import DatabaseUnavailableError, SchemaOutdatedError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever scheme the user wrote."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files are opened in WAL mode with foreign keys enforced."""
    url = normalise_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            folder = Path(database).parent
            if not folder.exists():
                raise DatabaseUnavailableError(
                    f"database folder {folder} does not exist: create it or fix database_url"
                )
        engine = create_engine(url)
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    # Ten connections kept open and fifteen more at peaks: a daemon's storage workers (eight per
    # worker pool, three pools) no longer open and close a connection per transaction.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=15)


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration bound to ``engine`` (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (creates the database tables on first use)."""
    try:
        command.upgrade(alembic_config(engine), revision)
    except OperationalError as exc:
        raise DatabaseUnavailableError(f"cannot open the database: {exc.orig}") from exc


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None for an empty database."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise DatabaseUnavailableError(f"cannot open the database: {exc.orig}") from exc


def head_revision() -> str:
    """The newest schema revision this version of prober knows."""
    head = ScriptDirectory.from_config(
        alembic_config(create_engine("sqlite://"))
    ).get_current_head()
    if head is None:  # pragma: no cover - the package always ships its migrations
        raise SchemaOutdatedError(f"no migration found in {MIGRATIONS_DIR}")
    return head


def check_schema(engine: Engine) -> None:
    """Refuse to work on a database whose schema is not the one this code expects."""
    current = current_revision(engine)
    expected = head_revision()
    if current is None:
        raise SchemaOutdatedError(
            "the database is empty: run `prober init` (new project) or `prober db upgrade`"
        )
    if current != expected:
        raise SchemaOutdatedError(
            f"the database schema is at revision {current}, this prober expects {expected}: "
            "run `prober db upgrade`"
        )


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
