"""The dispatcher end to end on a real database: executions change real probe states (an attempt
started, then finished), and the checks read the database and the dispatcher's own clock.

Runs on SQLite and PostgreSQL; two dispatchers sharing one database run on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from prober.project.database import Database
from scheduler.dispatch import Dispatcher, Execute, is_open_now
from storage import attempts
from storage.claims import ClaimedProbe
from storage.db import make_engine
from storage.models import Attempt, Probe, ProbeState, Wave, WaveStatus
from tests.support.claims_scene import (
    WEEKDAY_HOURS,
    add_probe,
    add_structures,
    add_wave,
    end_attempt,
    probe_row,
)

PARIS = ZoneInfo("Europe/Paris")
TUESDAY_10H = datetime(2026, 3, 3, 10, 0, tzinfo=PARIS)
TIMEOUT_S = 30.0


class Clock:
    """Real time flowing from a chosen instant; remembers its last reading."""

    def __init__(self, start: datetime) -> None:
        self._offset = start - datetime.now(UTC)
        self.last = start

    def __call__(self) -> datetime:
        self.last = datetime.now(UTC) + self._offset
        return self.last

    def jump(self, delta: timedelta) -> None:
        self._offset += delta


class Executions:
    """An execute function that carries the probe out for real and records what it saw."""

    def __init__(self, database: Database, clock: Clock, *, hold_s: float = 0.0) -> None:
        self.database = database
        self.clock = clock
        self.hold_s = hold_s
        self.launched: list[tuple[uuid.UUID, datetime]] = []
        self.running = 0
        self.most_running = 0

    async def __call__(self, probe: ClaimedProbe) -> None:
        # The dispatcher's last clock reading is the one it launched this execution on.
        self.launched.append((probe.probe_id, self.clock.last))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await self.database.run(lambda session: attempts.start_attempt(session, probe.probe_id))
            await asyncio.sleep(self.hold_s)
            await self.database.run(lambda session: end_attempt(session, probe.probe_id))
        finally:
            self.running -= 1

    @property
    def probe_ids(self) -> list[uuid.UUID]:
        return [probe_id for probe_id, _ in self.launched]


def states(engine: Engine, probe_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    with Session(engine) as session:
        rows = session.exec(select(Probe.id, Probe.state).where(col(Probe.id).in_(probe_ids)))
        return dict(rows.all())


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (a failure timeout, not a speed check)."""
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {TIMEOUT_S} s")
        await asyncio.sleep(0.02)


async def settled(dispatcher: Dispatcher) -> None:
    await wait_until(lambda: dispatcher.in_flight == 0, "the executions to end")


async def one_round(dispatcher: Dispatcher) -> None:
    """A tick, and the executions it launched run to their end."""
    await dispatcher.tick()
    await settled(dispatcher)


@asynccontextmanager
async def scene(
    engine: Engine,
    clock: Clock,
    *,
    channel: str = "phone",
    hold_s: float = 0.0,
    wrap: Callable[[Executions], Execute] | None = None,
    **options: Any,
) -> AsyncIterator[tuple[Dispatcher, Executions]]:
    """A dispatcher on ``engine`` whose executions carry probes out for real (through ``wrap``,
    which may change what some of them do)."""
    database = Database(engine)
    executions = Executions(database, clock, hold_s=hold_s)
    dispatcher = Dispatcher(
        database,
        daemon_id="d1",
        execute={channel: executions if wrap is None else wrap(executions)},
        clock=clock,
        **({"calls_per_second": 50} | options),
    )
    try:
        yield dispatcher, executions
    finally:
        database.close()


def due_probes(
    engine: Engine, count: int, *, channel: str = "phone", **hours: str
) -> list[uuid.UUID]:
    wave = add_wave(engine)
    return [
        add_probe(engine, wave, structure, TUESDAY_10H - timedelta(minutes=index), channel=channel)
        for index, structure in enumerate(add_structures(engine, count, **hours))
    ]


# -- opening hours at dispatch time --------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "open_"),
    [
        ("2026-03-03T08:29:59", False),
        ("2026-03-03T08:30:00", True),
        ("2026-03-03T11:44:59", True),
        ("2026-03-03T11:45:00", False),  # the last 15 minutes before closing
        ("2026-03-03T12:30:00", False),  # lunch
        ("2026-03-03T17:14:00", True),
        ("2026-03-07T10:00:00", False),  # Saturday
        ("2026-07-14T10:00:00", False),  # national day, a Tuesday
    ],
)
def test_is_open_now(local: str, open_: bool) -> None:
    now = datetime.fromisoformat(local).replace(tzinfo=PARIS)
    assert is_open_now(WEEKDAY_HOURS, now=now, timezone="Europe/Paris", subdivision=None) is open_


