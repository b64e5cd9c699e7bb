"""A seeded corpus of call recordings with their truth: what French switchboards really do.

Each recording is drawn from a handful of situations seen from the citizen's side: a direct
answer after some rings, a switchboard that greets, says "ne quittez pas" and plays its own
ringback or hold music with announcements, a busy line, a call nobody answers, voicemail, a
closed-hours message, a recording that starts at the answer. Voices, speeds, noise, µ-law, music
styles, mono or dual, 8 or 16 kHz and MP3 vary with the seed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from sandbox.sound import signals
from sandbox.sound.files import RATE_HZ
from sandbox.sound.render import render
from sandbox.sound.scene import MUSIC_STYLES, Piece, PlacedPiece, Rendered, Scene

FileFormat = Literal["wav8-dual", "wav8-mono", "wav16-dual", "wav16-mono", "mp3-dual", "mp3-mono"]
_FORMATS: tuple[tuple[FileFormat, float], ...] = (
    ("wav8-dual", 0.4),
    ("wav8-mono", 0.2),
    ("wav16-dual", 0.12),
    ("wav16-mono", 0.08),
    ("mp3-dual", 0.12),
    ("mp3-mono", 0.08),
)
# A ringback burst the caller heard for less than this is not counted as a ring.
MIN_RING_HEARD_S = 0.2

GREETINGS = (
    "Mairie de Villeurbanne, bonjour.",
    "Caisse d'allocations familiales, bonjour, que puis-je pour vous ?",
    "Préfecture du Rhône, service des titres, bonjour.",
    "Bonjour, centre des finances publiques, je vous écoute.",
    "Accueil de la mairie, bonjour !",
    "Service urbanisme, Martine Dupont, bonjour.",
    "Oui, allô, bonjour.",
    "Hôtel de ville de Nantes, bonjour, en quoi puis-je vous aider ?",
)
HOLD_LINES = (
    "Ne quittez pas, je vous passe le service.",
    "Un instant, je vous mets en relation.",
    "Ne quittez pas s'il vous plaît.",
    "Je transfère votre appel, ne quittez pas.",
)
ANNOUNCEMENTS = (
    "Votre appel va être transféré, merci de patienter.",
    "Tous nos conseillers sont actuellement en ligne. Nous allons donner suite à votre appel.",
    "Merci de rester en ligne, un conseiller va vous répondre.",
    "Votre temps d'attente est estimé à moins de cinq minutes.",
    "Pour gagner du temps, rendez-vous sur notre site internet, service public point fr.",
)
AGENT_LINES = (
    "Service état civil, bonjour, je vous écoute.",
    "Oui bonjour, c'est à quel sujet ?",
    "Bonjour madame, vous êtes au service des cartes grises.",
    "Allô ? Oui, bonjour, je vous écoute.",
    "Bonjour, service de l'eau, Pierre à l'appareil.",
)
CALLER_LINES = (
    "Bonjour, je voudrais savoir quels sont vos horaires d'ouverture.",
    "Bonjour, je souhaite prendre rendez-vous pour une carte d'identité.",
    "Merci beaucoup, au revoir.",
)
ANSWERS = (
    "Nous sommes ouverts du lundi au vendredi, de neuf heures à dix-sept heures.",
    "Il faut prendre rendez-vous sur le site internet de la mairie.",
    "Je vous en prie, bonne journée, au revoir.",
)
VOICEMAIL = (
    "Bonjour, vous êtes bien sur la messagerie du service social. "
    "Laissez votre message après le bip.",
)
CLOSED = (
    "Nos bureaux sont actuellement fermés. Ils sont ouverts du lundi au vendredi de huit heures "
    "trente à dix-sept heures. Merci de rappeler ultérieurement.",
)
SITUATIONS = (
    "direct",
    "switchboard_ringback",
    "hold_music",
    "silent_pbx_ringback",
    "busy",
    "unanswered",
    "voicemail",
    "closed",
    "from_answer",
    "pause_greeting",
)


@dataclass(frozen=True)
class Truth:
    """What the caller heard, drawn from the rendered pieces (never from the analysis)."""

    rings: int | None
    answered_at_s: float | None
    busy: bool
    rings_after_answer: int
    speech: tuple[tuple[float, float], ...]  # on the analysed side(s)
    music: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Recording:
    name: str
    situation: str
    file_format: FileFormat
    scene: Scene
    rendered: Rendered
    truth: Truth

    def file_bytes(self) -> bytes:
        kind, layout = self.file_format.split("-")
        dual = layout == "dual"
        if kind == "mp3":
            return self.rendered.mp3(dual=dual)
        rate = 16000 if kind == "wav16" else 8000
        return (
            self.rendered.dual_wav(rate_hz=rate) if dual else self.rendered.mono_wav(rate_hz=rate)
        )

    @property
    def suffix(self) -> str:
        return ".mp3" if self.file_format.startswith("mp3") else ".wav"


def corpus(count: int, *, seed: int = 14) -> Iterator[Recording]:
    """`count` recordings, the same ones for the same seed."""
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        situation = SITUATIONS[index % len(SITUATIONS)]
        style = MUSIC_STYLES[(index // len(SITUATIONS)) % len(MUSIC_STYLES)]
        scene = _scene(situation, rng, seed=seed * 100_000 + index, music_style=style)
        formats, weights = zip(*_FORMATS, strict=True)
        file_format = formats[int(rng.choice(len(formats), p=weights))]
        rendered = render(scene)
        dual = file_format.endswith("dual")
        yield Recording(
            f"{index:03d}-{situation}",
            situation,
            file_format,
            scene,
            rendered,
            truth_of(rendered, both_sides=not dual),
        )


def truth_of(rendered: Rendered, *, both_sides: bool) -> Truth:
    """The truth of a rendered scene, for the callee's channel (or both sides mixed)."""
    callee = [p for p in rendered.truth if p.side == "callee"]
    rings_at = [
        p for p in callee if p.kind == "ringback" and p.end_s - p.start_s >= MIN_RING_HEARD_S
    ]
    busy = any(p.kind == "busy" for p in callee)
    sounds = [p for p in callee if p.kind in ("speech", "announcement", "music")]
    answered = min((p.start_s for p in sounds), default=None) if not busy else None
    before = [p for p in rings_at if answered is None or p.start_s < answered]
    rings: int | None = len(before) if rings_at else (0 if busy else None)
    heard = rendered.truth if both_sides else tuple(callee)
    spoken = [p for p in heard if p.kind in ("speech", "announcement")]
    return Truth(
        rings=rings,
        answered_at_s=answered,
        busy=busy,
        rings_after_answer=len(rings_at) - len(before),
        speech=tuple((p.start_s, p.end_s) for p in spoken),
        music=_minus(
            [(p.start_s, p.end_s) for p in heard if p.kind == "music"],
            [(p.start_s, p.end_s) for p in spoken],
        ),
    )


