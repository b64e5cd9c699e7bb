"""The own leg's <Dial> document and the <Dial action> request, as Twilio defines them."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime

import pytest

from channels.errors import InvalidCallbackError
from channels.phone.dial import DialTarget, DialUrls, after_dial, dial_structure
from channels.phone.webhooks import FormParams, dial_events, own_leg_event, status_event

PARENT = "CA" + "1" * 32
CHILD = "CA" + "2" * 32
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
URLS = DialUrls(
    script="https://p.example/voice?step=answered",
    child_status="https://p.example/status",
    amd="https://p.example/amd",
    action="https://p.example/voice?step=dialed",
    recording="https://p.example/recording",
)


def test_the_own_leg_dials_the_structure_recording_from_the_first_ring() -> None:
    document = dial_structure(DialTarget("+33164810011", "+33970000001", 45, 300), URLS)
    root = ElementTree.fromstring(document)  # noqa: S314 (our own output)
    [dial] = list(root)
    assert dial.tag == "Dial"
    assert dial.attrib["record"] == "record-from-ringing-dual"
    assert dial.attrib["answerOnBridge"] == "true"
    assert dial.attrib["trim"] == "do-not-trim"
    assert dial.attrib["action"] == URLS.action
    assert dial.attrib["recordingStatusCallback"] == URLS.recording
    assert dial.attrib["timeout"] == "45"
    assert dial.attrib["callerId"] == "+33970000001"
    [number] = list(dial)
    assert number.tag == "Number"
    assert number.text == "+33164810011"
    assert number.attrib["url"] == URLS.script  # the call script runs on the structure's leg
    assert number.attrib["statusCallback"] == URLS.child_status
    assert number.attrib["statusCallbackEvent"] == "initiated ringing answered completed"
    assert number.attrib["machineDetection"] == "Enable"
    assert "Hangup" in after_dial()


def form(**params: str) -> FormParams:
    return FormParams(list(params.items()))


def test_the_dial_action_gives_the_structures_final_status_under_its_callbacks_key() -> None:
    dialed, final = dial_events(
        form(
            CallSid=PARENT,
            DialCallSid=CHILD,
            DialCallStatus="busy",
            DialCallDuration="0",
        ),
        NOW,
    )
    assert dialed.kind == "call.dialed"
    assert dialed.payload["dial_call_sid"] == CHILD
    assert final.kind == "call.busy"
    # The same fact as the child's own final callback: whichever comes first is kept.
    child_final = status_event(form(CallSid=CHILD, ParentCallSid=PARENT, CallStatus="busy"), NOW)
    assert final.dedup_key == child_final.dedup_key
    assert child_final.payload["parent_call_sid"] == PARENT


def test_the_own_legs_callbacks_are_kept_apart() -> None:
    event = own_leg_event(form(CallSid=PARENT, CallStatus="completed"), NOW)
    assert event.kind == "call.own_leg"
    assert (
        event.dedup_key != status_event(form(CallSid=PARENT, CallStatus="completed"), NOW).dedup_key
    )


@pytest.mark.parametrize(
    "params",
    [
        {"CallSid": PARENT, "DialCallSid": "CA123", "DialCallStatus": "completed"},
        {
            "CallSid": PARENT,
            "DialCallSid": CHILD,
            "DialCallStatus": "completed",
            "DialCallDuration": "x",
        },
        {"CallSid": PARENT, "DialCallSid": CHILD},
    ],
)
def test_a_malformed_dial_action_is_refused(params: dict[str, str]) -> None:
    with pytest.raises(InvalidCallbackError):
        dial_events(form(**params), NOW)


def test_a_malformed_parent_call_sid_is_refused() -> None:
    with pytest.raises(InvalidCallbackError, match="ParentCallSid"):
        status_event(form(CallSid=CHILD, ParentCallSid="nope", CallStatus="ringing"), NOW)
