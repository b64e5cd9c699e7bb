"""Wave planning: every instant inside opening hours, never on a regional holiday, caps honoured.

The expectations are written out by hand here (opening intervals, holiday dates), not derived
from the code under test.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.plan import PlanRules, PlanTarget, WavePlan, plan_wave
from storage.waves import ProbeRow

WEEKDAY_HOURS = "Mo-Fr 08:30-12:00,13:30-17:30"
# The same hours, by hand: weekday -> [(start, end)] local.
WEEKDAY_INTERVALS = {
    d: [(time(8, 30), time(12, 0)), (time(13, 30), time(17, 30))] for d in range(5)
}


def target(
    structure_id: int,
    departement_zone: tuple[str, str | None],
    hours: str = WEEKDAY_HOURS,
    *,
    email: bool = True,
) -> PlanTarget:
    zone, subdivision = departement_zone
    return PlanTarget(
        structure_id=structure_id,
        official_id=f"S{structure_id:05d}",
        timezone=zone,
        holiday_subdivision=subdivision,
        opening_hours=hours,
        contact_ids={"phone": structure_id * 10, "email": structure_id * 10 + 1 if email else None},
    )


PARIS = ("Europe/Paris", None)
MOSELLE = ("Europe/Paris", "57")
ALSACE = ("Europe/Paris", "6AE")
REUNION = ("Indian/Reunion", "974")
GUADELOUPE = ("America/Guadeloupe", "971")


def rules(first: date, last: date, **overrides: object) -> PlanRules:
    values: dict[str, object] = {
        "wave": "w",
        "starts_on": first,
        "ends_on": last,
        "quotas": {"phone": 3, "email": 1},
        "scenarios": {"phone": ("call-a", "call-b"), "email": ("mail",)},
        "personas": ("marie", "paul"),
        "seed": 7,
        "min_spacing": timedelta(hours=4),
        "max_calls_per_minute": 10,
    }
    values.update(overrides)
    return PlanRules(**values)  # type: ignore[arg-type]


def local(probe: ProbeRow, zone: str) -> datetime:
    return probe.scheduled_at.astimezone(ZoneInfo(zone))


def inside(moment: datetime, intervals: dict[int, list[tuple[time, time]]]) -> bool:
    return any(start <= moment.time() < end for start, end in intervals.get(moment.weekday(), []))


def by_structure(plan: WavePlan) -> dict[int, list[ProbeRow]]:
    grouped: dict[int, list[ProbeRow]] = defaultdict(list)
    for probe in plan.probes:
        grouped[probe.structure_id].append(probe)
    return grouped


def test_every_probe_is_inside_opening_hours_in_the_structures_own_zone() -> None:
    zones = [PARIS, MOSELLE, ALSACE, REUNION, GUADELOUPE]
    targets = [target(i, zones[i % len(zones)]) for i in range(1, 41)]
    plan = plan_wave(targets, rules(date(2026, 3, 2), date(2026, 3, 27)))
    assert len(plan.probes) == 40 * 4
    assert plan.shortfalls == []
    zone_of = {t.structure_id: t.timezone for t in targets}
    for probe in plan.probes:
        moment = local(probe, zone_of[probe.structure_id])
        assert inside(moment, WEEKDAY_INTERVALS), (probe, moment)
        # 15 minutes of margin before closing (the default).
        closing = next(
            end
            for start, end in WEEKDAY_INTERVALS[moment.weekday()]
            if start <= moment.time() < end
        )
        assert moment + timedelta(minutes=15) <= moment.replace(
            hour=closing.hour, minute=closing.minute
        )


# Holidays taken from the official calendars, by hand.
HOLIDAY_CASES = [
    # (zone, window, holidays in the window for that zone, working days others have off)
    pytest.param(PARIS, date(2026, 7, 13), date(2026, 7, 17), {date(2026, 7, 14)}, id="14-july"),
    pytest.param(
        PARIS,
        date(2026, 5, 11),
        date(2026, 5, 29),
        {date(2026, 5, 14), date(2026, 5, 25)},
        id="ascension-whit-monday",
    ),
    pytest.param(
        MOSELLE,
        date(2025, 12, 22),
        date(2025, 12, 31),
        {date(2025, 12, 25), date(2025, 12, 26)},
        id="moselle-26-december",
    ),
    pytest.param(
        ALSACE,
        date(2026, 3, 30),
        date(2026, 4, 10),
        {date(2026, 4, 3), date(2026, 4, 6)},
        id="alsace-good-friday",
    ),
    pytest.param(
        REUNION,
        date(2027, 12, 14),
        date(2027, 12, 24),
        {date(2027, 12, 20)},
        id="reunion-20-december",
    ),
    pytest.param(
        GUADELOUPE,
        date(2026, 5, 25),
        date(2026, 5, 29),
        {date(2026, 5, 25), date(2026, 5, 27)},
        id="guadeloupe-27-may",
    ),
]


@pytest.mark.parametrize(("zone", "first", "last", "holidays"), HOLIDAY_CASES)
def test_no_probe_on_a_regional_holiday_even_when_every_other_day_is_used(
    zone: tuple[str, str | None], first: date, last: date, holidays: set[date]
) -> None:
    open_weekdays = [
        first + timedelta(days=n)
        for n in range((last - first).days + 1)
        if (first + timedelta(days=n)).weekday() < 5
    ]
    usable = [d for d in open_weekdays if d not in holidays]
    # Ask for one call per weekday: the planner must use every usable day and no holiday.
    plan = plan_wave(
        [target(1, zone)],
        rules(first, last, quotas={"phone": len(open_weekdays)}, min_spacing=timedelta(0)),
    )
    days = sorted(local(p, zone[0]).date() for p in plan.probes)
    assert days == usable
    assert len(plan.shortfalls) == 1
    shortfall = plan.shortfalls[0]
    assert (shortfall.wanted, shortfall.planned) == (len(open_weekdays), len(usable))


def test_the_26th_of_december_is_a_working_day_outside_alsace_moselle() -> None:
    first, last = date(2025, 12, 22), date(2025, 12, 31)
    plan = plan_wave([target(1, PARIS)], rules(first, last, quotas={"phone": 7}))
    days = {local(p, "Europe/Paris").date() for p in plan.probes}
    assert date(2025, 12, 26) in days
    assert date(2025, 12, 25) not in days


def test_calls_to_a_structure_fall_on_distinct_days_mixing_morning_and_afternoon() -> None:
    targets = [target(i, PARIS) for i in range(1, 31)]
    plan = plan_wave(targets, rules(date(2026, 3, 2), date(2026, 3, 27)))
    halves: Counter[str] = Counter()
    for probes in by_structure(plan).values():
        calls = [local(p, "Europe/Paris") for p in probes if p.channel == "phone"]
        assert len(calls) == 3
        assert len({c.date() for c in calls}) == 3
        mornings = sum(c.hour < 12 for c in calls)
        assert 1 <= mornings <= 2, calls
        halves.update("am" if c.hour < 12 else "pm" for c in calls)
    assert halves["am"] > 20 and halves["pm"] > 20


def test_probes_to_one_structure_are_spaced_across_channels() -> None:
    targets = [target(i, PARIS, "Mo 09:00-17:00") for i in range(1, 11)]
    spacing = timedelta(hours=3)
    # One open day a week for two weeks: the email shares a day with a call, 3 hours apart.
    plan = plan_wave(
        targets,
        rules(
            date(2026, 3, 2),
            date(2026, 3, 13),
            quotas={"phone": 2, "email": 2},
            min_spacing=spacing,
        ),
    )
    for probes in by_structure(plan).values():
        instants = sorted(p.scheduled_at for p in probes)
        assert len(instants) == 4
        assert all(b - a >= spacing for a, b in itertools.pairwise(instants))


def test_the_calls_per_minute_cap_holds_across_the_wave() -> None:
    # 300 structures open one hour on a single day: 45 usable minutes at ≤ 6 calls a minute.
    targets = [target(i, PARIS, "Tu 09:00-10:00") for i in range(1, 301)]
    plan = plan_wave(
        targets,
        rules(date(2026, 3, 3), date(2026, 3, 3), quotas={"phone": 1}, max_calls_per_minute=6),
    )
    per_minute = Counter(p.scheduled_at.replace(second=0) for p in plan.probes)
    assert max(per_minute.values()) == 6
    assert len(plan.probes) == 6 * 45
    assert len(plan.shortfalls) == 300 - 6 * 45
    assert "rate cap" in plan.shortfalls[0].reason


def test_the_calls_per_minute_cap_holds_on_the_day_the_clocks_change() -> None:
    # Sunday 29 March 2026: Paris moves to summer time at 02:00, minutes no longer map one to one.
    targets = [target(i, PARIS, "Su 09:00-10:00") for i in range(1, 301)]
    plan = plan_wave(
        targets,
        rules(date(2026, 3, 29), date(2026, 3, 29), quotas={"phone": 1}, max_calls_per_minute=6),
    )
    per_minute = Counter(p.scheduled_at.replace(second=0) for p in plan.probes)
    assert max(per_minute.values()) == 6
    assert len(plan.probes) == 6 * 45
    assert all(local(p, "Europe/Paris").hour == 9 for p in plan.probes)


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    targets = [target(i, REUNION if i % 2 else MOSELLE) for i in range(1, 21)]
    window = (date(2026, 3, 2), date(2026, 3, 27))
    first = plan_wave(targets, rules(*window, seed=3))
    again = plan_wave(list(reversed(targets)), rules(*window, seed=3))
    other = plan_wave(targets, rules(*window, seed=4))
    assert first.probes == again.probes
    assert [p.scheduled_at for p in first.probes] != [p.scheduled_at for p in other.probes]
    # Probe ids name the slot, not the draw: the same slots exist under any seed.
    assert {p.id for p in first.probes} == {p.id for p in other.probes}


def test_off_hours_calls_are_just_outside_opening_hours_on_working_days() -> None:
    targets = [target(i, GUADELOUPE if i % 3 == 0 else PARIS) for i in range(1, 31)]
    plan = plan_wave(
        targets,
        rules(date(2026, 5, 4), date(2026, 5, 29), off_hours_calls=2, quotas={"phone": 1}),
    )
    off_hours = [p for p in plan.probes if p.slot_kind == "off_hours"]
    assert len(off_hours) == 60
    zone_of = {t.structure_id: t.timezone for t in targets}
    for probe in off_hours:
        moment = local(probe, zone_of[probe.structure_id])
        assert moment.weekday() < 5
        assert not inside(moment, WEEKDAY_INTERVALS)
        assert time(7, 0) <= moment.time() < time(21, 0)
        minutes = moment.hour * 60 + moment.minute
        boundaries = [8 * 60 + 30, 12 * 60, 13 * 60 + 30, 17 * 60 + 30]
        assert min(abs(minutes - b) for b in boundaries) <= 60
        # Holidays in May 2026: 1, 8, 14, 25 for everyone, 27 in Guadeloupe.
        assert moment.date() not in {date(2026, 5, d) for d in (1, 8, 14, 25)}
        if probe.structure_id % 3 == 0:
            assert moment.date() != date(2026, 5, 27)


def test_structures_without_hours_or_contact_are_reported_not_planned() -> None:
    no_hours = PlanTarget(
        structure_id=1,
        official_id="NOHOURS",
        timezone="Europe/Paris",
        holiday_subdivision=None,
        opening_hours=None,
        contact_ids={"phone": 1, "email": 2},
    )
    no_email = target(2, PARIS, email=False)
    no_phone = PlanTarget(
        structure_id=3,
        official_id="NOPHONE",
        timezone="Europe/Paris",
        holiday_subdivision=None,
        opening_hours=WEEKDAY_HOURS,
        contact_ids={"phone": None, "email": 31},
    )
    plan = plan_wave(
        [no_hours, no_email, no_phone],
        rules(date(2026, 3, 2), date(2026, 3, 27), off_hours_calls=1),
    )
    reasons = {(s.official_id, s.channel): s.reason for s in plan.shortfalls}
    assert reasons[("NOPHONE", "phone")] == "no phone contact point"
    assert reasons[("NOPHONE", "off_hours")] == "no phone contact point"
    assert "no opening hours" in reasons[("NOHOURS", "phone")]
    assert "no email contact" in reasons[("S00002", "email")]
    assert {(p.structure_id, p.channel) for p in plan.probes} == {(2, "phone"), (3, "email")}


def test_scenarios_and_personas_rotate() -> None:
    plan = plan_wave([target(1, PARIS)], rules(date(2026, 3, 2), date(2026, 3, 27)))
    calls = sorted((p for p in plan.probes if p.channel == "phone"), key=lambda p: p.slot_index)
    assert [p.scenario_id for p in calls] == ["call-a", "call-b", "call-a"]
    assert len({p.persona_id for p in calls}) == 2


def test_site_checks_need_no_spacing_and_use_the_website() -> None:
    # One open day of four hours: room for one call and one email 4 hours apart at most, yet
    # the site check fits beside them, inside the hours.
    targets = [
        replace(t, contact_ids={**t.contact_ids, "web": t.structure_id * 10 + 2})
        for t in (target(i, PARIS, "Mo 09:00-13:15") for i in range(1, 6))
    ]
    plan = plan_wave(
        targets,
        rules(
            date(2026, 3, 2),
            date(2026, 3, 2),
            quotas={"phone": 1, "web": 1},
            scenarios={"phone": ("call-a",), "web": ("site",)},
            min_spacing=timedelta(hours=4),
        ),
    )

    assert not plan.shortfalls
    for structure_id, probes in by_structure(plan).items():
        assert sorted(p.channel for p in probes) == ["phone", "web"]
        web = next(p for p in probes if p.channel == "web")
        assert web.contact_point_id == structure_id * 10 + 2
        assert web.scenario_id == "site"
        assert inside(local(web, "Europe/Paris"), {0: [(time(9, 0), time(13, 0))]})
