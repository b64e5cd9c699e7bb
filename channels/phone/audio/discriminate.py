"""Speech or music, frame by frame, from what a second of sound around each frame looks like.

Three cues, each measured over a sliding window of `WINDOW_S`:
- spectral stability: music holds notes, so consecutive spectra look alike (cosine similarity
  near 1); speech moves from phoneme to phoneme;
- level modulation: speech comes in syllables (about 4 per second) with dips between them, so its
  level swings by many dB; music keeps a steadier level;
- voice activity: webrtcvad's verdict (it takes much music for speech, so it weighs least).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter1d

from channels.phone.audio.frames import FRAME_S, Frames

WINDOW_S = 1.0


def music_score(frames: Frames, sound: NDArray[np.bool_]) -> NDArray[np.float32]:
    """A score per frame, above 0 for music and below for speech (meaningful on sound frames)."""
    width = max(3, round(WINDOW_S / FRAME_S) | 1)
    weight = sound.astype(np.float32)
    count = uniform_filter1d(weight, width, mode="nearest") + 1e-6
    stability = uniform_filter1d(frames.similarity * weight, width, mode="nearest") / count
    level = np.where(sound, frames.level_db, frames.level_db.min(initial=-100.0))
    mean = uniform_filter1d(level, width, mode="nearest")
    swing = np.sqrt(np.maximum(uniform_filter1d(level * level, width, mode="nearest") - mean**2, 0))
    voiced = uniform_filter1d(frames.voiced.astype(np.float32), width, mode="nearest")
    score = 8.0 * (stability - 0.8) - 0.25 * (swing - 6.0) - 1.0 * (voiced - 0.5)
    return score.astype(np.float32)
