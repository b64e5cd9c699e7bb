"""A sandbox with its call runner and a world, the application's receiver, and the twilio client.

Shared by the runner and fault-injection tests; the `scene` fixture (conftest) builds one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from twilio.request_validator import RequestValidator
from twilio.rest import Client

from sandbox import (
    Account,
    CallPacer,
    CallRunner,
    CallStore,
    Faults,
    RunnerTiming,
    TruthLog,
    create_app,
    parse_world,
    read_truth,
)
from tests.support.loopback import Receiver, Webhook, serve

ACCOUNT = Account(sid="AC" + "0123456789abcdef" * 2, auth_token="runner-token")  # noqa: S106
CALLER = "+33970000001"
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
VOICEMAIL_GREETING = (
    "Vous êtes bien sur la messagerie de la mairie du onzième. "
    "Laissez votre message après le bip."
)  # 93 characters: 7 s

WORLD = f"""
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

[numbers."+33142765010"]
rings = 2
greeting = "Mairie du onzième, bonjour"
hangup_after_s = 60

[numbers."+33142765010".transfer]
hold_s = 30
then = "human"
greeting = "Service urbanisme, bonjour"

[numbers."+33142765012"]
rings = 2
greeting = "Mairie du onzième, bonjour"
hangup_after_s = 60

[numbers."+33142765012".transfer]
hold_s = 15
then = "voicemail"
greeting = "Vous êtes bien sur la messagerie du service urbanisme, laissez un message."

[numbers."+33142765013"]
rings = 2
greeting = "Mairie du onzième, bonjour"
hangup_after_s = 60

[numbers."+33142765013".transfer]
hold_s = 20
then = "dropped"

[numbers."+33142765011"]
rings = 1
answer = "machine"
greeting = "{VOICEMAIL_GREETING}"
hangup_after_s = 60

[numbers."+33142765014"]
rings = 1
answer = "machine"
greeting = "{VOICEMAIL_GREETING}"
hangup_after_s = 12
"""

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
    # The caller's request (3 s), then it listens until someone speaks.
    "request": (
        "<Response><Say language='fr-FR'>Bonjour, je cherche le service urbanisme.</Say>"
        "<Redirect>listen</Redirect></Response>"
    ),
    "greeting-partial": (
        "<Response><Gather input='speech' language='fr-FR' timeout='5' "
        "partialResultCallback='/partial' action='/twiml/chosen'/></Response>"
    ),
    "request-partial": (
        "<Response><Say language='fr-FR'>Bonjour, je cherche le service urbanisme.</Say>"
        "<Redirect>listen-partial</Redirect></Response>"
    ),
    "listen-partial": (
        "<Response><Gather input='speech' timeout='10' actionOnEmptyResult='true' "
        "partialResultCallback='/partial' partialResultCallbackMethod='GET' "
        "action='/twiml/listen-partial'/></Response>"
    ),
    # Waits out the voicemail greeting (7 s), says 3 s, then records a message.
    "message": (
        "<Response><Pause length='7'/>"
        "<Say language='fr-FR'>Bonjour, ceci est un message de test.</Say>"
        "<Record timeout='5' maxLength='30' action='/twiml/recorded' "
        "recordingStatusCallback='/recording'/><Say>Jamais dit</Say></Response>"
    ),
    "long-message": (
        "<Response><Pause length='7'/><Record timeout='0' playBeep='false' "
        "action='/twiml/recorded'/></Response>"
    ),
    # No action: each recording (at most 4 s) requests this document again.
    "record-again": (
        "<Response><Record timeout='10' maxLength='4'/><Say>Jamais dit</Say></Response>"
    ),
    "recorded": "<Response><Say>Au revoir</Say><Hangup/></Response>",
}


@dataclass
class Scene:
    """The sandbox (with its runner), the application's receiver, and the twilio client."""

    twilio: Client
    receiver: Receiver
    receiver_url: str
    sandbox_url: str
    store: CallStore
    faults: Faults
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

    def serve_documents(self, *names: str) -> None:
        for name in names:
            self.receiver.documents.setdefault(name, DOCUMENTS[name])

    def finished(self, sid: str) -> dict[str, object]:
        self.receiver.wait_for(lambda: any(entry.sid == sid for entry in self.truth.entries))
        [entry] = [entry for entry in read_truth(self.truth_path) if entry["sid"] == sid]
        return entry

    def status_callbacks(self, sid: str) -> list[Webhook]:
        hooks = self.receiver.for_call(sid, "/status")
        return sorted(hooks, key=lambda hook: int(hook.params["SequenceNumber"]))


@contextmanager
def open_scene(
    truth_path: Path,
    timing: RunnerTiming,
    *,
    world: str = WORLD,
    faults: Faults | None = None,
    max_concurrent_requests: int = 0,
) -> Iterator[Scene]:
    """Serve a receiver and a sandbox playing calls to `world` until the block ends."""
    receiver = Receiver()
    truth = TruthLog(truth_path)
    store = CallStore(CallPacer(100))
    faults = faults if faults is not None else Faults()
    runner = CallRunner(ACCOUNT, store, parse_world(world), timing=timing, truth=truth)
    app = create_app(
        ACCOUNT,
        store,
        runner=runner,
        faults=faults,
        max_concurrent_requests=max_concurrent_requests,
    )
    with serve(receiver.app()) as receiver_url, serve(app) as sandbox_url:
        twilio = Client(ACCOUNT.sid, ACCOUNT.auth_token)
        twilio.api.base_url = sandbox_url
        yield Scene(twilio, receiver, receiver_url, sandbox_url, store, faults, truth, truth_path)


def assert_signed(hook: Webhook) -> None:
    """The request carries a valid `X-Twilio-Signature` (a GET signs its URL with the query)."""
    assert hook.signature is not None
    params = {} if hook.method == "GET" else hook.params
    assert RequestValidator(ACCOUNT.auth_token).validate(hook.url, params, hook.signature)


def seconds_between(earlier: Webhook, later: Webhook) -> float:
    start = parsedate_to_datetime(earlier.params["Timestamp"])
    return (parsedate_to_datetime(later.params["Timestamp"]) - start).total_seconds()
