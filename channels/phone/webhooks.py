"""Twilio's webhook requests: checking their signature and reading them as observed events.

Every request Twilio makes (status callbacks, TwiML fetches, Gather actions, partial speech
results, machine-detection and recording callbacks) is signed with the account's auth token.
A request whose ``X-Twilio-Signature`` does not match is not Twilio's and must be refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from twilio.request_validator import RequestValidator

from channels.errors import InvalidCallbackError
from channels.events import ObservedEvent

SOURCE = "twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
_STATUS_KINDS = {"in-progress": "call.answered"}
# Twilio's SIDs: two letters naming the resource, then 32 lowercase hex digits.
_CALL_SID = re.compile(r"CA[0-9a-f]{32}")
_RECORDING_SID = re.compile(r"RE[0-9a-f]{32}")


def is_call_sid(value: str) -> bool:
    """Whether ``value`` has the form of a Twilio call SID (``CA`` + 32 hex digits)."""
    return _CALL_SID.fullmatch(value) is not None


def is_recording_sid(value: str) -> bool:
    """Whether ``value`` has the form of a Twilio recording SID (``RE`` + 32 hex digits)."""
    return _RECORDING_SID.fullmatch(value) is not None


class FormParams:
    """A webhook's form (or query) parameters, keeping repeated names, as the validator needs.

    Indexed by name once, so each look-up (the validator makes one per distinct name) is O(1).
    """

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = list(pairs)
        self._by_name: dict[str, list[str]] = {}
        for key, value in self.pairs:
            self._by_name.setdefault(key, []).append(value)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Any:
        return iter(self._by_name)

    def keys(self) -> list[str]:
        return list(self._by_name)

    def getall(self, name: str) -> list[str]:
        """Every value sent under ``name`` (what ``RequestValidator`` reads)."""
        return list(self._by_name.get(name, ()))

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._by_name.get(name)
        return values[0] if values else default

    def require(self, name: str) -> str:
        value = self.get(name)
        if not value:
            raise InvalidCallbackError(f"the webhook request has no {name!r} parameter")
        return value

    def call_sid(self) -> str:
        """The request's ``CallSid``, checked to be a Twilio call SID."""
        return _checked_sid(self.require("CallSid"), "CallSid", is_call_sid, "CA")

    def parent_call_sid(self) -> str | None:
        """The ``ParentCallSid`` of a ``<Dial>``ed leg, checked; None on a first leg."""
        value = self.get("ParentCallSid")
        if not value:
            return None
        return _checked_sid(value, "ParentCallSid", is_call_sid, "CA")

    def recording_sid(self) -> str:
        """The request's ``RecordingSid``, checked to be a Twilio recording SID."""
        return _checked_sid(self.require("RecordingSid"), "RecordingSid", is_recording_sid, "RE")


def _checked_sid(value: str, name: str, check: Callable[[str], bool], prefix: str) -> str:
    if not check(value):
        raise InvalidCallbackError(
            f"parameter {name} {value[:40]!r} is not a Twilio SID ({prefix} + 32 hex digits)"
        )
    return value


def is_signed_by_twilio(
    auth_token: str, url: str, params: FormParams | Mapping[str, str], signature: str | None
) -> bool:
    """Whether ``signature`` is Twilio's for this exact URL (query included) and form."""
    if not signature or not auth_token:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def twilio_instant(value: str | None) -> datetime | None:
    """Twilio's RFC 2822 ``Timestamp`` ("Mon, 23 Nov 2026 11:24:58 +0000") as an aware instant."""
    if not value:
        return None
    try:
        instant = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise InvalidCallbackError(f"unreadable Timestamp {value!r}") from None
    if instant.tzinfo is None:
        raise InvalidCallbackError(f"Timestamp {value!r} has no time zone")
    return instant


