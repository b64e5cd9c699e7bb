"""Real switchboards: pauses in greetings, music first, hold cues and music, announcements,
second-level menus and a noisy recogniser, as the sandbox plays them to a speech `<Gather>`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox import RunnerTiming, WorldFileError, parse_world
from tests.support.sandbox_scene import CALLER, Scene, open_scene

GREETING = "Mairie de Vincennes, bonjour. [pause 1.5] Pour l'état civil, tapez 1."
WORLD = f"""
[numbers."+33142765101"]
rings = 1
answer = "ivr"
greeting = "{GREETING}"
hangup_after_s = 30

[numbers."+33142765102"]
rings = 1
answer = "ivr"
music_before_greeting_s = 12
greeting = "Bienvenue à la mairie."
hangup_after_s = 40

[numbers."+33142765103"]
rings = 1
answer = "ivr"
recognition = "noisy"
music_before_greeting_s = 8
greeting = "Bienvenue à la mairie."
hangup_after_s = 40

[numbers."+33142765104"]
rings = 1
greeting = "Mairie, bonjour."
hangup_after_s = 120
[numbers."+33142765104".transfer]
say = "Ne quittez pas, je vous passe le service."
hold = "music"
announcement = "Votre appel est important pour nous, veuillez patienter."
announcement_every_s = 10
hold_s = 40
greeting = "État civil, bonjour."

