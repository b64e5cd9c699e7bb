"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

from storage.db import check_schema, current_revision, head_revision, make_engine, upgrade
from storage.errors import SchemaOutdatedError


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {"structure", "contactpoint", "persona", "scenario", "wave", "probe"} <= tables
    assert {"attempt", "event", "reply", "recording", "review", "score"} <= tables


def test_an_empty_database_is_refused_with_the_command_to_run(database_url: str) -> None:
    engine = make_engine(database_url)
    with pytest.raises(SchemaOutdatedError, match="prober db upgrade"):
        check_schema(engine)
    upgrade(engine)
    check_schema(engine)
    engine.dispose()


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/wal.db")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