def status_event(params: FormParams, received_at: datetime) -> ObservedEvent:
    """A call-progress callback (``StatusCallback``): initiated, ringing, answered or final.

    Dated by Twilio's ``Timestamp``; the same status of the same call is one fact however many
    times it is delivered.
    """
    call_sid = params.call_sid()
    status = params.require("CallStatus")
    source_at = twilio_instant(params.get("Timestamp"))
    payload: dict[str, Any] = {"call_sid": call_sid, "status": status}
    for name, key, cast in (
        ("SequenceNumber", "sequence", int),
        ("CallDuration", "call_duration_s", int),
        ("SipResponseCode", "sip_response_code", int),
        ("AnsweredBy", "answered_by", str),
        ("RecordingUrl", "recording_url", str),
        ("RecordingDuration", "recording_duration_s", int),
        ("ErrorCode", "error_code", str),
    ):
        value = params.get(name)
        if value:
            payload[key] = _cast(name, value, cast)
    if params.get("RecordingSid"):
        payload["recording_sid"] = params.recording_sid()
    parent = params.parent_call_sid()
    if parent is not None:  # a <Dial>ed leg (record_from_ringing): the structure's
        payload["parent_call_sid"] = parent
    return ObservedEvent(
        kind=_STATUS_KINDS.get(status, f"call.{status}"),
        source=SOURCE,
        source_at=source_at or received_at,
        received_at=received_at,
        dedup_key=f"twilio:{call_sid}:status:{status}",
        clock="source" if source_at else "receipt",
        payload=payload,
    )


def own_leg_event(params: FormParams, received_at: datetime) -> ObservedEvent:
    """A status callback of prober's own leg (``record_from_ringing``): kept, not measured."""
    call_sid = params.call_sid()
    status = params.require("CallStatus")
    source_at = twilio_instant(params.get("Timestamp"))
    return ObservedEvent(
        kind="call.own_leg",
        source=SOURCE,
        source_at=source_at or received_at,
        received_at=received_at,
        dedup_key=f"twilio:{call_sid}:own_leg:{status}",
        clock="source" if source_at else "receipt",
        payload={"call_sid": call_sid, "status": status, "own_leg": True},
    )


def dial_events(params: FormParams, received_at: datetime) -> list[ObservedEvent]:
    """The ``<Dial action>`` request: how the structure's leg ended, from the own leg.

    Twilio posts it on the parent (``CallSid``) with ``DialCallSid``, ``DialCallStatus``
    (``completed``, ``busy``, ``no-answer``, ``failed``, ``canceled``) and
    ``DialCallDuration``. Besides the ``call.dialed`` fact, the structure's final status is
    derived from it under the dedup key of the child's own final callback: whichever arrives
    first is kept, so a lost child callback still ends the attempt.
    """
    call_sid = params.call_sid()
    status = params.require("DialCallStatus")
    payload: dict[str, Any] = {"call_sid": call_sid, "dial_call_status": status}
    child_sid = params.get("DialCallSid")
    if child_sid:
        payload["dial_call_sid"] = _checked_sid(child_sid, "DialCallSid", is_call_sid, "CA")
    duration = params.get("DialCallDuration")
    if duration:
        payload["dial_call_duration_s"] = _cast("DialCallDuration", duration, int)
    events = [_receipt_event("call.dialed", f"twilio:{call_sid}:dialed", received_at, payload)]
    if child_sid and status in FINAL_STATUSES:
        final: dict[str, Any] = {
            "call_sid": child_sid,
            "parent_call_sid": call_sid,
            "status": status,
            "from_dial_action": True,
        }
        if "dial_call_duration_s" in payload:
            final["call_duration_s"] = payload["dial_call_duration_s"]
        events.append(
            _receipt_event(
                _STATUS_KINDS.get(status, f"call.{status}"),
                f"twilio:{child_sid}:status:{status}",
                received_at,
                final,
            )
        )
    return events


