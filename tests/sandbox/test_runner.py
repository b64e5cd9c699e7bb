"""The call runner over real HTTP: the sandbox plays calls to a world, a receiver gets webhooks."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from sandbox import (
    Account,
    CallPacer,
    CallRunner,
    CallStore,
    RunnerTiming,
    SandboxConfigError,
    TruthLog,
    create_app,
    parse_world,
    read_truth,
)
from tests.sandbox.loopback import Receiver, Webhook, serve

ACCOUNT = Account(sid="AC" + "0123456789abcdef" * 2, auth_token="runner-token")  # noqa: S106
CALLER = "+33970000001"
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]

WORLD = """
[numbers."+33142765001"]
rings = 4
answer = "human"
greeting = "Mairie du onzième, bonjour"
hangup_after_s = 40

[numbers."+33142765002"]
outcome = "busy"

[numbers."+33142765003"]
outcome = "no-answer"

[numbers."+33142765004"]
rings = 1
answer = "ivr"
greeting = "Tapez 1 pour l'état civil, 2 pour l'urbanisme"
digits = "2"

[numbers."+33142765005"]
rings = 100

[numbers."+33142765006"]
rings = 1

[numbers."+33142765009"]
rings = 1
answer = "ivr"
greeting = "Tapez 1 pour l'état civil, 2 pour l'urbanisme"
hangup_after_s = 120

[numbers."+33142765009".menu."1"]
hold_s = 20
then = "dropped"

[numbers."+33142765009".menu."2"]
hold_s = 40
then = "human"
greeting = "Service urbanisme, bonjour"

[numbers."+33142765007"]
outcome = "failed"

[numbers."+33142765008"]
rings = 5
answer = "machine"
greeting = "Vous êtes sur la messagerie de la mairie, laissez un message"
hangup_after_s = 10
"""


@dataclass
class Scene:
    """The sandbox (with its runner), the application's receiver, and the twilio client."""

    twilio: Client
    receiver: Receiver
    receiver_url: str
    truth: TruthLog
    truth_path: Path

    def place(self, to: str, document: str, **options: object) -> str:
        self.receiver.documents.setdefault(document, DOCUMENTS[document])
        call = self.twilio.calls.create(
            to=to,
            from_=CALLER,
            url=f"{self.receiver_url}/twiml/{document}",
            status_callback=f"{self.receiver_url}/status",
            **options,
        )
        sid: str = call.sid
        return sid

    def finished(self, sid: str) -> dict[str, object]:
        self.receiver.wait_for(lambda: any(entry.sid == sid for entry in self.truth.entries))
        [entry] = [entry for entry in read_truth(self.truth_path) if entry["sid"] == sid]
        return entry

    def status_callbacks(self, sid: str) -> list[Webhook]:
        hooks = self.receiver.for_call(sid, "/status")
        return sorted(hooks, key=lambda hook: int(hook.params["SequenceNumber"]))


DOCUMENTS = {
    "short": "<Response><Say language='fr-FR'>Bonjour</Say><Pause length='3'/><Hangup/></Response>",
    "long": "<Response><Pause length='60'/><Say>Au revoir</Say></Response>",
    "menu": (
        "<Response><Gather numDigits='1' action='/twiml/chosen'>"
        "<Pause length='2'/></Gather><Say>Rien</Say></Response>"
    ),
    "chosen": "<Response><Say>Merci</Say><Hangup/></Response>",
    "hold": "<Response><Pause length='600'/></Response>",
    "spin": "<Response><Redirect>spin</Redirect></Response>",
    "press-1": (
        "<Response><Pause length='3'/><Play digits='w1'/><Redirect>listen</Redirect></Response>"
    ),
    "press-2": (
        "<Response><Pause length='3'/><Play digits='w2'/><Redirect>listen</Redirect></Response>"
    ),
    "listen": (
        "<Response><Gather input='speech' timeout='10' actionOnEmptyResult='true' "
        "action='/twiml/listen'/></Response>"
    ),
}


@pytest.fixture
def timing() -> RunnerTiming:
    return RunnerTiming(time_scale=0.005, poll_interval_s=0.01)


@pytest.fixture
def scene(tmp_path: Path, timing: RunnerTiming) -> Iterator[Scene]:
    receiver = Receiver()
    truth_path = tmp_path / "truth.jsonl"
    truth = TruthLog(truth_path)
    store = CallStore(CallPacer(100))
    runner = CallRunner(ACCOUNT, store, parse_world(WORLD), timing=timing, truth=truth)
    with (
        serve(receiver.app()) as receiver_url,
        serve(create_app(ACCOUNT, store, runner=runner)) as sandbox_url,
    ):
        twilio = Client(ACCOUNT.sid, ACCOUNT.auth_token)
        twilio.api.base_url = sandbox_url
        yield Scene(twilio, receiver, receiver_url, truth, truth_path)


def assert_signed(hook: Webhook) -> None:
    assert hook.signature is not None
    assert RequestValidator(ACCOUNT.auth_token).validate(hook.url, hook.params, hook.signature)


def seconds_between(earlier: Webhook, later: Webhook) -> float:
    start = parsedate_to_datetime(earlier.params["Timestamp"])
    return (parsedate_to_datetime(later.params["Timestamp"]) - start).total_seconds()


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
        recorded.params["RecordingUrl"] + ".wav", auth=(ACCOUNT.sid, ACCOUNT.auth_token)
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
    assert scene.twilio.calls(sid).fetch().answered_by == "machine_end_beep"


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


@pytest.mark.parametrize(
    "timing", [RunnerTiming(time_scale=0.005, poll_interval_s=0.01, callback_jitter_s=0.3)]
)
def all_four_arrived(scene: Scene, sid: str) -> bool:
    return len(scene.status_callbacks(sid)) == 4


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
