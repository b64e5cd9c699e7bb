"""The call script as TwiML: what prober says and listens for at each step of a phone probe.

A probe call goes through these steps, each a webhook whose answer is the next TwiML document:

``answered``  listen to whoever picked up (speech ``<Gather>``);
``greeting``  decide from the words: a menu → key in the choice (``<Play digits>``); a voicemail
              → hang up without a message; a person → say the request, then listen;
``keyed`` / ``asked``  the transfer is requested (menu key sent, or request said): start holding;
``hold``      listen in slices until somebody speaks, then speak to them or hang up;
``answer``    the request was answered: thank and hang up.

The instants of ``keyed``/``asked`` and of the first speech after them (reported early by
Gather's ``partialResultCallback``) give the menu and hold times.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlencode

from twilio.twiml.voice_response import Gather, VoiceResponse

from channels.phone.speech import Heard, choose_menu_key, classify_speech

GREETING_LISTEN_S = 6
HOLD_LISTEN_S = 30
ANSWER_LISTEN_S = 8
CLOSING_FR = "Très bien, merci beaucoup pour votre aide. Au revoir."
CLOSING_EN = "Thank you very much for your help. Goodbye."


class Step(StrEnum):
    """The webhook steps of a probe call, in the order they can happen."""

    ANSWERED = "answered"
    GREETING = "greeting"
    KEYED = "keyed"
    ASKED = "asked"
    HOLD = "hold"
    ANSWER = "answer"


class Decision(StrEnum):
    """What the script did after hearing the greeting or the end of a hold."""

    KEY_IN = "key_in"  # a menu: the choice is keyed in
    NO_MENU_CHOICE = "no_menu_choice"  # a menu without an entry for the wanted service
    HANG_UP_VOICEMAIL = "hang_up_voicemail"
    ASK = "ask"  # a person: the request is said
    ASK_TRANSFER = "ask_transfer"  # a person: the request, which asks for a transfer, is said
    KEEP_HOLDING = "keep_holding"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class CallScript:
    """What the caller says and does; from a scenario's ``[phone]`` section."""

    request: str
    language: str = "fr-FR"
    voice: str | None = None
    transfer_to: str | None = None
    ivr_choice: str | None = None


@dataclass(frozen=True, slots=True)
class StepUrls:
    """Where Twilio posts the next step and Gather's interim speech results for one call."""

    voice: str
    partial: str

    def step(self, step: Step, **query: str) -> str:
        """The voice webhook URL for ``step`` (extra state rides in the query string)."""
        separator = "&" if "?" in self.voice else "?"
        return f"{self.voice}{separator}{urlencode({'step': step.value, **query})}"

    def partial_for(self, phase: str) -> str:
        separator = "&" if "?" in self.partial else "?"
        return f"{self.partial}{separator}{urlencode({'phase': phase})}"


@dataclass(frozen=True, slots=True)
class StepReply:
    """The TwiML to answer with, and what was decided (for the event log)."""

    twiml: str
    decision: Decision | None = None
    heard: Heard | None = None
    key: str | None = None


def twilio_language(language: str) -> str:
    """A scenario's language ("fr", "fr-FR") as Twilio wants it ("fr-FR")."""
    if "-" in language:
        return language
    return {"fr": "fr-FR", "en": "en-US"}.get(language, f"{language}-{language.upper()}")


def on_answered(script: CallScript, urls: StepUrls) -> StepReply:
    """Listen to whoever picked up."""
    response = VoiceResponse()
    response.append(_listen(script, urls, Step.GREETING, "greeting", GREETING_LISTEN_S))
    return StepReply(str(response))


def on_greeting(script: CallScript, urls: StepUrls, speech: str | None) -> StepReply:
    """Act on the greeting: key in a menu choice, hang up on a voicemail, or make the request."""
    heard = classify_speech(speech)
    response = VoiceResponse()
    if heard is Heard.MACHINE:
        response.hangup()
        return StepReply(str(response), Decision.HANG_UP_VOICEMAIL, heard)
    if heard is Heard.IVR:
        key = script.ivr_choice
        if key is None and script.transfer_to:
            key = choose_menu_key(speech or "", script.transfer_to)
        if key is None:
            response.hangup()
            return StepReply(str(response), Decision.NO_MENU_CHOICE, heard)
        response.play(digits=key)
        response.redirect(urls.step(Step.KEYED, key=key))
        return StepReply(str(response), Decision.KEY_IN, heard, key)
    _say(response, script, script.request)
    if script.transfer_to:
        response.redirect(urls.step(Step.ASKED))
        return StepReply(str(response), Decision.ASK_TRANSFER, heard)
    response.append(_listen(script, urls, Step.ANSWER, "answer", ANSWER_LISTEN_S))
    return StepReply(str(response), Decision.ASK, heard)


def on_transfer_requested(script: CallScript, urls: StepUrls, via: Step) -> StepReply:
    """The menu key is sent or the request said: hold, listening for whoever comes on."""
    response = VoiceResponse()
    response.append(_hold(script, urls, via))
    return StepReply(str(response), Decision.KEEP_HOLDING)


def on_hold(script: CallScript, urls: StepUrls, speech: str | None, via: Step) -> StepReply:
    """After a listening slice on hold: keep holding, or speak to whoever came on."""
    heard = classify_speech(speech)
    response = VoiceResponse()
    if heard is Heard.SILENCE:
        response.append(_hold(script, urls, via))
        return StepReply(str(response), Decision.KEEP_HOLDING, heard)
    if heard is Heard.MACHINE:
        response.hangup()
        return StepReply(str(response), Decision.HANG_UP_VOICEMAIL, heard)
    if via is Step.KEYED:  # reached through a menu: the request has not been made yet
        _say(response, script, script.request)
        response.append(_listen(script, urls, Step.ANSWER, "answer", ANSWER_LISTEN_S))
        return StepReply(str(response), Decision.ASK, heard)
    _close(response, script)
    return StepReply(str(response), Decision.CLOSE, heard)


def on_answer(script: CallScript) -> StepReply:
    """The request was answered (or nobody said more): thank and hang up."""
    response = VoiceResponse()
    _close(response, script)
    return StepReply(str(response), Decision.CLOSE)


def hang_up() -> str:
    """A document that ends the call (for unknown or finished probes)."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


def _listen(
    script: CallScript, urls: StepUrls, step: Step, phase: str, timeout_s: int, **query: str
) -> Gather:
    return Gather(
        input="speech",
        language=script.language,
        timeout=timeout_s,
        speech_timeout="auto",
        action=urls.step(step, **query),
        method="POST",
        action_on_empty_result=True,
        partial_result_callback=urls.partial_for(phase),
        partial_result_callback_method="POST",
    )


def _hold(script: CallScript, urls: StepUrls, via: Step) -> Gather:
    return _listen(script, urls, Step.HOLD, "transfer", HOLD_LISTEN_S, via=via.value)


def _say(response: VoiceResponse, script: CallScript, text: str) -> None:
    if script.voice:
        response.say(text, language=script.language, voice=script.voice)
    else:
        response.say(text, language=script.language)


def _close(response: VoiceResponse, script: CallScript) -> None:
    closing = CLOSING_FR if script.language.startswith("fr") else CLOSING_EN
    _say(response, script, closing)
    response.hangup()
