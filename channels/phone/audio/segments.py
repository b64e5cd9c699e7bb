"""Frames to segments: ringback and busy bursts, other tones, then speech or music in what is
left of the sound, with gaps and fragments merged to sane minimum durations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import median_filter

from channels.phone.audio import discriminate, tones
from channels.phone.audio.frames import FRAME_S, Frames

SegmentKind = Literal["ringback", "busy", "speech", "music", "silence", "tone"]

# Sound this far above the recording's noise floor is heard (within these absolute bounds).
ABOVE_FLOOR_DB = 9.0
SOUND_DB_BOUNDS = (-55.0, -20.0)
# A sound's onset is followed back while it stays this far above the floor (soft attacks).
ONSET_ABOVE_FLOOR_DB = 6.0
ONSET_LOOKBACK_S = 0.1
TONE_PURITY = 0.8
DUAL_TONE_PURITY = 0.93
# Quiet shorter than this between sounds is the inside of one sound (between syllables, notes).
SOUND_GAP_S = 0.3
MIN_SOUND_S = 0.1
# Gaps inside speech (between words) and music shorter than these belong to them.
SPEECH_GAP_S = 0.5
MUSIC_GAP_S = 0.6
# Speech or music shorter than this inside a stretch of the other kind belongs to it.
MIN_KIND_S = 0.6
MIN_TONE_S = 0.06
GUARD_S = 0.1
SIGNAL_ABOVE_SURROUNDINGS_DB = 15.0
SMOOTHING_S = 0.7


@dataclass(frozen=True, slots=True)
class Segment:
    kind: SegmentKind
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def segments_of(measured: Frames) -> list[Segment]:
    """The segments of a recording, in order, covering it from start to end."""
    count = len(measured)
    if count == 0:
        return []
    floor = float(np.percentile(measured.level_db, 5))
    threshold = float(np.clip(floor + ABOVE_FLOOR_DB, *SOUND_DB_BOUNDS))
    heard = measured.level_db > threshold
    labels = np.full(count, "silence", dtype="<U8")
    for burst in tones.bursts(measured, heard, FRAME_S):
        labels[burst.first : burst.last] = burst.kind
    guard = _guarded(labels)
    pure = measured.tone_purity > TONE_PURITY
    dual = measured.dual_purity > DUAL_TONE_PURITY
    for first, last in tones.runs(heard & (labels == "silence") & (pure | dual), bridge=1):
        if (
            (last - first) * FRAME_S >= MIN_TONE_S
            and _stands_alone(measured.level_db, first, last)
            and (dual[first:last].mean() > 0.5 or tones.steady(measured, (first, last)))
        ):
            labels[first:last] = "tone"
    sound = _sound(measured, heard, (labels == "silence") & ~guard, floor)
    score = discriminate.music_score(measured, sound)
    smoothed = median_filter(score, size=max(1, round(SMOOTHING_S / FRAME_S)) | 1, mode="nearest")
    labels[sound] = np.where(smoothed[sound] > 0, "music", "speech")
    return _merge(_runs_of(labels))


def _sound(
    measured: Frames, heard: NDArray[np.bool_], free: NDArray[np.bool_], floor: float
) -> NDArray[np.bool_]:
    """Frames of sound that is no tone: heard frames, the short quiet between them filled in,
    clicks dropped, onsets followed back through soft attacks."""
    sound = heard & free
    gap = round(SOUND_GAP_S / FRAME_S)
    for first, last in tones.runs(~sound):
        if 0 < first and last < len(sound) and last - first <= gap and free[first:last].all():
            sound[first:last] = True
    lookback = round(ONSET_LOOKBACK_S / FRAME_S)
    for first, last in tones.runs(sound):
        if (last - first) * FRAME_S < MIN_SOUND_S:
            sound[first:last] = False
            continue
        onset = first
        while (
            onset > 0
            and first - onset < lookback
            and free[onset - 1]
            and measured.level_db[onset - 1] > floor + ONSET_ABOVE_FLOOR_DB
        ):
            onset -= 1
        sound[onset:first] = True
    return sound


def _stands_alone(level_db: NDArray[np.float32], first: int, last: int) -> bool:
    """A signal (DTMF, a beep) has quiet on both sides; a pure stretch inside a voice or a
    melody (a held vowel, a flute note) belongs to that sound. Quiet is relative (a codec smears
    a tone's edges), looked for one frame further than the signal's edge frames."""
    margin = 3
    quiet = float(np.median(level_db[first:last])) - SIGNAL_ABOVE_SURROUNDINGS_DB
    before = level_db[max(0, first - 1 - margin) : max(0, first - 1)]
    after = level_db[last + 1 : last + 1 + margin]
    return bool(np.all(before < quiet)) and bool(np.all(after < quiet))


def _guarded(labels: NDArray[np.str_]) -> NDArray[np.bool_]:
    """Frames just around a ringback or busy burst: its edges (a codec's smear, a filter's ringing
    after the tone is cut) are not the callee's sound."""
    guard = np.zeros(len(labels), np.bool_)
    width = round(GUARD_S / FRAME_S)
    for first, last in tones.runs(np.isin(labels, ("ringback", "busy"))):
        guard[max(0, first - width) : first] = True
        guard[last : last + width] = True
    return guard


def _runs_of(labels: NDArray[np.str_]) -> list[Segment]:
    segments: list[Segment] = []
    changes = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = [0, *changes.tolist()]
    ends = [*changes.tolist(), len(labels)]
    for start, end in zip(starts, ends, strict=True):
        kind = cast(SegmentKind, str(labels[start]))
        segments.append(Segment(kind, round(start * FRAME_S, 2), round(end * FRAME_S, 2)))
    return segments


def _merge(segments: list[Segment]) -> list[Segment]:
    """Short gaps inside speech or music join them; short speech inside music (and the other way
    round) joins its neighbours."""
    while True:
        result: list[Segment] = []
        for index, segment in enumerate(segments):
            before = result[-1] if result else None
            after = segments[index + 1] if index + 1 < len(segments) else None
            kind = _merged_kind(segment, before, after)
            if before and before.kind == kind:
                result[-1] = Segment(kind, before.start_s, segment.end_s)
            else:
                result.append(Segment(kind, segment.start_s, segment.end_s))
        if len(result) == len(segments):
            return result
        segments = result


def _merged_kind(segment: Segment, before: Segment | None, after: Segment | None) -> SegmentKind:
    kind = segment.kind
    if kind == "silence" and before and after and before.kind == after.kind:
        gap = {"speech": SPEECH_GAP_S, "music": MUSIC_GAP_S}.get(before.kind, 0.0)
        if segment.duration_s <= gap:
            return before.kind
    if kind in ("speech", "music") and segment.duration_s < MIN_KIND_S:
        neighbours = [s for s in (before, after) if s and s.kind in ("speech", "music")]
        longer = max(neighbours, key=lambda s: s.duration_s, default=None)
        if longer is not None and longer.duration_s > segment.duration_s:
            return longer.kind
    return kind
