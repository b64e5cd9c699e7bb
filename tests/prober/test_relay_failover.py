"""Two `prober run` daemons on one PostgreSQL database and one Mosquitto: one relays the outbox
at a time; killed (SIGKILL), the other takes over and publishes the rest, in order, once each."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sandbox.mail.dovecot import free_port
from storage import leases, outbox
from storage.db import session_scope
from storage.types import utcnow
from tests.prober.test_bus import PREFIX, WAIT_S, recording
from tests.support.cli import start_prober
from tests.support.mosquitto import Mosquitto

LEASE_S = 2.0
HALF = 150


def _environment(database_url: str, broker: Mosquitto) -> dict[str, str]:
    return {
        **os.environ,
        "PROBER_DATABASE_URL": database_url,
        "PROBER_WEB__PORT": str(free_port()),
        "PROBER_WORKSPACE__PORT": str(free_port()),
        "PROBER_MQTT__HOST": broker.host,
        "PROBER_MQTT__PORT": str(broker.port),
        "PROBER_MQTT__TOPIC_PREFIX": PREFIX,
        "PROBER_MQTT__RELAY_LEASE_SECONDS": str(LEASE_S),
    }


def _holder(engine: Engine) -> str | None:
    with session_scope(engine) as session:
        held = leases.current(session, leases.OUTBOX_RELAY, now=utcnow())
    return None if held is None else held.holder


def _holder_pid(engine: Engine) -> int | None:
    """The process id in the relay lease's holder (``<host>-<pid>-<client id>``)."""
    holder = _holder(engine)
    prefix = f"{socket.gethostname()}-"
    if holder is None or not holder.startswith(prefix):
        return None
    return int(holder.removeprefix(prefix).split("-")[0])


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"after {WAIT_S} s, still not: {what}"
        await asyncio.sleep(0.05)


async def _enqueue(engine: Engine, numbers: range) -> None:
    """Outbox messages numbered ``numbers``, a few per transaction, as events come."""
    for first in range(numbers.start, numbers.stop, 10):
        with session_scope(engine) as session:
            for number in range(first, min(first + 10, numbers.stop)):
                outbox.enqueue(
                    session, topic=f"{PREFIX}/system/failover", payload={"number": number}
                )
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_the_relay_holder_killed_another_daemon_publishes_the_rest_in_order_once(
    engine: Engine, database_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    daemons: dict[str, subprocess.Popen[bytes]] = {}
    logs = contextlib.ExitStack()

    def start(name: str) -> subprocess.Popen[bytes]:
        log = logs.enter_context((tmp_path / f"daemon-{name}.log").open("ab"))
        daemons[name] = start_prober(
            "run", cwd=tmp_path, env=_environment(database_url, mosquitto), stderr=log
        )
        return daemons[name]

    async with recording(mosquitto) as recorder:
        try:
            first = start("first")
            await _until(lambda: _holder_pid(engine) == first.pid, "the first daemon relays")
            second = start("second")
            second_log = tmp_path / "daemon-second.log"
            await _until(
                lambda: b"connected to MQTT broker" in second_log.read_bytes(),
                "the second daemon is connected to the broker",
            )
            await _enqueue(engine, range(HALF))
            await _until(lambda: len(recorder.received) >= HALF, "the first half published")
            await _until(lambda: _pending(engine) == 0, "the first half marked published")
            assert _holder_pid(engine) == first.pid  # the second one waited its turn

            first.send_signal(signal.SIGKILL)
            first.wait(timeout=WAIT_S)
            killed_at = time.monotonic()
            await _enqueue(engine, range(HALF, 2 * HALF))
            await _until(lambda: len(recorder.received) >= 2 * HALF, "the rest published")
            took_over_s = time.monotonic() - killed_at
            await _until(lambda: _pending(engine) == 0, "the rest marked published")
            assert _holder_pid(engine) == second.pid
            assert second.poll() is None
        finally:
            for daemon in daemons.values():
                if daemon.poll() is None:
                    daemon.send_signal(signal.SIGTERM)
            for daemon in daemons.values():
                daemon.wait(timeout=WAIT_S)
            logs.close()
        await asyncio.sleep(0.5)  # a duplicate would arrive now
    numbers = [payload["number"] for _, payload in recorder.received]
    assert numbers == list(range(2 * HALF))
    # Within seconds: the lease runs out, the second daemon tries again every second.
    assert took_over_s < LEASE_S + 20, took_over_s


def _pending(engine: Engine) -> int:
    with session_scope(engine) as session:
        return outbox.count_pending(session)
