"""The audio witness of a call: its recording's timeline, the figures drawn from it, and how
they stand beside the callbacks' (which one reports use, and when an auditor must look).

The analysis runs in a worker process (``analyse_recording`` is its entry point): decoding and
scanning minutes of audio must never hold up the daemon's event loop.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from channels.phone.audio import AudioError, Timeline, timeline_of_bytes
from channels.phone.measure import EventLike
from config.settings import MeasureSettings

AUDIO, CALLBACKS = "audio", "callbacks"
# Twilio's <Dial> recordings put the parent (prober's own leg) on channel 1, the dialled
# structure on channel 2 ("The first channel of a dual-channel recording contains the parent
# call and the second channel contains the child call"); others have the callee on channel 1.
DIAL_SOURCE = "DialVerb"


class RecordingTooLargeError(AudioError):
    """The recording is larger than ``measure.max_recording_bytes``: not analysed."""


def analyse_recording(path: str, *, max_bytes: int, callee_channel: int) -> Timeline:
    """The timeline of the recording at ``path`` (worker process entry point)."""
    file = Path(path)
    size = file.stat().st_size
    if size > max_bytes:
        raise RecordingTooLargeError(
            path, f"{size} bytes, above measure.max_recording_bytes ({max_bytes}): not analysed"
        )
    data = file.read_bytes()
    if callee_channel != 1:
        data = _one_channel(data, callee_channel, name=path)
    return timeline_of_bytes(data, name=path)


def _one_channel(data: bytes, channel: int, *, name: str) -> bytes:
    """Channel ``channel`` (from 1) of a 16-bit WAV, as a mono WAV; other files unchanged."""
    if not data.startswith(b"RIFF"):
        return data
    try:
        with wave.open(io.BytesIO(data)) as source:
            channels, width = source.getnchannels(), source.getsampwidth()
            rate, frames = source.getframerate(), source.readframes(source.getnframes())
    except (wave.Error, EOFError) as error:
        raise AudioError(name, f"not a readable WAV file ({error})") from None
    if channels < channel or width != 2:
        return data
    samples = np.frombuffer(frames, dtype="<i2").reshape(-1, channels)[:, channel - 1]
    out = io.BytesIO()
    with wave.open(out, "wb") as mono:
        mono.setnchannels(1)
        mono.setsampwidth(2)
        mono.setframerate(rate)
        mono.writeframes(samples.astype("<i2").tobytes())
    return out.getvalue()


def transfer_at_s(
    events: Sequence[EventLike], *, from_ringing: bool, time_scale: float
) -> float | None:
    """When the last transfer was requested, in seconds into the recording.

    The recording starts at the ringing (``record-from-ringing``) or at the answer; the request
    is dated on prober's clock, so it is placed from the callback that marks the recording's
    start, received on the same clock (their delivery delays mostly cancel out).
    """
    anchor_kind = "call.ringing" if from_ringing else "call.answered"
    anchor = next((e for e in events if e.kind == anchor_kind), None)
    requests = [e for e in events if e.kind == "call.transfer_requested"]
    if anchor is None or not requests:
        return None
    request = max(requests, key=lambda event: event.received_at)
    elapsed_s = (request.received_at - anchor.received_at).total_seconds() / time_scale
    return max(0.0, elapsed_s)


def audio_figures(
    timeline: Timeline, *, from_ringing: bool, transfer_s: float | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The figures from a timeline, and the details kept with them (the segments).

    ``rings`` is what the caller heard ring (only when the recording starts at the ringing),
    the ringback a switchboard played after answering included.
    """
    # The timeline counts every burst heard before the callee's first sound; those a
    # switchboard played after answering are among them (`rings_after_answer`).
    heard = timeline.rings if from_ringing else None
    figures: dict[str, Any] = {
        "rings": heard,
        "rings_after_answer": timeline.rings_after_answer,
        "answered_at_s": timeline.answered_at_s,
        "hold_s": None if transfer_s is None else timeline.hold_s(transfer_s),
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
        "segments": [asdict(segment) for segment in timeline.segments],
    }
    return figures, details


def callback_figures(measurement: dict[str, Any]) -> dict[str, Any]:
    """The callbacks' side of the same figures (from the attempt's measurement)."""
    return {
        "rings": measurement.get("rings_callbacks", measurement.get("rings")),
        "hold_s": measurement.get("hold_s_callbacks", measurement.get("hold_s")),
        "busy": measurement.get("outcome") == "busy",
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
            for name in ("rings", "hold_s"):
                if audio.get(name) is not None:
                    chosen[name] = audio[name]
                    sources[name] = AUDIO
    chosen["sources"] = sources
    return chosen
