"""Running the synchronous storage layer from asyncio code without blocking the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

T = TypeVar("T")


class Database:
    """Runs ``work(session)`` in a worker thread, one transaction per call.

    SQLite gets a single worker, so writes are serialised instead of fighting over the file
    lock; PostgreSQL gets several.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        workers = 1 if engine.dialect.name == "sqlite" else 8
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prober-db")

    async def run(self, work: Callable[[Session], T]) -> T:
        """The result of ``work`` run in one committed transaction (rolled back if it raises)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, work)

    def _run(self, work: Callable[[Session], T]) -> T:
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                result = work(session)
            except StopIteration as error:
                # Raised into an asyncio future, it would leave the awaiting task waiting forever.
                raise RuntimeError(f"{work!r} raised StopIteration") from error
            session.commit()
            return result

    def close(self) -> None:
        """Wait for running work, then stop the workers."""
        self._executor.shutdown(wait=True)
