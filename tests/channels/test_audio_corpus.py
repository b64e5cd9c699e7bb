"""The accuracy of the audio timeline on a generated corpus of French calls (issue 14).

The corpus (sandbox/sound/corpus.py, seed 14) is rendered once per session into a temporary
folder, with its truth taken from the rendered pieces; every file is analysed through
`timeline_of_file`, as `prober audio timeline` does. The figures are printed.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from channels.phone.audio import timeline_of_file
from sandbox.sound import MUSIC_STYLES
from sandbox.sound.corpus import SITUATIONS, Truth, corpus
from sandbox.sound.render import voice_of
from sandbox.sound.scene import Scene
from tests.support.audio_accuracy import Accuracy

CORPUS_SIZE = 220
CORPUS_SEED = 14


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    situation: str
    file_format: str
    scene: Scene
    truth: Truth


@pytest.fixture(scope="session")
def audio_corpus(espeak: str, tmp_path_factory: pytest.TempPathFactory) -> list[CorpusFile]:
    """The corpus's files on disk with their truth (the samples are not kept in memory)."""
    folder = tmp_path_factory.mktemp("audio-corpus")
    files = []
    for recording in corpus(CORPUS_SIZE, seed=CORPUS_SEED):
        path = folder / f"{recording.name}{recording.suffix}"
        path.write_bytes(recording.file_bytes())
        files.append(
            CorpusFile(
                path, recording.situation, recording.file_format, recording.scene, recording.truth
            )
        )
    return files


def test_the_corpus_is_large_and_varied(audio_corpus: list[CorpusFile]) -> None:
    assert len(audio_corpus) >= 200
    assert {f.situation for f in audio_corpus} == set(SITUATIONS)
    assert {f.file_format for f in audio_corpus} == {
        "wav8-dual",
        "wav8-mono",
        "wav16-dual",
        "wav16-mono",
        "mp3-dual",
        "mp3-mono",
    }
    with_music = [f for f in audio_corpus if f.truth.music]
    assert {f.scene.music_style for f in with_music} == set(MUSIC_STYLES)
    assert {f.scene.mulaw for f in audio_corpus} == {True, False}
    noise = [f.scene.noise_db for f in audio_corpus]
    assert max(noise) - min(noise) > 25
    voices = Counter(
        voice_of(piece, f.scene)
        for f in audio_corpus
        for piece in f.scene.pieces
        if piece.kind in ("speech", "announcement")
    )
    assert len({voice for voice, _ in voices}) >= 6
    assert len({speed for _, speed in voices}) >= 4
    assert sum(f.truth.rings_after_answer > 0 for f in audio_corpus) >= 20
    assert sum(f.truth.busy for f in audio_corpus) >= 20
    unanswered = [f for f in audio_corpus if f.truth.answered_at_s is None and not f.truth.busy]
    assert len(unanswered) >= 20
    assert sum(f.truth.rings is None for f in audio_corpus) >= 20  # recordings from the answer


def test_the_timeline_meets_the_accuracy_of_issue_14(
    audio_corpus: list[CorpusFile], capsys: pytest.CaptureFixture[str]
) -> None:
    accuracy = Accuracy()
    by_situation: dict[str, Accuracy] = {}
    for file in audio_corpus:
        timeline = timeline_of_file(file.path)
        accuracy.add(f"{file.path.name} ({file.file_format})", file.truth, timeline)
        by_situation.setdefault(file.situation, Accuracy()).add(
            file.path.name, file.truth, timeline
        )
    lines = [f"audio timeline on the corpus (seed {CORPUS_SEED}): {accuracy.summary()}"]
    lines += [f"  {name}: {part.summary()}" for name, part in sorted(by_situation.items())]
    lines += [f"  miss: {miss}" for miss in accuracy.misses]
    with capsys.disabled():  # the figures are the point of this test: always shown
        sys.stdout.write("\n" + "\n".join(lines) + "\n")
    figures = accuracy.figures
    assert figures["rings_exact"] >= 0.98, accuracy.summary()
    assert figures["answered_within_0.3s"] >= 0.98, accuracy.summary()
    assert figures["speech_right"] >= 0.90, accuracy.summary()
    assert figures["music_right"] >= 0.90, accuracy.summary()
    assert figures["music_as_speech"] < 0.10, accuracy.summary()


def test_the_corpus_is_reproducible(espeak: str) -> None:
    first = [(r.name, r.truth, r.file_bytes()) for r in corpus(3, seed=CORPUS_SEED)]
    again = [(r.name, r.truth, r.file_bytes()) for r in corpus(3, seed=CORPUS_SEED)]
    assert first == again
