"""A call's measurement from its events: rings, who answered, menu, transfer and hold."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from channels.events import ObservedEvent
from channels.phone.measure import measure_call

T0 = datetime(2026, 11, 23, 9, 0, 0, tzinfo=UTC)


def status(kind: str, at_s: int, received_s: float | None = None, **payload: Any) -> ObservedEvent:
    received = T0 + timedelta(seconds=at_s if received_s is None else received_s)
    return ObservedEvent(
        kind, "twilio", T0 + timedelta(seconds=at_s), received, None, "source", payload
    )


def step(kind: str, received_s: float, **payload: Any) -> ObservedEvent:
    at = T0 + timedelta(seconds=received_s)
    return ObservedEvent(kind, "twilio", at, at, None, "receipt", payload)


def test_rings_count_the_ring_the_answer_interrupts() -> None:
    # Ringing at 1 s, answered 16 s later: during the 4th ring at the French 5 s cadence.
    events = [
        status("call.initiated", 0),
        status("call.ringing", 1),
        status("call.answered", 17),
        step("call.heard", 18, phase="greeting", speech="Mairie, bonjour.", heard="human"),
        status("call.completed", 40, call_duration_s=23, sip_response_code=200),
    ]
    measured = measure_call(events)
    assert (measured.outcome, measured.rings, measured.ring_s) == ("answered", 4, 16)
    assert measured.post_dial_delay_s == 1
    assert measured.answered_by == "human"
    assert measured.talk_s == 23
    assert measured.greeting == "Mairie, bonjour."
    assert measured.greeting_gives_opening_hours is False


def test_an_unanswered_call_counts_whole_rings_only() -> None:
    events = [
        status("call.initiated", 0),
        status("call.ringing", 1),
        status("call.no-answer", 31, call_duration_s=0, sip_response_code=487),
    ]
    measured = measure_call(events)
    assert (measured.outcome, measured.rings, measured.answered_by) == ("no-answer", 6, None)


def test_busy_before_any_ring() -> None:
    measured = measure_call([status("call.initiated", 0), status("call.busy", 1)])
    assert (measured.outcome, measured.rings, measured.post_dial_delay_s) == ("busy", None, None)


def test_menu_then_hold_then_a_person_measured_on_the_receipt_clock() -> None:
    events = [
        status("call.initiated", 0),
        status("call.ringing", 1),
        status("call.answered", 2),
        step("call.script_started", 2.0),
        step("call.heard", 8.0, phase="greeting", speech="Tapez 1 pour l'état civil", heard="ivr"),
        step("call.keyed", 9.5, digits="1"),
        step("call.transfer_requested", 9.5, via="menu"),
        step("call.speech_started", 41.5, phase="transfer", words="Service"),
        step(
            "call.heard",
            43.0,
            phase="transfer",
            speech="Service état civil, bonjour.",
            heard="human",
        ),
        status("call.completed", 60, call_duration_s=58),
    ]
    measured = measure_call(events, time_limit_s=300)
    assert measured.answered_by == "ivr"
    assert (measured.menu_s, measured.menu_key) == (7.5, "1")
    assert (measured.transfer_requested, measured.transfer_outcome) == ("menu", "human")
    assert measured.hold_s == 32.0  # to the first words, not to the end of the sentence
    assert measured.transferred_greeting == "Service état civil, bonjour."


def test_time_scale_converts_receipt_intervals_to_call_seconds() -> None:
    events = [
        status("call.answered", 2),
        step("call.transfer_requested", 1.0, via="request"),
        step("call.heard", 4.0, phase="transfer", speech="Bonjour", heard="human"),
        status("call.completed", 20, call_duration_s=18),
    ]
    assert measure_call(events, time_scale=0.1).hold_s == 30.0


def test_a_hold_that_ends_the_call_is_dropped_or_abandoned_at_the_time_limit() -> None:
    base = [
        status("call.answered", 2),
        step("call.transfer_requested", 10.0, via="request"),
    ]
    dropped = measure_call(
        [*base, status("call.completed", 40, 40.0, call_duration_s=38)], time_limit_s=300
    )
    assert (dropped.transfer_outcome, dropped.hold_s) == ("dropped", 30.0)
    abandoned = measure_call(
        [*base, status("call.completed", 302, 302.0, call_duration_s=300)], time_limit_s=300
    )
    assert abandoned.transfer_outcome == "abandoned"


def test_voicemail_after_transfer_and_machine_detection_fallback() -> None:
    events = [
        status("call.answered", 5),
        step("call.heard", 6.0, phase="greeting", speech="Oui ?", heard="human"),
        step("call.amd", 6.5, answered_by="machine_end_beep"),
        step("call.transfer_requested", 9.0, via="request"),
        step("call.heard", 20.0, phase="transfer", speech="laissez un message", heard="machine"),
        status("call.completed", 30, call_duration_s=25),
    ]
    measured = measure_call(events)
    assert measured.transfer_outcome == "voicemail"
    # The words were not clear about a machine; detection was.
    assert (measured.answered_by, measured.amd_answered_by) == ("machine", "machine_end_beep")


def test_the_order_of_delivery_does_not_change_the_measurement() -> None:
    events = [
        status("call.initiated", 0),
        status("call.ringing", 1),
        status("call.answered", 12),
        step("call.script_started", 12.1),
        step("call.heard", 14.0, phase="greeting", speech="Mairie, bonjour.", heard="human"),
        step("call.transfer_requested", 17.0, via="request"),
        step("call.speech_started", 47.0, phase="transfer"),
        step("call.heard", 49.0, phase="transfer", speech="État civil, bonjour.", heard="human"),
        status("call.completed", 60, call_duration_s=48),
    ]
    expected = measure_call(events)
    shuffled = events[:]
    for seed in range(20):
        random.Random(seed).shuffle(shuffled)  # noqa: S311 (test data)
        assert measure_call(shuffled) == expected
    # Status callbacks received late and out of order: the source timestamps still rule.
    late = [
        status("call.completed", 60, 61.0, call_duration_s=48),
        status("call.ringing", 1, 62.0),
        *[e for e in events if e.kind not in ("call.completed", "call.ringing")],
    ]
    assert measure_call(late).rings == expected.rings == 3


def test_a_person_who_answers_the_request_at_once_did_not_transfer() -> None:
    events = [
        status("call.answered", 2),
        step("call.heard", 4.0, phase="greeting", speech="Mairie, bonjour.", heard="human"),
        step("call.transfer_requested", 8.0, via="request"),
        step("call.speech_started", 9.0, phase="transfer"),
        step(
            "call.heard", 10.0, phase="transfer", speech="C'est moi, je vous écoute.", heard="human"
        ),
        status("call.completed", 30, call_duration_s=28),
    ]
    measured = measure_call(events)
    assert (measured.transfer_outcome, measured.hold_s) == ("not_transferred", None)
