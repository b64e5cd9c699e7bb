"""The call runner over real HTTP: the sandbox plays calls to a world, a receiver gets webhooks."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime
from functools import partial

import httpx
import pytest

from sandbox import RunnerTiming, SandboxConfigError
from tests.support.sandbox_scene import (
    ACCOUNT,
    ALL_EVENTS,
    CALLER,
    DOCUMENTS,
    Scene,
    assert_signed,
    seconds_between,
)


def test_four_rings_then_a_person_answers(scene: Scene) -> None:
    sid = scene.place("+33142765001", "short", status_callback_event=ALL_EVENTS)

    truth = scene.finished(sid)
    callbacks = scene.status_callbacks(sid)

    assert [hook.params["CallStatus"] for hook in callbacks] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [hook.params["SequenceNumber"] for hook in callbacks] == ["0", "1", "2", "3"]
    for hook in callbacks:
        assert_signed(hook)
        assert hook.method == "POST"
        assert hook.params["CallbackSource"] == "call-progress-events"
        assert hook.params["AccountSid"] == ACCOUNT.sid
        assert hook.params["Direction"] == "outbound-api"
        assert hook.params["ApiVersion"] == "2010-04-01"
        assert (hook.params["From"], hook.params["To"]) == (CALLER, "+33142765001")
        assert "AnsweredBy" not in hook.params  # no machine detection asked
    initiated, ringing, answered, completed = callbacks
    assert seconds_between(initiated, ringing) == 1  # post-dial delay
    # Answered during the 4th ring: rings start every 5 s, the 4th at 15 s.
    assert seconds_between(ringing, answered) == 3 * 5 + 1
    # <Say>Bonjour</Say> lasts one simulated second, then <Pause length="3"/>.
    assert seconds_between(answered, completed) == 4
    assert completed.params["CallDuration"] == "4"
    assert completed.params["SipResponseCode"] == "200"
    assert "CallDuration" not in answered.params

    [fetch] = scene.receiver.for_call(sid, "/twiml/short")
    assert_signed(fetch)
    assert fetch.params["CallStatus"] == "in-progress"

    assert truth["rings"] == 4
    assert truth["answered_by"] == "human"
    assert truth["answer_offset_s"] == 1 + 16  # post-dial delay, then 1 s into the 4th ring
    assert truth["duration_s"] == 4
    assert truth["status"] == "completed"
    assert truth["ended_by"] == "caller"

    call = scene.twilio.calls(sid).fetch()
    assert (call.status, call.duration) == ("completed", "4")


def test_a_busy_number(scene: Scene) -> None:
    sid = scene.place("+33142765002", "short", status_callback_event=ALL_EVENTS)

    truth = scene.finished(sid)
    callbacks = scene.status_callbacks(sid)

    assert [hook.params["CallStatus"] for hook in callbacks] == ["initiated", "busy"]
    assert [hook.params["SequenceNumber"] for hook in callbacks] == ["0", "1"]
    for hook in callbacks:
        assert_signed(hook)
    assert callbacks[1].params["SipResponseCode"] == "486"
    assert callbacks[1].params["CallDuration"] == "0"
    assert scene.receiver.for_call(sid, "/twiml/") == []  # never answered, no TwiML fetched
    assert (truth["status"], truth["rings"], truth["answered_by"]) == ("busy", 0, None)
    assert scene.twilio.calls(sid).fetch().status == "busy"


def test_nobody_answers_before_the_timeout(scene: Scene) -> None:
    sid = scene.place("+33142765003", "short", status_callback_event=ALL_EVENTS, timeout=15)

    truth = scene.finished(sid)
    callbacks = scene.status_callbacks(sid)

    assert [hook.params["CallStatus"] for hook in callbacks] == [
        "initiated",
        "ringing",
        "no-answer",
    ]
    ringing, ended = callbacks[1:]
    assert seconds_between(ringing, ended) == 15
    assert ended.params["SipResponseCode"] == "487"
    assert ended.params["CallDuration"] == "0"
    assert (truth["status"], truth["rings"], truth["answer_offset_s"]) == ("no-answer", 3, None)


def test_an_unlisted_number_rings_three_times_and_hangs_up_after_30_s(scene: Scene) -> None:
    sid = scene.place("+33155550000", "long")  # no StatusCallbackEvent: only `completed`

    truth = scene.finished(sid)
    [completed] = scene.status_callbacks(sid)

    assert_signed(completed)
    assert completed.params["CallStatus"] == "completed"
    assert completed.params["SequenceNumber"] == "0"
    assert completed.params["CallDuration"] == "30"
    assert truth["rings"] == 3
    assert truth["answered_by"] == "human"
    assert truth["duration_s"] == 30
    assert truth["ended_by"] == "callee"
    call = scene.twilio.calls(sid).fetch()
    assert (call.status, call.duration) == ("completed", "30")
    # The resource's times are simulated too: dialled, 1 s to ring, answered 1 s into the 3rd
    # ring (11 s), 30 s of talk.
    started = parsedate_to_datetime(str(truth["started_at"]))
    assert call.start_time == started + timedelta(seconds=1)
    assert call.end_time == started + timedelta(seconds=1 + 11 + 30)


def test_a_menu_gets_its_digit_and_machine_detection_reports_it(scene: Scene) -> None:
    sid = scene.place(
        "+33142765004", "menu", status_callback_event=["completed"], machine_detection="Enable"
    )
    scene.receiver.documents["chosen"] = DOCUMENTS["chosen"]

    truth = scene.finished(sid)

    [menu] = scene.receiver.for_call(sid, "/twiml/menu")
    assert menu.params["AnsweredBy"] == "machine_start"
    [chosen] = scene.receiver.for_call(sid, "/twiml/chosen")
    assert_signed(chosen)
    assert chosen.params["Digits"] == "2"
    [completed] = scene.status_callbacks(sid)
    assert completed.params["AnsweredBy"] == "machine_start"
    # Pause 2 s in the Gather, one key pressed (1 s), then <Say>Merci</Say> (1 s).
    assert completed.params["CallDuration"] == "4"
    assert (truth["answered_by"], truth["amd_answered_by"]) == ("ivr", "machine_start")


def test_a_call_canceled_while_ringing(scene: Scene) -> None:
    sid = scene.place("+33142765005", "short", status_callback_event=ALL_EVENTS, timeout=600)
    scene.receiver.wait_for(lambda: len(scene.status_callbacks(sid)) == 2)  # ringing

    scene.twilio.calls(sid).update(status="canceled")

    truth = scene.finished(sid)
    callbacks = scene.status_callbacks(sid)
    assert [hook.params["CallStatus"] for hook in callbacks] == [
        "initiated",
        "ringing",
        "canceled",
    ]
    assert callbacks[2].params["SipResponseCode"] == "487"
    assert (truth["status"], truth["ended_by"], truth["answer_offset_s"]) == (
        "canceled",
        "api",
        None,
    )
    assert scene.twilio.calls(sid).fetch().status == "canceled"


def test_a_call_hung_up_through_the_api_reports_its_simulated_talk_time(scene: Scene) -> None:
    sid = scene.place("+33142765006", "hold", status_callback_event=ALL_EVENTS)
    scene.receiver.wait_for(lambda: len(scene.status_callbacks(sid)) == 3)  # in-progress

    scene.twilio.calls(sid).update(status="completed")

    truth = scene.finished(sid)
    answered, completed = scene.status_callbacks(sid)[2:]
    call = scene.twilio.calls(sid).fetch()
    assert completed.params["CallStatus"] == "completed"
    assert completed.params["SipResponseCode"] == "200"
    talk_s = int(completed.params["CallDuration"])
    assert call.duration == str(talk_s) == str(truth["duration_s"])
    assert seconds_between(answered, completed) == talk_s
    assert talk_s < 600  # ended before the ten-minute <Pause>
    assert truth["ended_by"] == "api"


def test_a_recorded_call_has_playable_dual_channel_audio(scene: Scene) -> None:
    sid = scene.place(
        "+33142765001",
        "short",
        record=True,
        recording_channels="dual",
        recording_status_callback=f"{scene.receiver_url}/recording",
        trim="do-not-trim",
    )

    truth = scene.finished(sid)
    scene.receiver.wait_for(lambda: len(scene.receiver.for_call(sid, "/recording")) == 1)

    [completed] = scene.status_callbacks(sid)
    [recorded] = scene.receiver.for_call(sid, "/recording")
    assert_signed(recorded)
    assert recorded.params["RecordingStatus"] == "completed"
    assert recorded.params["RecordingSource"] == "OutboundAPI"
    assert recorded.params["RecordingChannels"] == "2"
    assert recorded.params["RecordingDuration"] == completed.params["CallDuration"] == "4"
    assert completed.params["RecordingSid"] == recorded.params["RecordingSid"]
    assert completed.params["RecordingUrl"] == recorded.params["RecordingUrl"]
    assert truth["recording_sid"] == recorded.params["RecordingSid"]

    media = httpx.get(
        recorded.params["RecordingUrl"] + ".wav",
        auth=(ACCOUNT.sid, ACCOUNT.auth_token),
        follow_redirects=True,  # to Twilio's media storage
    )
    assert media.status_code == 200
    with wave.open(io.BytesIO(media.content)) as audio:
        assert (audio.getnchannels(), audio.getframerate()) == (2, 8000)
        assert audio.getnframes() == 4 * 8000
    recording = scene.twilio.recordings(recorded.params["RecordingSid"]).fetch()
    assert (recording.call_sid, recording.duration, recording.channels) == (sid, "4", 2)


def test_an_invalid_number_fails_without_ringing(scene: Scene) -> None:
    sid = scene.place("+33142765007", "short", status_callback_event=ALL_EVENTS)

    truth = scene.finished(sid)
    callbacks = scene.status_callbacks(sid)

    assert [hook.params["CallStatus"] for hook in callbacks] == ["initiated", "failed"]
    assert callbacks[1].params["SipResponseCode"] == "404"
    assert (truth["status"], truth["rings"], truth["ended_by"]) == ("failed", 0, "network")
    assert scene.twilio.calls(sid).fetch().status == "failed"


def test_a_voicemail_is_detected_and_hangs_up_after_its_greeting(scene: Scene) -> None:
    sid = scene.place(
        "+33142765008",
        "long",
        status_callback_event=ALL_EVENTS,
        machine_detection="DetectMessageEnd",
    )

    truth = scene.finished(sid)
    ringing, answered, completed = scene.status_callbacks(sid)[1:]

    assert seconds_between(ringing, answered) == 4 * 5 + 1
    assert answered.params["AnsweredBy"] == completed.params["AnsweredBy"] == "machine_end_beep"
    assert completed.params["CallDuration"] == "10"
    assert (truth["answered_by"], truth["ended_by"], truth["rings"]) == ("machine", "callee", 5)
    # The Call resource says "human" or "machine" only (Twilio's documented values).
    assert scene.twilio.calls(sid).fetch().answered_by == "machine"


@pytest.mark.parametrize(
    ("document", "outcome", "hold_s", "talk_s", "ended_by"),
    [
        # Pause 3 s, keys 1 s, held 40 s (four empty 10 s gathers), greeting 2 s, then the
        # IVR's own 120 s limit ends the call while the caller keeps listening.
        ("press-2", "human", 40, 120, "callee"),
        # Pause 3 s, keys 1 s, held 20 s, then dropped.
        ("press-1", "dropped", 20, 24, "callee"),
    ],
)
def test_a_menu_choice_transfers_after_a_hold(
    scene: Scene, document: str, outcome: str, hold_s: int, talk_s: int, ended_by: str
) -> None:
    scene.receiver.documents["listen"] = DOCUMENTS["listen"]
    sid = scene.place("+33142765009", document)

    truth = scene.finished(sid)

    assert truth["menu_choice"] == document[-1]
    assert (truth["transfer_outcome"], truth["hold_s"]) == (outcome, hold_s)
    assert (truth["duration_s"], truth["ended_by"]) == (talk_s, ended_by)
    heard = [
        hook.params["SpeechResult"]
        for hook in scene.receiver.for_call(sid, "/twiml/listen")
        if "SpeechResult" in hook.params
    ]
    if outcome == "human":
        assert heard[0] == "Service urbanisme, bonjour"
        empty = [
            h
            for h in scene.receiver.for_call(sid, "/twiml/listen")
            if "SpeechResult" not in h.params
        ]
        assert len(empty) >= 3  # three empty gathers while on hold
    else:
        assert heard == []


def test_async_machine_detection_posts_its_verdict_apart(scene: Scene) -> None:
    sid = scene.place(
        "+33142765008",
        "long",
        machine_detection="Enable",
        async_amd="true",
        async_amd_status_callback=f"{scene.receiver_url}/amd",
    )

    scene.finished(sid)

    [verdict] = scene.receiver.for_call(sid, "/amd")
    assert_signed(verdict)
    assert verdict.params["AnsweredBy"] == "machine_start"
    assert verdict.params["AccountSid"] == ACCOUNT.sid


def test_send_digits_picks_a_menu_entry(scene: Scene) -> None:
    sid = scene.place("+33142765009", "hold", send_digits="W1")

    truth = scene.finished(sid)

    assert (truth["menu_choice"], truth["transfer_outcome"], truth["hold_s"]) == (
        "1",
        "dropped",
        20,
    )
    assert truth["duration_s"] == 20


def test_twiml_that_redirects_forever_without_pausing_is_hung_up(scene: Scene) -> None:
    sid = scene.place("+33155550000", "spin")

    truth = scene.finished(sid)

    assert (truth["status"], truth["duration_s"]) == ("completed", 0)
    fetches = scene.receiver.for_call(sid, "/twiml/spin")
    assert 50 < len(fetches) < 60


def all_four_arrived(scene: Scene, sid: str) -> bool:
    return len(scene.status_callbacks(sid)) == 4


@pytest.mark.parametrize(
    "timing", [RunnerTiming(time_scale=0.005, poll_interval_s=0.01, callback_jitter_s=0.3)]
)
def test_jittered_callbacks_may_arrive_out_of_order_but_all_arrive(scene: Scene) -> None:
    sids = [
        scene.place(f"+3314276500{n}", "short", status_callback_event=ALL_EVENTS) for n in (1, 4)
    ]
    for sid in sids:
        scene.finished(sid)
        scene.receiver.wait_for(partial(all_four_arrived, scene, sid))

        callbacks = scene.status_callbacks(sid)
        assert [hook.params["SequenceNumber"] for hook in callbacks] == ["0", "1", "2", "3"]
        assert [hook.params["CallStatus"] for hook in callbacks] == [
            "initiated",
            "ringing",
            "in-progress",
            "completed",
        ]
        for hook in callbacks:
            assert_signed(hook)


def test_a_negative_jitter_is_refused() -> None:
    with pytest.raises(SandboxConfigError, match="jitter"):
        RunnerTiming(callback_jitter_s=-1)


def heard(scene: Scene, sid: str, document: str) -> list[str]:
    """What the caller's speech `<Gather>`s heard, in order."""
    return [
        hook.params["SpeechResult"]
        for hook in scene.receiver.for_call(sid, f"/twiml/{document}")
        if "SpeechResult" in hook.params
    ]


