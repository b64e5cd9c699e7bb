"""A `<Dial>`'s recording made of real sound: the scene of a simulated leg, and its truth.

The leg's sounds (ringback before the answer, the callee's words, music, announcements and
its own ringback after the answer, a busy tone, the caller's words and keys) are placed on the
recording's clock and rendered by `sandbox.sound`; the truth keeps where each piece really lies.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from dataclasses import dataclass, replace
from typing import Any, Literal

from sandbox.sound import MUSIC_STYLES, Piece, PieceKind, Scene, files, render
from sandbox.sound.files import RATE_HZ
from sandbox.sound.render import spoken_clip
from sandbox.sound.signals import dtmf

# A busy line plays its tone this long before the network ends the call (0.5 s on, 0.5 s off).
BUSY_TONE_S = 4
CLEAN_NOISE_DB = (-62.0, -50.0)
NOISY_LINE_DB = -40.0


@dataclass(frozen=True, slots=True)
class HeardSound:
    """A sound on the leg, from `start_s` to `end_s` (the leg's offsets)."""

    kind: str  # speech, music, ringback, announcement (callee); speech, dtmf (caller)
    start_s: int
    end_s: int
    text: str = ""
    side: Literal["callee", "caller"] = "callee"


@dataclass(frozen=True, slots=True)
class HeardLeg:
    """What a dialled leg sounded like, on its own clock (simulated seconds)."""

    seed: str
    recording_start_s: int
    end_s: int
    ringing: tuple[int, int] | None  # ringback heard from, to (recorded from the ringing)
    busy: bool
    answer_s: int | None
    transfer_started_s: int | None
    service_at_s: int | None
    noisy: bool
    sounds: tuple[HeardSound, ...]


@dataclass(frozen=True, slots=True)
class RenderedLeg:
    # Dual, as Twilio records a <Dial>: channel 1 the parent (prober's side: what it says and
    # keys), channel 2 the child (the dialled structure).
    wav: bytes
    mono_wav: bytes
    truth: dict[str, Any]


def lower_priority() -> None:
    """Worker process initializer: rendering yields the CPU to the calls being played."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)


def render_leg(leg: HeardLeg, *, parent_first: bool = True) -> RenderedLeg:
    """Render the leg's recording (``parent_first``: as a ``<Dial>`` lays out its channels);
    its truth gives the answer, the transfer request, the first words of the party it led to,
    and every piece, in seconds into the recording."""
    origin = leg.recording_start_s
    pieces: list[Piece] = []
    if leg.ringing is not None and leg.ringing[1] > leg.ringing[0]:
        pieces.append(
            Piece("ringback", leg.ringing[0] - origin, duration_s=leg.ringing[1] - leg.ringing[0])
        )
    duration_s = float(leg.end_s - origin)
    if leg.busy:
        pieces.append(Piece("busy", duration_s, duration_s=BUSY_TONE_S))
        duration_s += BUSY_TONE_S
    seed = zlib.crc32(leg.seed.encode())
    for sound in _music_under_announcements(leg.sounds):
        if sound.end_s <= origin:
            continue
        start_s = max(sound.start_s, origin) - origin
        kind: PieceKind = _PIECE_KINDS[sound.kind]
        piece = Piece(
            kind,
            start_s,
            duration_s=sound.end_s - max(sound.start_s, origin),
            text=sound.text,
            digits=sound.text if kind == "dtmf" else "",
            side=sound.side,
        )
        if sound.side == "caller":
            piece = _ending_with_its_slot(piece, seed)
        pieces.append(piece)
    low, high = CLEAN_NOISE_DB
    scene = Scene(
        pieces=tuple(pieces),
        duration_s=max(duration_s, 1.0),
        noise_db=NOISY_LINE_DB if leg.noisy else low + (high - low) * (seed % 100) / 100,
        mulaw=True,
        seed=seed,
        music_style=MUSIC_STYLES[seed % len(MUSIC_STYLES)],
    )
    rendered = render(scene)

    def at(offset_s: int | None) -> float | None:
        return None if offset_s is None else float(offset_s - origin)

    truth = {
        "recording_start_offset_s": origin,
        "duration_s": scene.duration_s,
        "answered_at_s": at(leg.answer_s),
        "transfer_at_s": at(leg.transfer_started_s),
        "service_at_s": at(leg.service_at_s),
        "noise_db": scene.noise_db,
        "music_style": scene.music_style,
        "pieces": [
            {
                "kind": piece.kind,
                "start_s": round(piece.start_s, 3),
                "end_s": round(piece.end_s, 3),
                "text": piece.text,
                "side": piece.side,
            }
            for piece in rendered.truth
        ],
    }
    # A <Dial> puts the parent (the caller's side) on channel 1; a call recorded through the
    # REST API puts the callee there.
    sides = [rendered.caller, rendered.callee]
    if not parent_first:
        sides.reverse()
    dual = files.wav_bytes(sides, rate_hz=rendered.rate_hz)
    return RenderedLeg(wav=dual, mono_wav=rendered.mono_wav(), truth=truth)


def _ending_with_its_slot(piece: Piece, seed: int) -> Piece:
    """A caller's sound placed to end with the `<Say>`/`<Play>` that made it: the runner acts
    on it (the key pressed, the request made) at the end of the verb's time, as the callee
    hears it end."""
    if piece.duration_s is None:
        return piece
    if piece.kind == "dtmf":
        length_s = len(dtmf(piece.digits)) / RATE_HZ
    else:
        length_s = len(spoken_clip(piece, Scene(pieces=(), duration_s=1.0, seed=seed))) / RATE_HZ
    if length_s >= piece.duration_s:
        return piece
    slack_s = piece.duration_s - length_s
    return replace(piece, start_s=piece.start_s + slack_s, duration_s=length_s)


def _music_under_announcements(sounds: tuple[HeardSound, ...]) -> list[HeardSound]:
    """Hold music plays on under its announcements (a PBX mixes them, the renderer ducks the
    music): the stretches of music around announcements become one piece beneath them."""
    callee = sorted((s for s in sounds if s.side == "callee"), key=lambda s: s.start_s)
    merged: list[HeardSound] = [s for s in sounds if s.side != "callee"]
    run: list[HeardSound] = []

    def close_run() -> None:
        music = [s for s in run if s.kind == "music"]
        if music:
            merged.append(HeardSound("music", music[0].start_s, music[-1].end_s))
        merged.extend(s for s in run if s.kind != "music")
        run.clear()

    for sound in callee:
        if sound.kind in ("music", "announcement") and (not run or run[-1].end_s == sound.start_s):
            run.append(sound)
            continue
        close_run()
        if sound.kind in ("music", "announcement"):
            run.append(sound)
        else:
            merged.append(sound)
    close_run()
    return merged


_PIECE_KINDS: dict[str, PieceKind] = {
    "speech": "speech",
    "music": "music",
    "ringback": "ringback",
    "announcement": "announcement",
    "dtmf": "dtmf",
}
