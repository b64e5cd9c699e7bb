"""Signalling heard on a French line: ringback and busy tones (440 Hz) and the caller's DTMF."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from sandbox.sound.files import RATE_HZ

RING_HZ = 440.0
RING_ON_S, RING_OFF_S = 1.5, 3.5  # French ringback ("tonalité de retour d'appel")
BUSY_ON_S, BUSY_OFF_S = 0.5, 0.5  # French busy ("tonalité d'occupation")
_DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
_DTMF_COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
_DTMF_KEYS = ("123A", "456B", "789C", "*0#D")
DTMF_ON_S, DTMF_OFF_S = 0.1, 0.1


def sine(frequency_hz: float, duration_s: float, *, phase: float = 0.0) -> NDArray[np.float32]:
    t = np.arange(round(duration_s * RATE_HZ)) / RATE_HZ
    return np.sin(2 * np.pi * frequency_hz * t + phase).astype(np.float32)


def cadence(duration_s: float, on_s: float, off_s: float) -> list[tuple[float, float]]:
    """(start, end) of the tone's bursts over `duration_s`, from a burst at 0."""
    bursts = []
    start = 0.0
    while start < duration_s - 1e-9:
        bursts.append((start, min(start + on_s, duration_s)))
        start += on_s + off_s
    return bursts


def tone_bursts(
    duration_s: float, on_s: float, off_s: float
) -> tuple[NDArray[np.float32], list[tuple[float, float]]]:
    """A 440 Hz tone in the given cadence, with 5 ms ramps, and its bursts."""
    out = np.zeros(round(duration_s * RATE_HZ), np.float32)
    bursts = cadence(duration_s, on_s, off_s)
    ramp = round(0.005 * RATE_HZ)
    for start, end in bursts:
        first, last = round(start * RATE_HZ), round(end * RATE_HZ)
        burst = sine(RING_HZ, (last - first) / RATE_HZ)
        envelope = np.ones(len(burst), np.float32)
        if len(burst) > 2 * ramp:
            envelope[:ramp] = np.linspace(0, 1, ramp)
            envelope[-ramp:] = np.linspace(1, 0, ramp)
        out[first:last] = burst * envelope
    return out, bursts


def dtmf(digits: str) -> NDArray[np.float32]:
    """The caller's key presses: each digit 100 ms of its two tones, 100 ms apart."""
    parts = []
    for digit in digits:
        row = next(index for index, keys in enumerate(_DTMF_KEYS) if digit.upper() in keys)
        column = _DTMF_KEYS[row].index(digit.upper())
        tone = 0.5 * (sine(_DTMF_ROWS[row], DTMF_ON_S) + sine(_DTMF_COLUMNS[column], DTMF_ON_S))
        parts += [tone, np.zeros(round(DTMF_OFF_S * RATE_HZ), np.float32)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)
