"""The timeline of recordings made of tones and music (no speech: no espeak-ng needed)."""

from __future__ import annotations

import io
import json
import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile

from channels.phone.audio import AudioError, Segment, Timeline, timeline_of_bytes, timeline_of_file
from channels.phone.audio import decode as audio_decode
from channels.phone.audio.frames import measure
from sandbox.sound import Piece, Rendered, Scene, render
from sandbox.sound.files import wav_bytes
from tests.support.cli import Run

RING_CYCLE_S = 5.0


def scene(*pieces: Piece, duration_s: float, **options: object) -> Rendered:
    return render(Scene(pieces=pieces, duration_s=duration_s, **options))  # type: ignore[arg-type]


def test_rings_then_music_gives_the_rings_and_the_answer() -> None:
    # Four full rings, the fifth cut 0.8 s in by the answer; the switchboard plays music.
    answer_s = 0.5 + 4 * RING_CYCLE_S + 0.8
    rendered = scene(
        Piece("ringback", 0.5, answer_s - 0.5),
        Piece("music", answer_s + 0.4, 12.0),
        duration_s=answer_s + 13,
        noise_db=-50,
        seed=1,
        music_style="pop",
    )
    timeline = timeline_of_bytes(rendered.wav, name="rings.wav")
    assert timeline.rings == 5
    assert timeline.answered_at_s == pytest.approx(answer_s + 0.4, abs=0.1)
    assert not timeline.busy
    assert timeline.rings_after_answer == 0
    assert timeline.first_words_s is None
    assert timeline.music_s == pytest.approx(12.0, abs=0.5)
    rings = [s for s in timeline.segments if s.kind == "ringback"]
    assert [round(s.start_s, 1) for s in rings] == [0.5 + RING_CYCLE_S * n for n in range(5)]
    assert all(s.duration_s == pytest.approx(1.5, abs=0.06) for s in rings[:4])


def test_a_busy_line_has_no_ring_and_no_answer() -> None:
    rendered = scene(Piece("busy", 0.3, 6.0), duration_s=7, noise_db=-45, seed=2)
    timeline = timeline_of_bytes(rendered.mono_wav(rate_hz=16000), name="busy.wav")
    assert timeline.busy
    assert timeline.rings == 0
    assert timeline.answered_at_s is None
    assert [s.kind for s in timeline.segments].count("busy") == 6


def test_nobody_answers() -> None:
    rendered = scene(Piece("ringback", 0.0, 3 * RING_CYCLE_S + 1.0), duration_s=16.5, seed=3)
    timeline = timeline_of_bytes(rendered.mp3(), name="unanswered.mp3")
    assert timeline.rings == 4
    assert timeline.answered_at_s is None


def test_ringback_played_by_the_switchboard_after_answering() -> None:
    # The network rings twice; the PBX answers with music, then rings an extension three times.
    rendered = scene(
        Piece("ringback", 0.0, 2 * RING_CYCLE_S),
        Piece("music", 10.3, 6.0),
        Piece("ringback", 17.0, 2 * RING_CYCLE_S + 1.5),
        Piece("music", 29.0, 5.0),
        duration_s=35,
        seed=4,
        music_style="piano",
    )
    timeline = timeline_of_bytes(rendered.wav, name="pbx.wav")
    assert timeline.rings == 2
    assert timeline.answered_at_s == pytest.approx(10.3, abs=0.1)
    assert timeline.rings_after_answer == 3


def test_a_note_with_harmonics_in_the_ringing_cadence_is_not_ringback() -> None:
    # 440 Hz with its harmonics (a held A of an instrument), 1.5 s on and 3.5 s off.
    rate = 8000
    t = np.arange(int(1.5 * rate)) / rate
    note = sum(w * np.sin(2 * np.pi * 440 * n * t) for n, w in ((1, 1.0), (2, 0.6), (3, 0.4)))
    samples = np.zeros(20 * rate, np.float32)
    for start in (0, 5, 10, 15):
        samples[start * rate : start * rate + len(t)] = 0.2 * note
    timeline = timeline_of_bytes(wav_bytes([samples], rate_hz=rate), name="note.wav")
    assert timeline.rings is None
    assert not any(s.kind == "ringback" for s in timeline.segments)


def test_the_caller_keys_are_tones_of_their_own_in_a_mono_mix() -> None:
    rendered = scene(Piece("dtmf", 1.0, None, digits="1", side="caller"), duration_s=3, seed=5)
    dual = timeline_of_bytes(rendered.wav, name="dual.wav")
    mono = timeline_of_bytes(rendered.mono_wav(), name="mono.wav")
    assert {s.kind for s in dual.segments} == {"silence"}  # the callee's channel heard nothing
    tones = [s for s in mono.segments if s.kind == "tone"]
    assert len(tones) == 1
    assert tones[0].start_s == pytest.approx(1.0, abs=0.05)
    assert mono.answered_at_s is None