def test_is_open_now_in_the_structures_time_zone_and_region() -> None:
    # 06:00 UTC is 10:00 in La Réunion (open) and 07:00 in Paris (closed).
    now = datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
    assert is_open_now(WEEKDAY_HOURS, now=now, timezone="Indian/Reunion", subdivision="974")
    assert not is_open_now(WEEKDAY_HOURS, now=now, timezone="Europe/Paris", subdivision=None)
    # Good Friday is a holiday in Moselle only; unknown hours cannot be checked.
    friday = datetime(2026, 4, 3, 10, 0, tzinfo=PARIS)
    assert is_open_now(WEEKDAY_HOURS, now=friday, timezone="Europe/Paris", subdivision=None)
    assert not is_open_now(WEEKDAY_HOURS, now=friday, timezone="Europe/Paris", subdivision="57")
    assert is_open_now(None, now=friday, timezone="Europe/Paris", subdivision="57")
    margin = datetime(2026, 3, 3, 11, 55, tzinfo=PARIS)
    assert is_open_now(
        WEEKDAY_HOURS,
        now=margin,
        timezone="Europe/Paris",
        subdivision=None,
        closing_margin_minutes=0,
    )


# -- the dispatcher ------------------------------------------------------------------------------


async def test_calls_are_paced_to_the_calls_per_second_cap(engine: Engine) -> None:
    probes = due_probes(engine, 12)
    clock = Clock(TUESDAY_10H)

    async def run() -> Executions:
        async with scene(engine, clock, calls_per_second=4, tick_s=0.1) as (dispatcher, done):
            async with dispatcher:
                await wait_until(lambda: len(done.launched) == len(probes), "every launch")
        return done

    executions = await run()
    assert sorted(executions.probe_ids) == sorted(probes)
    instants = sorted(at for _, at in executions.launched)
    for first in instants:
        in_window = [at for at in instants if first <= at < first + timedelta(seconds=1)]
        assert len(in_window) <= 4, in_window
    assert set(states(engine, probes).values()) == {ProbeState.DONE}


async def test_a_closed_structures_probe_is_planned_again_for_its_next_opening(
    engine: Engine,
) -> None:
    wave = add_wave(engine)
    tuesday_19h = datetime(2026, 3, 3, 19, 0, tzinfo=PARIS)
    [closed, closed_too] = add_structures(engine, 2)
    [always_open] = add_structures(engine, 1, hours="Mo-Su 00:00-24:00")
    late = add_probe(engine, wave, closed, tuesday_19h - timedelta(hours=2))
    off_hours = add_probe(engine, wave, closed_too, tuesday_19h, slot_kind="off_hours")
    open_now = add_probe(engine, wave, always_open, tuesday_19h)

    async def run() -> Executions:
        async with scene(engine, Clock(tuesday_19h), tick_s=0.05) as (dispatcher, done):
            async with dispatcher:
                await wait_until(lambda: len(done.launched) == 2, "the two launches")
                await one_round(dispatcher)
        return done

    executions = await run()
    assert sorted(executions.probe_ids) == sorted([off_hours, open_now])
    moved = probe_row(engine, late)
    assert (moved.state, moved.attempt_count, moved.claimed_by, moved.lease_until) == (
        ProbeState.PLANNED,
        0,
        None,
        None,
    )
    assert moved.scheduled_at == datetime(2026, 3, 4, 8, 30, tzinfo=PARIS)


async def test_the_closing_margin_is_the_one_the_wave_was_planned_with(engine: Engine) -> None:
    """At 11:50 a structure closing at 12:00 is open to a wave planned with a 5-minute margin,
    closed to one planned with the usual 15 minutes."""
    tight = add_wave(engine, "tight", parameters={"closing_margin_minutes": 5})
    usual = add_wave(engine, "usual", parameters={"closing_margin_minutes": 15})
    first, second = add_structures(engine, 2)
    at_11h50 = datetime(2026, 3, 3, 11, 50, tzinfo=PARIS)
    carried_out = add_probe(engine, tight, first, at_11h50)
    postponed = add_probe(engine, usual, second, at_11h50)

    async def run() -> Executions:
        async with scene(engine, Clock(at_11h50)) as (dispatcher, done):
            await one_round(dispatcher)
        return done

    assert (await run()).probe_ids == [carried_out]
    assert probe_row(engine, postponed).scheduled_at == datetime(2026, 3, 3, 13, 30, tzinfo=PARIS)


