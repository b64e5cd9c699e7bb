"""The call script as TwiML: what prober says and listens for at each step of a phone probe.

A probe call goes through these steps, each a webhook whose answer is the next TwiML document:

``answered``  listen to whoever picked up (speech ``<Gather>``);
``greeting``  decide from the words, heard until the line pauses: a menu → key in the choice
              (``<Play digits>``); a voicemail → hang up without a message; a person → say the
              request, then listen; music, silence or a hold message → listen again;
``keyed`` / ``asked``  the transfer is requested (menu key sent, or request said): start holding;
``hold``      listen in slices: silence, music and hold cues ("ne quittez pas", "veuillez
              patienter"...) keep holding, a second-level menu is keyed into, the first other
              words end the hold (a person, or a voicemail);
``answer``    the request was answered: thank and hang up.

The script never hangs up on a hold cue: only the call's time limit ends a hold. Each hold
slice has its own number, so the interim results (``partialResultCallback``) of a slice that
heard only music or a cue never date the end of the hold: the first interim result of the
slice whose words end the hold does. The instants of ``keyed``/``asked`` give the menu time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlencode

from twilio.twiml.voice_response import Gather, VoiceResponse

from channels.phone.speech import Heard, choose_menu_key, classify_speech

GREETING_LISTEN_S = 10
# Music, silence or a queue message at the answer: listen again, this many times at most.
GREETING_ATTEMPTS = 10
HOLD_LISTEN_S = 30
ANSWER_LISTEN_S = 8
# Speech ends at a pause this long (seconds): a greeting's short pauses ("Mairie de Vincennes,
# bonjour. … Pour l'état civil, tapez 1") do not cut it, as speechTimeout="auto" would.
END_OF_SPEECH_PAUSE_S = 3
# A second-level menu is keyed into at most this deep.
MAX_MENU_LEVELS = 4
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
    # record_from_ringing: the own leg's document (<Dial> the structure) and its <Dial action>.
    DIAL = "dial"
    DIALED = "dialed"


class Decision(StrEnum):
    """What the script did after hearing the greeting or the end of a hold."""

    KEY_IN = "key_in"  # a menu: the choice is keyed in
    NO_MENU_CHOICE = "no_menu_choice"  # a menu without an entry for the wanted service
    HANG_UP_VOICEMAIL = "hang_up_voicemail"
    ASK = "ask"  # a person: the request is said
    ASK_TRANSFER = "ask_transfer"  # a person: the request, which asks for a transfer, is said
    KEEP_HOLDING = "keep_holding"
    LISTEN_AGAIN = "listen_again"  # nothing decisive heard at the answer yet
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
    response.append(_listen_greeting(script, urls, attempt=1))
    return StepReply(str(response))


def on_greeting(
    script: CallScript, urls: StepUrls, speech: str | None, attempt: int = 1
) -> StepReply:
    """Act on the greeting: key in a menu choice, hang up on a voicemail, or make the request.

    Silence, music or a queue message is not a greeting: listen again (``GREETING_ATTEMPTS``).
    """
    heard = classify_speech(speech)
    response = VoiceResponse()
    if heard in (Heard.SILENCE, Heard.HOLD) and attempt < GREETING_ATTEMPTS:
        response.append(_listen_greeting(script, urls, attempt=attempt + 1))
        return StepReply(str(response), Decision.LISTEN_AGAIN, heard)
    if heard is Heard.MACHINE:
        response.hangup()
        return StepReply(str(response), Decision.HANG_UP_VOICEMAIL, heard)
    if heard is Heard.IVR:
        return _key_in(script, urls, speech, level=1, heard=heard)
    _say(response, script, script.request)
    if script.transfer_to:
        response.redirect(urls.step(Step.ASKED, level="1"))
        return StepReply(str(response), Decision.ASK_TRANSFER, heard)
    response.append(_listen(script, urls, Step.ANSWER, "answer", ANSWER_LISTEN_S))
    return StepReply(str(response), Decision.ASK, heard)


def on_transfer_requested(
    script: CallScript, urls: StepUrls, via: Step, level: int = 1
) -> StepReply:
    """The menu key is sent or the request said: hold, listening for whoever comes on."""
    response = VoiceResponse()
    response.append(_hold(script, urls, via, level=level, slice_number=1))
    return StepReply(str(response), Decision.KEEP_HOLDING)


def on_hold(
    script: CallScript,
    urls: StepUrls,
    speech: str | None,
    via: Step,
    *,
    level: int = 1,
    slice_number: int = 1,
) -> StepReply:
    """After a listening slice on hold: keep holding, key into a menu, or speak to whoever
    came on. Never hangs up on silence, music or a hold cue."""
    heard = classify_speech(speech)
    response = VoiceResponse()
    if heard in (Heard.SILENCE, Heard.HOLD):
        response.append(_hold(script, urls, via, level=level, slice_number=slice_number + 1))
        return StepReply(str(response), Decision.KEEP_HOLDING, heard)
    if heard is Heard.MACHINE:
        response.hangup()
        return StepReply(str(response), Decision.HANG_UP_VOICEMAIL, heard)
    if heard is Heard.IVR and level < MAX_MENU_LEVELS:
        return _key_in(script, urls, speech, level=level + 1, heard=heard)
    if via is Step.KEYED:  # reached through a menu: the request has not been made yet
        _say(response, script, script.request)
        response.append(_listen(script, urls, Step.ANSWER, "answer", ANSWER_LISTEN_S))
        return StepReply(str(response), Decision.ASK, heard)
    _close(response, script)
    return StepReply(str(response), Decision.CLOSE, heard)


def _key_in(
    script: CallScript, urls: StepUrls, speech: str | None, *, level: int, heard: Heard
) -> StepReply:
    """A menu (the line's, or a second-level one at ``level`` > 1): key in the wanted entry."""
    response = VoiceResponse()
    key = script.ivr_choice if level == 1 else None
    if key is None and script.transfer_to:
        key = choose_menu_key(speech or "", script.transfer_to)
    if key is None:
        response.hangup()
        return StepReply(str(response), Decision.NO_MENU_CHOICE, heard)
    response.play(digits=key)
    response.redirect(urls.step(Step.KEYED, key=key, level=str(level)))
    return StepReply(str(response), Decision.KEY_IN, heard, key)


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
        speech_timeout=str(END_OF_SPEECH_PAUSE_S),
        action=urls.step(step, **query),
        method="POST",
        action_on_empty_result=True,
        partial_result_callback=urls.partial_for(phase),
        partial_result_callback_method="POST",
    )


