"""The audio witness of a call: its recording's timeline, the figures drawn from it, and how
they stand beside the callbacks' (which one reports use, and when an auditor must look).

The analysis runs in a worker process (``analyse_recording`` is its entry point): decoding and
scanning minutes of audio must never hold up the daemon's event loop.
"""

from __future__ import annotations

import contextlib
import io
import os
import wave
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import Session

from channels.phone.audio import AudioError, Timeline, timeline_of_bytes
from channels.phone.measure import EventLike
from config.settings import MeasureSettings
from storage import attempts, call_measurements
from storage.models import Attempt, CallMeasurement

AUDIO, CALLBACKS = "audio", "callbacks"
REJECTED = "rejected"  # an auditor's verdict: the audio's figures are not used
# Twilio's <Dial> recordings put the parent (prober's own leg) on channel 1, the dialled
# structure on channel 2 ("The first channel of a dual-channel recording contains the parent
# call and the second channel contains the child call"); others have the callee on channel 1.
DIAL_SOURCE = "DialVerb"


# The transfer request, placed on prober's clock, is moved to the end of the caller's own
# sound (the key pressed, the request said) heard this close to it on the caller's channel.
SNAP_WINDOW_S = 5.0
CALLER_AUDIO, RECEIPT_CLOCK = "caller_audio", "receipt_clock"
FRAME_S = 0.02
CALLER_ABOVE_FLOOR_DB = 15.0
CALLER_MIN_DB = -50.0
CALLER_GAP_S = 0.35


@dataclass(frozen=True, slots=True)
class Analysis:
    """A recording's timeline (callee's channel) and when the caller's side made sound."""

    timeline: Timeline
    caller_sounds: tuple[tuple[float, float], ...] = ()


class RecordingTooLargeError(AudioError):
    """The recording is larger than ``measure.max_recording_bytes``: not analysed."""


ANALYSIS_NICENESS = 10


def lower_priority() -> None:
    """Worker process initializer: analyses yield the CPU to the daemon (Unix ``nice``)."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(ANALYSIS_NICENESS)


def analyse_recording(path: str, *, max_bytes: int, callee_channel: int) -> Analysis:
    """The timeline of the recording at ``path`` (worker process entry point), and the caller's
    sounds when the recording is dual."""
    file = Path(path)
    size = file.stat().st_size
    if size > max_bytes:
        raise RecordingTooLargeError(
            path, f"{size} bytes, above measure.max_recording_bytes ({max_bytes}): not analysed"
        )
    data = file.read_bytes()
    callee = data if callee_channel == 1 else _one_channel(data, callee_channel, name=path)
    timeline = timeline_of_bytes(callee, name=path)
    caller_channel = 1 if callee_channel == 2 else 2
    return Analysis(timeline, tuple(_caller_sounds(data, caller_channel, name=path)))


def _caller_sounds(data: bytes, channel: int, *, name: str) -> list[tuple[float, float]]:
    """Stretches of sound on the caller's channel of a dual 16-bit WAV (none otherwise)."""
    samples, rate = _channel_samples(data, channel, name=name)
    if samples is None or not len(samples):
        return []
    frame = max(1, round(FRAME_S * rate))
    count = len(samples) // frame
    if not count:
        return []
    frames = samples[: count * frame].astype(np.float64).reshape(count, frame) / 32768.0
    level_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    threshold = max(float(np.percentile(level_db, 10)) + CALLER_ABOVE_FLOOR_DB, CALLER_MIN_DB)
    sounds: list[tuple[float, float]] = []
    for index in np.flatnonzero(level_db > threshold):
        start, end = index * FRAME_S, (index + 1) * FRAME_S
        if sounds and start - sounds[-1][1] <= CALLER_GAP_S:
            sounds[-1] = (sounds[-1][0], end)
        else:
            sounds.append((start, end))
    return [(round(a, 3), round(b, 3)) for a, b in sounds if b - a >= 2 * FRAME_S]


def _channel_samples(data: bytes, channel: int, *, name: str) -> tuple[Any, int]:
    if not data.startswith(b"RIFF"):
        return None, 0
    try:
        with wave.open(io.BytesIO(data)) as source:
            channels, width = source.getnchannels(), source.getsampwidth()
            rate, frames = source.getframerate(), source.readframes(source.getnframes())
    except (wave.Error, EOFError) as error:
        raise AudioError(name, f"not a readable WAV file ({error})") from None
    if channels < channel or width != 2:
        return None, rate
    return np.frombuffer(frames, dtype="<i2").reshape(-1, channels)[:, channel - 1], rate


def _one_channel(data: bytes, channel: int, *, name: str) -> bytes:
    """Channel ``channel`` (from 1) of a 16-bit WAV, as a mono WAV; other files unchanged."""
    samples, rate = _channel_samples(data, channel, name=name)
    if samples is None:
        return data
    out = io.BytesIO()
    with wave.open(out, "wb") as mono:
        mono.setnchannels(1)
        mono.setsampwidth(2)
        mono.setframerate(rate)
        mono.writeframes(samples.astype("<i2").tobytes())
    return out.getvalue()


