"""TwiML read into the verbs the call runner plays.

Say, Play, Pause, Gather, Record, Redirect and Hangup.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field

from sandbox.errors import SandboxError

# Simulated speaking rate of <Say>: about 15 characters a second, at least one second.
SAY_CHARACTERS_PER_SECOND = 15


class TwimlError(SandboxError):
    """The document is not TwiML the sandbox can run (Twilio would report error 12100)."""


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    loop: int = 1

    @property
    def duration_s(self) -> int:
        return max(1, math.ceil(len(self.text) / SAY_CHARACTERS_PER_SECOND)) * max(self.loop, 1)


@dataclass(frozen=True, slots=True)
class Play:
    """Audio or DTMF (`digits`, `w` = 0.5 s) sent to the callee; audio counts as one second."""

    url: str | None
    digits: str | None = None
    loop: int = 1

    @property
    def duration_s(self) -> int:
        if self.digits:
            return max(1, math.ceil(len(self.digits) / 2))
        return max(self.loop, 1)


@dataclass(frozen=True, slots=True)
class Pause:
    length_s: int = 1


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class Gather:
    """Collect the callee's keys (or speech); nested Say/Play/Pause are played meanwhile."""

    action: str | None
    method: str = "POST"
    input: frozenset[str] = frozenset({"dtmf"})
    timeout_s: int = 5
    num_digits: int | None = None
    finish_on_key: str = "#"
    action_on_empty_result: bool = False
    prompts: tuple[Say | Play | Pause, ...] = field(default_factory=tuple)
    # Interim speech results are posted here as the far end starts speaking.
    partial_result_callback: str | None = None
    partial_result_callback_method: str = "POST"
    language: str = "en-US"
    # Speech ends at the first pause ("auto") or at a pause of this many seconds; unset, Twilio
    # uses `timeout`.
    speech_timeout: str | None = None

    @property
    def end_pause_s(self) -> float | None:
        """The pause that ends speech, in seconds; None for "auto" (the first pause)."""
        if self.speech_timeout == "auto":
            return None
        if self.speech_timeout is None:
            return float(self.timeout_s)
        return float(self.speech_timeout)


@dataclass(frozen=True, slots=True)
class Record:
    """Record the far end until `timeout_s` of silence (0: none), `max_length_s`, or a hangup."""

    action: str | None = None
    method: str = "POST"
    timeout_s: int = 5
    max_length_s: int = 3600
    play_beep: bool = True
    finish_on_key: str = "1234567890*#"
    recording_status_callback: str | None = None
    recording_status_callback_method: str = "POST"
    recording_status_callback_events: tuple[str, ...] = ("completed",)
    trim: str = "trim-silence"


Verb = Say | Play | Pause | Hangup | Redirect | Gather | Record


def parse_twiml(document: str | bytes) -> list[Verb]:
    """The verbs of a `<Response>`, in order; `TwimlError` for anything unusable."""
    text = document.decode("utf-8", "replace") if isinstance(document, bytes) else document
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise TwimlError("TwiML must not declare a DOCTYPE or entities")
    try:
        # The DOCTYPE check above rules out entity expansion attacks.
        root = ElementTree.fromstring(text)  # noqa: S314
    except ElementTree.ParseError as error:
        raise TwimlError(f"not well-formed XML: {error}") from None
    if root.tag != "Response":
        raise TwimlError(f"the root element is <{root.tag}>, expected <Response>")
    return [_verb(element) for element in root]


def _verb(element: ElementTree.Element) -> Verb:
    tag = element.tag
    if tag == "Say":
        return Say((element.text or "").strip(), _int(element, "loop", 1))
    if tag == "Play":
        return Play(
            (element.text or "").strip() or None,
            element.get("digits"),
            _int(element, "loop", 1),
        )
    if tag == "Pause":
        return Pause(_int(element, "length", 1))
    if tag == "Hangup":
        return Hangup()
    if tag == "Redirect":
        url = (element.text or "").strip()
        if not url:
            raise TwimlError("<Redirect> needs a URL")
        return Redirect(url, element.get("method", "POST").upper())
    if tag == "Gather":
        prompts: list[Say | Play | Pause] = []
        for child in element:
            nested = _verb(child)
            if not isinstance(nested, Say | Play | Pause):
                raise TwimlError(f"<{child.tag}> cannot be nested in <Gather>")
            prompts.append(nested)
        num_digits = element.get("numDigits")
        return Gather(
            action=element.get("action"),
            method=_method(element, "method"),
            input=frozenset(element.get("input", "dtmf").split()),
            timeout_s=_int(element, "timeout", 5),
            num_digits=None if num_digits is None else _int(element, "numDigits", 1),
            finish_on_key=element.get("finishOnKey", "#"),
            action_on_empty_result=element.get("actionOnEmptyResult", "false").lower() == "true",
            prompts=tuple(prompts),
            partial_result_callback=element.get("partialResultCallback"),
            partial_result_callback_method=_method(element, "partialResultCallbackMethod"),
            language=element.get("language", "en-US"),
            speech_timeout=_speech_timeout(element),
        )
    if tag == "Record":
        events = tuple(element.get("recordingStatusCallbackEvent", "completed").split())
        return Record(
            action=element.get("action"),
            method=_method(element, "method"),
            timeout_s=_int(element, "timeout", 5),
            max_length_s=_int(element, "maxLength", 3600),
            play_beep=_boolean(element, "playBeep", True),
            finish_on_key=element.get("finishOnKey", "1234567890*#"),
            recording_status_callback=element.get("recordingStatusCallback"),
            recording_status_callback_method=_method(element, "recordingStatusCallbackMethod"),
            recording_status_callback_events=events or ("completed",),
            trim=element.get("trim", "trim-silence"),
        )
    raise TwimlError(f"<{tag}> is not a verb the sandbox can run")


def _method(element: ElementTree.Element, name: str) -> str:
    return element.get(name, "POST").upper()


def _boolean(element: ElementTree.Element, name: str, default: bool) -> bool:
    raw = element.get(name)
    if raw is None:
        return default
    if raw.lower() not in ("true", "false"):
        raise TwimlError(f"<{element.tag} {name}={raw!r}> is neither true nor false")
    return raw.lower() == "true"


def _speech_timeout(element: ElementTree.Element) -> str | None:
    value = element.get("speechTimeout")
    if value is None or value == "auto":
        return value
    try:
        if float(value) < 0:
            raise ValueError(value)
    except ValueError:
        raise TwimlError(f'speechTimeout must be "auto" or seconds, got {value!r}') from None
    return value


def _int(element: ElementTree.Element, name: str, default: int) -> int:
    raw = element.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise TwimlError(f"<{element.tag} {name}={raw!r}> is not a whole number") from None