async def test_no_more_than_max_in_flight_executions_at_once(engine: Engine) -> None:
    probes = due_probes(engine, 20, channel="email")

    async def run() -> Executions:
        async with scene(
            engine,
            Clock(TUESDAY_10H),
            channel="email",
            hold_s=0.05,
            calls_per_second=1,  # calls only: emails are not paced
            max_in_flight=3,
            tick_s=0.02,
        ) as (dispatcher, done):
            async with dispatcher:
                await wait_until(
                    lambda: set(states(engine, probes).values()) == {ProbeState.DONE},
                    "every probe done",
                )
        return done

    executions = await run()
    assert sorted(executions.probe_ids) == sorted(probes)
    assert executions.most_running == 3


async def test_a_failing_execution_is_logged_and_released_unless_its_attempt_started(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    fails_first, fails_after_start = due_probes(engine, 2)
    tries: dict[uuid.UUID, int] = defaultdict(int)

    def failing(executions: Executions) -> Execute:
        async def execute(probe: ClaimedProbe) -> None:
            tries[probe.probe_id] += 1
            if probe.probe_id == fails_first and tries[fails_first] == 1:
                raise RuntimeError("the channel is not ready")
            if probe.probe_id == fails_after_start:
                await executions.database.run(
                    lambda session: attempts.start_attempt(session, probe.probe_id)
                )
                raise RuntimeError("lost track of the call")
            await executions(probe)

        return execute

    async def run() -> None:
        async with scene(engine, Clock(TUESDAY_10H), wrap=failing) as (dispatcher, _):
            await one_round(dispatcher)
            assert probe_row(engine, fails_first).state == ProbeState.PLANNED  # released
            await one_round(dispatcher)
            await one_round(dispatcher)

    with caplog.at_level(logging.ERROR, logger="scheduler.dispatch"):
        await run()
    assert tries == {fails_first: 2, fails_after_start: 1}
    assert states(engine, [fails_first, fails_after_start]) == {
        fails_first: ProbeState.DONE,
        fails_after_start: ProbeState.IN_PROGRESS,  # left for reconciliation, not called again
    }
    failures = [r.getMessage() for r in caplog.records if "execution failed" in r.getMessage()]
    assert len(failures) == 2
    assert any(str(fails_first) in message for message in failures)
    assert any(str(fails_after_start) in message for message in failures)


async def test_a_paused_wave_is_not_claimed_and_a_wave_ends_when_nothing_is_left(
    engine: Engine,
) -> None:
    [probe] = due_probes(engine, 1)
    clock = Clock(TUESDAY_10H)

    async def run() -> Executions:
        async with scene(engine, clock) as (dispatcher, done):
            assert (await dispatcher.pause("w")).status == WaveStatus.PAUSED
            await one_round(dispatcher)
            assert done.launched == []
            assert (await dispatcher.resume("w")).status == WaveStatus.RUNNING
            await one_round(dispatcher)
            clock.jump(timedelta(minutes=2))  # finished waves are looked for once a minute
            await dispatcher.tick()
        return done

    executions = await run()
    assert executions.probe_ids == [probe]
    with Session(engine) as session:
        assert session.exec(select(Wave.status)).one() == WaveStatus.DONE


async def test_leaving_stops_claiming_waits_then_cancels_and_releases(engine: Engine) -> None:
    wave = add_wave(engine)
    first, second, third = add_structures(engine, 3)
    quick = add_probe(engine, wave, first, TUESDAY_10H)
    stuck = add_probe(engine, wave, second, TUESDAY_10H)
    later = add_probe(engine, wave, third, TUESDAY_10H + timedelta(hours=1))
    clock = Clock(TUESDAY_10H)
    cancelled: list[uuid.UUID] = []

    def sticking(executions: Executions) -> Execute:
        async def execute(probe: ClaimedProbe) -> None:
            if probe.probe_id != stuck:
                await executions(probe)
                return
            try:
                await asyncio.Event().wait()  # never starts its attempt
            except asyncio.CancelledError:
                cancelled.append(probe.probe_id)
                raise

        return execute

    async def run() -> Executions:
        async with scene(engine, clock, wrap=sticking, tick_s=0.05, drain_timeout_s=0.3) as (
            dispatcher,
            done,
        ):
            async with dispatcher:
                await wait_until(
                    lambda: dispatcher.in_flight == 1 and states(engine, [quick])[quick] == "done",
                    "the quick probe done, the stuck one running",
                )
            assert dispatcher.in_flight == 0
            clock.jump(timedelta(hours=2))
            await dispatcher.tick()  # a dispatcher that has been left claims nothing
            assert dispatcher.in_flight == 0
        return done

    executions = await run()
    assert executions.probe_ids == [quick]
    assert cancelled == [stuck]
    assert states(engine, [quick, stuck, later]) == {
        quick: ProbeState.DONE,
        stuck: ProbeState.PLANNED,
        later: ProbeState.PLANNED,
    }
    assert probe_row(engine, stuck).claimed_by is None


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_two_dispatchers_on_one_postgresql_database(engine: Engine, database_url: str) -> None:
    """Each in its own thread, event loop and engine, until every probe is done: each probe is
    carried out once, and never two of one structure at the same time."""
    wave = add_wave(engine)
    structures = add_structures(engine, 30)
    total = 300
    for index in range(total):
        channel = ("phone", "email")[index // 30 % 2]
        add_probe(
            engine,
            wave,
            structures[index % 30],
            TUESDAY_10H - timedelta(seconds=index),
            channel=channel,
        )
    lock = threading.Lock()
    spans: list[tuple[str, int, uuid.UUID, float, float]] = []
    errors: list[BaseException] = []

    async def daemon(name: str) -> None:
        own = make_engine(database_url)
        database = Database(own)

        async def execute(probe: ClaimedProbe) -> None:
            started = time.monotonic()
            await database.run(lambda session: attempts.start_attempt(session, probe.probe_id))
            await asyncio.sleep(random.uniform(0, 0.005))  # noqa: S311
            ended = time.monotonic()  # before the probe is done: then its structure is free
            await database.run(lambda session: end_attempt(session, probe.probe_id))
            with lock:
                spans.append((name, probe.structure_id, probe.probe_id, started, ended))

        def remaining(session: Session) -> int:
            return session.exec(
                select(func.count()).select_from(Probe).where(col(Probe.state) != ProbeState.DONE)
            ).one()

        dispatcher = Dispatcher(
            database,
            daemon_id=name,
            execute={"phone": execute, "email": execute},
            calls_per_second=1000,
            max_in_flight=10,
            tick_s=0.05,
            clock=Clock(TUESDAY_10H),
        )
        async with dispatcher:
            deadline = time.monotonic() + 60
            while await database.run(remaining):
                assert time.monotonic() < deadline, f"{name} gave up"
                await asyncio.sleep(0.05)
        database.close()
        own.dispose()

    def run(name: str) -> None:
        try:
            asyncio.run(daemon(name))  # one loop per daemon, as two processes
        except BaseException as exc:  # reported to the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("d1", "d2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(spans) == len({probe_id for _, _, probe_id, _, _ in spans}) == total
    assert {name for name, *_ in spans} == {"d1", "d2"}
    by_structure: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for _, structure_id, _, started, ended in spans:
        by_structure[structure_id].append((started, ended))
    for intervals in by_structure.values():
        intervals.sort()
        for before, after in itertools.pairwise(intervals):
            assert before[1] <= after[0], (before, after)
    with Session(engine) as session:
        attempt_count = session.exec(select(func.count()).select_from(Attempt)).one()
    assert attempt_count == total


# -- looking a tick ahead ------------------------------------------------------------------------


async def test_a_probe_due_within_the_lookahead_is_claimed_early_and_started_at_its_instant(
    engine: Engine,
) -> None:
    clock = Clock(TUESDAY_10H)
    wave = add_wave(engine)
    [soon, later] = add_structures(engine, 2)
    planned = TUESDAY_10H + timedelta(seconds=2)
    probe = add_probe(engine, wave, soon, planned)
    beyond = add_probe(engine, wave, later, TUESDAY_10H + timedelta(minutes=5))
    async with scene(engine, clock, lookahead=timedelta(seconds=5)) as (dispatcher, executions):
        await dispatcher.tick()  # at 10:00:00.x, the probe planned for 10:00:02 is claimed
        assert probe_row(engine, probe).state == ProbeState.DISPATCHING
        assert probe_row(engine, beyond).state == ProbeState.PLANNED
        await settled(dispatcher)
    [(launched, at)] = executions.launched
    assert launched == probe
    assert at >= planned  # not before its instant
    assert probe_row(engine, probe).state == ProbeState.DONE


async def test_without_lookahead_a_probe_is_not_claimed_before_its_instant(engine: Engine) -> None:
    clock = Clock(TUESDAY_10H)
    wave = add_wave(engine)
    [structure] = add_structures(engine, 1)
    probe = add_probe(engine, wave, structure, TUESDAY_10H + timedelta(seconds=2))
    async with scene(engine, clock) as (dispatcher, executions):
        await one_round(dispatcher)
    assert executions.launched == []
    assert probe_row(engine, probe).state == ProbeState.PLANNED
