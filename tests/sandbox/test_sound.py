"""The sandbox's sound: G.711 µ-law, French tones, music that is no pure tone, byte-valid files,
and French speech from espeak-ng (the `espeak` fixture puts those tests in the services lane)."""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile

from channels.phone.audio.frames import measure
from sandbox.sound import MUSIC_STYLES, Piece, Scene, render
from sandbox.sound import voice as sound_voice
from sandbox.sound.corpus import write_corpus
from sandbox.sound.line import mulaw_decode, mulaw_encode, mulaw_round_trip
from sandbox.sound.music import render_music


def test_mulaw_matches_g711_reference_values() -> None:
    pcm = np.array([0, -1, 1, 32767, -32768, 100, -100, 8000], np.int16)
    assert mulaw_encode(pcm).tolist() == [0xFF, 0x7F, 0xFF, 0x80, 0x00, 0xF2, 0x72, 0xA0]
    codes = np.array([0xFF, 0x80, 0x00, 0x7F, 0xF2, 0xA0], np.uint8)
    assert mulaw_decode(codes).tolist() == [0, 32124, -32124, 0, 104, 7932]


def test_mulaw_round_trip_keeps_every_sample_within_its_quantisation_step() -> None:
    pcm = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
    back = mulaw_decode(mulaw_encode(pcm)).astype(np.int32)
    error = np.abs(back - np.clip(pcm.astype(np.int32), -32124, 32124))
    assert np.all(error <= np.maximum(8, np.abs(pcm.astype(np.int32)) / 16 + 8))
    codes = np.arange(256, dtype=np.uint8)
    decoded = mulaw_decode(codes)
    # Every code but "negative zero" (0x7F, decoded 0 and encoded back as 0xFF) is its own image.
    again = mulaw_encode(decoded)
    assert [code for code in range(256) if again[code] != code] == [0x7F]
    # Positive codes run from loud (0x80) to zero (0xFF): decoding is monotonic within a sign.
    assert np.all(np.diff(decoded[0x80:].astype(np.int32)) < 0)


def test_mulaw_round_trip_of_a_tone_keeps_it_clean() -> None:
    t = np.arange(8000) / 8000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    noise = mulaw_round_trip(tone) - tone
    snr_db = 10 * np.log10(np.mean(tone**2) / np.mean(noise**2))
    assert snr_db > 30  # G.711 gives about 38 dB on a loud signal


def test_ringback_is_the_french_cadence_and_its_truth_gives_each_burst() -> None:
    rendered = render(Scene((Piece("ringback", 1.0, 12.0),), 14.0, seed=1))
    bursts = [(p.start_s, p.end_s) for p in rendered.truth_of("ringback")]
    assert bursts == [(1.0, 2.5), (6.0, 7.5), (11.0, 12.5)]
    frames = measure(rendered.callee)
    ringing = frames.tone_purity[int(1.1 / 0.02) : int(2.4 / 0.02)]
    assert np.all(ringing > 0.95)
    assert np.all(np.abs(frames.tone_hz[int(1.1 / 0.02) : int(2.4 / 0.02)] - 440) < 3)


def test_busy_is_half_a_second_on_half_off() -> None:
    rendered = render(Scene((Piece("busy", 0.0, 3.0),), 3.0, seed=1))
    assert [(p.start_s, p.end_s) for p in rendered.truth_of("busy")] == [
        (0.0, 0.5),
        (1.0, 1.5),
        (2.0, 2.5),
    ]


@pytest.mark.parametrize("style", MUSIC_STYLES)
def test_hold_music_is_no_pure_tone(style: str) -> None:
    music = render_music(style, 8.0, np.random.default_rng(3))
    frames = measure(music)
    heard = frames.level_db > frames.level_db.max() - 30
    assert np.median(frames.tone_purity[heard]) < 0.75
    assert np.mean(frames.tone_purity[heard] > 0.9) < 0.05


