"""Hold music made with numpy: chord progressions, melodies with harmonics, percussion, piano-like
decays. Never a pure tone: telling it from speech and from ringback is a real problem."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from sandbox.sound.files import RATE_HZ

_PROGRESSIONS = ((0, 7, 9, 5), (0, 5, 7, 0), (9, 5, 0, 7), (0, 9, 2, 7))
_MAJOR = (0, 2, 4, 5, 7, 9, 11)


def _hz(semitones_from_a4: float) -> float:
    return float(440.0 * 2 ** (semitones_from_a4 / 12))


def _note(
    frequency_hz: float,
    duration_s: float,
    *,
    harmonics: tuple[float, ...],
    attack_s: float,
    decay_per_s: float,
    vibrato: float = 0.0,
) -> NDArray[np.float32]:
    t = np.arange(max(1, round(duration_s * RATE_HZ))) / RATE_HZ
    phase = 2 * np.pi * frequency_hz * t
    if vibrato:
        phase += vibrato * np.sin(2 * np.pi * 5.5 * t)
    wave = sum(
        weight * np.sin(number * phase)
        for number, weight in enumerate(harmonics, start=1)
        if number * frequency_hz < RATE_HZ / 2
    )
    envelope = np.minimum(1.0, t / max(attack_s, 1e-3)) * np.exp(-decay_per_s * t)
    release = min(len(t), round(0.02 * RATE_HZ))
    envelope[-release:] *= np.linspace(1, 0, release)
    return (wave * envelope).astype(np.float32)


def _add(track: NDArray[np.float32], clip: NDArray[np.float32], at_s: float) -> None:
    first = round(at_s * RATE_HZ)
    if first >= len(track):
        return
    last = min(len(track), first + len(clip))
    track[first:last] += clip[: last - first]


def _drums(track: NDArray[np.float32], beat_s: float, rng: np.random.Generator) -> None:
    kick_t = np.arange(round(0.15 * RATE_HZ)) / RATE_HZ
    kick = np.sin(2 * np.pi * (150 * kick_t - 150 * kick_t**2)) * np.exp(-25 * kick_t)
    beat = 0
    while beat * beat_s < len(track) / RATE_HZ:
        at = beat * beat_s
        if beat % 2 == 0:
            _add(track, (0.8 * kick).astype(np.float32), at)
        else:
            snare = rng.standard_normal(round(0.12 * RATE_HZ)) * np.exp(
                -30 * np.arange(round(0.12 * RATE_HZ)) / RATE_HZ
            )
            _add(track, (0.35 * snare).astype(np.float32), at)
        hat = rng.standard_normal(round(0.03 * RATE_HZ))
        _add(track, (0.12 * np.diff(hat, prepend=0)).astype(np.float32), at + beat_s / 2)
        beat += 1


def render_music(style: str, duration_s: float, rng: np.random.Generator) -> NDArray[np.float32]:
    """`duration_s` of music in `style` (see scene.MUSIC_STYLES), peak about 0.9."""
    track = np.zeros(round(duration_s * RATE_HZ), np.float32)
    key = int(rng.integers(-5, 5))
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    bar_s = float(rng.uniform(1.6, 2.6))
    beat_s = bar_s / 4
    bars = int(np.ceil(duration_s / bar_s)) + 1
    for bar in range(bars):
        root = key + progression[bar % len(progression)] - 12
        chord = (root, root + 4 if bar % 3 else root + 3, root + 7)
        at = bar * bar_s
        if style in ("chords", "pop", "strings", "synth"):
            for interval in chord:
                harmonics = (
                    (1.0, 0.6, 0.45, 0.3, 0.2)
                    if style != "strings"
                    else (1, 0.7, 0.5, 0.4, 0.3, 0.2)
                )
                note = _note(
                    _hz(interval),
                    bar_s,
                    harmonics=harmonics,
                    attack_s=0.08 if style != "strings" else 0.3,
                    decay_per_s=0.3,
                    vibrato=0.004 if style == "strings" else 0.0,
                )
                _add(track, 0.25 * note, at)
            bass = _note(
                _hz(root - 12), bar_s, harmonics=(1, 0.8, 0.5), attack_s=0.02, decay_per_s=1.0
            )
            _add(track, 0.3 * bass, at)
        steps = 8 if style in ("piano", "synth") else 4
        for step in range(steps):
            degree = _MAJOR[int(rng.integers(len(_MAJOR)))] + 12 * int(rng.integers(0, 2))
            pitch = key + degree + (3 if step % 2 else 0)
            length = bar_s / steps
            if style == "piano":
                note = _note(
                    _hz(pitch),
                    length * 2.5,
                    harmonics=(1, 0.8, 0.6, 0.4, 0.3, 0.2),
                    attack_s=0.005,
                    decay_per_s=3.0,
                )
            elif style == "synth":
                note = _note(
                    _hz(pitch),
                    length,
                    harmonics=(1, 0.5, 0.45, 0.3, 0.3, 0.2, 0.2),
                    attack_s=0.01,
                    decay_per_s=1.0,
                )
            else:
                note = _note(
                    _hz(pitch),
                    length,
                    harmonics=(1, 0.7, 0.5, 0.3),
                    attack_s=0.03,
                    decay_per_s=0.8,
                    vibrato=0.003,
                )
            _add(track, 0.35 * note, at + step * length)
    if style in ("pop", "synth"):
        _drums(track, beat_s, rng)
    peak = float(np.max(np.abs(track), initial=1e-9))
    return (0.9 * track / peak).astype(np.float32)
