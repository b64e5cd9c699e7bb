"""The call script's steps: what prober answers Twilio at each point of a probe call."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from channels.phone.script import (
    CallScript,
    Decision,
    Step,
    StepUrls,
    on_answer,
    on_answered,
    on_greeting,
    on_hold,
    on_transfer_requested,
    twilio_language,
)
from channels.phone.speech import Heard

URLS = StepUrls(voice="https://p.example/twilio/calls/X/1/voice", partial="https://p.example/p")
TRANSFER = CallScript(
    request="Bonjour, pourriez-vous me passer l'état civil ?", transfer_to="service état civil"
)
ASK = CallScript(request="Bonjour, quels sont vos horaires ?")


def verbs(twiml: str) -> list[tuple[str, dict[str, str], str]]:
    root = ET.fromstring(twiml)  # noqa: S314 (our own output)
    assert root.tag == "Response"
    return [(child.tag, dict(child.attrib), (child.text or "")) for child in root]


def test_the_answer_is_listened_to_with_interim_results() -> None:
    [(tag, attributes, _)] = verbs(on_answered(TRANSFER, URLS).twiml)
    assert tag == "Gather"
    assert attributes["input"] == "speech"
    assert attributes["language"] == "fr-FR"
    assert attributes["actionOnEmptyResult"] == "true"
    assert attributes["action"].endswith("/voice?step=greeting&attempt=1")
    assert attributes["partialResultCallback"] == "https://p.example/p?phase=greeting%3A1"
    # Heard until a 3 s pause, not cut at the first one as speechTimeout="auto" would.
    assert attributes["speechTimeout"] == "3"


def test_a_menu_gets_the_key_of_the_wanted_service_then_a_redirect_marking_the_transfer() -> None:
    reply = on_greeting(TRANSFER, URLS, "Tapez 1 pour l'urbanisme, 2 pour l'état civil")
    assert (reply.decision, reply.heard, reply.key) == (Decision.KEY_IN, Heard.IVR, "2")
    assert verbs(reply.twiml) == [
        ("Play", {"digits": "2"}, ""),
        ("Redirect", {}, f"{URLS.voice}?step=keyed&key=2&level=1"),
    ]


def test_a_scenario_choice_overrides_the_menu_reading() -> None:
    script = CallScript(request="…", ivr_choice="9")
    reply = on_greeting(script, URLS, "Tapez 1 pour l'urbanisme")
    assert reply.key == "9"


def test_a_menu_without_the_service_and_a_voicemail_end_the_call() -> None:
    no_choice = on_greeting(TRANSFER, URLS, "Pour les impôts, tapez 1.")
    assert no_choice.decision is Decision.NO_MENU_CHOICE
    assert [tag for tag, _, _ in verbs(no_choice.twiml)] == ["Hangup"]
    voicemail = on_greeting(TRANSFER, URLS, "Laissez votre message après le bip.")
    assert voicemail.decision is Decision.HANG_UP_VOICEMAIL
    assert [tag for tag, _, _ in verbs(voicemail.twiml)] == ["Hangup"]


def test_a_person_hears_the_request_then_prober_holds_or_listens() -> None:
    transfer = on_greeting(TRANSFER, URLS, "Mairie, bonjour.")
    assert transfer.decision is Decision.ASK_TRANSFER
    assert verbs(transfer.twiml) == [
        ("Say", {"language": "fr-FR"}, TRANSFER.request),
        ("Redirect", {}, f"{URLS.voice}?step=asked&level=1"),
    ]
    ask = on_greeting(ASK, URLS, "Mairie, bonjour.")
    assert ask.decision is Decision.ASK
    assert [tag for tag, _, _ in verbs(ask.twiml)] == ["Say", "Gather"]


def test_holding_loops_until_somebody_speaks() -> None:
    [(tag, attributes, _)] = verbs(on_transfer_requested(TRANSFER, URLS, Step.KEYED).twiml)
    assert tag == "Gather"
    assert attributes["action"].endswith("step=hold&via=keyed&level=1&slice=1")
    # Each slice has its own phase: its interim results are its own.
    assert attributes["partialResultCallback"].endswith("phase=transfer%3A1.1")
    silence = on_hold(TRANSFER, URLS, "", Step.KEYED)
    assert silence.decision is Decision.KEEP_HOLDING
    # Reached through a menu: the request is made to whoever comes on.
    via_menu = on_hold(TRANSFER, URLS, "État civil, bonjour", Step.KEYED)
    assert via_menu.decision is Decision.ASK
    # Already asked: thank and hang up.
    via_request = on_hold(TRANSFER, URLS, "État civil, bonjour", Step.ASKED)
    assert via_request.decision is Decision.CLOSE
    assert [tag for tag, _, _ in verbs(via_request.twiml)] == ["Say", "Hangup"]
    assert [tag for tag, _, _ in verbs(on_answer(TRANSFER).twiml)] == ["Say", "Hangup"]


def test_twilio_language() -> None:
    assert [twilio_language(code) for code in ("fr", "en", "fr-BE", "de")] == [
        "fr-FR",
        "en-US",
        "fr-BE",
        "de-DE",
    ]


def test_the_greeting_is_listened_to_again_over_music_silence_or_a_queue_message() -> None:
    for heard_first in ("", "la la", "Votre appel est important, veuillez patienter."):
        again = on_greeting(TRANSFER, URLS, heard_first, attempt=2)
        assert again.decision is Decision.LISTEN_AGAIN
        [(tag, attributes, _)] = verbs(again.twiml)
        assert (tag, attributes["action"]) == ("Gather", f"{URLS.voice}?step=greeting&attempt=3")
    # At last, someone who says nothing is asked all the same.
    assert on_greeting(TRANSFER, URLS, "", attempt=10).decision is Decision.ASK_TRANSFER


def test_hold_cues_keep_holding_in_a_new_slice_and_never_hang_up() -> None:
    for cue in (
        "Ne quittez pas, je vous passe l'état civil.",
        "Je vous mets en relation.",
        "Votre appel est important pour nous, veuillez patienter.",
        "Tous nos conseillers sont occupés.",
        "euh",
        "",
    ):
        reply = on_hold(TRANSFER, URLS, cue, Step.ASKED, level=1, slice_number=4)
        assert reply.decision is Decision.KEEP_HOLDING, cue
        [(tag, attributes, _)] = verbs(reply.twiml)
        assert tag == "Gather"
        assert attributes["action"].endswith("step=hold&via=asked&level=1&slice=5")
        assert attributes["partialResultCallback"].endswith("phase=transfer%3A1.5")


def test_a_second_level_menu_on_hold_is_keyed_into() -> None:
    submenu = (
        "Vous êtes au service de l'état civil. Pour un acte de naissance, tapez 1. "
        "Pour parler à un agent de l'état civil, tapez 2."
    )
    reply = on_hold(TRANSFER, URLS, submenu, Step.KEYED, level=1, slice_number=2)
    assert (reply.decision, reply.key) == (Decision.KEY_IN, "2")
    assert verbs(reply.twiml)[1] == ("Redirect", {}, f"{URLS.voice}?step=keyed&key=2&level=2")