def _minus(
    spans: list[tuple[float, float]], holes: list[tuple[float, float]]
) -> tuple[tuple[float, float], ...]:
    result = spans
    for hole_start, hole_end in holes:
        cut: list[tuple[float, float]] = []
        for start, end in result:
            if hole_end <= start or hole_start >= end:
                cut.append((start, end))
                continue
            if start < hole_start:
                cut.append((start, hole_start))
            if end > hole_end:
                cut.append((hole_end, end))
        result = cut
    return tuple(result)


class _Writer:
    """Places pieces one after the other on the callee's side, with the caller's between."""

    def __init__(self, rng: np.random.Generator, scene_seed: int) -> None:
        self.rng = rng
        self.at = 0.0
        self.pieces: list[Piece] = []
        self.scene_seed = scene_seed

    def pick(self, options: tuple[str, ...]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def pause(self, low: float, high: float) -> None:
        self.at += float(self.rng.uniform(low, high))

    def rings(self, count: int, *, cut_s: float | None = None) -> None:
        """`count` full ring cycles, then a piece of one cut `cut_s` into it (the answer)."""
        cycle = signals.RING_ON_S + signals.RING_OFF_S
        duration = count * cycle + (cut_s if cut_s is not None else 0.0)
        if duration > 0:
            self.pieces.append(Piece("ringback", round(self.at, 3), round(duration, 3)))
        self.at += duration

    def say(
        self,
        kind: Literal["speech", "announcement"],
        text: str,
        *,
        side: Literal["callee", "caller"] = "callee",
    ) -> None:
        piece = Piece(kind, round(self.at, 3), None, text=text, side=side)
        self.pieces.append(piece)
        self.at += self._length(piece)

    def music(self, duration_s: float) -> None:
        self.pieces.append(Piece("music", round(self.at, 3), round(duration_s, 3)))
        self.at += duration_s

    def _length(self, piece: Piece) -> float:
        from sandbox.sound.render import spoken_clip  # noqa: PLC0415 - a cached clip's length

        return len(spoken_clip(piece, Scene((), 0.0, seed=self.scene_seed))) / RATE_HZ


def _answer_cut(rng: np.random.Generator) -> float:
    """Where in a ring cycle the answer falls: anywhere (a switchboard does not wait for a ring)."""
    return float(rng.uniform(0.0, signals.RING_ON_S + signals.RING_OFF_S))


def _scene(situation: str, rng: np.random.Generator, *, seed: int, music_style: str) -> Scene:  # noqa: PLR0915 - one branch a situation
    w = _Writer(rng, seed)
    rings = int(rng.integers(1, 7))
    if situation == "from_answer":
        w.pause(0.0, 0.8)
    elif situation == "busy":
        w.pause(0.3, 1.5)
        busy_s = float(rng.uniform(3.0, 12.0))
        w.pieces.append(Piece("busy", round(w.at, 3), round(busy_s, 3)))
        w.at += busy_s + float(rng.uniform(0, 1))
    else:
        w.pause(0.0, 1.2)
        if situation == "unanswered":
            w.rings(int(rng.integers(3, 9)), cut_s=_answer_cut(rng))
            w.pause(0.0, 0.5)
        elif situation == "silent_pbx_ringback":
            # The network rings, the PBX answers at once and plays its own ringback, out of phase.
            w.rings(int(rng.integers(0, 2)), cut_s=_answer_cut(rng))
            w.pause(0.1, 1.5)
            w.rings(int(rng.integers(1, 5)), cut_s=_answer_cut(rng))
            w.pause(0.2, 1.0)
        else:
            w.rings(rings - 1, cut_s=_answer_cut(rng))
            w.pause(0.1, 0.9)
    if situation in ("direct", "from_answer", "silent_pbx_ringback"):
        w.say("speech", w.pick(GREETINGS))
        _conversation(w)
    elif situation == "pause_greeting":
        w.say("speech", "Allô ?")
        w.pause(0.8, 2.0)
        w.say("speech", w.pick(GREETINGS))
        _conversation(w)
    elif situation == "switchboard_ringback":
        w.say("speech", w.pick(GREETINGS))
        w.pause(0.3, 1.0)
        w.say("speech", w.pick(HOLD_LINES))
        w.pause(0.3, 1.5)
        if rng.random() < 0.4:  # some music while the switchboard finds the extension
            w.music(float(rng.uniform(4.0, 9.0)))
            w.pause(0.0, 0.6)
        w.rings(int(rng.integers(1, 4)), cut_s=_answer_cut(rng))
        w.pause(0.2, 0.8)
        w.say("speech", w.pick(AGENT_LINES))
    elif situation == "hold_music":
        w.say("announcement" if rng.random() < 0.5 else "speech", w.pick(GREETINGS))
        w.pause(0.2, 0.8)
        for _ in range(int(rng.integers(1, 4))):
            w.music(float(rng.uniform(6.0, 18.0)))
            if rng.random() < 0.5:  # an announcement over the music, ducked
                start = w.at - float(rng.uniform(3.0, 5.0))
                piece = Piece("announcement", round(start, 3), None, text=w.pick(ANNOUNCEMENTS))
                w.pieces.append(piece)
                w.at = max(w.at, start + w._length(piece))
            else:  # the music stops for the announcement
                w.pause(0.1, 0.6)
                w.say("announcement", w.pick(ANNOUNCEMENTS))
                w.pause(0.1, 0.6)
        w.music(float(rng.uniform(4.0, 12.0)))
        if rng.random() < 0.7:
            w.pause(0.2, 1.0)
            w.say("speech", w.pick(AGENT_LINES))
    elif situation == "voicemail":
        w.say("announcement", w.pick(VOICEMAIL))
        w.pause(0.2, 0.5)
        w.pieces.append(Piece("dtmf", round(w.at, 3), None, digits="0"))  # the beep stands in
        w.at += 1.0
    elif situation == "closed":
        w.say("announcement", w.pick(CLOSED))
    if rng.random() < 0.3:  # the caller answers a menu with a key on its own channel
        w.pieces.append(
            Piece(
                "dtmf",
                round(max(0.0, w.at - 2.0), 3),
                None,
                digits=str(int(rng.integers(0, 10))),
                side="caller",
            )
        )
    w.pause(0.5, 2.0)
    return Scene(
        pieces=tuple(w.pieces),
        duration_s=round(w.at, 3),
        noise_db=float(rng.uniform(-72.0, -42.0)),
        mulaw=bool(rng.random() < 0.7),
        seed=seed,
        music_style=music_style,
    )


def _conversation(w: _Writer) -> None:
    for turn in range(int(w.rng.integers(0, 3))):
        w.pause(0.4, 1.0)
        w.say("speech", CALLER_LINES[turn % len(CALLER_LINES)], side="caller")
        w.pause(0.3, 1.0)
        w.say("speech", ANSWERS[turn % len(ANSWERS)])


__all__ = ["PlacedPiece", "Recording", "Truth", "corpus", "truth_of", "write_corpus"]


def write_corpus(folder: Path, count: int, *, seed: int = 14) -> Path:
    """The corpus's files in `folder`, and `truth.jsonl` (one object a file); its path."""
    folder.mkdir(parents=True, exist_ok=True)
    truth_path = folder / "truth.jsonl"
    with truth_path.open("w", encoding="utf-8") as truth_file:
        for recording in corpus(count, seed=seed):
            name = f"{recording.name}{recording.suffix}"
            (folder / name).write_bytes(recording.file_bytes())
            line = {
                "file": name,
                "situation": recording.situation,
                "format": recording.file_format,
                "noise_db": round(recording.scene.noise_db, 1),
                "mulaw": recording.scene.mulaw,
                "music_style": recording.scene.music_style,
                **asdict(recording.truth),
                "pieces": [asdict(piece) for piece in recording.rendered.truth],
            }
            truth_file.write(json.dumps(line, ensure_ascii=False) + "\n")
    return truth_path


def main(argv: list[str] | None = None) -> None:
    """`python -m sandbox.sound.corpus FOLDER [--count N] [--seed S]`: a corpus to listen to."""
    parser = argparse.ArgumentParser(
        description="Write the audio corpus and its truth to a folder."
    )
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    truth = write_corpus(args.folder, args.count, seed=args.seed)
    sys.stdout.write(f"{args.count} recordings in {args.folder}, their truth in {truth}\n")


if __name__ == "__main__":
    main()
