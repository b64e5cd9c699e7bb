"""The running daemon settles a call whose final status callback was lost, without a restart.

Twilio does not send a status callback again when its delivery fails; the sandbox's world knob
`lose_final_callback` makes that happen to one number. The daemon's sweep asks the REST API
about calls open past their time limit, only those it (or nobody alive) holds, and leaves live
calls alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from channels.phone.twilio_client import TwilioPhone
from config.settings import Settings, TwilioSettings, WebSettings, WorkspaceSettings
from prober.probes.phone import AttemptKey, PhoneProbes
from prober.project import Project
from prober.project.database import Database
from prober.runtime.daemon import Daemon, DaemonOptions
from sandbox import parse_world
from sandbox.calls import Call, CallStatus
from sandbox.mail.dovecot import free_port
from storage.models import Attempt, Event, Probe, ProbeState, Structure, Wave, WaveStatus
from storage.types import utcnow
from tests.support.phone_scene import (
    ACCOUNT,
    Sandbox,
    StartSandbox,
    Target,
    phone_scenario,
    seed_probes,
    wait_until,
)

TIME_SCALE = 0.05
LOST = "+33142760501"  # answers, talks 5 s and hangs up; its final callback never arrives
HOLDING = "+33142760502"  # puts the caller on hold for longer than the test lasts
WORLD = f"""
[numbers."{LOST}"]
rings = 1
greeting = "Mairie, bonjour."
hangup_after_s = 5
lose_final_callback = true

[numbers."{HOLDING}"]
rings = 1
greeting = "Mairie, bonjour."
[numbers."{HOLDING}".transfer]
hold_s = 3000
"""
DAEMON_ID = "sweeper"
LEASE = timedelta(minutes=10)


def _settings(sandbox_url: str, tmp_path: Path) -> Settings:
    web_port = free_port()
    return Settings(
        twilio=TwilioSettings(
            account_sid=ACCOUNT.sid,
            auth_token=SecretStr(ACCOUNT.auth_token),
            api_base_url=sandbox_url,
            pricing_base_url=sandbox_url,
            webhook_base_url=f"http://127.0.0.1:{web_port}",
            calls_per_second=50,
            time_scale=TIME_SCALE,
        ),
        web=WebSettings(port=web_port),
        workspace=WorkspaceSettings(port=free_port()),
        recordings_dir=tmp_path / "recordings",
    )


@contextlib.asynccontextmanager
async def _running(engine: Engine, settings: Settings) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    options = DaemonOptions(
        daemon_id=DAEMON_ID,
        watch_mail=False,
        watch_alerts=False,
        tick_s=0.05,
        drain_s=1,
        lease=LEASE,
        sweep_s=0.1,
    )
    task = asyncio.create_task(Daemon(Project(settings=settings, engine=engine), options).run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


def _attempt(engine: Engine, probe_id: uuid.UUID) -> Attempt:
    with Session(engine) as session:
        return session.exec(select(Attempt).where(col(Attempt.probe_id) == probe_id)).one()


def _probe(engine: Engine, probe_id: uuid.UUID) -> Probe:
    with Session(engine) as session:
        probe = session.get(Probe, probe_id)
        assert probe is not None
        return probe


def _call_to(sandbox: Sandbox, number: str) -> Call | None:
    return next((call for call in sandbox.store.newest_first() if call.to == number), None)


def _fetched(sandbox: Sandbox, sid: str) -> int:
    """How many times the call's resource was asked for (GET /Calls/{sid}.json)."""
    return sum(
        1
        for exchange in sandbox.recorder.exchanges
        if exchange.method == "GET" and exchange.url.split("?")[0].endswith(f"/Calls/{sid}.json")
    )


async def _a_full_sweep(engine: Engine, probe_id: uuid.UUID) -> None:
    """Wait until a sweep that began after this call has ended: each sweep first renews the
    hold on the daemon's calls (``probe_id`` is one), and sweeps run one after another."""
    for _ in range(2):
        mark = utcnow() + LEASE

        def renewed(mark: datetime = mark) -> bool:
            lease_until = _probe(engine, probe_id).lease_until
            return lease_until is not None and lease_until >= mark

        await wait_until(renewed, timeout_s=30, what="a sweep")


def _age(engine: Engine, probe_id: uuid.UUID, by: timedelta) -> None:
    """Move an attempt's start back: its call is now that much older."""
    with Session(engine) as session:
        session.execute(
            update(Attempt)
            .where(col(Attempt.probe_id) == probe_id)
            .values(started_at=_attempt(engine, probe_id).started_at - by)
        )
        session.commit()


def _hold(engine: Engine, probe_id: uuid.UUID, by: str, *, for_: timedelta) -> None:
    """Make ``by`` the daemon holding the probe, its hold running out ``for_`` from now."""
    with Session(engine) as session:
        session.execute(
            update(Probe)
            .where(col(Probe.id) == probe_id)
            .values(claimed_by=by, lease_until=utcnow() + for_)
        )
        session.commit()


