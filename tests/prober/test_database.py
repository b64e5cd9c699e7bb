"""The worker that runs storage work for asyncio code."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlmodel import Session

from prober.project.database import Database
from storage.db import make_engine, upgrade


async def test_work_raising_stop_iteration_fails_its_caller_instead_of_hanging(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'prober.db'}")
    upgrade(engine)
    database = Database(engine)

    def first_of_nothing(session: Session) -> int:
        return next(iter([]))

    try:
        with pytest.raises(RuntimeError, match="StopIteration"):
            await asyncio.wait_for(database.run(first_of_nothing), timeout=30)
        assert await database.run(lambda session: 1) == 1  # the worker is still there
    finally:
        database.close()
        engine.dispose()