def transfer_at_s(
    events: Sequence[EventLike],
    *,
    from_ringing: bool,
    time_scale: float,
    caller_sounds: Sequence[tuple[float, float]] = (),
) -> tuple[float | None, str]:
    """When the last transfer was requested, in seconds into the recording, and what dated it.

    The recording starts at the ringing (``record-from-ringing``) or at the answer; the request
    is dated on prober's clock, so it is first placed from the callback that marks the
    recording's start, received on the same clock (``receipt_clock``). Webhook delays make that
    a second off under load: the end of the caller's own sound (the key, the request) heard
    within ``SNAP_WINDOW_S`` of it on the caller's channel is the instant (``caller_audio``).
    """
    anchor_kind = "call.ringing" if from_ringing else "call.answered"
    anchor = next((e for e in events if e.kind == anchor_kind), None)
    requests = [e for e in events if e.kind == "call.transfer_requested"]
    if anchor is None or not requests:
        return None, "none"
    request = max(requests, key=lambda event: event.received_at)
    elapsed_s = (request.received_at - anchor.received_at).total_seconds() / time_scale
    estimate_s = max(0.0, elapsed_s)
    near = [end for _, end in caller_sounds if abs(end - estimate_s) <= SNAP_WINDOW_S]
    if near:
        return min(near, key=lambda end: abs(end - estimate_s)), CALLER_AUDIO
    return estimate_s, RECEIPT_CLOCK


