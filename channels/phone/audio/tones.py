"""Call-progress tones: the French ringback (440 Hz, 1.5 s on, 3.5 s off) and busy (0.5/0.5).

A burst is a run of frames holding a pure 440 Hz tone. Bursts are told apart by their cadence:
ringback bursts last about 1.5 s and follow each other 3.5 s apart; busy bursts last about 0.5 s,
0.5 s apart. The first burst may be cut by the start of the recording and the last one by the
answer, so a burst shorter than a full one still counts when its neighbours keep the cadence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from channels.phone.audio.frames import Frames

RING_HZ = 440.0
RING_TOLERANCE_HZ = 12.0
# A call-progress tone is a clean sine: nearly all the band's energy in one peak, steady pitch.
RING_PURITY = 0.75
RING_MEDIAN_PURITY = 0.85
RING_PITCH_SPREAD_HZ = 6.0
RING_ON_S = (1.15, 1.85)
RING_OFF_S = (2.8, 4.2)
BUSY_ON_S = (0.3, 0.7)
BUSY_OFF_S = (0.3, 0.7)
MIN_BURST_S = 0.1
# A burst heard for less than this is shown but not counted as a ring (a ring the answer cut at
# once is not one the caller heard).
MIN_RING_S = 0.2
# Frames of something else a burst may hold (a click, a codec glitch) and still be one burst.
BRIDGE_FRAMES = 3


@dataclass(frozen=True, slots=True)
class Burst:
    kind: Literal["ringback", "busy", "tone"]
    first: int  # frame indexes, last excluded
    last: int


def runs(mask: NDArray[np.bool_], *, bridge: int = 0) -> list[tuple[int, int]]:
    """The (first, last-excluded) frame runs where `mask` holds, gaps of `bridge` frames bridged."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    spans = list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))
    merged: list[tuple[int, int]] = []
    for first, last in spans:
        if merged and first - merged[-1][1] <= bridge:
            merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return merged


def bursts(measured: Frames, heard: NDArray[np.bool_], frame_s: float) -> list[Burst]:
    """The 440 Hz bursts, each named ringback, busy, or plain tone from its cadence."""
    at_ring = (
        heard
        & (measured.tone_purity > RING_PURITY)
        & (np.abs(measured.tone_hz - RING_HZ) <= RING_TOLERANCE_HZ)
    )
    spans = [
        span
        for span in runs(at_ring, bridge=BRIDGE_FRAMES)
        if (span[1] - span[0]) * frame_s >= MIN_BURST_S and _clean(measured, span)
    ]
    kinds: list[Literal["ringback", "busy", "tone"]] = ["tone"] * len(spans)

    def on_s(index: int) -> float:
        return (spans[index][1] - spans[index][0]) * frame_s

    def off_s(index: int) -> float:  # the silence after burst `index`
        return (spans[index + 1][0] - spans[index][1]) * frame_s

    for index in range(len(spans) - 1):
        gap = off_s(index)
        if _within(gap, BUSY_OFF_S) and _within(on_s(index), BUSY_ON_S, low_open=index == 0):
            if _within(on_s(index + 1), BUSY_ON_S, low_open=True):
                kinds[index] = kinds[index + 1] = "busy"
        elif _within(gap, RING_OFF_S) and on_s(index) <= RING_ON_S[1]:
            # A ring may be cut short only by the start of the recording (the first burst).
            if index == 0 or _within(on_s(index), RING_ON_S):
                kinds[index] = "ringback"
                if on_s(index + 1) <= RING_ON_S[1]:
                    kinds[index + 1] = "ringback"
    for index, span in enumerate(spans):
        # A lone burst no longer than a ring: a ring answered (or cut) before the next one.
        if kinds[index] == "tone" and on_s(index) <= RING_ON_S[1]:
            lone = (index == 0 or kinds[index - 1] != "busy") and (
                index == len(spans) - 1 or kinds[index + 1] != "busy"
            )
            quiet_before = span[0] < 3 or not heard[span[0] - 3 : span[0]].any()
            if lone and quiet_before and (span[1] - span[0]) * frame_s >= 0.15:
                kinds[index] = "ringback"
    return [Burst(kind, first, last) for kind, (first, last) in zip(kinds, spans, strict=True)]


def _clean(measured: Frames, span: tuple[int, int]) -> bool:
    purity = measured.tone_purity[span[0] : span[1]]
    return float(np.median(purity)) >= RING_MEDIAN_PURITY and steady(measured, span)


def steady(measured: Frames, span: tuple[int, int]) -> bool:
    """The pitch of a tone holds (a signal does; a voice's and an instrument's move)."""
    pitch = measured.tone_hz[span[0] : span[1]]
    pitch = pitch[pitch > 0]
    return (
        len(pitch) > 0
        and float(np.percentile(pitch, 90) - np.percentile(pitch, 10)) <= RING_PITCH_SPREAD_HZ
    )


def _within(value: float, bounds: tuple[float, float], *, low_open: bool = False) -> bool:
    low, high = bounds
    return (low_open or value >= low) and value <= high