[numbers."+33142765105"]
rings = 1
answer = "ivr"
greeting = "Tapez 1 pour l'état civil."
hangup_after_s = 120
[numbers."+33142765105".menu."1"]
say = "Je vous mets en relation."
hold_s = 6
then = "menu"
greeting = "État civil. [pause 1.5] Pour une naissance, tapez 1. Pour un mariage, tapez 2."
[numbers."+33142765105".menu."1".menu."2"]
hold_s = 20
hold = "music"
greeting = "Service des mariages, bonjour."
"""

LISTEN = (
    "<Response><Gather input='speech' timeout='{timeout}' speechTimeout='{end}' "
    "actionOnEmptyResult='true' partialResultCallback='/partial' "
    "action='/twiml/{name}'/></Response>"
)


@pytest.fixture
def rough(tmp_path: Path) -> Iterator[Scene]:
    timing = RunnerTiming(time_scale=0.005, poll_interval_s=0.01)
    with open_scene(tmp_path / "truth.jsonl", timing, world=WORLD) as scene:
        yield scene


def listen(scene: Scene, name: str, *, timeout: int, end: str) -> str:
    scene.receiver.documents[name] = LISTEN.format(timeout=timeout, end=end, name=name)
    return name


def place(scene: Scene, to: str, document: str, **options: object) -> str:
    call = scene.twilio.calls.create(
        to=to, from_=CALLER, url=f"{scene.receiver_url}/twiml/{document}", **options
    )
    sid: str = call.sid
    return sid


def recording_posted(scene: Scene, sid: str) -> Callable[[], bool]:
    return lambda: bool(scene.receiver.for_call(sid, "/recording"))


def speech(scene: Scene, sid: str, name: str) -> list[str | None]:
    return [
        hook.params.get("SpeechResult") for hook in scene.receiver.for_call(sid, f"/twiml/{name}")
    ]


def test_auto_speech_timeout_ends_at_the_first_pause(rough: Scene) -> None:
    name = listen(rough, "auto", timeout=5, end="auto")
    sid = place(rough, "+33142765101", name)
    rough.finished(sid)
    heard = [words for words in speech(rough, sid, name) if words]
    assert heard[:2] == ["Mairie de Vincennes, bonjour.", "Pour l'état civil, tapez 1."]


def test_a_longer_speech_timeout_hears_through_short_pauses(rough: Scene) -> None:
    name = listen(rough, "three", timeout=5, end="3")
    sid = place(rough, "+33142765101", name)
    rough.finished(sid)
    # (The first request is the document's fetch, not a result.)
    assert speech(rough, sid, name)[1] == (
        "Mairie de Vincennes, bonjour. Pour l'état civil, tapez 1."
    )
    partials = [h.params["UnstableSpeechResult"] for h in rough.receiver.for_call(sid, "/partial")]
    # Recognition progresses, and the words heard before the pause stay.
    assert partials[0] == "Mairie de"
    assert partials[-1] == "Mairie de Vincennes bonjour Pour l'état civil tapez 1"


def test_music_before_the_greeting_is_heard_as_nothing_on_a_clean_line(rough: Scene) -> None:
    name = listen(rough, "wait", timeout=8, end="auto")
    sid = place(rough, "+33142765102", name)
    rough.finished(sid)
    # 8 s of listening hear nothing in the 12 s of music; the next listening hears the words.
    assert speech(rough, sid, name)[1:3] == [None, "Bienvenue à la mairie."]


def test_a_noisy_line_hears_words_in_music_then_gives_up(rough: Scene) -> None:
    name = listen(rough, "noisy", timeout=20, end="auto")
    sid = place(rough, "+33142765103", name)
    rough.finished(sid)
    heard = speech(rough, sid, name)[1:]
    partials = [h.params["UnstableSpeechResult"] for h in rough.receiver.for_call(sid, "/partial")]
    # 8 s of music: words heard in it, each listening giving up with nothing after 2 s.
    assert heard[:4] == [None, None, None, None]
    assert len(partials) >= 4 and not any("Bienvenue" in words for words in partials[:4])
    # Then the greeting, a word or two misheard, the first partial result corrected later.
    [greeting] = [words for words in heard if words]
    assert greeting.startswith("Bienvenue à la")
    assert partials[-1] == "Bienvenue à la mairie"


def test_a_transfer_says_holds_with_music_and_announcements(rough: Scene) -> None:
    rough.receiver.documents["ask"] = (
        "<Response><Say language='fr-FR'>Bonjour, l'état civil s'il vous plaît.</Say>"
        "<Redirect>/twiml/hold</Redirect></Response>"
    )
    hold = listen(rough, "hold", timeout=30, end="3")
    sid = place(rough, "+33142765104", "ask")
    truth = rough.finished(sid)
    heard = [words for words in speech(rough, sid, hold) if words]
    assert heard[0] == "Ne quittez pas, je vous passe le service."
    announcement = "Votre appel est important pour nous, veuillez patienter."
    assert heard.count(announcement) >= 2
    assert heard[-1] == "État civil, bonjour."
    assert (truth["transfer_outcome"], truth["hold_s"]) == ("human", 40)


def test_a_second_level_menu_is_its_own_menu(rough: Scene) -> None:
    rough.receiver.documents["menu"] = (
        "<Response><Pause length='3'/><Play digits='1'/><Redirect>/twiml/sub</Redirect></Response>"
    )
    rough.receiver.documents["sub"] = (
        "<Response><Pause length='14'/><Play digits='2'/><Redirect>/twiml/end</Redirect></Response>"
    )
    end = listen(rough, "end", timeout=30, end="3")
    sid = place(rough, "+33142765105", "menu")
    truth = rough.finished(sid)
    assert truth["menu_path"] == ["1", "2"]
    assert truth["menu_choice"] == "1"
    # From the second key to the mariages' first words.
    assert (truth["transfer_outcome"], truth["hold_s"]) == ("human", 20)
    assert "Service des mariages, bonjour." in speech(rough, sid, end)


def test_repeated_recording_event_keys_get_no_recording_callback(rough: Scene) -> None:
    # Twilio documents one space-separated value; repeated keys get a 201 and no callback.
    rough.receiver.documents["bye"] = "<Response><Pause length='2'/><Hangup/></Response>"
    for events, expected in ((["completed", "absent"], 0), (["completed absent"], 1)):
        sid = place(
            rough,
            "+33142765101",
            "bye",
            record=True,
            recording_status_callback=f"{rough.receiver_url}/recording",
            recording_status_callback_event=events,
        )
        rough.finished(sid)
        if expected:
            rough.receiver.wait_for(recording_posted(rough, sid))
        assert len(rough.receiver.for_call(sid, "/recording")) == expected


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('greeting = "Bonjour [pause]"', "[pause 1.5]"),
        ('hold = "jazz"', '"silence", "music"'),
        ('then = "human"\nmenu."1" = {}', 'needs then = "menu"'),
        ("announcement_every_s = 0", "at least 1"),
    ],
)
def test_rough_world_keys_are_checked(entry: str, problem: str) -> None:
    world = f'[numbers."+33142765101"]\nrings = 1\n[numbers."+33142765101".transfer]\n{entry}\n'
    with pytest.raises(WorldFileError) as raised:
        parse_world(world)
    assert problem in str(raised.value)


def test_trim_silence_cuts_the_recordings_silent_start_and_end(rough: Scene) -> None:
    # 12 s of music (no speech in the recording), the greeting (2 s), then 6 s of silence.
    rough.receiver.documents["quiet"] = "<Response><Pause length='20'/><Hangup/></Response>"
    durations = {}
    for trim in ("trim-silence", "do-not-trim"):
        sid = place(rough, "+33142765102", "quiet", record=True, trim=trim)
        truth = rough.finished(sid)
        recording = rough.twilio.recordings(str(truth["recording_sid"])).fetch()
        durations[trim] = int(recording.duration or 0)
    assert durations == {"trim-silence": 2, "do-not-trim": 20}
