"""Two `prober run` daemons on one PostgreSQL database share a wave: no probe twice, and the
wave closes the moment its last probe settles, whichever daemon settles it."""

from __future__ import annotations

import contextlib
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from sandbox import parse_world
from storage.models import Attempt, Probe, ProbeState, Wave, WaveStatus
from tests.prober.test_daemon_crash import PHONE_WORLD, TIME_SCALE, daemon_environment, seed
from tests.support.cli import start_prober
from tests.support.mailservers import MailAccount, SmtpServer
from tests.support.phone_scene import StartSandbox, free_listener

WAVE_AND_UNSETTLED = text(
    "SELECT wave.status, (SELECT count(*) FROM probe WHERE probe.wave_id = wave.id"
    " AND probe.state IN ('planned', 'dispatching', 'in_progress')) FROM wave"
)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_daemons_on_one_postgresql_database_never_dispatch_a_probe_twice(
    phone_sandbox: StartSandbox,
    engine: Engine,
    database_url: str,
    mail_delivery: SmtpServer,
    mail_account: MailAccount,
    tmp_path: Path,
) -> None:
    # PostgreSQL only: SQLite serves one daemon (docs/dispatch.md).
    probe_ids = seed(engine, mail_account.address, emails=0)
    with contextlib.ExitStack() as stack:
        calls = stack.enter_context(phone_sandbox(parse_world(PHONE_WORLD), time_scale=TIME_SCALE))
        daemons = []
        for name in ("a", "b"):
            listener = free_listener()
            port = listener.getsockname()[1]
            listener.close()
            environment = daemon_environment(database_url, calls.base_url, port, 1, mail_account)
            log = stack.enter_context((tmp_path / f"daemon-{name}.log").open("ab"))
            daemons.append(
                start_prober(
                    "run", "--log-format", "json", cwd=tmp_path, env=environment, stderr=log
                )
            )
        try:
            deadline = time.monotonic() + 180
            while True:
                with Session(engine) as session:
                    states = set(
                        session.exec(select(Probe.state).where(col(Probe.id).in_(probe_ids)))
                    )
                    # One statement, one snapshot: the wave's status and its unsettled probes.
                    [(status, unsettled)] = session.execute(WAVE_AND_UNSETTLED).all()
                # The wave closes in the transaction that settles its last probe, whichever
                # daemon settles it: no moment shows every probe settled and the wave running.
                assert unsettled > 0 or status == "done", (status, unsettled)
                if states <= {ProbeState.DONE, ProbeState.FAILED} and status == "done":
                    break
                for daemon in daemons:
                    assert daemon.poll() is None, "a daemon died: see its log in " + str(tmp_path)
                assert time.monotonic() < deadline, f"not finished: {states}"
                time.sleep(0.5)
        finally:
            for daemon in daemons:
                daemon.send_signal(signal.SIGTERM)
            for daemon in daemons:
                daemon.wait(timeout=120)
        call_truth = list(calls.truth.entries)

    with Session(engine) as session:
        attempts = list(session.exec(select(Attempt).where(col(Attempt.probe_id).in_(probe_ids))))
        probes = list(session.exec(select(Probe).where(col(Probe.id).in_(probe_ids))))
        waves = list(session.exec(select(Wave)))
    assert {p.state for p in probes} == {ProbeState.DONE}
    assert Counter(a.probe_id for a in attempts).most_common(1)[0][1] == 1
    calls_per_number = Counter(entry.to for entry in call_truth)
    assert set(calls_per_number.values()) == {1}
    assert len(calls_per_number) == len(probe_ids)
    # Both daemons took part (each call's webhooks went to the daemon that placed it).
    assert len({p.claimed_by for p in probes}) == 2
    assert {w.status for w in waves} == {WaveStatus.DONE}
