"""Recordings to samples: the callee's channel of a WAV or MP3 file, as float32 at 8 kHz.

Reading is bounded: files over `MAX_FILE_BYTES` or `MAX_DURATION_S` are refused before their
samples are decoded, and a header that claims more data than the file holds is an error (the
samples are read block by block, never allocated from the header's claim).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from numpy.typing import NDArray
from scipy.signal import resample_poly

from channels.phone.audio.errors import AudioError

ANALYSIS_RATE_HZ = 8000
SUPPORTED_RATES_HZ = (8000, 16000)
MAX_FILE_BYTES = 128 * 2**20
MAX_DURATION_S = 2 * 3600
_BLOCK_S = 30


@dataclass(frozen=True, slots=True)
class Decoded:
    """The callee's sound at `ANALYSIS_RATE_HZ`, and what the file was."""

    samples: NDArray[np.float32]
    source_rate_hz: int
    channels: int
    container: str  # libsndfile's name of the format: "WAV", "MP3" (others it reads too: "FLAC"...)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / ANALYSIS_RATE_HZ


def read_file(path: Path) -> bytes:
    """The bytes of `path`, refusing a file larger than `MAX_FILE_BYTES` before reading it."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise AudioError(
                str(path), f"{size} bytes, over the {MAX_FILE_BYTES} bytes a recording may hold"
            )
        return path.read_bytes()
    except OSError as exc:
        raise AudioError(str(path), f"cannot be read ({exc.strerror or exc})") from exc


def decode(data: bytes, *, name: str, channel: int = 1) -> Decoded:
    """The callee's channel of a WAV or MP3 file, at 8 kHz: `channel` (1 or 2) of a dual
    recording (Twilio's `<Dial>` recordings have the dialled party on 2), the only one of a mono
    recording."""
    if channel not in (1, 2):
        raise AudioError(name, f"channel {channel} asked; a recording has channel 1 or 2")
    if not data:
        raise AudioError(name, "empty file, not a recording")
    if len(data) > MAX_FILE_BYTES:
        raise AudioError(name, f"{len(data)} bytes, over the {MAX_FILE_BYTES} a recording may hold")
    if data[:4] == b"RIFF":
        _check_wav_chunks(data, name=name)
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as sound:
            rate, channels, container = sound.samplerate, sound.channels, sound.format
            if rate not in SUPPORTED_RATES_HZ:
                raise AudioError(name, f"sampled at {rate} Hz; only 8000 and 16000 Hz are analysed")
            if channels not in (1, 2):
                raise AudioError(name, f"{channels} channels; a recording is mono or dual")
            callee = _read_callee(sound, min(channel, channels) - 1, name=name)
    except soundfile.LibsndfileError as exc:
        raise AudioError(name, f"not a WAV or MP3 recording ({exc.error_string})") from exc
    except (RuntimeError, TypeError, ValueError) as exc:  # libsndfile's MP3 decoder on garbage
        raise AudioError(name, f"not a readable WAV or MP3 recording ({exc})") from exc
    if rate != ANALYSIS_RATE_HZ:
        callee = resample_poly(callee, ANALYSIS_RATE_HZ, rate).astype(np.float32)
    return Decoded(callee, rate, channels, container)


def _read_callee(sound: soundfile.SoundFile, index: int, *, name: str) -> NDArray[np.float32]:
    """Channel 1, block by block. A WAV file's length was checked against its size, so its
    samples go straight into one array; an MP3's length is an estimate, so its blocks are joined."""
    limit = MAX_DURATION_S * sound.samplerate
    if sound.format != "MP3" and sound.frames > limit:
        raise AudioError(name, f"longer than {MAX_DURATION_S} s; cut the recording first")
    known = sound.format != "MP3" and 0 < sound.frames
    callee = np.empty(sound.frames if known else 0, np.float32)
    blocks: list[NDArray[np.float32]] = []
    read = 0
    while True:
        block = sound.read(_BLOCK_S * sound.samplerate, dtype="float32", always_2d=True)
        if len(block) == 0:
            break
        if read + len(block) > limit:
            raise AudioError(name, f"longer than {MAX_DURATION_S} s; cut the recording first")
        if known and read + len(block) <= len(callee):
            callee[read : read + len(block)] = block[:, index]
        else:
            blocks.append(np.ascontiguousarray(block[:, index]))
        read += len(block)
    if blocks:
        callee = np.concatenate([callee[: read - sum(len(b) for b in blocks)], *blocks])
    callee = callee[:read]
    if read == 0:
        raise AudioError(name, "holds no samples")
    return callee


def _check_wav_chunks(data: bytes, *, name: str) -> None:
    """Refuses a WAV file whose `data` chunk claims more bytes than the file holds (truncated)."""
    if len(data) < 12 or data[8:12] != b"WAVE":
        raise AudioError(name, "a RIFF file that is not WAVE audio")
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        if chunk_id == b"data":
            held = len(data) - offset - 8
            # 0 and 0xFFFFFFFF are what streaming writers leave when they do not know the size.
            if size not in (0, 0xFFFFFFFF) and size > held:
                raise AudioError(
                    name,
                    f"truncated: its header announces {size} bytes of samples, it holds {held}",
                )
            return
        offset += 8 + size + (size & 1)
    raise AudioError(name, "a WAV file without samples (no data chunk)")
