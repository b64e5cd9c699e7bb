"""The audio witness beside the callbacks: which figures reports use, and when to flag."""

from __future__ import annotations

from channels.phone.audio import Segment, Timeline
from config.settings import MeasureSettings
from prober.probes.call_audio import (
    audio_figures,
    callback_figures,
    disagreements,
    with_preferred,
)

MEASURE = MeasureSettings()


def test_audio_figures_are_preferred_when_the_recording_covers_them() -> None:
    measurement = {"outcome": "answered", "rings": 1, "hold_s": 40.0, "transfer_outcome": "human"}
    chosen = with_preferred(measurement, {"rings": 4, "hold_s": 38.6}, "audio")
    assert (chosen["rings"], chosen["hold_s"]) == (4, 38.6)
    assert (chosen["rings_callbacks"], chosen["hold_s_callbacks"]) == (1, 40.0)
    assert chosen["sources"] == {"rings": "audio", "hold_s": "audio"}
    # Applied again (a late callback re-measures): the callbacks' figures are not lost.
    again = with_preferred(chosen, {"rings": 4, "hold_s": 38.6}, "audio")
    assert again["rings_callbacks"] == 1


def test_the_callbacks_stand_where_the_audio_cannot_tell_or_when_preferred() -> None:
    measurement = {"rings": 3, "hold_s": None}
    chosen = with_preferred(measurement, {"rings": None, "hold_s": None}, "audio")
    assert chosen["rings"] == 3
    assert chosen["sources"]["rings"] == "callbacks"
    assert with_preferred(measurement, {"rings": 5}, "callbacks")["rings"] == 3


def test_witnesses_disagreeing_by_more_than_a_ring_or_two_seconds_of_hold_are_flagged() -> None:
    callbacks = callback_figures({"rings": 1, "hold_s": 30.0, "transfer_outcome": "human"})
    assert disagreements(callbacks, {"rings": 2, "hold_s": 31.5}, MEASURE) == []
    reasons = disagreements(callbacks, {"rings": 4, "hold_s": 33.0}, MEASURE)
    assert reasons == ["rings: callbacks 1, audio 4", "hold: callbacks 30.0 s, audio 33.0 s"]


def test_the_audios_hold_is_not_used_when_no_words_ended_a_hold() -> None:
    # A person who answered the request themselves: the audio hears them at once.
    measurement = {"rings": 2, "hold_s": None, "transfer_outcome": "not_transferred"}
    chosen = with_preferred(measurement, {"rings": 2, "hold_s": 0.0}, "audio")
    assert chosen["hold_s"] is None
    assert chosen["sources"]["hold_s"] == "callbacks"
    not_transferred = callback_figures({"rings": 1, "hold_s": None, "transfer_outcome": None})
    assert disagreements(not_transferred, {"rings": 1, "hold_s": 12.0}, MEASURE) == []


def _timeline(*segments: tuple[str, float, float]) -> Timeline:
    return Timeline(
        duration_s=60.0,
        segments=tuple(Segment(kind, start, end) for kind, start, end in segments),  # type: ignore[arg-type]
        rings=None,
        answered_at_s=0.0,
        busy=False,
        rings_after_answer=0,
        first_words_s=0.0,
        music_s=0.0,
        announcement_s=0.0,
    )


def test_a_hold_message_over_silence_is_told_apart_with_the_recognisers_help() -> None:
    # "Veuillez patienter" at 11 s, over silence, then the service at 30 s: the audio alone
    # ends the hold at the message; the callbacks (the recogniser's words) say ~19 s.
    timeline = _timeline(
        ("silence", 0.0, 11.0), ("speech", 11.0, 13.0), ("silence", 13.0, 30.0),
        ("speech", 30.0, 32.0), ("silence", 32.0, 60.0),
    )  # fmt: skip
    alone, _ = audio_figures(timeline, from_ringing=False, transfer_s=10.0,
                             transfer_dated_by="caller_audio")  # fmt: skip
    assert alone["hold_s"] == 1.0
    guided, _ = audio_figures(timeline, from_ringing=False, transfer_s=10.0,
                              transfer_dated_by="caller_audio", callbacks_hold_s=18.6)  # fmt: skip
    assert guided["hold_s"] == 20.0  # the audio's timing of the words the recogniser meant
    nobody, _ = audio_figures(_timeline(("silence", 0.0, 60.0)), from_ringing=False,
                              transfer_s=10.0, transfer_dated_by="caller_audio",
                              callbacks_hold_s=48.0)  # fmt: skip
    assert nobody["hold_s"] == 50.0  # to the end of the recording
    undated, _ = audio_figures(timeline, from_ringing=False, transfer_s=10.0,
                               transfer_dated_by="receipt_clock")  # fmt: skip
    assert undated["hold_s"] is None
