"""A call's timeline under its recording: the events an auditor seeks to, and what was heard.

Twilio records from the answer, so an event's place in the recording is its distance from the
answer on prober's receipt clock (the clock the call's measurements use), divided by
``time_scale`` (1 against Twilio; the sandbox may run faster). Events before the answer (ringing)
sit at 0 and say so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class CallEvent:
    """An event of the call as stored: kind, clocks and payload."""

    kind: str
    source: str
    source_at: datetime
    received_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Mark:
    """One point of the timeline: what happened, when, where in the recording (seconds)."""

    label: str
    kind: str
    at: datetime
    offset_s: float
    before_recording: bool = False
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Heard:
    """What the call heard at one step (a speech recognition result)."""

    offset_s: float
    phase: str
    speech: str
    confidence: str


_PHASES = {"greeting": "accueil", "answer": "réponse", "transfer": "après transfert"}


def _aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def _phase_label(phase: str) -> str:
    if phase.startswith("transfer:"):
        return "attente"
    return _PHASES.get(phase, phase)


def call_timeline(
    events: Iterable[CallEvent], *, time_scale: float = 1.0
) -> tuple[list[Mark], list[Heard]]:
    """The marks (ringing, answer, greeting, keys, transfer asked, hold, first words, end) and the
    transcript of a call's events."""
    ordered = sorted(events, key=lambda e: (_aware(e.received_at), _aware(e.source_at)))
    answered = next((e for e in ordered if e.kind == "call.answered"), None)
    origin = _aware(answered.received_at) if answered is not None else None

    def offset(event: CallEvent) -> tuple[float, bool]:
        if origin is None:
            return 0.0, True
        seconds = (_aware(event.received_at) - origin).total_seconds() / time_scale
        return (round(seconds, 2), False) if seconds >= 0 else (0.0, True)

    marks: list[Mark] = []

    def add(label: str, event: CallEvent, detail: str = "") -> None:
        at, before = offset(event)
        marks.append(Mark(label, event.kind, _aware(event.source_at), at, before, detail))

    seen: set[str] = set()
    transcript: list[Heard] = []
    end_slice = next(
        (
            str(e.payload.get("slice"))
            for e in ordered
            if e.kind == "call.heard" and e.payload.get("phase") == "transfer"
        ),
        None,
    )
    for event in ordered:
        payload = event.payload
        phase = str(payload.get("phase") or "")
        if event.kind == "call.ringing" and "ringing" not in seen:
            seen.add("ringing")
            add("Sonnerie", event)
        elif event.kind == "call.answered":
            add("Décroché", event)
        elif event.kind == "call.keyed":
            add(f"Touche {payload.get('digits', '?')}", event)
        elif event.kind == "call.transfer_requested":
            how = "par le menu" if payload.get("via") == "menu" else "de vive voix"
            add("Transfert demandé", event, how)
        elif event.kind == "call.completed":
            add("Fin", event)
        elif event.kind == "call.speech_started" and phase == f"transfer:{end_slice}":
            if "first_words" not in seen:
                seen.add("first_words")
                add("Premiers mots", event)
        if event.kind != "call.heard":
            continue
        speech = str(payload.get("speech") or "")
        if phase == "greeting" and "greeting" not in seen:
            seen.add("greeting")
            add("Accueil", event, speech)
        elif phase.startswith("transfer:") and payload.get("heard") in ("hold", "silence"):
            if "hold" not in seen:
                seen.add("hold")
                add("Attente", event)
        elif phase == "transfer" and "first_words" not in seen:
            seen.add("first_words")
            add("Premiers mots", event, speech)
        if speech:
            at, _ = offset(event)
            transcript.append(
                Heard(at, _phase_label(phase), speech, str(payload.get("confidence") or ""))
            )
    marks.sort(key=lambda mark: (mark.offset_s, mark.at))
    return marks, transcript