@pytest.mark.parametrize(
    ("to", "outcome", "hold_s", "first_heard", "talk_s", "ended_by"),
    [
        # Request 3 s, held 30 s, the urbanisme greets; the first person hangs up at 60 s.
        ("+33142765010", "human", 30, "Service urbanisme, bonjour", 60, "callee"),
        (
            "+33142765012",
            "voicemail",
            15,
            "Vous êtes bien sur la messagerie du service urbanisme, laissez un message.",
            60,
            "callee",
        ),
        # Request 3 s, held 20 s, then nobody: the line drops.
        ("+33142765013", "dropped", 20, None, 23, "callee"),
    ],
)
def test_a_person_transfers_the_call_once_asked(
    scene: Scene,
    to: str,
    outcome: str,
    hold_s: int,
    first_heard: str | None,
    talk_s: int,
    ended_by: str,
) -> None:
    scene.serve_documents("listen")
    sid = scene.place(to, "request")

    truth = scene.finished(sid)

    assert truth["menu_choice"] is None
    assert (truth["transfer_outcome"], truth["hold_s"]) == (outcome, hold_s)
    assert (truth["duration_s"], truth["ended_by"]) == (talk_s, ended_by)
    speech = heard(scene, sid, "listen")
    if first_heard is None:
        assert speech == []
    else:
        # The first person's greeting was never listened to: the first voice heard is the
        # new party's, once the hold is over.
        assert speech[0] == first_heard
        listens = scene.receiver.for_call(sid, "/twiml/listen")
        assert [hook.params.get("SpeechResult") for hook in listens[:2]] == [None, None]


