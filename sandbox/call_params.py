"""Reading and checking the form parameters of Calls create and update, with Twilio's codes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import phonenumbers

from sandbox.calls import CallInstructions, CallOptions
from sandbox.errors import InvalidParameter

E164_PATTERN = re.compile(r"^\+[1-9]\d{1,14}$")
STATUS_CALLBACK_EVENTS = ("initiated", "ringing", "answered", "completed")
RECORDING_STATUS_CALLBACK_EVENTS = ("in-progress", "completed", "absent")
MACHINE_DETECTION_MODES = ("Enable", "DetectMessageEnd")
HTTP_METHODS = ("GET", "POST")
MAX_RING_TIMEOUT_S = 600
# Twilio has no dedicated code for a malformed optional parameter; 20001 is its generic one.
GENERIC_INVALID_PARAMETER = 20001


@dataclass(frozen=True, slots=True)
class Form:
    """A form-encoded body, repeated keys kept (`StatusCallbackEvent=a&StatusCallbackEvent=b`)."""

    pairs: Sequence[tuple[str, str]]

    def get(self, name: str) -> str | None:
        for key, value in self.pairs:
            if key == name:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


@dataclass(frozen=True, slots=True)
class CreateCall:
    to: str
    from_: str
    instructions: CallInstructions
    options: CallOptions


@dataclass(frozen=True, slots=True)
class UpdateCall:
    status: str | None
    instructions: CallInstructions | None
    status_callback: str | None
    status_callback_method: str | None
    time_limit_s: int | None


# Twilio: `To` is "the phone number, SIP address, or client identifier to call".
CLIENT_OR_SIP_PATTERN = re.compile(
    r"^(client:[A-Za-z0-9_\-]{1,121}|sip:[^@\s]+@[A-Za-z0-9.\-]+(:\d+)?(;\S*)?)$"
)


def is_client_or_sip(to: str) -> bool:
    """Whether `to` names a Twilio Client identity (`client:NAME`) or a SIP URI."""
    return CLIENT_OR_SIP_PATTERN.match(to) is not None


def is_e164_number(number: str) -> bool:
    if not E164_PATTERN.match(number):
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        return False


def parse_create(form: Form) -> CreateCall:
    """Check a Calls create form in the order Twilio reports problems: To, From, then Url/Twiml."""
    to = form.get("To")
    if not to:
        raise InvalidParameter(21201, "No 'To' number is specified")
    from_ = form.get("From")
    if not from_:
        raise InvalidParameter(21213, "No 'From' number is specified")
    if not is_e164_number(to) and not is_client_or_sip(to):
        raise InvalidParameter(21211, f"Invalid 'To' Phone Number: {to}")
    if not is_e164_number(from_):
        raise InvalidParameter(21212, f"Invalid 'From' Phone Number: {from_}")
    url = form.get("Url")
    twiml = form.get("Twiml")
    if not url and not twiml:
        raise InvalidParameter(21205, "Url parameter is required")
    instructions = CallInstructions(
        url=_url(form, "Url", code=21205),
        method=_method(form, "Method"),
        twiml=twiml or None,
        fallback_url=_url(form, "FallbackUrl", code=21205),
        fallback_method=_method(form, "FallbackMethod"),
    )
    options = CallOptions(
        status_callback=_url(form, "StatusCallback", code=21609),
        status_callback_method=_method(form, "StatusCallbackMethod"),
        status_callback_events=_events(
            form, "StatusCallbackEvent", STATUS_CALLBACK_EVENTS, default=("completed",)
        ),
        timeout_s=min(_integer(form, "Timeout", default=60, minimum=1), MAX_RING_TIMEOUT_S),
        time_limit_s=_integer(form, "TimeLimit", default=14400, minimum=1),
        machine_detection=_choice(form, "MachineDetection", MACHINE_DETECTION_MODES),
        machine_detection_timeout_s=_integer(
            form, "MachineDetectionTimeout", default=30, minimum=3
        ),
        async_amd=_boolean(form, "AsyncAmd"),
        async_amd_status_callback=_url(form, "AsyncAmdStatusCallback", code=21609),
        async_amd_status_callback_method=_method(form, "AsyncAmdStatusCallbackMethod"),
        send_digits=form.get("SendDigits") or None,
        record=_boolean(form, "Record"),
        recording_channels=_choice(form, "RecordingChannels", ("mono", "dual")) or "mono",
        recording_track=_choice(form, "RecordingTrack", ("inbound", "outbound", "both")) or "both",
        recording_status_callback=_url(form, "RecordingStatusCallback", code=21609),
        recording_status_callback_method=_method(form, "RecordingStatusCallbackMethod"),
        recording_status_callback_events=_recording_events(form),
        trim=_choice(form, "Trim", ("trim-silence", "do-not-trim")) or "trim-silence",
    )
    return CreateCall(to=to, from_=from_, instructions=instructions, options=options)


def parse_update(form: Form) -> UpdateCall:
    """Check a Calls update form: `Status` and/or new instructions (`Url` or `Twiml`)."""
    status = _choice(form, "Status", ("canceled", "completed"))
    url = _url(form, "Url", code=21205)
    twiml = form.get("Twiml") or None
    instructions = None
    if url or twiml:
        instructions = CallInstructions(
            url=url,
            method=_method(form, "Method"),
            twiml=twiml,
            fallback_url=_url(form, "FallbackUrl", code=21205),
            fallback_method=_method(form, "FallbackMethod"),
        )
    time_limit = form.get("TimeLimit")
    return UpdateCall(
        status=status,
        instructions=instructions,
        status_callback=_url(form, "StatusCallback", code=21609),
        status_callback_method=_method(form, "StatusCallbackMethod")
        if form.get("StatusCallbackMethod")
        else None,
        time_limit_s=None
        if time_limit is None
        else _integer(form, "TimeLimit", default=14400, minimum=1),
    )


def _url(form: Form, name: str, *, code: int) -> str | None:
    value = form.get(name)
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameter(code, f"{name} is not a valid URL: {value}")
    return value


def _method(form: Form, name: str) -> str:
    value = (form.get(name) or "POST").upper()
    if value not in HTTP_METHODS:
        raise InvalidParameter(
            GENERIC_INVALID_PARAMETER, f"{name} must be GET or POST, got {value!r}"
        )
    return value


def _choice(form: Form, name: str, allowed: Sequence[str]) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if value not in allowed:
        raise InvalidParameter(
            GENERIC_INVALID_PARAMETER,
            f"{name} must be one of {', '.join(allowed)}, got {value!r}",
        )
    return value


def _events(
    form: Form, name: str, allowed: Sequence[str], *, default: tuple[str, ...]
) -> tuple[str, ...]:
    values = [event for raw in form.get_all(name) for event in raw.split()]
    for value in values:
        if value not in allowed:
            raise InvalidParameter(
                GENERIC_INVALID_PARAMETER,
                f"{name} must be among {', '.join(allowed)}, got {value!r}",
            )
    return tuple(values) or default


def _recording_events(form: Form) -> tuple[str, ...]:
    """`RecordingStatusCallbackEvent`: one value, events separated by spaces (Twilio's doc).

    Sent as repeated keys (the way `StatusCallbackEvent` is), Twilio still answers 201 but then
    posts no recording callback at all: so does the sandbox.
    """
    name = "RecordingStatusCallbackEvent"
    if len(form.get_all(name)) > 1:
        return ()
    return _events(form, name, RECORDING_STATUS_CALLBACK_EVENTS, default=("completed",))


def _integer(form: Form, name: str, *, default: int, minimum: int) -> int:
    value = form.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidParameter(
            GENERIC_INVALID_PARAMETER, f"{name} must be an integer, got {value!r}"
        ) from None
    if number < minimum:
        raise InvalidParameter(
            GENERIC_INVALID_PARAMETER, f"{name} must be at least {minimum}, got {number}"
        )
    return number


def _boolean(form: Form, name: str) -> bool:
    value = form.get(name)
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise InvalidParameter(
            GENERIC_INVALID_PARAMETER, f"{name} must be true or false, got {value!r}"
        )
    return value.lower() == "true"