def test_the_tone_detector_finds_the_frequency_of_a_pure_tone() -> None:
    rate = 8000
    for frequency in (440.0, 1000.0, 2500.0):
        samples = (0.3 * np.sin(2 * np.pi * frequency * np.arange(rate) / rate)).astype(np.float32)
        frames = measure(samples)
        assert np.all(np.abs(frames.tone_hz[1:-2] - frequency) < 3), frequency
        assert np.all(frames.tone_purity[1:-2] > 0.95)


def test_the_voice_activity_detector_hears_no_voice_in_line_noise() -> None:
    rate = 8000
    quiet = np.random.default_rng(1).normal(0, 0.0005, 2 * rate).astype(np.float32)
    voiced = measure(quiet).voiced
    assert len(voiced) == 2 * rate // 160  # one verdict per 20 ms frame
    # webrtcvad takes a few frames to learn the noise; after 0.2 s it hears no voice.
    assert not voiced[10:].any()


def test_wav_and_mp3_of_a_scene_read_back_at_its_rate_and_length() -> None:
    rendered = scene(Piece("ringback", 0.0, 3.0), duration_s=4.0, seed=6)
    for data in (rendered.wav, rendered.dual_wav(rate_hz=16000), rendered.mp3(dual=False)):
        decoded = audio_decode.decode(data, name="scene")
        assert decoded.duration_s == pytest.approx(4.0, abs=0.2)


# -- Files that are not recordings --------------------------------------------------------


def test_a_text_file_is_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("ceci n'est pas un enregistrement\n")
    with pytest.raises(AudioError, match=r"notes\.wav: not a WAV or MP3 recording"):
        timeline_of_file(path)


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.mp3: empty file"):
        timeline_of_file(path)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"absent\.wav: cannot be read"):
        timeline_of_file(tmp_path / "absent.wav")


def test_a_rate_other_than_8_or_16_khz_is_refused() -> None:
    data = wav_bytes([np.zeros(44100, np.float32)], rate_hz=44100)
    with pytest.raises(AudioError, match=r"cd\.wav: sampled at 44100 Hz"):
        timeline_of_bytes(data, name="cd.wav")


def test_more_than_two_channels_are_refused() -> None:
    silent = np.zeros(8000, np.float32)
    with pytest.raises(AudioError, match="3 channels"):
        timeline_of_bytes(wav_bytes([silent, silent, silent], rate_hz=8000), name="three.wav")


def test_a_truncated_wav_is_an_error() -> None:
    data = scene(Piece("ringback", 0.0, 2.0), duration_s=2.0).wav
    with pytest.raises(AudioError, match=r"cut\.wav: truncated"):
        timeline_of_bytes(data[: len(data) // 2], name="cut.wav")


def test_a_header_claiming_gigabytes_is_refused_at_once() -> None:
    header = io.BytesIO()
    with wave.open(header, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * 100)
    data = bytearray(header.getvalue())
    at = data.index(b"data")
    struct.pack_into("<I", data, at + 4, 0x7FFFFFF0)  # 2 GiB of samples announced
    with pytest.raises(AudioError, match="truncated: its header announces 2147483632 bytes"):
        timeline_of_bytes(bytes(data), name="liar.wav")


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.wav"
    with path.open("wb") as file:
        file.truncate(audio_decode.MAX_FILE_BYTES + 1)  # sparse: nothing written
    with pytest.raises(AudioError, match=r"huge\.wav: \d+ bytes, over the"):
        timeline_of_file(path)


def test_a_recording_over_the_duration_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio_decode, "MAX_DURATION_S", 60)
    data = wav_bytes([np.zeros(61 * 8000, np.float32)], rate_hz=8000)
    with pytest.raises(AudioError, match="longer than 60 s"):
        timeline_of_bytes(data, name="long.wav")


def test_garbage_after_an_mp3_tag_is_an_error() -> None:
    data = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 40
    with pytest.raises(AudioError, match=r"junk\.mp3"):
        timeline_of_bytes(data, name="junk.mp3")


# -- prober audio timeline ------------------------------------------------------------------


def test_the_command_prints_one_json_object_per_file_and_names_a_bad_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rendered = scene(Piece("ringback", 0.0, 6.0), Piece("music", 6.5, 5.0), duration_s=12, seed=7)
    (tmp_path / "call.wav").write_bytes(rendered.wav)
    (tmp_path / "call.mp3").write_bytes(rendered.mp3())
    (tmp_path / "bad.wav").write_text("not audio")
    result = Run(monkeypatch, capsys)(
        "audio",
        "timeline",
        "--json",
        str(tmp_path / "call.wav"),
        str(tmp_path / "bad.wav"),
        str(tmp_path / "call.mp3"),
    )
    assert result.exit_code == 1
    assert "bad.wav: not a WAV or MP3 recording" in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(line["file"]).name for line in lines] == ["call.wav", "call.mp3"]
    for line in lines:
        assert set(line) == {"file", "rings", "answered_at_s", "busy", "segments"}
        assert line["rings"] == 2
        assert line["answered_at_s"] == pytest.approx(6.5, abs=0.2)
        assert line["busy"] is False
        kinds = [segment["kind"] for segment in line["segments"]]
        assert kinds.count("ringback") == 2 and "music" in kinds
        assert line["segments"][-1]["end_s"] == pytest.approx(12.0, abs=0.2)


