"""Two PostgreSQL sessions racing: let the second run until it waits for the first's lock."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine
from sqlmodel import Session


def commit_once_blocked(
    engine: Engine, first: Session, second: threading.Thread, second_pid: int, what: str
) -> None:
    """Commit ``first`` once ``second`` (a started thread using backend ``second_pid``) has
    ended or waits for a lock, then wait for ``second`` to end."""
    deadline = time.monotonic() + 60
    while second.is_alive() and not waits_for_a_lock(engine, second_pid):
        assert time.monotonic() < deadline, f"{what} neither ended nor waited"
        time.sleep(0.01)
    first.commit()
    second.join(timeout=60)
    assert not second.is_alive()


def waits_for_a_lock(engine: Engine, pid: int) -> bool:
    """Whether the backend ``pid`` waits for a lock right now."""
    with engine.connect() as connection:
        waiting = connection.exec_driver_sql(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %(pid)s", {"pid": pid}
        ).scalar_one_or_none()
    return bool(waiting == "Lock")
