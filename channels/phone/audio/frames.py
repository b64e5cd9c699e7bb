"""Per-frame measurements of a recording: level, pure tones, spectral change, voice activity.

Frames are `FRAME_S` apart (20 ms, webrtcvad's frame) and `WINDOW` samples long (Hann window,
256-point FFT at 8 kHz: 31.25 Hz a bin). Long recordings are measured in chunks so that memory
stays bounded whatever the duration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import webrtcvad
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from channels.phone.audio.decode import ANALYSIS_RATE_HZ

HOP = 160
FRAME_S = HOP / ANALYSIS_RATE_HZ
WINDOW = 256
BIN_HZ = ANALYSIS_RATE_HZ / WINDOW
_CHUNK_FRAMES = 3000
# Telephone band: below 125 Hz is hum and DC, above 3.4 kHz the codec's edge.
_LOW_BIN, _HIGH_BIN = 4, 110
# webrtcvad's aggressiveness: 0 (keeps most) .. 3 (drops most non-speech).
VAD_MODE = 2


@dataclass(frozen=True, slots=True)
class Frames:
    """One value per frame, all arrays of the same length."""

    level_db: NDArray[np.float32]  # RMS level, dB full scale
    tone_hz: NDArray[np.float32]  # frequency of the dominant pure tone, 0 when none
    tone_purity: NDArray[np.float32]  # share of the band's energy in one spectral peak
    dual_purity: NDArray[np.float32]  # share in the two strongest peaks (DTMF, two-tone signals)
    similarity: NDArray[np.float32]  # cosine similarity of the spectrum with the previous frame's
    voiced: NDArray[np.bool_]  # webrtcvad's verdict

    def __len__(self) -> int:
        return len(self.level_db)


def measure(samples: NDArray[np.float32]) -> Frames:
    """The per-frame measurements of 8 kHz samples."""
    count = len(samples) // HOP
    vad = webrtcvad.Vad(VAD_MODE)
    parts = [
        _measure_chunk(_chunk_samples(samples, start, stop), stop - start, vad)
        for start, stop in _chunks(count)
    ]
    if not parts:
        empty = np.zeros(0, np.float32)
        return Frames(empty, empty, empty, empty, empty, np.zeros(0, np.bool_))
    return Frames(
        level_db=np.concatenate([part.level_db for part in parts]),
        tone_hz=np.concatenate([part.tone_hz for part in parts]),
        tone_purity=np.concatenate([part.tone_purity for part in parts]),
        dual_purity=np.concatenate([part.dual_purity for part in parts]),
        similarity=np.concatenate([part.similarity for part in parts]),
        voiced=np.concatenate([part.voiced for part in parts]),
    )


def _chunk_samples(samples: NDArray[np.float32], start: int, stop: int) -> NDArray[np.float32]:
    """The samples frames `start` to `stop` read, zero-padded past the end of the recording."""
    chunk = samples[start * HOP : stop * HOP + WINDOW]
    if len(chunk) < (stop - start) * HOP + WINDOW:
        chunk = np.concatenate(
            [chunk, np.zeros((stop - start) * HOP + WINDOW - len(chunk), np.float32)]
        )
    return chunk


def _chunks(count: int) -> list[tuple[int, int]]:
    return [(start, min(start + _CHUNK_FRAMES, count)) for start in range(0, count, _CHUNK_FRAMES)]


_HANN = np.hanning(WINDOW).astype(np.float32)


def _measure_chunk(samples: NDArray[np.float32], count: int, vad: webrtcvad.Vad) -> Frames:
    frames = sliding_window_view(samples, WINDOW)[::HOP][:count]
    level = frames[:, :HOP]
    level_db = (10 * np.log10(np.mean(level * level, axis=1) + 1e-10)).astype(np.float32)
    spectrum = np.abs(np.fft.rfft(frames * _HANN, axis=1)).astype(np.float32)
    power = spectrum[:, _LOW_BIN:_HIGH_BIN] ** 2
    total = power.sum(axis=1) + 1e-12
    peak = np.argmax(power, axis=1)
    lobe = _lobe_energy(power, peak)
    purity = lobe / total
    # The second peak: the strongest bin outside the first one's main lobe.
    masked = power.copy()
    rows = np.arange(len(power))
    for offset in range(-2, 3):
        masked[rows, np.clip(peak + offset, 0, power.shape[1] - 1)] = 0
    second = np.argmax(masked, axis=1)
    dual = (lobe + _lobe_energy(masked, second)) / total
    tone_hz = (_refined_bin(power, peak) + _LOW_BIN) * BIN_HZ
    tone_hz = np.where(purity > 0.5, tone_hz, 0).astype(np.float32)
    magnitude = spectrum[:, _LOW_BIN:_HIGH_BIN]
    norm = magnitude / (np.linalg.norm(magnitude, axis=1, keepdims=True) + 1e-9)
    similarity = np.ones(count, np.float32)
    similarity[1:] = np.sum(norm[1:] * norm[:-1], axis=1)
    return Frames(
        level_db=level_db,
        tone_hz=tone_hz,
        tone_purity=purity.astype(np.float32),
        dual_purity=dual.astype(np.float32),
        similarity=similarity,
        voiced=_voiced(samples[: count * HOP], vad),
    )


def _lobe_energy(power: NDArray[np.float32], peak: NDArray[np.intp]) -> NDArray[np.float32]:
    rows = np.arange(len(power))
    width = power.shape[1]
    total = np.zeros(len(power), np.float32)
    for offset in range(-2, 3):
        inside = (peak + offset >= 0) & (peak + offset < width)
        total += power[rows, np.clip(peak + offset, 0, width - 1)] * inside
    return total


def _refined_bin(power: NDArray[np.float32], peak: NDArray[np.intp]) -> NDArray[np.float32]:
    """Parabolic interpolation of the peak on log magnitudes (a tenth of a bin on a pure tone)."""
    rows = np.arange(len(power))
    width = power.shape[1]
    left = np.log(power[rows, np.clip(peak - 1, 0, width - 1)] + 1e-12)
    centre = np.log(power[rows, peak] + 1e-12)
    right = np.log(power[rows, np.clip(peak + 1, 0, width - 1)] + 1e-12)
    denominator = left - 2 * centre + right
    curved = np.abs(denominator) > 1e-9
    shift = np.where(curved, 0.5 * (left - right) / np.where(curved, denominator, 1.0), 0.0)
    return np.asarray(peak + np.clip(shift, -0.5, 0.5), dtype=np.float32)


def _voiced(samples: NDArray[np.float32], vad: webrtcvad.Vad) -> NDArray[np.bool_]:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    step = 2 * HOP
    return np.fromiter(
        (
            vad.is_speech(pcm[index : index + step], ANALYSIS_RATE_HZ)
            for index in range(0, len(pcm) - step + 1, step)
        ),
        dtype=np.bool_,
        count=len(pcm) // step,
    )
