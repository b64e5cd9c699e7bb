"""The timeline of a recording: what the caller heard, segment by segment, and what follows
from it (rings before and after the answer, the first live words, hold, music)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from channels.phone.audio import decode, frames, tones
from channels.phone.audio.segments import Segment, segments_of

# Speech between two stretches of music, this close to each, is a hold announcement.
ANNOUNCEMENT_GAP_S = 2.0
# Speech between the transfer request and the hold sound ("ne quittez pas, je vous passe le
# service") is at most this long; more is a conversation, and the hold ends there.
HOLD_LEAD_SPEECH_S = 5.0
# A burst measured on 32 ms windows 20 ms apart looks about a window's overhang (12 ms) longer
# than it is: a ring is counted when its measured length makes up for it.
_MIN_RING_MEASURED_S = tones.MIN_RING_S + (frames.WINDOW - frames.HOP) / decode.ANALYSIS_RATE_HZ


@dataclass(frozen=True, slots=True)
class Timeline:
    """What the caller heard on the callee's side, and the figures drawn from it."""

    duration_s: float
    segments: tuple[Segment, ...]
    rings: int | None  # ringback bursts heard before the answer; 0 busy; None no ringing
    answered_at_s: float | None  # when the ringing gave way to the callee's sound
    busy: bool
    rings_after_answer: int  # ringback played by a switchboard after it answered
    first_words_s: float | None  # first live speech after the answer (not a hold announcement)
    music_s: float
    announcement_s: float  # speech heard between stretches of music

    def hold_s(self, from_s: float) -> float | None:
        """From `from_s` (the transfer request) to the first live words after it; None if none.

        Words said before the hold sound starts ("ne quittez pas") do not end the hold: when music
        or ringback follows `from_s` after at most `HOLD_LEAD_SPEECH_S` of speech, the hold ends
        at the first live words after it starts.
        """
        start = from_s
        spoken_s = 0.0
        for segment in self.segments:
            if segment.start_s < from_s:
                continue
            if segment.kind in ("music", "ringback"):
                start = segment.start_s
                break
            spoken_s += segment.duration_s if segment.kind == "speech" else 0.0
            if spoken_s > HOLD_LEAD_SPEECH_S:  # a conversation, not "ne quittez pas"
                break
        announcements = set(_announcements(self.segments))
        for index, segment in enumerate(self.segments):
            if segment.kind == "speech" and segment.end_s > start and index not in announcements:
                return max(segment.start_s, start) - from_s
        return None


def timeline_of_file(path: Path, *, channel: int = 1) -> Timeline:
    """The timeline of a WAV (8/16 kHz, mono or dual) or MP3 recording; `channel` is the
    callee's in a dual recording (1 as Twilio records calls, 2 for `<Dial>` recordings)."""
    return timeline_of_bytes(decode.read_file(path), name=str(path), channel=channel)


def timeline_of_bytes(data: bytes, *, name: str, channel: int = 1) -> Timeline:
    """The timeline of a recording's bytes; `name` is the file named in errors."""
    return timeline_of_samples(decode.decode(data, name=name, channel=channel).samples)


def timeline_of_samples(samples: NDArray[np.float32]) -> Timeline:
    """The timeline of 8 kHz samples of the callee's side."""
    measured = frames.measure(samples)
    segments = segments_of(measured)
    return _figures(segments, duration_s=len(samples) / decode.ANALYSIS_RATE_HZ)


def _announcements(segments: tuple[Segment, ...] | list[Segment]) -> list[int]:
    """Indexes of the speech segments heard between two stretches of music: music ends at most
    `ANNOUNCEMENT_GAP_S` before, and music follows (after more announcements, maybe), the next
    sound starting at most `ANNOUNCEMENT_GAP_S` after."""
    sounds = [index for index, s in enumerate(segments) if s.kind != "silence"]
    # For each sound, whether music comes next once speech and silence are passed over.
    music_next = [False] * len(segments)
    upcoming_music = False
    for index in reversed(sounds):
        music_next[index] = upcoming_music
        kind = segments[index].kind
        if kind == "music":
            upcoming_music = True
        elif kind != "speech":
            upcoming_music = False
    found = []
    for position, index in enumerate(sounds):
        segment = segments[index]
        if segment.kind != "speech" or position == 0 or position + 1 == len(sounds):
            continue
        before, after = segments[sounds[position - 1]], segments[sounds[position + 1]]
        if (
            before.kind == "music"
            and segment.start_s - before.end_s <= ANNOUNCEMENT_GAP_S
            and after.kind in ("music", "speech")
            and after.start_s - segment.end_s <= ANNOUNCEMENT_GAP_S
            and music_next[index]
        ):
            found.append(index)
    return found


def _figures(segments: list[Segment], *, duration_s: float) -> Timeline:
    rings_at = [s for s in segments if s.kind == "ringback"]
    busy = any(s.kind == "busy" for s in segments)
    callee = [s for s in segments if s.kind in ("speech", "music")]
    answered_at_s: float | None = None
    if rings_at:
        after_ring = [s for s in callee if s.start_s >= rings_at[0].start_s]
        answered_at_s = after_ring[0].start_s if after_ring else None
    elif callee and not busy:
        answered_at_s = callee[0].start_s
    if busy and (answered_at_s is None or not rings_at):
        rings: int | None = 0 if not rings_at else len(rings_at)
    elif rings_at:
        rings = len(
            [
                s
                for s in rings_at
                if (answered_at_s is None or s.start_s < answered_at_s)
                and s.duration_s >= _MIN_RING_MEASURED_S
            ]
        )
    else:
        rings = None
    after = [
        s
        for s in rings_at
        if answered_at_s is not None
        and s.start_s >= answered_at_s
        and s.duration_s >= _MIN_RING_MEASURED_S
    ]
    announcement_indexes = _announcements(segments)
    live = [
        s
        for index, s in enumerate(segments)
        if s.kind == "speech" and index not in announcement_indexes
    ]
    first_words = next(
        (s.start_s for s in live if answered_at_s is not None and s.start_s >= answered_at_s), None
    )
    return Timeline(
        duration_s=round(duration_s, 3),
        segments=tuple(segments),
        rings=rings,
        answered_at_s=answered_at_s,
        busy=busy,
        rings_after_answer=len(after),
        first_words_s=first_words,
        music_s=round(sum(s.duration_s for s in segments if s.kind == "music"), 2),
        announcement_s=round(sum(segments[i].duration_s for i in announcement_indexes), 2),
    )
