"""The dispatch loop: which probe to carry out when, and at what pace.

Probes stay rows in the database; APScheduler only wakes :meth:`Dispatcher.tick` every
``tick_s``. A tick gives back expired claims, claims probes due by the next tick (``lookahead``)
up to the free capacity, checks that each open-slot probe's structure is open at its planned
instant (a closed one is planned again for its next opening) and launches one task per probe,
which waits for that instant and calls the channel's ``execute``: a probe starts at its instant,
not at the tick after it. Phone launches are paced to ``calls_per_second``; at most
``max_in_flight`` executions run at once.
When an execution ends (or fails, or is cancelled) without having started an attempt, its
probe goes back to ``planned``. Retries are decided where an attempt settles, with
``scheduler.retry``: the dispatcher only sees claims.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Protocol, Self, TypeVar
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from sqlmodel import Session

from scheduler.retry import CLOSING_MARGIN_MINUTES, next_opening
from storage.claims import (
    ClaimedProbe,
    claim_due,
    finish_done_waves,
    probe_calendars,
    release,
    release_expired,
    reschedule,
    set_wave_status,
)
from storage.errors import ClaimLostError
from storage.models import Channel, SlotKind, Wave, WaveStatus
from storage.types import utcnow

logger = logging.getLogger(__name__)

T = TypeVar("T")

Execute = Callable[[ClaimedProbe], Awaitable[None]]
# How often running waves with nothing left to carry out are marked done.
WAVE_CHECK_INTERVAL = timedelta(minutes=1)
# A structure that never opens within a year (hours edited since planning) is looked at again
# after this long rather than at every tick.
NEVER_OPEN_DELAY = timedelta(days=1)


class SessionRunner(Protocol):
    """Runs ``work(session)`` in one committed transaction without blocking the event loop
    (the application's ``prober.project.database.Database``)."""

    async def run(self, work: Callable[[Session], T]) -> T: ...


def is_open_now(
    opening_hours: str | None,
    *,
    now: datetime,
    timezone: str,
    subdivision: str | None,
    closing_margin_minutes: int = CLOSING_MARGIN_MINUTES,
) -> bool:
    """Whether a probe may start at ``now``: inside the opening hours, not in the last
    ``closing_margin_minutes`` before a closing, not on a public holiday.

    Unknown hours (None) cannot be checked and count as open: the planner only plans open-slot
    probes for structures whose hours it knows.
    """
    if opening_hours is None:
        return True
    local_day = now.astimezone(ZoneInfo(timezone)).date()
    opening = next_opening(
        opening_hours,
        after=now,
        timezone=timezone,
        subdivision=subdivision,
        last_day=local_day,
        closing_margin_minutes=closing_margin_minutes,
    )
    return opening == now


class _LaunchPacer:
    """A sliding-window limiter: at most ``capacity`` launches in any ``window`` by the clock's
    readings (``floor(rate)`` per second; one per ``1 / rate`` seconds below one a second), so
    no second holds more than ``rate``. A launch woken late does not delay the next one, so a
    steady demand of ``rate`` a second is met in full (a one-token bucket lost each wake-up's
    overshoot: 18 calls per second for 20 asked under load)."""

    def __init__(self, rate: float, clock: Callable[[], datetime]) -> None:
        self._capacity = max(1, math.floor(rate))
        # Rounded up to the microsecond: rounding down would fit one launch too many.
        self._window = timedelta(microseconds=math.ceil(1_000_000 * self._capacity / rate))
        if rate >= 1:
            self._window = timedelta(seconds=1)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._launches: deque[datetime] = deque()
        self.waiting = 0

    async def wait(self) -> None:
        """Return when a launch is allowed, taking it (callers are served in turn)."""
        self.waiting += 1
        try:
            async with self._lock:
                while True:
                    now = self._clock()
                    if self._launches and self._launches[-1] > now:
                        self._launches.clear()  # the clock stepped back: count afresh
                    while self._launches and self._launches[0] <= now - self._window:
                        self._launches.popleft()
                    if len(self._launches) < self._capacity:
                        self._launches.append(now)
                        return
                    wait = self._launches[0] + self._window - now
                    await asyncio.sleep(max(wait.total_seconds(), 0.0005))
        finally:
            self.waiting -= 1


@dataclass(frozen=True, slots=True)
class _Claimed:
    launch: list[ClaimedProbe]
    moved: list[tuple[ClaimedProbe, datetime]]


class Dispatcher:
    """Carries out due probes with the channels' ``execute`` functions, paced and bounded.

    ``async with dispatcher:`` ticks every ``tick_s`` until the block ends; then it stops
    claiming, waits up to ``drain_timeout_s`` for running executions and cancels the rest.
    Several dispatchers may share a PostgreSQL database (each with its own ``daemon_id``);
    on SQLite, run one.
    """

    def __init__(
        self,
        engine_runner: SessionRunner,
        *,
        daemon_id: str,
        execute: Mapping[str, Execute],
        calls_per_second: float,
        max_in_flight: int = 50,
        lease: timedelta = timedelta(minutes=10),
        tick_s: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        drain_timeout_s: float = 30.0,
        lookahead: timedelta = timedelta(0),
    ) -> None:
        if not 0 < len(daemon_id) <= 64:
            raise ValueError(f"daemon_id must be 1 to 64 characters, got {daemon_id!r}")
        if calls_per_second <= 0 or max_in_flight < 1 or tick_s <= 0 or lease <= timedelta(0):
            raise ValueError(
                "calls_per_second, tick_s and lease must be positive and max_in_flight at least 1"
            )
        self.daemon_id = daemon_id
        self._database = engine_runner
        self._execute = dict(execute)
        self._max_in_flight = max_in_flight
        self._lease = lease
        self._tick_s = tick_s
        self._clock = clock
        self._drain_timeout_s = drain_timeout_s
        self._lookahead = max(timedelta(0), lookahead)
        self._early = 0  # launched, waiting for their planned instant
        self._pacer = _LaunchPacer(calls_per_second, clock)
        # Phone claims waiting for their launch: what the pacer launches in two ticks, so that
        # a late tick costs no launches and no claim waits much longer than two ticks (far less
        # than its lease).
        self._calls_per_tick = 2 * max(1, math.ceil(calls_per_second * tick_s))
        self._tasks: set[asyncio.Task[None]] = set()
        self._tick_lock = asyncio.Lock()
        self._closing = False
        self._waves_checked_at: datetime | None = None
        self._scheduler: AsyncIOScheduler | None = None

    @property
    def in_flight(self) -> int:
        """How many executions are running or waiting for their launch."""
        return len(self._tasks)

    # -- the loop ----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._closing = False
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_job(
            self._scheduled_tick,
            "interval",
            seconds=self._tick_s,
            id=f"dispatch-{self.daemon_id}",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC),
        )
        scheduler.start()
        self._scheduler = scheduler
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._closing = True
        async with self._tick_lock:  # a tick under way finishes launching what it claimed
            if self._scheduler is not None:
                self._scheduler.shutdown(wait=False)
                self._scheduler = None
        await self._drain()

    async def _scheduled_tick(self) -> None:
        try:
            await self.tick()
        except Exception:
            logger.exception("dispatch tick failed; trying again in %s s", self._tick_s)

    async def tick(self) -> None:
        """One round: give back expired claims, claim due probes, launch them."""
        async with self._tick_lock:
            if self._closing:
                return
            now = self._clock()
            released = await self._database.run(lambda session: release_expired(session, now=now))
            if released:
                logger.warning(
                    "%d claim(s) expired before their attempt started: released", released
                )
            free = self._max_in_flight - len(self._tasks)
            calls = min(free, max(0, self._calls_per_tick - self._pacer.waiting - self._early))
            claimed = _Claimed([], [])
            if free > 0:
                claimed = await self._database.run(
                    lambda session: self._claim(session, now, free=free, calls=calls)
                )
            for probe, at in claimed.moved:
                logger.info(
                    "probe %s: structure %s is closed at %s; planned again for %s",
                    probe.probe_id,
                    probe.structure_id,
                    now.isoformat(),
                    at.isoformat(),
                )
            for probe in claimed.launch:
                self._launch(probe)
            await self._finish_waves(now)

    def _claim(self, session: Session, now: datetime, *, free: int, calls: int) -> _Claimed:
        """Claim (calls first, as many as the pacer launches in a tick), then re-check hours."""
        phone = [Channel.PHONE.value] if Channel.PHONE in self._execute else []
        others = [channel for channel in self._execute if channel != Channel.PHONE]
        horizon = now + self._lookahead
        claimed = claim_due(
            session,
            now=horizon,
            daemon_id=self.daemon_id,
            limit=calls,
            lease=self._lease,
            channels=phone,
        )
        claimed += claim_due(
            session,
            now=horizon,
            daemon_id=self.daemon_id,
            limit=free - len(claimed),
            lease=self._lease,
            channels=others,
        )
        calendars = probe_calendars(session, (p for p in claimed if p.slot_kind == SlotKind.OPEN))
        result = _Claimed([], [])
        for probe in claimed:
            calendar = calendars.get(probe.probe_id)
            if calendar is None or calendar.opening_hours is None:
                result.launch.append(probe)
                continue
            margin = calendar.closing_margin_minutes
            if margin is None:
                margin = CLOSING_MARGIN_MINUTES
            at_instant = max(now, probe.scheduled_at)
            if is_open_now(
                calendar.opening_hours,
                now=at_instant,
                timezone=calendar.timezone,
                subdivision=calendar.holiday_subdivision,
                closing_margin_minutes=margin,
            ):
                result.launch.append(probe)
                continue
            at = next_opening(
                calendar.opening_hours,
                after=at_instant,
                timezone=calendar.timezone,
                subdivision=calendar.holiday_subdivision,
                closing_margin_minutes=margin,
            )
            if at is None:
                at = now + NEVER_OPEN_DELAY
            reschedule(session, probe.probe_id, at=at)
            result.moved.append((probe, at))
        return result

    async def _finish_waves(self, now: datetime) -> None:
        if (
            self._waves_checked_at is not None
            and now < self._waves_checked_at + WAVE_CHECK_INTERVAL
        ):
            return
        self._waves_checked_at = now
        for name in await self._database.run(finish_done_waves):
            logger.info("wave %s: every probe has been carried out; the wave is done", name)

    # -- executions --------------------------------------------------------------------------

    def _launch(self, probe: ClaimedProbe) -> None:
        task = asyncio.create_task(self._carry_out(probe), name=f"probe-{probe.probe_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _carry_out(self, probe: ClaimedProbe) -> None:
        try:
            await self._until_planned(probe)
            if probe.channel == Channel.PHONE:
                await self._pacer.wait()
            await self._execute[probe.channel](probe)
        except asyncio.CancelledError:
            await self._settle(probe)
            raise
        except ClaimLostError as error:
            logger.warning("probe %s: %s", probe.probe_id, error)
            return
        except Exception:
            logger.exception(
                "probe %s (%s, wave %s): execution failed",
                probe.probe_id,
                probe.channel,
                probe.wave_name,
            )
        await self._settle(probe)

    async def _until_planned(self, probe: ClaimedProbe) -> None:
        """Wait for the probe's planned instant (claimed up to ``lookahead`` early)."""
        early_s = (probe.scheduled_at - self._clock()).total_seconds()
        if early_s <= 0:
            return
        self._early += 1
        try:
            await asyncio.sleep(min(early_s, self._lookahead.total_seconds()))
        finally:
            self._early -= 1

    async def _settle(self, probe: ClaimedProbe) -> None:
        """Give back a probe the execution left claimed (it started no attempt)."""
        try:
            released = await self._database.run(
                lambda session: release(session, probe.probe_id, claimed_by=self.daemon_id)
            )
        except Exception:
            logger.exception("probe %s: could not release its claim", probe.probe_id)
            return
        if released:
            logger.info("probe %s: no attempt started; released", probe.probe_id)

    async def _drain(self) -> None:
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self._drain_timeout_s)
        if not pending:
            return
        logger.warning(
            "%d execution(s) still running after %s s: cancelled",
            len(pending),
            self._drain_timeout_s,
        )
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # -- waves -------------------------------------------------------------------------------

    async def pause(self, wave_name: str) -> Wave:
        """Stop claiming the wave's probes (those already launched run to their end)."""
        return await self._database.run(
            lambda session: set_wave_status(session, wave_name, WaveStatus.PAUSED)
        )

    async def resume(self, wave_name: str) -> Wave:
        """Run a planned or paused wave: its due probes are claimed from the next tick."""
        return await self._database.run(
            lambda session: set_wave_status(session, wave_name, WaveStatus.RUNNING)
        )
