"""Samples to bytes: 16-bit PCM WAV (any channel count, 8 or 16 kHz) and MP3 through LAME."""

from __future__ import annotations

import io
import wave

import numpy as np
from numpy.typing import NDArray
from scipy.signal import resample_poly

import sandbox.audio

RATE_HZ = 8000


def pcm16(samples: NDArray[np.float32]) -> NDArray[np.int16]:
    return np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int16)


def wav_bytes(
    channels: list[NDArray[np.float32]], *, rate_hz: int, out_hz: int | None = None
) -> bytes:
    """A WAV file of `channels` (channel 1 first), resampled to `out_hz` when given."""
    out_hz = out_hz or rate_hz
    tracks = [
        resample_poly(track, out_hz, rate_hz).astype(np.float32) if out_hz != rate_hz else track
        for track in channels
    ]
    interleaved = np.stack([pcm16(track) for track in tracks], axis=1)
    data = interleaved.astype("<i2").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(len(tracks))
        wav.setsampwidth(2)
        wav.setframerate(out_hz)
        wav.writeframes(data)
    return buffer.getvalue()


def mp3_bytes(wav: bytes) -> bytes:
    """The WAV file's audio as MP3 frames at its own sample rate."""
    return sandbox.audio.wav_to_mp3(wav)


def read_wav(data: bytes) -> tuple[NDArray[np.float32], int]:
    """The first channel of a 16-bit PCM WAV file as floats, and its rate."""
    with wave.open(io.BytesIO(data)) as wav:
        channels, rate = wav.getnchannels(), wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    samples = np.frombuffer(raw, dtype="<i2")  # WAV samples are little-endian
    return (samples[::channels].astype(np.float32) / 32768.0), rate
