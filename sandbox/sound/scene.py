"""What a recording is made of: timed pieces heard on each side of a call, and their truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from sandbox.sound import files

PieceKind = Literal["ringback", "busy", "speech", "music", "announcement", "dtmf", "silence"]
MUSIC_STYLES = ("chords", "piano", "pop", "strings", "synth")


@dataclass(frozen=True)
class Piece:
    """One thing heard, from `start_s` seconds into the recording."""

    kind: PieceKind
    start_s: float
    duration_s: float | None = None  # None: natural length (speech, announcement, dtmf)
    text: str = ""  # speech/announcement: French text said (espeak-ng)
    voice: str = ""  # espeak-ng voice variant ("" = chosen from the scene's seed)
    speed_wpm: int = 0  # 0 = chosen from the scene's seed
    digits: str = ""  # dtmf (caller channel)
    side: Literal["callee", "caller"] = "callee"


@dataclass(frozen=True)
class Scene:
    """A recording to render: pieces on a line with noise, through G.711 µ-law or not."""

    pieces: tuple[Piece, ...]
    duration_s: float
    noise_db: float = -60.0  # line noise level, dB full scale (RMS)
    mulaw: bool = True
    seed: int = 0
    music_style: str = "chords"


@dataclass(frozen=True)
class PlacedPiece:
    """Where a piece really lies in the recording (a ringback piece gives one per burst)."""

    kind: PieceKind
    start_s: float
    end_s: float
    text: str = ""
    side: Literal["callee", "caller"] = "callee"


@dataclass(frozen=True, eq=False)
class Rendered:
    """A rendered scene: the two channels at 8 kHz, and the truth of where each piece lies."""

    callee: NDArray[np.float32]
    caller: NDArray[np.float32]
    truth: tuple[PlacedPiece, ...]
    rate_hz: int = files.RATE_HZ
    pieces: tuple[Piece, ...] = field(default=())

    @property
    def wav(self) -> bytes:
        """16-bit PCM WAV, 8 kHz, 2 channels: channel 1 the callee, 2 the caller (as Twilio)."""
        return files.wav_bytes([self.callee, self.caller], rate_hz=self.rate_hz)

    def mono_wav(self, *, rate_hz: int = files.RATE_HZ) -> bytes:
        """Both sides mixed in one channel, at 8 kHz or (resampled) 16 kHz."""
        return files.wav_bytes([self.callee + self.caller], rate_hz=self.rate_hz, out_hz=rate_hz)

    def dual_wav(self, *, rate_hz: int = files.RATE_HZ) -> bytes:
        """The dual recording at 8 kHz or (resampled) 16 kHz."""
        return files.wav_bytes([self.callee, self.caller], rate_hz=self.rate_hz, out_hz=rate_hz)

    def mp3(self, *, dual: bool = True) -> bytes:
        """The recording as MP3 (LAME), dual or mono."""
        return files.mp3_bytes(self.dual_wav() if dual else self.mono_wav())

    def truth_of(self, *kinds: PieceKind) -> list[PlacedPiece]:
        return [piece for piece in self.truth if piece.kind in kinds]