def test_a_person_does_not_transfer_before_the_request(scene: Scene) -> None:
    scene.serve_documents("listen")
    sid = scene.place("+33142765010", "listen")  # listens only, never asks

    truth = scene.finished(sid)

    assert (truth["transfer_outcome"], truth["hold_s"]) == (None, None)
    assert set(heard(scene, sid, "listen")) == {"Mairie du onzième, bonjour"}


def test_speech_gather_posts_a_partial_result_as_the_callee_starts_speaking(
    scene: Scene,
) -> None:
    scene.serve_documents("chosen")
    sid = scene.place("+33142765001", "greeting-partial")

    scene.finished(sid)

    # Recognition progresses: the first words, then all of them (a 2 s greeting).
    partial, later = scene.receiver.for_call(sid, "/partial")
    assert later.params["UnstableSpeechResult"] == "Mairie du onzième bonjour"
    assert later.params["SequenceNumber"] == "1"
    assert_signed(partial)
    assert partial.method == "POST"
    assert partial.params == {
        "AccountSid": ACCOUNT.sid,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "LanguageCode": "fr-FR",
        "SequenceNumber": "0",
        "Stability": partial.params["Stability"],
        "StableSpeechResult": "",
        "UnstableSpeechResult": "Mairie du",
    }
    assert 0 <= float(partial.params["Stability"]) <= 1
    [action] = scene.receiver.for_call(sid, "/twiml/chosen")
    assert action.params["SpeechResult"] == "Mairie du onzième, bonjour"
    # Posted when the speech starts, so before the final result.
    assert scene.receiver.received.index(partial) < scene.receiver.received.index(action)