def test_the_recording_files_are_byte_valid() -> None:
    rendered = render(
        Scene(
            (
                Piece("ringback", 0.0, 3.0),
                Piece("music", 3.2, 4.0),
                Piece("dtmf", 1.0, None, digits="12", side="caller"),
            ),
            8.0,
            noise_db=-50,
            seed=2,
        )
    )
    with wave.open(io.BytesIO(rendered.wav)) as dual:
        assert (dual.getnchannels(), dual.getsampwidth(), dual.getframerate()) == (2, 2, 8000)
        assert dual.getnframes() == 8 * 8000
    with wave.open(io.BytesIO(rendered.mono_wav(rate_hz=16000))) as mono:
        assert (mono.getnchannels(), mono.getframerate(), mono.getnframes()) == (
            1,
            16000,
            16 * 8000,
        )
    samples, rate = soundfile.read(io.BytesIO(rendered.mp3()), dtype="float32")
    assert rate == 8000 and samples.shape[1] == 2
    assert abs(len(samples) / rate - 8.0) < 0.3
    # The caller's keys are on channel 2 only.
    wav_samples, _ = soundfile.read(io.BytesIO(rendered.wav), dtype="float32")
    keys = slice(int(1.0 * 8000), int(1.1 * 8000))
    assert np.abs(wav_samples[keys, 1]).max() > 0.1
    assert [p.side for p in rendered.truth_of("dtmf")] == ["caller"]


def test_the_same_scene_renders_the_same_bytes() -> None:
    scene = Scene((Piece("music", 0.0, 3.0),), 3.0, noise_db=-40, seed=9, music_style="piano")
    assert render(scene).wav == render(scene).wav
    other = Scene((Piece("music", 0.0, 3.0),), 3.0, noise_db=-40, seed=10, music_style="piano")
    assert render(other).wav != render(scene).wav


# -- French speech (espeak-ng) ------------------------------------------------------------------


def test_speech_is_french_from_espeak_and_cached(
    espeak: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROBER_SOUND_CACHE", str(tmp_path))
    sound_voice.say.cache_clear()
    text = "Mairie de Lyon, bonjour, ne quittez pas."
    slow = sound_voice.say(text, "fr", 135)
    fast = sound_voice.say(text, "fr", 195)
    female = sound_voice.say(text, "fr+f3", 135)
    assert len(slow) / 8000 > 1.5
    assert len(fast) < len(slow)
    assert not np.array_equal(female[: len(slow)], slow[: len(female)])
    assert len(list(tmp_path.glob("*.npy"))) == 3
    sound_voice.say.cache_clear()
    assert np.array_equal(sound_voice.say(text, "fr", 135), slow)  # read back from the disk cache


def test_the_voice_activity_detector_hears_espeak_speech(espeak: str) -> None:
    rendered = render(
        Scene(
            (Piece("speech", 0.5, None, text="Préfecture du Rhône, service des titres, bonjour."),),
            5.0,
            noise_db=-55,
            seed=4,
        )
    )
    clip = rendered.truth_of("speech")[0]
    frames = measure(rendered.callee)
    inside = frames.voiced[int(clip.start_s / 0.02) + 5 : int(clip.end_s / 0.02) - 5]
    after = frames.voiced[int(clip.end_s / 0.02) + 25 :]
    assert inside.mean() > 0.8
    assert after.mean() < 0.1


def test_the_corpus_is_written_with_its_truth(espeak: str, tmp_path: Path) -> None:
    truth_path = write_corpus(tmp_path / "corpus", 3, seed=5)
    lines = [json.loads(line) for line in truth_path.read_text().splitlines()]
    assert [line["file"] for line in lines] == sorted(
        p.name for p in (tmp_path / "corpus").iterdir() if p.name != "truth.jsonl"
    )
    for line in lines:
        data = (tmp_path / "corpus" / line["file"]).read_bytes()
        assert data[:4] == b"RIFF" if line["file"].endswith(".wav") else data[:4] != b"RIFF"
        assert {"rings", "answered_at_s", "busy", "speech", "music", "pieces"} <= set(line)
        rings = [
            p
            for p in line["pieces"]
            if p["kind"] == "ringback" and p["end_s"] - p["start_s"] >= 0.2
        ]
        if line["rings"] is not None and not line["busy"]:
            assert line["rings"] + line["rings_after_answer"] == len(rings)
