"""Opening a prober project: its settings and its database, once per command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from config.settings import Settings, load_settings
from storage.db import check_schema, make_engine, session_scope


@dataclass(frozen=True, slots=True)
class Project:
    """The settings and database engine every command works with."""

    settings: Settings
    engine: Engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back on error."""
        with session_scope(self.engine) as session:
            yield session


def open_project(*, check: bool = True) -> Project:
    """Load ``prober.toml`` / ``PROBER_*`` and open the database (schema checked by default)."""
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    if check:
        try:
            check_schema(engine)
        except BaseException:
            engine.dispose()
            raise
    return Project(settings=settings, engine=engine)