def test_partial_results_follow_a_transfer_and_count_per_call(scene: Scene) -> None:
    scene.serve_documents("listen-partial")
    sid = scene.place("+33142765010", "request-partial")

    scene.finished(sid)

    partials = scene.receiver.for_call(sid, "/partial")
    speech = heard(scene, sid, "listen-partial")
    # The new party greets once (2 s) at 33 s, then waits in silence: one final result, and
    # partial results as recognition progresses, numbered over the call.
    assert speech == ["Service urbanisme, bonjour"]
    assert [hook.params["UnstableSpeechResult"] for hook in partials] == [
        "Service urbanisme",
        "Service urbanisme bonjour",
    ]
    assert [hook.params["SequenceNumber"] for hook in partials] == ["0", "1"]
    for hook in partials:
        assert_signed(hook)
        assert hook.method == "GET"
        assert hook.params["LanguageCode"] == "en-US"  # the Gather's default language


def silent(wav_bytes: bytes) -> bool:
    with wave.open(io.BytesIO(wav_bytes)) as audio:
        return not any(audio.readframes(audio.getnframes()))


def test_record_takes_a_message_on_a_voicemail(scene: Scene) -> None:
    scene.serve_documents("recorded")
    sid = scene.place("+33142765011", "message")

    truth = scene.finished(sid)
    scene.receiver.wait_for(lambda: len(scene.receiver.for_call(sid, "/recording")) == 1)

    [action] = scene.receiver.for_call(sid, "/twiml/recorded")
    assert_signed(action)
    assert action.params["CallStatus"] == "in-progress"
    # Greeting waited out (7 s), message said (3 s), then 5 s of silence end the recording.
    assert action.params["RecordingDuration"] == "5"
    assert "Digits" not in action.params
    [status] = scene.receiver.for_call(sid, "/recording")
    assert_signed(status)
    assert status.params["RecordingSid"] == action.params["RecordingSid"]
    assert status.params["RecordingUrl"] == action.params["RecordingUrl"]
    assert (status.params["RecordingSource"], status.params["RecordingStatus"]) == (
        "RecordVerb",
        "completed",
    )
    # The action's TwiML runs next: "Au revoir" (1 s), then hang up.
    assert (truth["duration_s"], truth["ended_by"]) == (7 + 3 + 5 + 1, "caller")
    assert truth["recording_sid"] is None  # that field is the Record=true call recording

    recording = scene.twilio.recordings(action.params["RecordingSid"]).fetch()
    assert (recording.call_sid, recording.source, recording.duration) == (sid, "RecordVerb", "5")
    assert recording.channels == 1
    media = httpx.get(
        action.params["RecordingUrl"] + ".wav",
        auth=(ACCOUNT.sid, ACCOUNT.auth_token),
        follow_redirects=True,  # to Twilio's media storage
    )
    with wave.open(io.BytesIO(media.content)) as audio:
        assert audio.getnframes() == 5 * 8000
    assert silent(media.content)  # the voicemail waits for the message without a sound


