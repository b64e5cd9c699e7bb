"""Twilio details a measurement must get right: whole-second Timestamps, AnsweredBy, TimeLimit."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from channels.events import ObservedEvent
from channels.phone.measure import measure_call

T0 = datetime(2026, 11, 23, 9, 0, 0, tzinfo=UTC)
CADENCE_S = 5


def event(kind: str, at_s: float, received_s: float, **payload: Any) -> ObservedEvent:
    """A status callback as Twilio sends it: its Timestamp is the whole second of ``at_s``."""
    stamped = T0 + timedelta(seconds=math.floor(at_s))
    return ObservedEvent(
        kind, "twilio", stamped, T0 + timedelta(seconds=received_s), None, "source", payload
    )


def simulated_ring_errors(count: int, seed: int) -> list[int]:
    """Measured minus true rings over ``count`` answered calls with random true instants."""
    chance = random.Random(seed)  # noqa: S311 (test data)
    errors = []
    for _ in range(count):
        ringing_at = 1 + chance.random()
        ring_s = chance.uniform(0.2, 40.0)
        answered_at = ringing_at + ring_s
        # Each callback reaches prober 50-400 ms after the event.
        events = [
            event("call.initiated", 0.1, 0.2),
            event("call.ringing", ringing_at, ringing_at + chance.uniform(0.05, 0.4)),
            event("call.answered", answered_at, answered_at + chance.uniform(0.05, 0.4)),
            event("call.completed", answered_at + 20, answered_at + 20.2, call_duration_s=20),
        ]
        measured = measure_call(events)
        assert measured.ring_s_min is not None and measured.ring_s_max is not None
        assert measured.ring_s_min <= ring_s <= measured.ring_s_max
        true_rings = math.floor(ring_s / CADENCE_S) + 1
        assert measured.rings is not None
        errors.append(measured.rings - true_rings)
    return errors


def test_ring_counts_are_not_biased_by_whole_second_timestamps() -> None:
    errors = simulated_ring_errors(20_000, seed=13)
    mean_error = sum(errors) / len(errors)
    # Counting from the stamped interval alone overcounts about one call in ten (+0.1).
    assert abs(mean_error) < 0.01, mean_error
    assert sum(1 for error in errors if error) / len(errors) < 0.03
    assert set(errors) <= {-1, 0, 1}


def test_the_ringing_interval_is_reported_with_its_bounds() -> None:
    events = [
        event("call.initiated", 0.2, 0.3),
        event("call.ringing", 1.9, 2.0),
        event("call.answered", 17.1, 17.2),
        event("call.completed", 40, 40.1, call_duration_s=23),
    ]
    measured = measure_call(events)
    # Stamped 1 and 17: 16 s, so truly between 15 and 17; prober received them 15.2 s apart.
    assert (measured.ring_s, measured.ring_s_min, measured.ring_s_max) == (16, 15.0, 17.0)
    assert measured.ring_s_likely == 15.2
    assert measured.rings == 4


def test_answered_by_from_the_final_callback_and_machine_from_the_call_resource() -> None:
    events = [
        event("call.initiated", 0, 0),
        event("call.ringing", 1, 1),
        event("call.answered", 7, 7),
        event("call.completed", 30, 30, call_duration_s=23, answered_by="machine_start"),
    ]
    assert measure_call(events).amd_answered_by == "machine_start"
    assert measure_call(events).answered_by == "machine"
    from_resource = [*events[:3], event("call.completed", 30, 30, answered_by="machine")]
    assert measure_call(from_resource).answered_by == "machine"


def test_a_hold_cut_a_second_before_the_time_limit_is_abandoned() -> None:
    events = [
        event("call.initiated", 0, 0),
        event("call.ringing", 1, 1),
        event("call.answered", 7, 7),
        ObservedEvent(
            "call.transfer_requested",
            "twilio",
            T0 + timedelta(seconds=12),
            T0 + timedelta(seconds=12),
            None,
            "receipt",
            {"via": "request"},
        ),
        # TimeLimit 300: Twilio reports 299 s of talk for a call it cut at the limit.
        event("call.completed", 306, 306, call_duration_s=299),
    ]
    assert measure_call(events, time_limit_s=300).transfer_outcome == "abandoned"
    assert measure_call(events, time_limit_s=310).transfer_outcome == "dropped"


def receipt(kind: str, at_s: float, **payload: Any) -> ObservedEvent:
    at = T0 + timedelta(seconds=at_s)
    return ObservedEvent(kind, "twilio", at, at, None, "receipt", payload)


def test_hold_ends_at_the_slice_whose_words_end_it_not_at_a_stray_partial() -> None:
    events = [
        event("call.initiated", 0, 0),
        event("call.ringing", 1, 1),
        event("call.answered", 7, 7),
        receipt("call.script_started", 7),
        receipt("call.heard", 12, phase="greeting", speech="Mairie, bonjour.", heard="human"),
        receipt("call.transfer_requested", 16, via="request", level=1),
        # Slice 1.1: a stray partial result on the hold music, then an empty final result.
        receipt("call.speech_started", 18, phase="transfer:1.1", words="la la"),
        # Slice 1.2: a hold cue; slice 1.3: the service.
        receipt("call.speech_started", 30, phase="transfer:1.2", words="Votre appel"),
        receipt("call.speech_started", 61, phase="transfer:1.3", words="État civil"),
        receipt(
            "call.heard", 63, phase="transfer", speech="État civil.", heard="human", slice="1.3"
        ),
        event("call.completed", 80, 80, call_duration_s=73),
    ]
    measured = measure_call(events)
    assert (measured.transfer_outcome, measured.hold_s) == ("human", 45.0)


def test_a_second_level_menu_counts_as_menu_time_and_its_key_starts_the_hold() -> None:
    events = [
        event("call.initiated", 0, 0),
        event("call.ringing", 1, 1),
        event("call.answered", 2, 2),
        receipt("call.script_started", 2),
        receipt("call.heard", 10, phase="greeting", speech="Tapez 1", heard="ivr"),
        receipt("call.keyed", 11, digits="1", level=1),
        receipt("call.transfer_requested", 11, via="menu", level=1),
        receipt("call.keyed", 30, digits="2", level=2),
        receipt("call.transfer_requested", 30, via="menu", level=2),
        receipt("call.speech_started", 50, phase="transfer:2.1", words="État civil"),
        receipt(
            "call.heard", 52, phase="transfer", speech="État civil.", heard="human", slice="2.1"
        ),
        event("call.completed", 70, 70, call_duration_s=68),
    ]
    measured = measure_call(events)
    assert (measured.menu_key, measured.menu_path, measured.menu_s) == ("1", ["1", "2"], 28.0)
    assert (measured.transfer_requested, measured.hold_s) == ("menu", 20.0)


def test_instants_read_back_without_their_zone_compare_with_fresh_ones() -> None:
    # SQLite returns stored instants without their zone (UTC); the event just received has it.
    ringing = event("call.ringing", 1.2, 1.3)
    stored = ObservedEvent(
        ringing.kind,
        ringing.source,
        ringing.source_at,
        ringing.received_at.replace(tzinfo=None),
        None,
        "source",
        {},
    )
    events = [
        event("call.initiated", 0.2, 0.3),
        stored,
        event("call.answered", 12.4, 12.5),
        event("call.completed", 40, 40.1, call_duration_s=27),
    ]
    measured = measure_call(events)
    assert (measured.ring_s, measured.ring_s_likely, measured.rings) == (11, 11.2, 3)
