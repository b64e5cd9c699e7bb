"""Playable recordings: a WAV file where each party's speech is a tone on its own channel.

The MP3 form of a recording is the same audio encoded with LAME (the `lameenc` package).
"""

from __future__ import annotations

import array
import io
import math
import sys
import wave
from dataclasses import dataclass

import lameenc  # type: ignore[import-not-found]

SAMPLE_RATE_HZ = 8000
# Tones standing for speech: the callee (far end) low, what Twilio plays (the probe) high.
CALLEE_TONE_HZ = 440.0
CALLER_TONE_HZ = 660.0
AMPLITUDE = 8000
# 8 kHz speech in MPEG 2.5 Layer III: 16 kbit/s per channel is plenty for tones.
MP3_BIT_RATE_KBPS_PER_CHANNEL = 16


@dataclass(frozen=True, slots=True)
class Utterance:
    """Someone speaking from `start_s` for `duration_s` (simulated seconds after the answer)."""

    speaker: str  # "callee" or "caller"
    start_s: int
    duration_s: int


def render_wav(duration_s: int, utterances: list[Utterance], *, dual: bool) -> bytes:
    """A 16-bit 8 kHz WAV of the call: mono mixes both parties; dual puts callee on channel 1."""
    frames = max(duration_s, 1) * SAMPLE_RATE_HZ
    tracks = {
        "callee": array.array("h", bytes(2 * frames)),
        "caller": array.array("h", bytes(2 * frames)),
    }
    for utterance in utterances:
        frequency = CALLEE_TONE_HZ if utterance.speaker == "callee" else CALLER_TONE_HZ
        track = tracks[utterance.speaker]
        first = min(utterance.start_s * SAMPLE_RATE_HZ, frames)
        last = min((utterance.start_s + utterance.duration_s) * SAMPLE_RATE_HZ, frames)
        step = 2 * math.pi * frequency / SAMPLE_RATE_HZ
        for index in range(first, last):
            track[index] = int(AMPLITUDE * math.sin(step * index))
    if dual:
        samples = array.array("h", bytes(4 * frames))
        samples[0::2] = tracks["callee"]
        samples[1::2] = tracks["caller"]
    else:
        samples = array.array(
            "h",
            (
                max(-32768, min(32767, a + b))
                for a, b in zip(tracks["callee"], tracks["caller"], strict=True)
            ),
        )
    if sys.byteorder == "big":  # WAV samples are little-endian
        samples.byteswap()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2 if dual else 1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE_HZ)
        wav.writeframes(samples.tobytes())
    return buffer.getvalue()


def wav_to_mp3(wav_bytes: bytes) -> bytes:
    """The same audio as a 16-bit PCM WAV file, as MP3 frames at the WAV's sample rate."""
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        channels, sample_rate = wav.getnchannels(), wav.getframerate()
        pcm = wav.readframes(wav.getnframes())
    if sys.byteorder == "big":  # LAME takes native-endian samples, WAV stores little-endian
        samples = array.array("h", pcm)
        samples.byteswap()
        pcm = samples.tobytes()
    encoder = lameenc.Encoder()
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_out_sample_rate(sample_rate)
    encoder.set_channels(channels)
    encoder.set_bit_rate(MP3_BIT_RATE_KBPS_PER_CHANNEL * channels)
    encoder.set_quality(2)
    return bytes(encoder.encode(pcm) + encoder.flush())
