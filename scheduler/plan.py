"""Wave planning: when each structure is probed on each channel.

Pure: takes structures and rules, returns probe rows and shortfalls; storing them is the caller's
job.
Rules every planned instant obeys:

- it lies inside the structure's opening hours, in its own time zone, at least
  ``closing_margin_minutes`` before an interval closes (off-hours calls excepted, see below);
- never on a public holiday of the structure's region (Alsace-Moselle, overseas...);
- probes of one channel to one structure fall on distinct days; calls alternate between
  morning and afternoon when the day allows it;
- two probes to the same structure are at least ``min_spacing`` apart, whatever the channel
  (website checks excepted: nobody at the structure is bothered by them);
- no more than ``max_calls_per_minute`` calls (``max_emails_per_minute`` emails) start in any
  one minute across the whole wave;
- off-hours calls fall on working days (Monday to Friday, not a holiday) between 07:00 and
  21:00 local time, within ``off_hours_window_minutes`` before an opening (and at least
  ``OFF_HOURS_GUARD_MINUTES`` before it) or after a closing.

The same structures, rules and seed always give the same plan.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from config.opening_hours import Interval
from scheduler.calendar import open_days, working_days_with_hours
from storage.waves import ProbeRow

PROBE_NAMESPACE = uuid.UUID("6c3a8f8e-2b0e-5d7c-9a51-70726f626572")
MIDDAY_MINUTE = 12 * 60
OFF_HOURS_FIRST_MINUTE = 7 * 60
OFF_HOURS_LAST_MINUTE = 21 * 60
OFF_HOURS_GUARD_MINUTES = 5
_RANDOM_TRIES = 12


@dataclass(frozen=True, slots=True)
class PlanTarget:
    """What the planner needs to know of one structure."""

    structure_id: int
    official_id: str
    timezone: str
    holiday_subdivision: str | None
    opening_hours: str | None
    contact_ids: dict[str, int | None]
    """The contact point each channel uses (phone number, mailbox, postal address)."""


@dataclass(frozen=True, slots=True)
class PlanRules:
    """A wave's window, quotas and limits."""

    wave: str
    starts_on: date
    ends_on: date
    quotas: dict[str, int]
    """Probes per structure for each channel of the wave (``{"phone": 3, "email": 1}``)."""
    scenarios: dict[str, tuple[str, ...]]
    personas: tuple[str, ...]
    seed: int = 0
    off_hours_calls: int = 0
    min_spacing: timedelta = timedelta(hours=4)
    max_calls_per_minute: int = 10
    max_emails_per_minute: int = 30
    closing_margin_minutes: int = 15
    off_hours_window_minutes: int = 60


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Probes that could not be planned for a structure, and why."""

    official_id: str
    channel: str
    wanted: int
    planned: int
    reason: str


@dataclass(slots=True)
class WavePlan:
    """What planning produced."""

    probes: list[ProbeRow] = field(default_factory=list)
    shortfalls: list[Shortfall] = field(default_factory=list)


def probe_id_for(
    wave: str, official_id: str, channel: str, slot_kind: str, index: int
) -> uuid.UUID:
    """The probe's id: the same slot of the same wave always gets the same id."""
    return uuid.uuid5(PROBE_NAMESPACE, f"{wave}/{official_id}/{channel}/{slot_kind}/{index}")


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of ``minute`` (since local midnight) on ``day`` in ``zone``."""
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone).astimezone(UTC)


def _epoch_minute(instant: datetime) -> int:
    return int(instant.timestamp()) // 60


def start_windows(intervals: Sequence[Interval], margin: int) -> list[Interval]:
    """Where a probe may start: each opening interval less the closing margin."""
    windows = []
    for start, end in intervals:
        last = end - margin
        if last > start:
            windows.append((start, last))
    return windows


def split_at_midday(windows: Sequence[Interval]) -> tuple[list[Interval], list[Interval]]:
    """The parts of ``windows`` before noon and after noon."""
    morning = [(s, min(e, MIDDAY_MINUTE)) for s, e in windows if s < MIDDAY_MINUTE]
    afternoon = [(max(s, MIDDAY_MINUTE), e) for s, e in windows if e > MIDDAY_MINUTE]
    return morning, afternoon


def _off_hours_windows(intervals: Sequence[Interval], width: int) -> list[Interval]:
    """Start windows just before each opening and just after each closing, within 07:00-21:00."""
    windows: list[Interval] = []
    previous_end = OFF_HOURS_FIRST_MINUTE
    for start, end in intervals:
        before = (max(previous_end, start - width), start - OFF_HOURS_GUARD_MINUTES)
        if before[1] > before[0]:
            windows.append(before)
        previous_end = max(previous_end, end)
    after = (previous_end, min(OFF_HOURS_LAST_MINUTE, previous_end + width))
    if after[1] > after[0]:
        windows.append(after)
    # Lunch gaps are reached from both sides: drop overlaps so a minute is never counted twice.
    merged: list[Interval] = []
    for start, end in sorted(windows):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class _MinuteCaps:
    """How many probes of one channel start in each minute of the wave."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used: dict[int, int] = {}
        # Full minute -> a later minute to look at: walks skip runs of full minutes.
        self._after_full: dict[int, int] = {}

    def has_room(self, minute: int) -> bool:
        return self.used.get(minute, 0) < self.limit

    def take(self, minute: int) -> None:
        used = self.used[minute] = self.used.get(minute, 0) + 1
        if used >= self.limit:
            self._after_full[minute] = minute + 1

    def first_free(self, minute: int) -> int:
        """The first minute from ``minute`` on with room (``limit`` must be positive)."""
        passed = []
        while (later := self._after_full.get(minute)) is not None:
            passed.append(minute)
            minute = later
        for full in passed:
            self._after_full[full] = minute
        return minute