def test_the_command_prints_a_table_with_numbered_rings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rendered = scene(Piece("ringback", 0.0, 6.0), Piece("music", 6.5, 5.0), duration_s=12)
    (tmp_path / "call.wav").write_bytes(rendered.wav)
    monkeypatch.setenv("COLUMNS", "200")
    result = Run(monkeypatch, capsys)("audio", "timeline", str(tmp_path / "call.wav"))
    assert result.exit_code == 0, result.stderr
    assert "rings 2, answered at 6.5 s, busy no" in result.stdout
    assert "ringback #1" in result.stdout and "ringback #2" in result.stdout


def test_the_callee_may_be_on_channel_2_of_a_dial_recording() -> None:
    rendered = scene(Piece("ringback", 0.0, 6.0), Piece("music", 6.5, 3.0), duration_s=10, seed=8)
    swapped = wav_bytes([rendered.caller, rendered.callee], rate_hz=8000)
    assert timeline_of_bytes(swapped, name="dial.wav").rings is None  # channel 1: prober's side
    on_two = timeline_of_bytes(swapped, name="dial.wav", channel=2)
    assert on_two.rings == 2
    assert on_two.answered_at_s == pytest.approx(6.5, abs=0.1)
    # A mono recording has one channel, whichever is asked.
    assert timeline_of_bytes(rendered.mono_wav(), name="mono.wav", channel=2).rings == 2


def test_a_mulaw_wav_as_some_switchboards_store_it_is_read() -> None:
    rendered = scene(Piece("ringback", 0.0, 6.0), Piece("music", 6.5, 3.0), duration_s=10, seed=9)
    buffer = io.BytesIO()
    soundfile.write(buffer, rendered.callee, 8000, format="WAV", subtype="ULAW")
    timeline = timeline_of_bytes(buffer.getvalue(), name="ulaw.wav")
    assert timeline.rings == 2
    assert timeline.answered_at_s == pytest.approx(6.5, abs=0.1)


def hold_timeline(*segments: tuple[str, float, float]) -> Timeline:
    return Timeline(
        duration_s=segments[-1][2],
        segments=tuple(Segment(kind, start, end) for kind, start, end in segments),  # type: ignore[arg-type]
        rings=1,
        answered_at_s=2.0,
        busy=False,
        rings_after_answer=0,
        first_words_s=2.0,
        music_s=0.0,
        announcement_s=0.0,
    )


def test_hold_runs_from_the_request_to_the_first_live_words_after_the_hold_sound() -> None:
    timeline = hold_timeline(
        ("ringback", 0.0, 1.5),
        ("silence", 1.5, 2.0),
        ("speech", 2.0, 4.0),  # "Mairie, bonjour"
        ("silence", 4.0, 6.0),  # the caller asks for the service at 5.0
        ("speech", 6.0, 7.0),  # "ne quittez pas": the hold has not started
        ("music", 7.5, 20.0),
        ("speech", 20.5, 23.0),  # an announcement between two stretches of music
        ("music", 23.5, 40.0),
        ("silence", 40.0, 41.0),
        ("speech", 41.0, 44.0),  # the agent
    )
    assert timeline.hold_s(5.0) == pytest.approx(36.0)
    # Without hold sound after the request, the hold ends at the next words.
    direct = hold_timeline(("speech", 2.0, 4.0), ("silence", 4.0, 9.0), ("speech", 9.0, 11.0))
    assert direct.hold_s(5.0) == pytest.approx(4.0)
    assert direct.hold_s(12.0) is None


def test_music_long_after_a_conversation_does_not_make_a_hold() -> None:
    timeline = hold_timeline(
        ("speech", 2.0, 4.0),
        ("silence", 4.0, 6.0),
        ("speech", 6.0, 14.0),  # the person answers the request at length: no transfer
        ("silence", 14.0, 15.0),
        ("music", 15.0, 30.0),  # later on, another transfer
        ("speech", 31.0, 33.0),
    )
    assert timeline.hold_s(5.0) == pytest.approx(1.0)