def test_record_reports_a_hangup_during_the_message(scene: Scene) -> None:
    scene.serve_documents("recorded")
    sid = scene.place("+33142765014", "long-message")  # this voicemail hangs up after 12 s

    truth = scene.finished(sid)

    [action] = scene.receiver.for_call(sid, "/twiml/recorded")
    assert_signed(action)
    assert (action.params["Digits"], action.params["CallStatus"]) == ("hangup", "completed")
    assert action.params["RecordingDuration"] == "5"  # from 7 s to the hangup at 12 s
    assert (truth["duration_s"], truth["ended_by"]) == (12, "callee")


def test_record_without_action_requests_the_document_again(scene: Scene) -> None:
    sid = scene.place("+33142765014", "record-again")

    truth = scene.finished(sid)

    fetches = scene.receiver.for_call(sid, "/twiml/record-again")
    # Recordings capped at maxLength 4 s: at 4 s and 8 s the document is requested again,
    # at 12 s the callee hangs up during the third.
    assert [hook.params.get("RecordingDuration") for hook in fetches] == [None, "4", "4", "4"]
    assert [hook.params.get("Digits") for hook in fetches] == [None, None, None, "hangup"]
    assert len({hook.params.get("RecordingSid") for hook in fetches[1:]}) == 3
    assert (truth["duration_s"], truth["ended_by"]) == (12, "callee")


