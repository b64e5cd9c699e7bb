"""A recording's waveform, computed on the server from its PCM WAV: peaks, then an SVG path.

Twilio recordings (and the sandbox's) are 16-bit PCM WAV; 8- and 32-bit PCM are read too. The
file is read in blocks, so a long call costs a bounded amount of memory.
"""

from __future__ import annotations

import functools
import wave
from pathlib import Path
from typing import Any

import numpy as np

from prober.errors import ProberError

DEFAULT_BUCKETS = 600
_BLOCK_FRAMES = 65_536
_DTYPES: dict[int, np.dtype[Any]] = {1: np.dtype("u1"), 2: np.dtype("<i2"), 4: np.dtype("<i4")}


class WaveformError(ProberError):
    """A recording whose waveform cannot be drawn (not PCM WAV, unreadable)."""


@functools.lru_cache(maxsize=256)
def _cached_peaks(path: str, size: int, mtime_ns: int, buckets: int) -> tuple[float, ...]:
    del size, mtime_ns  # part of the cache key: a replaced file is read again
    try:
        with wave.open(path, "rb") as reader:
            width, channels, frames = (
                reader.getsampwidth(),
                reader.getnchannels(),
                reader.getnframes(),
            )
            if width not in _DTYPES or channels < 1:
                raise WaveformError(f"{path}: {8 * width}-bit audio is not PCM WAV prober reads")
            full_scale = 128.0 if width == 1 else float(2 ** (8 * width - 1))
            peaks = np.zeros(buckets, dtype=np.float64)
            per_bucket = max(1, -(-frames // buckets))
            position = 0
            while position < frames:
                data = reader.readframes(_BLOCK_FRAMES)
                if not data:
                    break
                samples = np.frombuffer(data, dtype=_DTYPES[width]).astype(np.float64)
                if width == 1:
                    samples -= 128.0
                levels = np.abs(samples.reshape(-1, channels)).max(axis=1) / full_scale
                index = (position + np.arange(levels.size)) // per_bucket
                np.maximum.at(peaks, np.minimum(index, buckets - 1), levels)
                position += levels.size
    except (wave.Error, EOFError, ValueError) as error:
        raise WaveformError(f"{path}: not a readable PCM WAV ({error})") from None
    return tuple(round(float(min(peak, 1.0)), 4) for peak in peaks)


def peaks(path: Path, buckets: int = DEFAULT_BUCKETS) -> list[float]:
    """The loudest level (0 to 1, all channels) of each of ``buckets`` equal slices of the file."""
    stat = path.stat()
    return list(_cached_peaks(str(path), stat.st_size, stat.st_mtime_ns, buckets))


def svg_path(levels: list[float], *, height: int = 80) -> str:
    """An SVG path drawing ``levels`` as bars mirrored around the middle, one unit wide each."""
    middle = height / 2
    parts = []
    for x, level in enumerate(levels):
        half = max(0.5, level * middle)
        parts.append(f"M{x} {middle - half:.1f}V{middle + half:.1f}")
    return "".join(parts)
