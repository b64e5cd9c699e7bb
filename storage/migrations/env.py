"""Alembic environment: the engine comes from prober (``storage.db.upgrade``), not alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, create_engine
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def run_migrations() -> None:
    """Run the migrations on the engine prober handed over (or an ``-x url=...`` one)."""
    engine: Engine | None = context.config.attributes.get("engine")
    if engine is None:
        url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///prober.db")
        engine = create_engine(url)
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
