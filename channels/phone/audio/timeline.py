"""The timeline of a recording: what the caller heard, segment by segment, and what follows
from it (rings before and after the answer, the first live words, hold, music)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import median_filter

from channels.phone.audio import decode, discriminate, frames, tones

SegmentKind = Literal["ringback", "busy", "speech", "music", "silence", "tone"]

# Sound this far above the recording's noise floor is heard (within these absolute bounds).
ABOVE_FLOOR_DB = 10.0
SOUND_DB_BOUNDS = (-55.0, -35.0)
TONE_PURITY = 0.75
DUAL_TONE_PURITY = 0.85
# Gaps inside speech (between words) and music shorter than these belong to them.
SPEECH_GAP_S = 0.5
MUSIC_GAP_S = 0.6
MIN_SOUND_S = 0.2
MIN_TONE_S = 0.06
SMOOTHING_S = 0.7
# Speech between two stretches of music, this close to each, is a hold announcement.
ANNOUNCEMENT_GAP_S = 2.0


@dataclass(frozen=True, slots=True)
class Segment:
    kind: SegmentKind
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


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
        or ringback follows `from_s`, the hold ends at the first live words after it starts.
        """
        start = from_s
        for segment in self.segments:
            if segment.start_s >= from_s and segment.kind in ("music", "ringback"):
                start = segment.start_s
                break
        announcements = set(_announcements(self.segments))
        for index, segment in enumerate(self.segments):
            if segment.kind == "speech" and segment.end_s > start and index not in announcements:
                return max(segment.start_s, start) - from_s
        return None


def timeline_of_file(path: Path) -> Timeline:
    """The timeline of a WAV (8/16 kHz, mono or dual: callee on channel 1) or MP3 recording."""
    return timeline_of_bytes(decode.read_file(path), name=str(path))


def timeline_of_bytes(data: bytes, *, name: str) -> Timeline:
    """The timeline of a recording's bytes; `name` is the file named in errors."""
    return timeline_of_samples(decode.decode(data, name=name).samples)


def timeline_of_samples(samples: NDArray[np.float32]) -> Timeline:
    """The timeline of 8 kHz samples of the callee's side."""
    measured = frames.measure(samples)
    segments = _segments(measured)
    return _figures(segments, duration_s=len(samples) / decode.ANALYSIS_RATE_HZ)


def _segments(measured: frames.Frames) -> list[Segment]:
    count = len(measured)
    step = frames.FRAME_S
    floor = float(np.percentile(measured.level_db, 5)) if count else -100.0
    threshold = float(np.clip(floor + ABOVE_FLOOR_DB, *SOUND_DB_BOUNDS))
    heard = measured.level_db > threshold
    pure = heard & (measured.tone_purity > TONE_PURITY)
    at_ring = pure & (np.abs(measured.tone_hz - tones.RING_HZ) <= tones.RING_TOLERANCE_HZ)
    labels = np.full(count, "silence", dtype=object)
    for burst in tones.bursts(at_ring, step):
        labels[burst.first : burst.last] = burst.kind
    other_tone = heard & (labels == "silence") & (pure | (measured.dual_purity > DUAL_TONE_PURITY))
    sound = heard & (labels == "silence")
    score = discriminate.music_score(measured, sound)
    smoothed = median_filter(score, size=max(1, round(SMOOTHING_S / step)) | 1, mode="nearest")
    labels[sound] = np.where(smoothed[sound] > 0, "music", "speech")
    merged = _merge(_runs_of(labels, step))
    for first, last in tones.runs(other_tone, bridge=1):
        if (last - first) * step >= MIN_TONE_S and _stands_alone(heard, first, last):
            merged = _overlay(merged, Segment("tone", first * step, last * step))
    return merged


def _runs_of(labels: NDArray[np.object_], step: float) -> list[Segment]:
    segments: list[Segment] = []
    start = 0
    for index in range(1, len(labels) + 1):
        if index == len(labels) or labels[index] != labels[start]:
            segments.append(Segment(labels[start], round(start * step, 2), round(index * step, 2)))
            start = index
    return segments


def _merge(segments: list[Segment]) -> list[Segment]:
    """Short gaps inside speech or music join them; short sounds join their neighbours."""
    changed = True
    while changed:
        changed = False
        result: list[Segment] = []
        for index, segment in enumerate(segments):
            before = result[-1] if result else None
            after = segments[index + 1] if index + 1 < len(segments) else None
            kind = segment.kind
            if kind == "silence" and before and after and before.kind == after.kind:
                gap = SPEECH_GAP_S if before.kind == "speech" else MUSIC_GAP_S
                if before.kind in ("speech", "music") and segment.duration_s <= gap:
                    kind = before.kind
            elif kind in ("speech", "music") and segment.duration_s < MIN_SOUND_S:
                neighbours = [s for s in (before, after) if s and s.kind in ("speech", "music")]
                if neighbours:
                    kind = max(neighbours, key=lambda s: s.duration_s).kind
                elif before is None or before.kind != kind:
                    kind = "silence"
            if before and before.kind == kind:
                result[-1] = Segment(kind, before.start_s, segment.end_s)
            else:
                result.append(Segment(kind, segment.start_s, segment.end_s))
        changed = len(result) != len(segments)
        segments = result
    return segments


def _stands_alone(heard: NDArray[np.bool_], first: int, last: int) -> bool:
    """A signal (DTMF, a beep) has quiet on both sides; a pure stretch inside a voice or a
    melody (a held vowel, a flute note) belongs to that sound."""
    margin = 3
    before = heard[max(0, first - margin) : first]
    after = heard[last : last + margin]
    return not before.any() and not after.any()


def _overlay(segments: list[Segment], tone: Segment) -> list[Segment]:
    result: list[Segment] = []
    for segment in segments:
        if segment.end_s <= tone.start_s or segment.start_s >= tone.end_s:
            result.append(segment)
            continue
        if segment.start_s < tone.start_s:
            result.append(Segment(segment.kind, segment.start_s, tone.start_s))
        if segment.end_s > tone.end_s:
            result.append(Segment(segment.kind, tone.end_s, segment.end_s))
    result.append(tone)
    return sorted(result, key=lambda s: s.start_s)


def _announcements(segments: tuple[Segment, ...] | list[Segment]) -> list[int]:
    """Indexes of the speech segments heard between two stretches of music."""
    found = []
    for index, segment in enumerate(segments):
        if segment.kind != "speech":
            continue
        before = [s for s in segments[:index] if s.kind not in ("silence",)]
        after = [s for s in segments[index + 1 :] if s.kind not in ("silence",)]
        near_before = (
            bool(before)
            and before[-1].kind == "music"
            and (segment.start_s - before[-1].end_s <= ANNOUNCEMENT_GAP_S)
        )
        near_after = (
            bool(after)
            and after[0].kind in ("music", "speech")
            and (after[0].start_s - segment.end_s <= ANNOUNCEMENT_GAP_S)
        )
        if near_before and near_after and _music_follows(segments, index):
            found.append(index)
    return found


def _music_follows(segments: tuple[Segment, ...] | list[Segment], index: int) -> bool:
    for segment in segments[index + 1 :]:
        if segment.kind == "music":
            return True
        if segment.kind not in ("silence", "speech"):
            return False
    return False


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
        rings = len([s for s in rings_at if answered_at_s is None or s.start_s < answered_at_s])
    else:
        rings = None
    after = [s for s in rings_at if answered_at_s is not None and s.start_s >= answered_at_s]
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
