"""French speech from Debian's espeak-ng, at 8 kHz, trimmed of its silent edges and cached.

Clips are cached by (text, voice, speed) in memory and on disk (`PROBER_SOUND_CACHE`, or a
folder under the system's temporary directory), since a corpus says the same lines many times.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.signal import resample_poly

from sandbox.sound import files

VOICES = ("fr", "fr+f2", "fr+f3", "fr+f4", "fr+m3", "fr+m7", "fr-be", "fr+klatt2")
SPEEDS_WPM = (135, 150, 165, 180, 195)
_TIMEOUT_S = 30


class SpeechUnavailableError(RuntimeError):
    """espeak-ng is not installed (scripts/ensure-services.sh installs it)."""


def espeak_path() -> str | None:
    return shutil.which("espeak-ng")


def cache_folder() -> Path:
    folder = os.environ.get("PROBER_SOUND_CACHE")
    return Path(folder) if folder else Path(tempfile.gettempdir()) / "prober-espeak-cache"


@lru_cache(maxsize=1024)
def say(text: str, voice: str, speed_wpm: int) -> NDArray[np.float32]:
    """`text` said by espeak-ng `voice` at `speed_wpm`, as 8 kHz samples (peak about 0.9)."""
    key = hashlib.sha256(f"{voice}|{speed_wpm}|{text}".encode()).hexdigest()[:32]
    cached = cache_folder() / f"{key}.npy"
    if cached.exists():
        return np.load(cached)  # type: ignore[no-any-return]
    clip = _synthesise(text, voice, speed_wpm)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(partial, clip)
    partial.replace(cached)
    return clip


def _synthesise(text: str, voice: str, speed_wpm: int) -> NDArray[np.float32]:
    binary = espeak_path()
    if binary is None:
        raise SpeechUnavailableError(
            "espeak-ng is not installed: `apt-get install espeak-ng` (scripts/ensure-services.sh)"
        )
    result = subprocess.run(  # noqa: S603 - a fixed binary, text passed as one argument
        [binary, "-v", voice, "-s", str(speed_wpm), "--stdout", text],
        capture_output=True,
        check=True,
        timeout=_TIMEOUT_S,
    )
    samples, rate = files.read_wav(result.stdout)
    resampled = resample_poly(samples, files.RATE_HZ, rate).astype(np.float32)
    loud = np.flatnonzero(np.abs(resampled) > 0.02 * np.max(np.abs(resampled), initial=1e-9))
    if len(loud) == 0:
        return np.zeros(0, np.float32)
    trimmed = resampled[loud[0] : loud[-1] + 1]
    return np.asarray(0.9 * trimmed / np.max(np.abs(trimmed)), dtype=np.float32)