class _StructurePlanner:
    """Chooses one structure's instants, sharing the wave-wide rate caps."""

    def __init__(
        self,
        rules: PlanRules,
        rng: random.Random,
        zone: ZoneInfo,
        caps: dict[str, _MinuteCaps],
    ) -> None:
        self.rules = rules
        self.rng = rng
        self.zone = zone
        self.caps = caps
        self.chosen: list[datetime] = []

    def _spaced(self, instant: datetime) -> bool:
        spacing = self.rules.min_spacing
        return all(abs(instant - other) >= spacing for other in self.chosen)

    def _all_too_close(self, day: date, windows: Sequence[Interval]) -> bool:
        """Whether one chosen instant is within the spacing of every minute of ``windows``.

        Answers False on a day the clocks change, where minutes do not map to instants in order.
        """
        if not self.chosen:
            return False
        zone = self.zone
        if (
            datetime.combine(day, time(0, 0), tzinfo=zone).utcoffset()
            != datetime.combine(day, time(23, 59), tzinfo=zone).utcoffset()
        ):
            return False
        first = local_instant(day, min(start for start, end in windows if end > start), zone)
        last = local_instant(day, max(end for start, end in windows if end > start) - 1, zone)
        spacing = self.rules.min_spacing
        return any(last - other < spacing and other - first < spacing for other in self.chosen)

    def pick(self, channel: str, day: date, windows: Sequence[Interval]) -> datetime | None:
        """A free instant in ``windows`` of ``day``, or None when none is free and spaced
        (website checks need no spacing: they bother nobody)."""
        spaced = channel != "web"
        total = sum(end - start for start, end in windows)
        if total <= 0:
            return None
        cap = self.caps.get(channel)
        for _ in range(_RANDOM_TRIES):
            minute = _minute_at(windows, self.rng.randrange(total))
            if (instant := self._take(day, minute, cap, spaced)) is not None:
                return instant
        # Random draws keep landing on full minutes: walk every minute once, in order (unless an
        # instant already chosen is too close to all of them).
        if spaced and self._all_too_close(day, windows):
            return None
        for minute in self._minutes_with_room(day, windows, cap):
            if (instant := self._take(day, minute, cap, spaced)) is not None:
                return instant
        return None

    def _take(
        self, day: date, minute: int, cap: _MinuteCaps | None, spaced: bool
    ) -> datetime | None:
        """The instant of ``minute``, taken, if its minute has room and it is spaced."""
        instant = local_instant(day, minute, self.zone)
        if cap is not None and not cap.has_room(_epoch_minute(instant)):
            return None
        if spaced and not self._spaced(instant):
            return None
        if cap is not None:
            cap.take(_epoch_minute(instant))
        if spaced:
            self.chosen.append(instant)
        return instant

    def _minutes_with_room(
        self, day: date, windows: Sequence[Interval], cap: _MinuteCaps | None
    ) -> Iterator[int]:
        """The minutes of ``windows`` in order, less those whose rate cap is full.

        Skipping full minutes needs minutes to map to instants one to one: on a day the clocks
        change, every minute is given.
        """
        midnight = local_instant(day, 0, self.zone)
        offset = _epoch_minute(midnight)
        if cap is None or _epoch_minute(local_instant(day, 1439, self.zone)) - offset != 1439:
            for start, end in windows:
                yield from range(start, end)
            return
        if cap.limit <= 0:
            return
        for start, end in windows:
            free = cap.first_free(offset + start)
            while free < offset + end:
                yield free - offset
                free = cap.first_free(free + 1)


def _minute_at(windows: Sequence[Interval], offset: int) -> int:
    for start, end in windows:
        length = end - start
        if offset < length:
            return start + offset
        offset -= length
    raise ValueError("offset beyond the windows")


