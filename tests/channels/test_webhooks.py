"""Reading Twilio's webhook requests: signatures, status callbacks, instants."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channels.errors import InvalidCallbackError
from channels.phone.webhooks import (
    FormParams,
    is_signed_by_twilio,
    recording_event,
    status_event,
    twilio_instant,
)

RECEIVED = datetime(2026, 11, 23, 12, 0, 5, tzinfo=UTC)
CALL = "CA" + "1" * 32
RECORDING = "RE" + "9" * 32


def test_twilios_published_signature_vector() -> None:
    # From twilio-python 9.13 (see the reference notes): token 12345, this URL and form.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = FormParams(
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
    )
    assert is_signed_by_twilio("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not is_signed_by_twilio("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgR=")
    assert not is_signed_by_twilio("12345", url + "&x=1", params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not is_signed_by_twilio("12345", url, params, None)
    assert not is_signed_by_twilio("", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


def test_a_status_callback_is_dated_by_twilio_and_keyed_by_call_and_status() -> None:
    params = FormParams(
        [
            ("CallSid", "CA" + "1" * 32),
            ("CallStatus", "completed"),
            ("Timestamp", "Mon, 23 Nov 2026 11:24:58 +0000"),
            ("SequenceNumber", "3"),
            ("CallDuration", "8"),
            ("SipResponseCode", "200"),
            ("RecordingSid", "RE" + "2" * 32),
        ]
    )
    event = status_event(params, RECEIVED)
    assert event.kind == "call.completed"
    assert event.source_at == datetime(2026, 11, 23, 11, 24, 58, tzinfo=UTC)
    assert (event.received_at, event.clock) == (RECEIVED, "source")
    assert event.dedup_key == f"twilio:CA{'1' * 32}:status:completed"
    assert event.payload["call_duration_s"] == 8
    assert event.payload["recording_sid"] == "RE" + "2" * 32
    answered = status_event(
        FormParams([("CallSid", CALL), ("CallStatus", "in-progress")]), RECEIVED
    )
    assert (answered.kind, answered.clock, answered.source_at) == (
        "call.answered",
        "receipt",
        RECEIVED,
    )


@pytest.mark.parametrize(
    ("pairs", "problem"),
    [
        ([("CallStatus", "ringing")], "CallSid"),
        ([("CallSid", CALL)], "CallStatus"),
        ([("CallSid", CALL), ("CallStatus", "ringing"), ("Timestamp", "yesterday")], "Timestamp"),
        ([("CallSid", CALL), ("CallStatus", "completed"), ("CallDuration", "8s")], "CallDuration"),
    ],
)
def test_unreadable_callbacks_say_what_is_wrong(pairs: list[tuple[str, str]], problem: str) -> None:
    with pytest.raises(InvalidCallbackError, match=problem):
        status_event(FormParams(pairs), RECEIVED)


def test_recording_callback() -> None:
    event = recording_event(
        FormParams(
            [
                ("CallSid", CALL),
                ("RecordingSid", RECORDING),
                ("RecordingStatus", "completed"),
                ("RecordingDuration", "42"),
                ("RecordingChannels", "2"),
                ("RecordingStartTime", "Mon, 23 Nov 2026 11:25:15 +0000"),
            ]
        ),
        RECEIVED,
    )
    assert event.dedup_key == f"twilio:{RECORDING}:recording:completed"
    assert event.payload["duration_s"] == 42
    assert event.payload["channels"] == 2
    assert event.payload["started_at"] == "2026-11-23T11:25:15+00:00"


def test_twilio_instant() -> None:
    assert twilio_instant(None) is None
    assert twilio_instant("Tue, 31 Aug 2010 20:36:28 +0000") == datetime(
        2010, 8, 31, 20, 36, 28, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("pairs", "problem"),
    [
        ([("CallSid", "CA1"), ("CallStatus", "ringing")], "CallSid 'CA1' is not a Twilio SID"),
        ([("CallSid", "CA" + "A" * 32), ("CallStatus", "ringing")], "CallSid"),
        ([("CallSid", "../../etc/passwd"), ("CallStatus", "ringing")], "CallSid"),
        ([("CallSid", CALL), ("CallStatus", "completed"), ("RecordingSid", "RE1")], "RecordingSid"),
    ],
)
def test_sids_that_are_not_twilio_s_are_refused(pairs: list[tuple[str, str]], problem: str) -> None:
    with pytest.raises(InvalidCallbackError, match=problem):
        status_event(FormParams(pairs), RECEIVED)


@pytest.mark.parametrize("sid", ["RE9", "../" + "9" * 32, "RE" + "9" * 32 + "/x", "CA" + "9" * 32])
def test_a_recording_callback_names_a_twilio_recording(sid: str) -> None:
    params = FormParams(
        [("CallSid", CALL), ("RecordingSid", sid), ("RecordingStatus", "completed")]
    )
    with pytest.raises(InvalidCallbackError, match="RecordingSid"):
        recording_event(params, RECEIVED)


def test_form_params_keep_repeated_names_in_order() -> None:
    params = FormParams([("a", "1"), ("b", "2"), ("a", "3")])
    assert list(params) == ["a", "b"]
    assert params.getall("a") == ["1", "3"]
    assert params.getall("missing") == []
    assert params.get("a") == "1"
    assert "b" in params and "c" not in params
