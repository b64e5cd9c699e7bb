"""How well the audio timeline matches a generated corpus's truth: the figures of issue 14."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from channels.phone.audio import Timeline
from sandbox.sound.corpus import Truth

GRID_S = 0.01
ANSWER_TOLERANCE_S = 0.3
# Frames this close to a truth boundary are not scored (the pieces' edges are soft: a word's
# fade, a note's release).
EDGE_S = 0.1


@dataclass
class Accuracy:
    """Counts summed over recordings; the figures are ratios of them."""

    recordings: int = 0
    rings_exact: int = 0
    answers_within: int = 0
    speech_s: float = 0.0
    speech_right_s: float = 0.0
    music_s: float = 0.0
    music_right_s: float = 0.0
    music_as_speech_s: float = 0.0
    misses: list[str] = field(default_factory=list)

    def add(self, name: str, truth: Truth, timeline: Timeline) -> None:
        self.recordings += 1
        rings_ok = truth.rings == timeline.rings
        self.rings_exact += rings_ok
        if truth.answered_at_s is None or timeline.answered_at_s is None:
            answer_ok = truth.answered_at_s is None and timeline.answered_at_s is None
        else:
            answer_ok = abs(truth.answered_at_s - timeline.answered_at_s) <= ANSWER_TOLERANCE_S
        self.answers_within += answer_ok
        if not (rings_ok and answer_ok):
            self.misses.append(
                f"{name}: rings {timeline.rings} (truth {truth.rings}), answered at"
                f" {timeline.answered_at_s} (truth {truth.answered_at_s})"
            )
        length = round(max(timeline.duration_s, 0.0) / GRID_S)
        predicted = _labels(timeline, length)
        speech = _mask(truth.speech, length)
        music = _mask(truth.music, length) & ~speech
        self.speech_s += speech.sum() * GRID_S
        self.speech_right_s += (speech & (predicted == "speech")).sum() * GRID_S
        self.music_s += music.sum() * GRID_S
        self.music_right_s += (music & (predicted == "music")).sum() * GRID_S
        self.music_as_speech_s += (music & (predicted == "speech")).sum() * GRID_S

    @property
    def figures(self) -> dict[str, float]:
        return {
            "recordings": self.recordings,
            "rings_exact": self.rings_exact / max(self.recordings, 1),
            "answered_within_0.3s": self.answers_within / max(self.recordings, 1),
            "speech_right": self.speech_right_s / max(self.speech_s, 1e-9),
            "music_right": self.music_right_s / max(self.music_s, 1e-9),
            "music_as_speech": self.music_as_speech_s / max(self.music_s, 1e-9),
            "speech_s": self.speech_s,
            "music_s": self.music_s,
        }

    def summary(self) -> str:
        f = self.figures
        return (
            f"{self.recordings} recordings: rings exact {f['rings_exact']:.1%}, answered_at_s"
            f" within {ANSWER_TOLERANCE_S} s {f['answered_within_0.3s']:.1%}, speech right"
            f" {f['speech_right']:.1%} of {f['speech_s']:.0f} s, music right"
            f" {f['music_right']:.1%} of {f['music_s']:.0f} s, music labelled speech"
            f" {f['music_as_speech']:.1%}"
        )


def _labels(timeline: Timeline, length: int) -> NDArray[np.str_]:
    labels = np.full(length, "silence", dtype="<U8")
    for segment in timeline.segments:
        labels[round(segment.start_s / GRID_S) : round(segment.end_s / GRID_S)] = segment.kind
    return labels


def _mask(spans: tuple[tuple[float, float], ...], length: int) -> NDArray[np.bool_]:
    mask = np.zeros(length, np.bool_)
    for start, end in spans:
        first, last = round((start + EDGE_S) / GRID_S), round((end - EDGE_S) / GRID_S)
        if last > first:
            mask[first:last] = True
    return mask