def audio_figures(
    timeline: Timeline,
    *,
    from_ringing: bool,
    transfer_s: float | None,
    transfer_dated_by: str = "none",
    callbacks_hold_s: float | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The figures from a timeline, and the details kept with them (the segments).

    ``rings`` is what the caller heard ring (only when the recording starts at the ringing),
    the ringback a switchboard played after answering included.
    """
    # The timeline counts every burst heard before the callee's first sound; those a
    # switchboard played after answering are among them (`rings_after_answer`).
    heard = timeline.rings if from_ringing else None
    # Only when the request itself is heard on the caller's channel: a hold dated on prober's
    # clock at one end is no better a witness than the callbacks. Nobody came: the hold lasts
    # to the end of the recording (the line went dead, or the call's time limit).
    hold_s = None
    if transfer_s is not None and transfer_dated_by == CALLER_AUDIO:
        hold_s = _hold_heard(timeline, transfer_s, callbacks_hold_s)
    figures: dict[str, Any] = {
        "rings": heard,
        "rings_after_answer": timeline.rings_after_answer,
        "answered_at_s": timeline.answered_at_s,
        "hold_s": hold_s,
        "first_words_s": timeline.first_words_s,
        "music_s": round(timeline.music_s, 2),
        "announcement_s": round(timeline.announcement_s, 2),
        "busy": timeline.busy,
    }
    details = {
        "duration_s": timeline.duration_s,
        "rings_before_answer": None if heard is None else heard - timeline.rings_after_answer,
        "from_ringing": from_ringing,
        "transfer_at_s": None if transfer_s is None else round(transfer_s, 2),
        "transfer_dated_by": transfer_dated_by,
        "segments": [asdict(segment) for segment in timeline.segments],
    }
    return figures, details


# The audio's hold stands beside the callbacks' only when a transfer happened (not when the
# person asked answered at once: then the callbacks have no hold and the audio's is moot).
HOLD_ENDED_BY_WORDS = frozenset({"human", "voicemail", "dropped", "abandoned"})


# The audio's own reading of the hold stands when within this of the callbacks'; beyond, the
# speech onset nearest to where the callbacks put the end of the hold is taken, if any.
HOLD_GUIDE_S = 5.0


def _hold_heard(timeline: Timeline, transfer_s: float, callbacks_hold_s: float | None) -> float:
    """From the request to the first live words, or to the end of the recording.

    Without words, the audio cannot tell a hold message said over silence ("veuillez
    patienter") from the person who comes on; the recogniser can. So when the callbacks'
    hold (the recogniser's words, dated on prober's clock) is known and the audio's own
    reading is far from it, the end of the hold is the speech onset the audio heard nearest
    to where the callbacks put it (its timing is the audio's), or the end of the recording.
    """
    heard = timeline.hold_s(transfer_s)
    own = max(0.0, timeline.duration_s - transfer_s) if heard is None else heard
    if callbacks_hold_s is None or abs(own - callbacks_hold_s) <= HOLD_GUIDE_S:
        return own
    target_s = transfer_s + callbacks_hold_s
    onsets = [
        segment.start_s
        for segment in timeline.segments
        if segment.kind == "speech" and abs(segment.start_s - target_s) <= HOLD_GUIDE_S
    ]
    if onsets:
        return min(onsets, key=lambda onset: abs(onset - target_s)) - transfer_s
    if abs(timeline.duration_s - target_s) <= HOLD_GUIDE_S:
        return max(0.0, timeline.duration_s - transfer_s)
    return own


def callback_figures(measurement: dict[str, Any]) -> dict[str, Any]:
    """The callbacks' side of the same figures (from the attempt's measurement)."""
    return {
        "rings": measurement.get("rings_callbacks", measurement.get("rings")),
        "hold_s": measurement.get("hold_s_callbacks", measurement.get("hold_s")),
        "busy": measurement.get("outcome") == "busy",
        "transfer_outcome": measurement.get("transfer_outcome"),
    }


def disagreements(
    callbacks: dict[str, Any], audio: dict[str, Any], settings: MeasureSettings
) -> list[str]:
    """Why the two witnesses disagree (more than ``disagreement_rings`` rings or
    ``disagreement_hold_s`` of hold); empty when they agree or one cannot tell."""
    reasons = []
    rings_c, rings_a = callbacks.get("rings"), audio.get("rings")
    if rings_c is not None and rings_a is not None:
        if abs(rings_c - rings_a) > settings.disagreement_rings:
            reasons.append(f"rings: callbacks {rings_c}, audio {rings_a}")
    hold_c, hold_a = callbacks.get("hold_s"), audio.get("hold_s")
    if callbacks.get("transfer_outcome") not in HOLD_ENDED_BY_WORDS:
        hold_a = None
    if hold_c is not None and hold_a is not None:
        if abs(hold_c - hold_a) > settings.disagreement_hold_s:
            reasons.append(f"hold: callbacks {hold_c:.1f} s, audio {hold_a:.1f} s")
    return reasons


def with_preferred(
    measurement: dict[str, Any], audio: dict[str, Any] | None, prefer: str
) -> dict[str, Any]:
    """The measurement reports and scoring read: the callbacks' figures, or the audio's where
    ``prefer`` is "audio" and the recording covers them. Both stay, with their source."""
    chosen = dict(measurement)
    chosen["rings_callbacks"] = measurement.get("rings_callbacks", measurement.get("rings"))
    chosen["hold_s_callbacks"] = measurement.get("hold_s_callbacks", measurement.get("hold_s"))
    chosen["rings"], chosen["hold_s"] = chosen["rings_callbacks"], chosen["hold_s_callbacks"]
    sources = {"rings": CALLBACKS, "hold_s": CALLBACKS}
    if audio is not None:
        chosen["rings_audio"] = audio.get("rings")
        chosen["hold_s_audio"] = audio.get("hold_s")
        chosen["rings_after_answer_audio"] = audio.get("rings_after_answer")
        if prefer == AUDIO:
            usable = ["rings"]
            if measurement.get("transfer_outcome") in HOLD_ENDED_BY_WORDS:
                usable.append("hold_s")
            for name in usable:
                if audio.get(name) is not None:
                    chosen[name] = audio[name]
                    sources[name] = AUDIO
    chosen["sources"] = sources
    return chosen


def weigh_witnesses(
    session: Session, settings: MeasureSettings, attempt_id: int, measurement: dict[str, Any]
) -> dict[str, Any]:
    """Keep the callbacks' figures, put the audio's beside them (flagging a disagreement for
    an auditor) and return the measurement with the preferred source's figures.

    Audio figures an auditor rejected are kept but not used.
    """
    audio = call_measurements.measurement_of(session, attempt_id, AUDIO)
    audio_figures = None if audio is None else _figures_of(audio)
    usable = None if audio is None or audio.check == REJECTED else audio_figures
    chosen = with_preferred(measurement, usable, settings.prefer)
    callbacks = callback_figures(chosen)
    call_measurements.save_measurement(
        session,
        attempt_id=attempt_id,
        source=CALLBACKS,
        figures=callbacks,
        details={"outcome": measurement.get("outcome")},
    )
    if audio is not None and audio_figures is not None:
        reasons = disagreements(callbacks, audio_figures, settings)
        call_measurements.save_measurement(
            session,
            attempt_id=attempt_id,
            source=AUDIO,
            figures=audio_figures,
            details={**audio.details, "disagreements": reasons, "callbacks": callbacks},
            recording_external_id=audio.recording_external_id,
            check=call_measurements.DISAGREEMENT if reasons else None,
        )
    return chosen


def reweigh_attempt(session: Session, settings: MeasureSettings, attempt_id: int) -> None:
    """Weigh an ended attempt's witnesses again (after an auditor's verdict)."""
    attempt = session.get(Attempt, attempt_id)
    if attempt is None or attempt.ended_at is None:
        return
    chosen = weigh_witnesses(session, settings, attempt_id, dict(attempt.measurement))
    attempts.remeasure_attempt(session, attempt_id, chosen)


def _figures_of(row: CallMeasurement) -> dict[str, Any]:
    return {name: getattr(row, name) for name in call_measurements.FIGURES}
