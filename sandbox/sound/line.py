"""The telephone line: band limits (300-3400 Hz), noise, and the G.711 µ-law codec.

The µ-law codec follows ITU-T G.711 (the segment/mantissa encoding with bias 0x84), written with
numpy because `audioop` left the standard library in Python 3.13.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.signal import butter, sosfilt

from sandbox.sound.files import RATE_HZ

_BIAS = 0x84
_CLIP = 32635
_BAND = butter(4, (300, 3400), btype="bandpass", fs=RATE_HZ, output="sos")


def mulaw_encode(pcm: NDArray[np.int16]) -> NDArray[np.uint8]:
    """16-bit linear samples to G.711 µ-law bytes."""
    sample = pcm.astype(np.int32)
    sign = np.where(sample < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(sample), _CLIP) + _BIAS
    exponent = np.clip(np.floor(np.log2(magnitude)).astype(np.int32) - 7, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return np.asarray(~(sign | (exponent << 4) | mantissa) & 0xFF, dtype=np.uint8)


def mulaw_decode(code: NDArray[np.uint8]) -> NDArray[np.int16]:
    """G.711 µ-law bytes to 16-bit linear samples."""
    value = ~code.astype(np.int32) & 0xFF
    sign = value & 0x80
    exponent = (value >> 4) & 0x07
    mantissa = value & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def mulaw_round_trip(samples: NDArray[np.float32]) -> NDArray[np.float32]:
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int16)
    return (mulaw_decode(mulaw_encode(pcm)).astype(np.float32) / 32768.0).astype(np.float32)


def band_limited(samples: NDArray[np.float32]) -> NDArray[np.float32]:
    return sosfilt(_BAND, samples).astype(np.float32)  # type: ignore[no-any-return]


def noise(length: int, level_db: float, rng: np.random.Generator) -> NDArray[np.float32]:
    """Line noise at `level_db` RMS: hiss with a slow wander, and a faint 50 Hz hum."""
    hiss = rng.standard_normal(length).astype(np.float32)
    wander = 1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * np.arange(length) / RATE_HZ)
    hum = 0.3 * np.sin(2 * np.pi * 50 * np.arange(length) / RATE_HZ)
    return (10 ** (level_db / 20) * (hiss * wander + hum)).astype(np.float32)