def hold_slice(level: int, slice_number: int) -> str:
    """A hold slice's identity: its menu level and its number in that level's hold."""
    return f"{level}.{slice_number}"


def _listen_greeting(script: CallScript, urls: StepUrls, *, attempt: int) -> Gather:
    return _listen(
        script,
        urls,
        Step.GREETING,
        f"greeting:{attempt}",
        GREETING_LISTEN_S,
        attempt=str(attempt),
    )


def _hold(
    script: CallScript, urls: StepUrls, via: Step, *, level: int, slice_number: int
) -> Gather:
    """One hold slice; its interim results are posted under its own phase, transfer:LEVEL.N."""
    return _listen(
        script,
        urls,
        Step.HOLD,
        f"transfer:{hold_slice(level, slice_number)}",
        HOLD_LISTEN_S,
        via=via.value,
        level=str(level),
        slice=str(slice_number),
    )


def _say(response: VoiceResponse, script: CallScript, text: str) -> None:
    if script.voice:
        response.say(text, language=script.language, voice=script.voice)
    else:
        response.say(text, language=script.language)


def _close(response: VoiceResponse, script: CallScript) -> None:
    closing = CLOSING_FR if script.language.startswith("fr") else CLOSING_EN
    _say(response, script, closing)
    response.hangup()