def _random_days(
    rng: random.Random, days: Sequence[tuple[date, tuple[Interval, ...]]], avoid: set[date]
) -> Iterator[tuple[date, tuple[Interval, ...]]]:
    """Days in a random order, those the structure is already probed on last.

    A lazy Fisher-Yates shuffle: only as many draws as days actually tried.
    """
    pool = list(days)
    deferred = []
    for i in range(len(pool)):
        j = rng.randrange(i, len(pool))
        pool[i], pool[j] = pool[j], pool[i]
        if pool[i][0] in avoid:
            deferred.append(pool[i])
        else:
            yield pool[i]
    yield from deferred


def plan_wave(targets: Iterable[PlanTarget], rules: PlanRules) -> WavePlan:
    """Plan every probe of a wave over ``targets`` (taken in ``official_id`` order)."""
    plan = WavePlan()
    rng = random.Random(rules.seed)
    caps = {
        "phone": _MinuteCaps(rules.max_calls_per_minute),
        "email": _MinuteCaps(rules.max_emails_per_minute),
    }
    for target in sorted(targets, key=lambda t: t.official_id):
        _plan_structure(target, rules, rng, caps, plan)
    plan.probes.sort(key=lambda p: (p.scheduled_at, str(p.id)))
    return plan


def _plan_structure(
    target: PlanTarget,
    rules: PlanRules,
    rng: random.Random,
    caps: dict[str, _MinuteCaps],
    plan: WavePlan,
) -> None:
    wanted = dict(rules.quotas)
    if rules.off_hours_calls and "phone" in wanted:
        wanted["off_hours"] = rules.off_hours_calls

    def short(channel: str, planned: int, reason: str) -> None:
        count = wanted[channel]
        plan.shortfalls.append(Shortfall(target.official_id, channel, count, planned, reason))

    if not target.opening_hours:
        for channel, count in wanted.items():
            if count:
                short(channel, 0, "no opening hours known: add them to the structure file")
        return
    days = open_days(
        target.opening_hours, target.holiday_subdivision, rules.starts_on, rules.ends_on
    )
    planner = _StructurePlanner(rules, rng, _zone(target.timezone), caps)
    persona_offset = rng.randrange(len(rules.personas))
    used_days: set[date] = set()

    def emit(channel: str, slot_kind: str, index: int, instant: datetime) -> None:
        scenarios = rules.scenarios[channel]
        plan.probes.append(
            ProbeRow(
                id=probe_id_for(rules.wave, target.official_id, channel, slot_kind, index),
                structure_id=target.structure_id,
                channel=channel,
                scenario_id=scenarios[index % len(scenarios)],
                persona_id=rules.personas[(persona_offset + index) % len(rules.personas)],
                contact_point_id=target.contact_ids.get(channel),
                slot_index=index,
                slot_kind=slot_kind,
                scheduled_at=instant,
            )
        )
        used_days.add(instant.astimezone(planner.zone).date())

    for channel in ("phone", "email", "letter", "web"):
        count = wanted.get(channel, 0)
        if count == 0:
            continue
        if target.contact_ids.get(channel) is None:
            short(channel, 0, f"no {channel} contact point")
            continue
        if not days:
            short(channel, 0, "never open during the wave (opening hours, holidays)")
            continue
        first_half = rng.randrange(2)
        planned = 0
        for day, intervals in _random_days(rng, days, used_days):
            if planned == count:
                break
            windows = start_windows(intervals, rules.closing_margin_minutes)
            if channel == "phone":
                morning, afternoon = split_at_midday(windows)
                halves = [morning, afternoon]
                if (first_half + planned) % 2:
                    halves.reverse()
                instant = planner.pick(channel, day, halves[0]) or planner.pick(
                    channel, day, halves[1]
                )
            else:
                instant = planner.pick(channel, day, windows)
            if instant is not None:
                emit(channel, "open", planned, instant)
                planned += 1
        if planned < count:
            short(channel, planned, _why_short(len(days), count))

    count = wanted.get("off_hours", 0)
    if count and target.contact_ids.get("phone") is None:
        short("off_hours", 0, "no phone contact point")
    elif count:
        working = working_days_with_hours(
            target.opening_hours, target.holiday_subdivision, rules.starts_on, rules.ends_on
        )
        planned = 0
        for day, intervals in _random_days(rng, working, used_days):
            if planned == count:
                break
            windows = _off_hours_windows(intervals, rules.off_hours_window_minutes)
            instant = planner.pick("phone", day, windows)
            if instant is not None:
                emit("phone", "off_hours", planned, instant)
                planned += 1
        if planned < count:
            short("off_hours", planned, _why_short(len(working), count))


def _why_short(open_day_count: int, wanted: int) -> str:
    if open_day_count < wanted:
        return f"only {open_day_count} suitable day(s) in the window for {wanted} probe(s)"
    return (
        "the rate cap or the minimum spacing left no free slot: widen the window or raise the cap"
    )
