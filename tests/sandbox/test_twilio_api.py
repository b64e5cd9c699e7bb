"""The sandbox's Calls and Recordings API, driven by the official twilio client over HTTP."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from sandbox import CallStatus
from tests.sandbox.conftest import RecordedExchanges, RunningSandbox, sandbox_client

TO = "+33142765000"
FROM = "+33970000001"
TWIML_URL = "http://127.0.0.1:9/twiml/probe-1"
RFC_2822 = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")
UNKNOWN_CALL_SID = "CA" + "f" * 32


def place_call(twilio: Client, to: str = TO) -> str:
    call = twilio.calls.create(
        to=to,
        from_=FROM,
        url=TWIML_URL,
        status_callback="http://127.0.0.1:9/status/probe-1",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        machine_detection="Enable",
        async_amd="true",
        record=True,
        timeout=30,
        time_limit=600,
    )
    sid: str = call.sid
    return sid


def test_a_created_call_is_queued_and_fetched_as_created(
    twilio: Client, sandbox: RunningSandbox, exchanges: RecordedExchanges
) -> None:
    sid = place_call(twilio)
    assert re.fullmatch(r"CA[0-9a-f]{32}", sid)

    call = twilio.calls(sid).fetch()

    assert (call.to, call._from, call.status) == (TO, FROM, "queued")
    assert call.start_time is None and call.end_time is None and call.duration is None
    assert call.api_version == "2010-04-01" and call.direction == "outbound-api"
    assert call.uri == f"/2010-04-01/Accounts/{sandbox.account.sid}/Calls/{sid}.json"
    assert (
        call.subresource_uris["recordings"] == call.uri.removesuffix(".json") + "/Recordings.json"
    )
    body = exchanges.responses[-1].json()
    assert RFC_2822.match(body["date_created"])
    assert body["duration"] is None and body["queue_time"] == "0"
    stored = sandbox.store.get(sid)
    assert stored.instructions.url == TWIML_URL
    assert stored.options.status_callback_events == (
        "initiated",
        "ringing",
        "answered",
        "completed",
    )
    assert stored.options.record and stored.options.async_amd
    assert stored.options.machine_detection == "Enable"
    assert (stored.options.timeout_s, stored.options.time_limit_s) == (30, 600)


def test_list_filters_by_number_and_follows_pages(twilio: Client) -> None:
    other = "+33561000000"
    kept = {place_call(twilio) for _ in range(3)}
    place_call(twilio, to=other)

    listed = twilio.calls.list(to=TO, page_size=2)

    assert {call.sid for call in listed} == kept
    assert [call.sid for call in twilio.calls.list(to=other)] != []
    assert twilio.calls.list(status="completed") == []


def test_cancel_a_queued_call(twilio: Client) -> None:
    sid = place_call(twilio)

    updated = twilio.calls(sid).update(status="canceled")

    assert updated.status == "canceled"
    assert twilio.calls(sid).fetch().status == "canceled"


def test_hang_up_a_call_the_runner_answered(twilio: Client, sandbox: RunningSandbox) -> None:
    sid = place_call(twilio)
    answered_at = sandbox.store.now() - timedelta(seconds=12)
    sandbox.store.advance(sid, CallStatus.RINGING, at=answered_at - timedelta(seconds=10))
    sandbox.store.advance(sid, CallStatus.IN_PROGRESS, at=answered_at, answered_by="human")

    assert twilio.calls(sid).update(status="canceled").status == "in-progress"
    call = twilio.calls(sid).update(status="completed")

    # `duration` is the talk time, from the answer (as `CallDuration`), not from `start_time`.
    assert (call.status, call.answered_by, call.duration) == ("completed", "human", "12")
    assert call.start_time == (answered_at - timedelta(seconds=10)).replace(microsecond=0)
    assert call.end_time is not None


def test_redirect_a_live_call_and_refuse_to_redirect_an_ended_one(
    twilio: Client, sandbox: RunningSandbox
) -> None:
    sid = place_call(twilio)

    twilio.calls(sid).update(twiml="<Response><Hangup/></Response>")
    assert sandbox.store.get(sid).instructions.twiml == "<Response><Hangup/></Response>"

    twilio.calls(sid).update(status="canceled")
    with pytest.raises(TwilioRestException) as refused:
        twilio.calls(sid).update(url="http://127.0.0.1:9/twiml/other")
    assert (refused.value.status, refused.value.code) == (400, 21220)


def test_delete_a_call(twilio: Client) -> None:
    sid = place_call(twilio)

    assert twilio.calls(sid).delete() is True

    with pytest.raises(TwilioRestException) as missing:
        twilio.calls(sid).fetch()
    assert (missing.value.status, missing.value.code) == (404, 20404)


def test_unknown_call_is_20404(twilio: Client) -> None:
    with pytest.raises(TwilioRestException) as missing:
        twilio.calls(UNKNOWN_CALL_SID).fetch()

    assert (missing.value.status, missing.value.code) == (404, 20404)
    assert UNKNOWN_CALL_SID in missing.value.msg


@pytest.mark.parametrize("to", ["0142765000", "+3314276", "+999123456789", "client:", "alice"])
def test_a_to_that_is_not_an_e164_number_is_21211(twilio: Client, to: str) -> None:
    with pytest.raises(TwilioRestException) as refused:
        place_call(twilio, to=to)

    assert (refused.value.status, refused.value.code) == (400, 21211)


@pytest.mark.parametrize("to", ["client:alice", "sip:prober@example.sip.twilio.com"])
def test_a_client_identity_or_a_sip_uri_may_be_called(twilio: Client, to: str) -> None:
    # Twilio: `To` is "the phone number, SIP address, or client identifier to call".
    sid = place_call(twilio, to=to)
    assert twilio.calls(sid).fetch().to == to


def test_a_call_without_instructions_is_21205(twilio: Client) -> None:
    with pytest.raises(TwilioRestException) as refused:
        twilio.calls.create(to=TO, from_=FROM)

    assert (refused.value.status, refused.value.code) == (400, 21205)


def test_wrong_auth_token_is_20003(sandbox: RunningSandbox, exchanges: RecordedExchanges) -> None:
    client, http_client = sandbox_client(sandbox, exchanges, auth_token="not-the-token")  # noqa: S106
    try:
        with pytest.raises(TwilioRestException) as refused:
            client.calls.create(to=TO, from_=FROM, url=TWIML_URL)
    finally:
        assert http_client.session is not None
        http_client.session.close()

    assert (refused.value.status, refused.value.code) == (401, 20003)


def test_another_accounts_calls_are_20404(
    sandbox: RunningSandbox, exchanges: RecordedExchanges
) -> None:
    other_account = "AC" + "9" * 32
    client, http_client = sandbox_client(sandbox, exchanges, account_sid=other_account)
    try:
        with pytest.raises(TwilioRestException) as refused:
            client.calls.create(to=TO, from_=FROM, url=TWIML_URL)
    finally:
        assert http_client.session is not None
        http_client.session.close()

    assert (refused.value.status, refused.value.code) == (404, 20404)


@pytest.mark.parametrize("calls_per_second", [2.0])
def test_calls_beyond_the_rate_queue_with_a_later_start(
    twilio: Client, sandbox: RunningSandbox, exchanges: RecordedExchanges
) -> None:
    sids = [place_call(twilio) for _ in range(3)]

    slots = [sandbox.store.get(sid).earliest_start_at for sid in sids]
    assert [later - earlier for earlier, later in itertools.pairwise(slots)] == [
        timedelta(seconds=0.5)
    ] * 2
    assert all(twilio.calls(sid).fetch().status == "queued" for sid in sids)
    created = [r.json() for r in exchanges.responses if r.request.method == "POST"]
    assert int(created[2]["queue_time"]) > 900
    assert sandbox.store.queued_due(slots[0]) == [sandbox.store.get(sids[0])]


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    auth = (sandbox.account.sid, sandbox.account.auth_token)
    prefix = f"{sandbox.base_url}/2010-04-01/Accounts/{sandbox.account.sid}"
    with httpx.Client(base_url=prefix, auth=auth, follow_redirects=True) as client:
        yield client


def test_recording_metadata_and_media(
    twilio: Client, sandbox: RunningSandbox, api: httpx.Client
) -> None:
    sid = place_call(twilio)
    recording = sandbox.store.add_recording(
        sid, media={"wav": b"RIFF-fake-wav", "mp3": b"ID3-fake-mp3"}, duration_s=7, channels=2
    )

    fetched = twilio.recordings(recording.sid).fetch()
    wav = api.get(f"/Recordings/{recording.sid}.wav")
    mp3 = api.get(f"/Recordings/{recording.sid}.mp3")

    assert (fetched.call_sid, fetched.duration, fetched.channels) == (sid, "7", 2)
    assert (fetched.status, fetched.source) == ("completed", "OutboundAPI")
    account_url = f"{sandbox.base_url}/2010-04-01/Accounts/{sandbox.account.sid}"
    assert fetched.media_url == f"{account_url}/Recordings/{recording.sid}"
    assert (wav.status_code, wav.content, wav.headers["content-type"]) == (
        200,
        b"RIFF-fake-wav",
        "audio/x-wav",
    )
    assert (mp3.status_code, mp3.content) == (200, b"ID3-fake-mp3")
    assert api.get(f"/Recordings/{recording.sid}").content == b"RIFF-fake-wav"


def test_recording_media_that_does_not_exist_is_404(api: httpx.Client) -> None:
    for extension in ("wav", "mp3", "json"):
        response = api.get(f"/Recordings/RE{'0' * 32}.{extension}")
        assert response.status_code == 404
        assert response.json()["code"] == 20404
        assert response.json()["more_info"] == "https://www.twilio.com/docs/errors/20404"


def test_error_body_is_exactly_twilios(api: httpx.Client) -> None:
    response = api.post("/Calls.json", data={"To": "12", "From": FROM, "Url": TWIML_URL})

    assert response.status_code == 400
    assert response.json() == {
        "code": 21211,
        "message": "Invalid 'To' Phone Number: 12",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }


def test_dates_are_rfc_2822_in_utc(twilio: Client, exchanges: RecordedExchanges) -> None:
    place_call(twilio)

    body = exchanges.responses[-1].json()

    assert RFC_2822.match(body["date_created"])
    assert parsedate_to_datetime(body["date_created"]).utcoffset() == timedelta(0)
