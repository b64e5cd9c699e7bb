"""A scored wave without the outside world: attempts written with measurements shaped as the
channels store them (copied from a `prober demo` run), for the report and API tests."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from storage import attempts
from storage.db import make_engine, session_scope
from storage.models import ProbeState
from storage.recordings import announce_recording, store_recording_media
from storage.waves import get_wave, iter_probes
from tests.support.cli import SAMPLES, Run

# Measurements as the phone channel stores them (copied from a `prober demo` run).
PHONE = [
    ("answered", {"outcome": "answered", "final_status": "completed", "post_dial_delay_s": 1,
     "ring_s": 6, "rings": 2, "answered_by": "human", "amd_answered_by": "human",
     "greeting": "Mairie, bonjour.", "greeting_gives_opening_hours": False, "menu_s": None,
     "menu_key": None, "transfer_requested": "request", "transfer_outcome": "human",
     "hold_s": 26.09, "transferred_greeting": "Service état civil, je vous écoute.",
     "talk_s": 44, "sip_response_code": 200, "recording_sid": None}),
    ("answered", {"outcome": "answered", "final_status": "completed", "post_dial_delay_s": 1,
     "ring_s": 1, "rings": 1, "answered_by": "ivr", "amd_answered_by": "machine_end_other",
     "greeting": "Bienvenue. Pour l'état civil, tapez 1. Pour l'urbanisme, tapez 2.",
     "greeting_gives_opening_hours": False, "menu_s": 8.41, "menu_key": "1",
     "transfer_requested": "menu", "transfer_outcome": "human", "hold_s": 41.11,
     "transferred_greeting": "État civil, bonjour.", "talk_s": 64, "sip_response_code": 200,
     "recording_sid": None}),
    ("busy", {"outcome": "busy", "final_status": "busy", "post_dial_delay_s": None,
     "ring_s": None, "rings": None, "answered_by": None, "amd_answered_by": None,
     "greeting": None, "greeting_gives_opening_hours": None, "menu_s": None, "menu_key": None,
     "transfer_requested": None, "transfer_outcome": None, "hold_s": None,
     "transferred_greeting": None, "talk_s": 0, "sip_response_code": 486,
     "recording_sid": None}),
    ("answered", {"outcome": "answered", "final_status": "completed", "post_dial_delay_s": 1,
     "ring_s": 26, "rings": 6, "answered_by": "human", "amd_answered_by": "human",
     "greeting": "Bonjour.", "greeting_gives_opening_hours": False, "menu_s": None,
     "menu_key": None, "transfer_requested": "request", "transfer_outcome": "not_transferred",
     "hold_s": None, "transferred_greeting": "Bonjour.", "talk_s": 16,
     "sip_response_code": 200, "recording_sid": None}),
    ("no-answer", {"outcome": "no-answer", "final_status": "no-answer", "post_dial_delay_s": 1,
     "ring_s": 60, "rings": 12, "answered_by": None, "amd_answered_by": None,
     "greeting": None, "greeting_gives_opening_hours": None, "menu_s": None, "menu_key": None,
     "transfer_requested": None, "transfer_outcome": None, "hold_s": None,
     "transferred_greeting": None, "talk_s": 0, "sip_response_code": 487,
     "recording_sid": None}),
    ("answered", {"outcome": "answered", "final_status": "completed", "post_dial_delay_s": 1,
     "ring_s": 21, "rings": 5, "answered_by": "machine", "amd_answered_by": "machine_end_beep",
     "greeting": "Vous êtes bien sur la messagerie de la mairie, laissez votre message.",
     "greeting_gives_opening_hours": False, "menu_s": None, "menu_key": None,
     "transfer_requested": None, "transfer_outcome": None, "hold_s": None,
     "transferred_greeting": None, "talk_s": 6, "sip_response_code": 200,
     "recording_sid": None}),
]  # fmt: skip
PHONE_EVENTS = {
    "answered": ("call.initiated", "call.ringing", "call.answered", "call.completed"),
    "busy": ("call.initiated", "call.busy"),
    "no-answer": ("call.initiated", "call.ringing", "call.no-answer"),
}


def latency(seconds: float, working_days: int) -> dict[str, Any]:
    return {"reply_id": 1, "at": "", "elapsed_s": seconds, "header_elapsed_s": seconds + 60,
            "working_days": working_days, "open_s": 0.0}  # fmt: skip


def email(outcome: str, **found: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    measurement: dict[str, Any] = {
        "outcome": outcome, "sent_at": "", "first_acknowledgement": None,
        "first_automatic_acknowledgement": None, "first_human_reply": None,
        "out_of_office": None, "bounce": None, "replies": len(found),
    }  # fmt: skip
    return outcome, {**measurement, **found}


def write_attempts(
    engine: Engine,
    wave_name: str,
    shift: int,
    emails: Sequence[tuple[str, dict[str, Any]]],
    recordings_dir: Path | None = None,
) -> None:
    """One ended attempt per planned probe, by official id, measurements in turn from PHONE and
    ``emails`` (starting ``shift`` places on); answered calls recorded under ``recordings_dir``."""
    phone = itertools.cycle(PHONE[shift:] + PHONE[:shift])
    email = itertools.cycle([*emails[shift:], *emails[:shift]])
    with session_scope(engine) as session:
        wave = get_wave(session, wave_name)
        probes = sorted(iter_probes(session, wave), key=lambda pair: pair[1].official_id)
        for probe, _ in probes:
            outcome, measurement = next(phone if probe.channel == "phone" else email)
            measurement = json.loads(json.dumps(measurement))
            attempt = attempts.start_attempt(session, probe.id)
            assert attempt.id is not None
            at = probe.scheduled_at
            if probe.channel == "email":
                measurement["sent_at"] = at.isoformat()
                for key in ("first_acknowledgement", "first_human_reply", "bounce"):
                    if measurement.get(key):
                        late = at + timedelta(seconds=measurement[key]["elapsed_s"])
                        measurement[key]["at"] = late.isoformat()
                kinds: tuple[str, ...] = ("email.composed", "email.sent")
            else:
                kinds = PHONE_EVENTS[outcome]
            for step, kind in enumerate(kinds):
                attempts.record_event(
                    session,
                    publish_prefix="prober",
                    kind=kind,
                    source="twilio" if probe.channel == "phone" else "prober",
                    source_at=at + timedelta(seconds=3 * step),
                    received_at=at + timedelta(seconds=3 * step),
                    dedup_key=f"test:{attempt.id}:{kind}",
                    payload={},
                    probe_id=probe.id,
                    attempt_id=attempt.id,
                )
            attempts.finish_attempt(
                session,
                attempt.id,
                outcome=outcome,
                ended_at=at + timedelta(minutes=2),
                measurement=measurement,
                probe_state=ProbeState.DONE,
            )
            if recordings_dir is not None and probe.channel == "phone" and outcome == "answered":
                sid = f"RE{uuid.uuid4().hex}"
                media = recordings_dir / str(probe.id) / f"{sid}.wav"
                media.parent.mkdir(parents=True)
                media.write_bytes(b"RIFF")
                announce_recording(
                    session,
                    probe_id=probe.id,
                    attempt_id=attempt.id,
                    external_id=sid,
                    duration_seconds=10.0,
                )
                store_recording_media(
                    session,
                    sid,
                    media_path=str(media),
                    content_type="audio/wav",
                    sha256="0" * 64,
                    size_bytes=4,
                )


# Emails answered (acknowledged at once, a reply the next working day) and left unanswered, in turn.
REPLIED_THEN_SENT = [
    email("replied", first_acknowledgement=latency(600, 0), first_human_reply=latency(86400, 1)),
    email("sent"),
]


def scored_wave(prober_cli: Run, database_url: str) -> Iterator[Engine]:
    """The bundled structures in wave ``pre`` (phone and email), planned, every probe ended
    (:func:`write_attempts`, emails from ``REPLIED_THEN_SENT``) and scored; its engine,
    disposed after."""
    assert prober_cli("init").exit_code == 0
    assert prober_cli("structures", "import", str(SAMPLES / "structures.csv")).exit_code == 0
    created = prober_cli("wave", "create", "pre", "--start", "2026-05-04", "--end", "2026-05-29",
                         "--channels", "phone,email")  # fmt: skip
    assert created.exit_code == 0, created.stderr
    assert prober_cli("wave", "plan", "pre", "--seed", "3").exit_code == 0
    engine = make_engine(database_url)
    write_attempts(engine, "pre", 0, REPLIED_THEN_SENT)
    assert prober_cli("score", "pre").exit_code == 0
    yield engine
    engine.dispose()
