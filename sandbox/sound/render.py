"""A scene to sound: each piece placed on its side's track, the line's band, noise and codec."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from sandbox.sound import line, music, signals, voice
from sandbox.sound.files import RATE_HZ
from sandbox.sound.scene import Piece, PlacedPiece, Rendered, Scene

# Levels (dB full scale of the peak) each kind of sound reaches, varied by ±3 dB per scene.
_LEVEL_DB = {
    "ringback": -14.0,
    "busy": -14.0,
    "speech": -6.0,
    "announcement": -8.0,
    "music": -10.0,
    "dtmf": -10.0,
}
# Hold music plays under an announcement this much quieter (when the two overlap).
_DUCK_DB = -18.0


def render(scene: Scene) -> Rendered:
    """The recording of `scene` and the truth of where each piece lies."""
    rng = np.random.default_rng(scene.seed)
    length = round(scene.duration_s * RATE_HZ)
    tracks = {"callee": np.zeros(length, np.float32), "caller": np.zeros(length, np.float32)}
    truth: list[PlacedPiece] = []
    gains = {kind: 10 ** ((level + rng.uniform(-3, 3)) / 20) for kind, level in _LEVEL_DB.items()}
    spoken = [p for p in scene.pieces if p.kind in ("speech", "announcement")]
    for piece in scene.pieces:
        if piece.kind == "silence":
            continue
        sound, placed = _sound_of(piece, scene, rng)
        if piece.kind == "music":
            sound = _ducked(sound, piece.start_s, spoken, scene, rng)
        first = round(piece.start_s * RATE_HZ)
        last = min(length, first + len(sound))
        if last <= first:
            continue
        tracks[piece.side][first:last] += gains[piece.kind] * sound[: last - first]
        for start, end in placed:
            start_s, end_s = piece.start_s + start, min(piece.start_s + end, scene.duration_s)
            if end_s > start_s:
                truth.append(
                    PlacedPiece(
                        piece.kind, round(start_s, 3), round(end_s, 3), piece.text, piece.side
                    )
                )
    for side, track in tracks.items():
        heard = line.band_limited(track) + line.noise(length, scene.noise_db, rng)
        tracks[side] = line.mulaw_round_trip(heard) if scene.mulaw else np.clip(heard, -1, 1)
    return Rendered(
        tracks["callee"],
        tracks["caller"],
        tuple(sorted(truth, key=lambda p: p.start_s)),
        pieces=scene.pieces,
    )


def spoken_clip(piece: Piece, scene: Scene) -> NDArray[np.float32]:
    """The clip a speech or announcement piece says (voice and speed from the seed if unset)."""
    return voice.say(piece.text, *voice_of(piece, scene))


def voice_of(piece: Piece, scene: Scene) -> tuple[str, int]:
    """The espeak-ng voice and speed (words a minute) a piece is said with."""
    rng = np.random.default_rng([scene.seed, hash_text(piece.text)])
    voice_name = piece.voice or voice.VOICES[int(rng.integers(len(voice.VOICES)))]
    speed = piece.speed_wpm or voice.SPEEDS_WPM[int(rng.integers(len(voice.SPEEDS_WPM)))]
    return voice_name, speed


def hash_text(text: str) -> int:
    return sum((index + 1) * ord(char) for index, char in enumerate(text)) % 2**31


def _sound_of(
    piece: Piece, scene: Scene, rng: np.random.Generator
) -> tuple[NDArray[np.float32], list[tuple[float, float]]]:
    duration = piece.duration_s
    if piece.kind in ("ringback", "busy"):
        on, off = (
            (signals.RING_ON_S, signals.RING_OFF_S)
            if piece.kind == "ringback"
            else (signals.BUSY_ON_S, signals.BUSY_OFF_S)
        )
        return signals.tone_bursts(duration or on, on, off)
    if piece.kind == "music":
        sound = music.render_music(scene.music_style, duration or 10.0, rng)
        return sound, [(0.0, len(sound) / RATE_HZ)]
    if piece.kind in ("speech", "announcement"):
        sound = spoken_clip(piece, scene)
    else:  # dtmf
        sound = signals.dtmf(piece.digits)
    if duration is not None:
        sound = sound[: round(duration * RATE_HZ)]
    return sound, [(0.0, len(sound) / RATE_HZ)]


def _ducked(
    sound: NDArray[np.float32],
    start_s: float,
    spoken: list[Piece],
    scene: Scene,
    rng: np.random.Generator,
) -> NDArray[np.float32]:
    """Music under the announcements that overlap it, quieter (a PBX mixes them so)."""
    out = sound.copy()
    duck = 10 ** (_DUCK_DB / 20)
    for piece in spoken:
        clip_s = len(spoken_clip(piece, scene)) / RATE_HZ
        first = max(0, round((piece.start_s - start_s) * RATE_HZ))
        last = min(len(out), round((piece.start_s + clip_s - start_s) * RATE_HZ))
        if last > first:
            out[first:last] *= duck
    del rng
    return out