def test_record_in_inline_twiml_without_action_goes_on_with_the_next_verb(
    scene: Scene,
) -> None:
    call = scene.twilio.calls.create(
        to="+33142765011",
        from_=CALLER,
        twiml="<Response><Record timeout='3'/><Say>Merci</Say></Response>",
    )

    truth = scene.finished(call.sid)

    # Recorded 3 s of the voicemail's greeting, then <Say>Merci</Say> (1 s).
    assert (truth["duration_s"], truth["ended_by"]) == (4, "caller")
    [recording] = scene.store.recordings_of(call.sid)
    assert (recording.source, recording.duration_s) == ("RecordVerb", 3)
    media = scene.store.recording_media(recording.sid, "wav")
    assert not silent(media)  # the greeting was playing


# MPEG-2.5 Layer III (what LAME writes for 8 kHz audio): kbit/s by header bitrate index.
MPEG25_LAYER3_KBPS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
MPEG25_SAMPLE_RATES_HZ = (11025, 12000, 8000)
MPEG2_SAMPLES_PER_FRAME = 576


@dataclass(frozen=True)
class Mp3Stream:
    sample_rate_hz: int
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames * MPEG2_SAMPLES_PER_FRAME / self.sample_rate_hz


def walk_mp3_frames(data: bytes) -> Mp3Stream:
    """Follow MPEG-2.5 Layer III frame headers from the start to the end of the bytes."""
    if data.startswith(b"ID3"):  # ID3v2 tag: 10-byte header, then a synchsafe size
        size = int.from_bytes(data[6:10], "big")
        size = sum(((size >> (8 * i)) & 0x7F) << (7 * i) for i in range(4))
        data = data[10 + size :]
    offset, frames, rates, modes = 0, 0, set(), set()
    while offset + 4 <= len(data):
        header = int.from_bytes(data[offset : offset + 4], "big")
        assert header >> 21 == 0x7FF, f"no frame sync at byte {offset}"
        assert (header >> 19) & 0b11 == 0b00, "not MPEG-2.5"
        assert (header >> 17) & 0b11 == 0b01, "not Layer III"
        rate = MPEG25_SAMPLE_RATES_HZ[(header >> 10) & 0b11]
        kbps = MPEG25_LAYER3_KBPS[(header >> 12) & 0b1111]
        padding = (header >> 9) & 1
        rates.add(rate)
        modes.add((header >> 6) & 0b11)
        offset += 72 * kbps * 1000 // rate + padding
        frames += 1
    assert offset == len(data), "the last frame is truncated"
    [rate] = rates
    channels = {1 if mode == 0b11 else 2 for mode in modes}
    [channel_count] = channels
    return Mp3Stream(rate, channel_count, frames)


