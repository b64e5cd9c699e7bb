"""Speech or music, frame by frame, from what a second of sound around each frame looks like.

Cues, each measured over a sliding window of `WINDOW_S` (features of the classic speech/music
discriminators, Scheirer & Slaney 1997):
- spectral stability: music holds notes, so consecutive spectra look alike (cosine similarity
  near 1); speech moves from phoneme to phoneme. Weighted by amplitude, so that speech over
  quieter music is judged by the speech;
- level swing and low-energy frames: speech comes in syllables with dips between them;
- syllabic modulation: the share of the level envelope's energy between 2.5 and 8 Hz (speech has
  a marked 4 Hz rhythm);
- voice activity: webrtcvad's verdict (it takes much music for speech, so it weighs little).
The weights of `WEIGHTS` were fitted by logistic regression on a generated corpus (seed 1 of
`sandbox.sound.corpus`, never the seed the accuracy test measures); see docs/phone.md.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter1d
from scipy.signal import butter, sosfiltfilt

from channels.phone.audio.frames import FRAME_S, Frames

WINDOW_S = 1.0
FEATURES = ("stability", "swing_db", "low_energy", "modulation", "voiced")
# Logistic regression: music when WEIGHTS . standardised features + BIAS > 0.
MEANS = np.array([0.926, 7.443, 0.124, 0.437, 0.935], np.float32)
SCALES = np.array([0.048, 5.427, 0.13, 0.205, 0.105], np.float32)
WEIGHTS = np.array([3.986, -1.351, -1.042, -0.878, 0.085], np.float32)
BIAS = -1.29
_MODULATION_BAND = butter(2, (2.5, 8.0), btype="bandpass", fs=1 / FRAME_S, output="sos")


def features(frames: Frames, sound: NDArray[np.bool_]) -> NDArray[np.float32]:
    """The cues of each frame, one column each (in the order of `FEATURES`)."""
    width = max(3, round(WINDOW_S / FRAME_S) | 1)

    def mean(values: NDArray[np.floating]) -> NDArray[np.float32]:
        return np.asarray(
            uniform_filter1d(values.astype(np.float32), width, mode="nearest"), dtype=np.float32
        )

    weight = np.where(sound, 10 ** (frames.level_db / 20), 0).astype(np.float32)
    stability = mean(frames.similarity * weight) / (mean(weight) + 1e-9)
    floor = np.percentile(frames.level_db, 5) if len(frames) else -100.0
    level = np.maximum(frames.level_db, floor)
    level_mean = mean(level)
    swing = np.sqrt(np.maximum(mean(level * level) - level_mean**2, 0))
    low_energy = mean((level < level_mean - 10).astype(np.float32))
    envelope = 10 ** (level / 20)
    if len(envelope) > 15:
        band = sosfiltfilt(_MODULATION_BAND, envelope)
    else:
        band = np.zeros_like(envelope)
    centred = envelope - mean(envelope)
    modulation = mean(band * band) / (mean(centred * centred) + 1e-12)
    voiced = mean(frames.voiced.astype(np.float32))
    return np.stack([stability, swing, low_energy, modulation, voiced], axis=1).astype(np.float32)


def music_score(frames: Frames, sound: NDArray[np.bool_]) -> NDArray[np.float32]:
    """A score per frame, above 0 for music and below for speech (meaningful on sound frames)."""
    standardised = (features(frames, sound) - MEANS) / SCALES
    # An elementwise sum, not `@`: BLAS may raise spurious floating-point warnings in matmul.
    return np.asarray((standardised * WEIGHTS).sum(axis=1) + BIAS, dtype=np.float32)
