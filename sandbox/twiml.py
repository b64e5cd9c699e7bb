"""TwiML read into the verbs the call runner plays.

Say, Play, Pause, Gather, Record, Redirect, Hangup, and Dial with one Number noun (attributes
from twilio.com/docs/voice/twiml/dial and /number).
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


# <Dial record=...>: Twilio's values; "-dual" puts the parent on channel 1, the child on 2.
DIAL_RECORD_MODES = frozenset(
    {
        "do-not-record",
        "record-from-answer",
        "record-from-ringing",
        "record-from-answer-dual",
        "record-from-ringing-dual",
    }
)
NUMBER_STATUS_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})


@dataclass(frozen=True, slots=True)
class Number:
    """The `<Number>` a `<Dial>` calls, with its own callbacks and the TwiML run on its leg."""

    number: str
    url: str | None = None  # run on the called party's leg once it answers, before bridging
    method: str = "POST"
    send_digits: str | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ("completed",)
    machine_detection: str | None = None
    amd_status_callback: str | None = None
    amd_status_callback_method: str = "POST"


@dataclass(frozen=True, slots=True)
class Dial:
    """Call `number` from this call and bridge them; `action` is posted when it ends."""

    number: Number
    action: str | None = None
    method: str = "POST"
    timeout_s: int = 30
    time_limit_s: int = 14400
    caller_id: str | None = None
    record: str = "do-not-record"
    trim: str = "trim-silence"
    answer_on_bridge: bool = False
    recording_status_callback: str | None = None
    recording_status_callback_method: str = "POST"
    recording_status_callback_events: tuple[str, ...] = ("completed",)

    @property
    def records(self) -> bool:
        return self.record != "do-not-record"

    @property
    def records_ringing(self) -> bool:
        return self.record.startswith("record-from-ringing")

    @property
    def dual(self) -> bool:
        return self.record.endswith("-dual")


Verb = Say | Play | Pause | Hangup | Redirect | Gather | Record | Dial


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
    if tag == "Dial":
        return _dial(element)
    raise TwimlError(f"<{tag}> is not a verb the sandbox can run")


def _dial(element: ElementTree.Element) -> Dial:
    numbers = [child for child in element if child.tag == "Number"]
    others = [child.tag for child in element if child.tag != "Number"]
    if others:
        raise TwimlError(f"<Dial> holds <{others[0]}>: the sandbox dials <Number> nouns only")
    if len(numbers) != 1:
        raise TwimlError(f"<Dial> needs exactly one <Number>, got {len(numbers)}")
    noun = numbers[0]
    phone = (noun.text or "").strip()
    if not phone:
        raise TwimlError("<Number> needs a phone number")
    record = element.get("record", "do-not-record")
    if record not in DIAL_RECORD_MODES:
        raise TwimlError(f"<Dial record={record!r}> is not one of {sorted(DIAL_RECORD_MODES)}")
    trim = element.get("trim", "trim-silence")
    if trim not in ("trim-silence", "do-not-trim"):
        raise TwimlError(f"<Dial trim={trim!r}> is neither trim-silence nor do-not-trim")
    # Twilio: "separate multiple values with a space" (a comma is accepted too).
    events = tuple(noun.get("statusCallbackEvent", "completed").replace(",", " ").split())
    unknown = set(events) - NUMBER_STATUS_EVENTS
    if unknown:
        raise TwimlError(f"<Number statusCallbackEvent> has unknown events {sorted(unknown)}")
    machine_detection = noun.get("machineDetection")
    if machine_detection not in (None, "Enable", "DetectMessageEnd"):
        raise TwimlError(f"<Number machineDetection={machine_detection!r}> is unknown")
    return Dial(
        number=Number(
            number=phone,
            url=noun.get("url"),
            method=_method(noun, "method"),
            send_digits=noun.get("sendDigits"),
            status_callback=noun.get("statusCallback"),
            status_callback_method=_method(noun, "statusCallbackMethod"),
            status_callback_events=events or ("completed",),
            machine_detection=machine_detection,
            amd_status_callback=noun.get("amdStatusCallback"),
            amd_status_callback_method=_method(noun, "amdStatusCallbackMethod"),
        ),
        action=element.get("action"),
        method=_method(element, "method"),
        timeout_s=max(5, min(_int(element, "timeout", 30), 600)),
        time_limit_s=_int(element, "timeLimit", 14400),
        caller_id=element.get("callerId"),
        record=record,
        trim=trim,
        answer_on_bridge=_boolean(element, "answerOnBridge", False),
        recording_status_callback=element.get("recordingStatusCallback"),
        recording_status_callback_method=_method(element, "recordingStatusCallbackMethod"),
        recording_status_callback_events=tuple(
            element.get("recordingStatusCallbackEvent", "completed").split()
        )
        or ("completed",),
    )


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