def amd_event(params: FormParams, received_at: datetime) -> ObservedEvent:
    """The verdict of asynchronous answering-machine detection."""
    call_sid = params.call_sid()
    payload: dict[str, Any] = {"call_sid": call_sid, "answered_by": params.require("AnsweredBy")}
    duration = params.get("MachineDetectionDuration")
    if duration:
        payload["detection_ms"] = _cast("MachineDetectionDuration", duration, int)
    return _receipt_event("call.amd", f"twilio:{call_sid}:amd", received_at, payload)


def recording_event(params: FormParams, received_at: datetime) -> ObservedEvent:
    """A recording status callback: the recording exists (or failed) and where its media is."""
    call_sid = params.call_sid()
    recording_sid = params.recording_sid()
    status = params.get("RecordingStatus") or "completed"
    payload: dict[str, Any] = {
        "call_sid": call_sid,
        "recording_sid": recording_sid,
        "status": status,
        "url": params.get("RecordingUrl") or "",
        "source": params.get("RecordingSource") or "",
        "channels": _cast("RecordingChannels", params.get("RecordingChannels") or "1", int),
    }
    duration = params.get("RecordingDuration")
    if duration:
        payload["duration_s"] = _cast("RecordingDuration", duration, int)
    started = twilio_instant(params.get("RecordingStartTime"))
    if started is not None:
        payload["started_at"] = started.isoformat()
    return _receipt_event(
        "call.recording", f"twilio:{recording_sid}:recording:{status}", received_at, payload
    )


def speech_started_event(params: FormParams, phase: str, received_at: datetime) -> ObservedEvent:
    """The first interim speech result of a listening phase: the far end started speaking."""
    call_sid = params.call_sid()
    payload = {
        "call_sid": call_sid,
        "phase": phase,
        "words": params.get("UnstableSpeechResult") or params.get("StableSpeechResult") or "",
    }
    return _receipt_event(
        "call.speech_started", f"twilio:{call_sid}:speech:{phase}", received_at, payload
    )


def step_event(
    kind: str, call_sid: str, key: str, received_at: datetime, payload: dict[str, Any]
) -> ObservedEvent:
    """A fact of the call script (greeting heard, key sent, transfer asked), dated on receipt."""
    return _receipt_event(
        kind, f"twilio:{call_sid}:{key}", received_at, {"call_sid": call_sid, **payload}
    )


def _receipt_event(
    kind: str, dedup_key: str, received_at: datetime, payload: dict[str, Any]
) -> ObservedEvent:
    return ObservedEvent(
        kind=kind,
        source=SOURCE,
        source_at=received_at,
        received_at=received_at,
        dedup_key=dedup_key,
        clock="receipt",
        payload=payload,
    )


def _cast(name: str, value: str, cast: Callable[[str], Any]) -> Any:
    try:
        return cast(value)
    except ValueError:
        raise InvalidCallbackError(f"parameter {name} has an unreadable value {value!r}") from None


def final_event_from_resource(resource: dict[str, Any]) -> ObservedEvent:
    """A call's final status read from the REST API (when its callback was lost).

    ``resource`` is what ``TwilioPhone.fetch_call`` returns; the event has the same dedup key as
    the status callback it stands for, so a late callback changes nothing.
    """
    call_sid = str(resource["sid"])
    status = str(resource["status"])
    ended = resource.get("end_time")
    received_at = (
        datetime.now(ended.tzinfo) if isinstance(ended, datetime) else datetime.now().astimezone()
    )
    payload: dict[str, Any] = {"call_sid": call_sid, "status": status, "from_api": True}
    if resource.get("duration") is not None:
        payload["call_duration_s"] = int(resource["duration"])
    if resource.get("answered_by"):
        payload["answered_by"] = str(resource["answered_by"])
    return ObservedEvent(
        kind=_STATUS_KINDS.get(status, f"call.{status}"),
        source="twilio-api",
        source_at=ended if isinstance(ended, datetime) else received_at,
        received_at=received_at,
        dedup_key=f"twilio:{call_sid}:status:{status}",
        clock="source" if isinstance(ended, datetime) else "receipt",
        payload=payload,
    )