def test_a_recording_is_served_as_mp3_of_the_same_audio(scene: Scene) -> None:
    sid = scene.place(
        "+33142765001", "short", record=True, recording_channels="dual", trim="do-not-trim"
    )

    truth = scene.finished(sid)

    url = f"{scene.sandbox_url}/2010-04-01/Accounts/{ACCOUNT.sid}/Recordings/"
    url += f"{truth['recording_sid']}.mp3"
    auth = (ACCOUNT.sid, ACCOUNT.auth_token)
    first = httpx.get(url, auth=auth, follow_redirects=True)
    again = httpx.get(url, auth=auth, follow_redirects=True)
    assert first.status_code == 200
    assert first.headers["content-type"] == "audio/mpeg"
    assert again.content == first.content  # encoded once, then kept
    stream = walk_mp3_frames(first.content)
    assert (stream.sample_rate_hz, stream.channels) == (8000, 2)
    # The 4 s call, plus at most the encoder's delay and last partial frame.
    assert 4 <= stream.duration_s <= 4 + 3 * MPEG2_SAMPLES_PER_FRAME / 8000


def test_the_truth_says_when_a_number_was_called_while_already_on_a_call(scene: Scene) -> None:
    first = scene.place("+33142765006", "hold", status_callback_event=ALL_EVENTS)
    scene.receiver.wait_for(lambda: len(scene.status_callbacks(first)) == 3)  # in-progress
    second = scene.place("+33142765006", "short")
    assert scene.finished(second)["lines_in_use"] == 1
    scene.twilio.calls(first).update(status="completed")
    assert scene.finished(first)["lines_in_use"] == 0
    third = scene.place("+33142765006", "short")  # the line is free again
    assert scene.finished(third)["lines_in_use"] == 0