async def test_the_sweep_settles_a_call_whose_final_callback_was_lost_and_leaves_live_calls(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path
) -> None:
    scenario = phone_scenario(
        "wait", transfer_to="état civil", max_ring_seconds=40, max_call_seconds=3600
    )
    lost, holding = seed_probes(
        engine, [Target(LOST, "wait"), Target(HOLDING, "wait")], {"wait": scenario}
    )
    with Session(engine) as session:
        session.execute(update(Wave).values(status=WaveStatus.RUNNING))
        session.execute(update(Structure).values(opening_hours="24/7"))
        session.commit()

    with phone_sandbox(parse_world(WORLD), time_scale=TIME_SCALE) as sandbox:
        settings = _settings(sandbox.base_url, tmp_path)
        async with _running(engine, settings) as daemon:
            await wait_until(
                lambda: (
                    (lost_call := _call_to(sandbox, LOST)) is not None
                    and lost_call.status.is_final
                    and (held := _call_to(sandbox, HOLDING)) is not None
                    and held.status is CallStatus.IN_PROGRESS
                    and _attempt(engine, holding).external_id is not None
                ),
                timeout_s=60,
                what="the first call ended and the second one on hold",
            )
            lost_sid = _attempt(engine, lost).external_id
            holding_sid = _attempt(engine, holding).external_id
            assert lost_sid is not None and holding_sid is not None

            # Within their time limit, open calls are not asked about.
            await _a_full_sweep(engine, holding)
            assert _attempt(engine, lost).ended_at is None
            assert _probe(engine, lost).state == ProbeState.IN_PROGRESS
            assert _fetched(sandbox, lost_sid) == _fetched(sandbox, holding_sid) == 0

            # An hour later both are overdue; the first is held by another daemon, still alive.
            _age(engine, lost, timedelta(hours=1))
            _age(engine, holding, timedelta(hours=1))
            _hold(engine, lost, "another-daemon", for_=timedelta(hours=1))
            await _a_full_sweep(engine, holding)
            await _a_full_sweep(engine, holding)
            assert _fetched(sandbox, lost_sid) == 0
            assert _attempt(engine, lost).ended_at is None
            assert _probe(engine, lost).claimed_by == "another-daemon"
            # Ours, overdue but live (queued or held longer than planned): asked, left alone.
            assert _fetched(sandbox, holding_sid) >= 1
            assert _attempt(engine, holding).ended_at is None
            assert sandbox.store.get(holding_sid).status is CallStatus.IN_PROGRESS

            # The other daemon stops renewing its hold (it died): the sweep takes the call over.
            _hold(engine, lost, "another-daemon", for_=-timedelta(minutes=1))
            await wait_until(
                lambda: _attempt(engine, lost).ended_at is not None,
                timeout_s=30,
                what="the call whose final callback was lost settled by the sweep",
            )
            assert not daemon.done()  # no restart
            settled = _attempt(engine, lost)
            assert settled.outcome is not None
            assert _probe(engine, lost).state == ProbeState.DONE
            assert _probe(engine, lost).claimed_by == DAEMON_ID
            with Session(engine) as session:
                events = list(
                    session.exec(select(Event).where(col(Event.attempt_id) == settled.id))
                )
            finals = [e for e in events if e.payload.get("from_api")]
            assert [e.kind for e in finals] == ["call.completed"]
            assert finals[0].source == "twilio-api"

            # A second reconciliation of the same call changes nothing.
            after: list[str] = []
            with contextlib.closing(Database(engine)) as database:
                async with TwilioPhone(settings.twilio) as phone:
                    again = PhoneProbes(
                        settings,
                        database,
                        phone,
                        after_attempt=lambda _session, _probe_id, outcome: after.append(outcome),
                    )
                    assert settled.id is not None
                    assert (
                        await again._reconcile_one(
                            AttemptKey(lost, settled.number),
                            settled.id,
                            lost_sid,
                            settled.started_at,
                            LOST,
                            None,
                        )
                        == "ended"
                    )
                    # The wave ends once the call on hold does (its callback arrives).
                    await phone.hang_up(holding_sid)
            assert after == []
            again_settled = _attempt(engine, lost)
            assert (again_settled.ended_at, again_settled.measurement) == (
                settled.ended_at,
                settled.measurement,
            )
            with Session(engine) as session:
                assert len(
                    list(session.exec(select(Event).where(col(Event.attempt_id) == settled.id)))
                ) == len(events)

            def wave_done() -> bool:
                with Session(engine) as session:
                    return session.exec(select(Wave.status)).one() == WaveStatus.DONE

            await wait_until(wave_done, timeout_s=30, what="the wave done")
            assert not daemon.done()
            assert _attempt(engine, holding).ended_at is not None

    # Each number was called once: nothing was placed again.
    assert sorted(call.to for call in sandbox.store.newest_first()) == [LOST, HOLDING]
