"""From a call's events to what a citizen lived: rings, who answered, menu, transfer, hold.

Pure and recomputable: the same events always give the same measurement, whatever order they
were delivered in. Intervals between Twilio's status callbacks use Twilio's ``Timestamp``
(whole seconds, the source's clock). Intervals inside the conversation (menu, hold) are measured
on prober's own receipt clock, the only one Twilio gives for webhooks, and divided by
``time_scale`` (real seconds per call second: 1 with Twilio, the sandbox's ``--time-scale`` when
it runs faster than real time).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from channels.phone.speech import Heard, mentions_opening_hours

# France: one ring every 5 s (1.5 s of tone, 3.5 s of silence), ITU-T E.180.
FRANCE_RING_CADENCE_S = 5
# A person who answers the request within this long did not transfer the call: they answered it.
DIRECT_ANSWER_S = 3.0
# `machine` is what the Call resource's `answered_by` says; callbacks give the finer values.
AMD_MACHINE = frozenset(
    {
        "machine",
        "machine_start",
        "machine_end_beep",
        "machine_end_silence",
        "machine_end_other",
        "fax",
    }
)
FINAL_KINDS = {
    "call.completed": "completed",
    "call.busy": "busy",
    "call.no-answer": "no-answer",
    "call.failed": "failed",
    "call.canceled": "canceled",
}


class EventLike(Protocol):
    """What a measurement reads of an event (an ``ObservedEvent`` or a stored event row)."""

    @property
    def kind(self) -> str: ...
    @property
    def source_at(self) -> datetime: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class CallMeasurement:
    """What one call attempt measured; None where the call never got that far."""

    outcome: str | None  # answered, busy, no-answer, failed, canceled; None while in progress
    final_status: str | None
    post_dial_delay_s: int | None
    ring_s: int | None  # between the whole-second Timestamps
    rings: int | None
    answered_by: str | None  # human, machine, ivr, unknown
    amd_answered_by: str | None
    greeting: str | None
    greeting_gives_opening_hours: bool | None
    menu_s: float | None  # from the answer to the menu choice keyed in
    menu_key: str | None
    transfer_requested: str | None  # "menu" or "request"
    # human, voicemail, dropped, abandoned; not_transferred when the person asked answered at once
    transfer_outcome: str | None
    hold_s: float | None
    transferred_greeting: str | None
    talk_s: int | None
    sip_response_code: int | None
    recording_sid: str | None
    # What the true ringing interval may be: the Timestamps are whole seconds, so it is within
    # a second of ring_s either way; ring_s_likely, from prober's receipt clock within those
    # bounds, is what the rings are counted from.
    ring_s_min: float | None = None
    ring_s_max: float | None = None
    ring_s_likely: float | None = None
    # Every key keyed in, the line's menu first, then second-level menus.
    menu_path: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def measure_call(
    events: Iterable[EventLike],
    *,
    time_limit_s: int | None = None,
    time_scale: float = 1.0,
    ring_cadence_s: int = FRANCE_RING_CADENCE_S,
) -> CallMeasurement:
    """Derive the measurement of one attempt from its events (any order, duplicates ignored)."""
    first: dict[str, EventLike] = {}
    # Keys and transfer requests of every menu level (a second-level menu adds one each).
    levels: dict[str, dict[int, EventLike]] = {"call.keyed": {}, "call.transfer_requested": {}}
    for event in sorted(
        events, key=lambda event: (_aware(event.received_at), _aware(event.source_at))
    ):
        key = event.kind
        if event.kind in ("call.heard", "call.speech_started"):
            key = f"{event.kind}:{event.payload.get('phase')}"
        first.setdefault(key, event)
        if event.kind in levels:
            levels[event.kind].setdefault(int(event.payload.get("level") or 1), event)
    keys = [levels["call.keyed"][level] for level in sorted(levels["call.keyed"])]
    requests = [
        levels["call.transfer_requested"][level]
        for level in sorted(levels["call.transfer_requested"])
    ]

    initiated, ringing = first.get("call.initiated"), first.get("call.ringing")
    answered = first.get("call.answered")
    final = next((first[kind] for kind in FINAL_KINDS if kind in first), None)
    final_status = None if final is None else FINAL_KINDS[final.kind]
    # Twilio ends every answered call `completed`; the other final statuses say why not.
    outcome = "answered" if final_status == "completed" else final_status

    post_dial_delay_s = _seconds_between(initiated, ringing)
    ring_end = answered if answered is not None else final
    ring_s = _seconds_between(ringing, ring_end)
    ring_s_min = ring_s_max = ring_s_likely = None
    rings: int | None = None
    if ring_s is not None:
        ring_s_min, ring_s_max = float(max(0, ring_s - 1)), float(ring_s + 1)
        ring_s_likely = _likely_seconds(ringing, ring_end, ring_s, time_scale)
        # Answered during a ring: floor + 1 counts it; unanswered: only whole rings were heard.
        if answered is not None:
            rings = math.floor(ring_s_likely / ring_cadence_s) + 1
        else:
            rings = math.ceil(ring_s / ring_cadence_s)

    greeting_event = first.get("call.heard:greeting")
    greeting = None if greeting_event is None else greeting_event.payload.get("speech")
    amd = first.get("call.amd")
    amd_answered_by = None if amd is None else amd.payload.get("answered_by")
    # Twilio repeats AnsweredBy in later callbacks, the final one included: keep the first given.
    for carrier in (answered, final):
        if amd_answered_by is None and carrier is not None:
            amd_answered_by = carrier.payload.get("answered_by")
    answered_by = _who_answered(outcome, greeting_event, amd_answered_by)

    script = first.get("call.script_started")
    keyed = keys[0] if keys else None
    # Up to the last key: a second-level menu is menu time, whatever hold came before it.
    menu_s = _receipt_seconds(script, keys[-1] if keys else None, time_scale)

    # The hold runs from the last request (the deepest menu's key) to the first words heard
    # in the slice that ended it: interim results of slices that heard only music or a hold
    # cue do not count.
    requested = requests[-1] if requests else None
    transfer_requested = None if not requests else requests[0].payload.get("via")
    transferred = first.get("call.heard:transfer")
    hold_slice = None if transferred is None else transferred.payload.get("slice")
    speech_started = first.get(
        "call.speech_started:transfer"
        if hold_slice is None
        else f"call.speech_started:transfer:{hold_slice}"
    )
    transfer_outcome: str | None = None
    hold_s: float | None = None
    if requested is not None:
        if transferred is not None:
            heard = transferred.payload.get("heard")
            transfer_outcome = "voicemail" if heard == Heard.MACHINE else "human"
            hold_end = speech_started if speech_started is not None else transferred
            hold_s = _receipt_seconds(requested, hold_end, time_scale)
            direct = requested.payload.get("via") == "request" and heard != Heard.MACHINE
            if direct and hold_s is not None and hold_s < DIRECT_ANSWER_S:
                transfer_outcome, hold_s = "not_transferred", None
        elif final is not None:
            talk_s = _talk_s(final)
            # Twilio ends a call at TimeLimit, and CallDuration may say a second less.
            limited = time_limit_s is not None and talk_s is not None and talk_s >= time_limit_s - 1
            transfer_outcome = "abandoned" if limited else "dropped"
            hold_s = _receipt_seconds(requested, final, time_scale)

    return CallMeasurement(
        outcome=outcome,
        final_status=final_status,
        post_dial_delay_s=post_dial_delay_s,
        ring_s=ring_s,
        ring_s_min=ring_s_min,
        ring_s_max=ring_s_max,
        ring_s_likely=ring_s_likely,
        rings=rings,
        answered_by=answered_by,
        amd_answered_by=amd_answered_by,
        greeting=greeting,
        greeting_gives_opening_hours=None if greeting is None else mentions_opening_hours(greeting),
        menu_s=menu_s,
        menu_key=None if keyed is None else keyed.payload.get("digits"),
        menu_path=[str(event.payload.get("digits")) for event in keys],
        transfer_requested=transfer_requested,
        transfer_outcome=transfer_outcome,
        hold_s=hold_s,
        transferred_greeting=None if transferred is None else transferred.payload.get("speech"),
        talk_s=None if final is None else _talk_s(final),
        sip_response_code=None if final is None else final.payload.get("sip_response_code"),
        recording_sid=None if final is None else final.payload.get("recording_sid"),
    )


def _who_answered(
    outcome: str | None, greeting: EventLike | None, amd_answered_by: str | None
) -> str | None:
    """The words decide when they are clear (a menu, a voicemail); else machine detection."""
    if outcome != "answered":
        return None
    heard = None if greeting is None else greeting.payload.get("heard")
    if heard in (Heard.IVR, Heard.MACHINE):
        return str(heard)
    if amd_answered_by in AMD_MACHINE:
        return "machine"
    if amd_answered_by == "human" or heard == Heard.HUMAN:
        return "human"
    return "unknown"


def _talk_s(event: EventLike | None) -> int | None:
    if event is None:
        return None
    value = event.payload.get("call_duration_s")
    return None if value is None else int(value)


def _seconds_between(start: EventLike | None, end: EventLike | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end.source_at - start.source_at).total_seconds()))


def _likely_seconds(
    start: EventLike | None, end: EventLike | None, stamped_s: int, time_scale: float
) -> float:
    """The likeliest length of an interval known as ``stamped_s`` between whole-second stamps.

    The true length is within a second of ``stamped_s``. Counting from ``stamped_s`` itself
    overcounts whenever it lands on a ring boundary; prober's receipt clock (both callbacks
    travel the same way, so their delivery delays mostly cancel out) places it within
    those bounds. Without usable receipts, the stamped value stays.
    """
    received = _receipt_seconds(start, end, time_scale)
    if received is None or start is None or end is None:
        return float(stamped_s)
    if _aware(start.received_at) == _aware(end.received_at):  # one was not a callback
        return float(stamped_s)
    low, high = max(0.0, stamped_s - 1.0), stamped_s + 1.0
    return round(min(max(received, low), high), 2)


def _receipt_seconds(
    start: EventLike | None, end: EventLike | None, time_scale: float
) -> float | None:
    if start is None or end is None:
        return None
    real_s = (_aware(end.received_at) - _aware(start.received_at)).total_seconds()
    return round(max(0.0, real_s) / time_scale, 2)


def _aware(instant: datetime) -> datetime:
    """An instant as stored (SQLite gives it back without its zone, which is UTC) or as
    received: comparable either way."""
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
