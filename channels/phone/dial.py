"""Recording from the first ring: the own leg's TwiML, which ``<Dial>``s the structure.

Twilio records the ringing only on ``<Dial>`` (``record="record-from-ringing-dual"``), so with
``twilio.record_from_ringing`` the call is placed to prober's own leg (a Twilio Client identity
or a SIP URI that answers at once) and its TwiML dials the structure.

The call script cannot run on the own leg: once ``<Dial>`` bridges the legs, the parent's
TwiML is blocked until the child hangs up, and a ``<Gather>`` there would listen to the own
leg, not to the structure. It runs on the structure's leg instead, as the ``<Number url>``
document ("TwiML run on the called party's end, after they answer, but before the parties are
connected": ``<Say>``, ``<Play>``, ``<Gather>``, ``<Pause>``, ``<Redirect>``, ``<Hangup>``;
twilio.com/docs/voice/twiml/number). With ``answerOnBridge`` the own leg keeps hearing the
ringback meanwhile; the script's ``<Hangup>`` ends the structure's leg, the ``<Dial>`` ends, and
its ``action`` (``DialCallStatus``, ``DialCallSid``, ``DialCallDuration``) ends the own leg.

Callbacks then come from two calls: the structure's (the child: its ``CallSid``, with
``ParentCallSid`` naming the own leg) are the call's statuses as before; the own leg's are
kept apart (``call.own_leg``) and end the attempt only when the own leg never got to dial.
"""

from __future__ import annotations

from dataclasses import dataclass

from twilio.twiml.voice_response import Dial, VoiceResponse

# Sent by the <Number> for the structure's leg: the call-progress events of today's calls.
CHILD_STATUS_EVENTS = "initiated ringing answered completed"
RECORDING_STATUS_EVENTS = "completed absent"
OWN_LEG_QUERY = "leg=own"


@dataclass(frozen=True, slots=True)
class DialUrls:
    """Where Twilio reports on the dialled structure's leg and on the ``<Dial>`` itself."""

    script: str  # <Number url>: the call script, run on the structure's leg
    child_status: str
    amd: str
    action: str  # <Dial action>: DialCallStatus once the structure's leg has ended
    recording: str


@dataclass(frozen=True, slots=True)
class DialTarget:
    """The structure to dial, as whom, and the call's limits."""

    number: str
    caller_id: str
    ring_timeout_s: int
    time_limit_s: int
    machine_detection: bool = True


def dial_structure(target: DialTarget, urls: DialUrls) -> str:
    """The own leg's document: dial the structure, recording both legs from the first ring."""
    response = VoiceResponse()
    dial = Dial(
        action=urls.action,
        method="POST",
        timeout=target.ring_timeout_s,
        time_limit=target.time_limit_s,
        caller_id=target.caller_id,
        record="record-from-ringing-dual",
        # Twilio's default, trim-silence, would cut the ringback an auditor must hear.
        trim="do-not-trim",
        answer_on_bridge=True,
        recording_status_callback=urls.recording,
        recording_status_callback_method="POST",
        recording_status_callback_event=RECORDING_STATUS_EVENTS,
    )
    number_options: dict[str, str] = {}
    if target.machine_detection:
        number_options = {
            "machine_detection": "Enable",
            "amd_status_callback": urls.amd,
            "amd_status_callback_method": "POST",
        }
    dial.number(
        target.number,
        url=urls.script,
        method="POST",
        status_callback=urls.child_status,
        status_callback_method="POST",
        status_callback_event=CHILD_STATUS_EVENTS,
        **number_options,
    )
    response.append(dial)
    return str(response)


def after_dial() -> str:
    """The ``<Dial action>`` answer: the structure's leg has ended, so does the own leg."""
    response = VoiceResponse()
    response.hangup()
    return str(response)
