"""Injected faults and the concurrency limit, as a client's crash-safety tests meet them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from sandbox import Faults, SandboxConfigError
from tests.sandbox.conftest import RecordedExchanges
from tests.support.sandbox_scene import ACCOUNT, CALLER, Scene

ClientFactory = Callable[..., Client]

TO = "+33155550000"  # an unlisted number: rings 3 times, answered, hung up after 30 s
OTHER = "+33155550001"


@pytest.fixture
def clients(scene: Scene, exchanges: RecordedExchanges) -> Iterator[ClientFactory]:
    """Official twilio clients on the scene's sandbox, their traffic checked against the spec."""
    sessions: list[TwilioHttpClient] = []

    def client(*, timeout: float | None = None) -> Client:
        http_client = TwilioHttpClient(
            timeout=timeout, request_hooks={"response": [exchanges.record]}
        )
        sessions.append(http_client)
        twilio = Client(ACCOUNT.sid, ACCOUNT.auth_token, http_client=http_client)
        twilio.api.base_url = scene.sandbox_url
        return twilio

    scene.serve_documents("short")
    yield client
    for http_client in sessions:
        if http_client.session is not None:
            http_client.session.close()


def create(scene: Scene, twilio: Client, to: str = TO) -> str:
    call = twilio.calls.create(to=to, from_=CALLER, url=f"{scene.receiver_url}/twiml/short")
    sid: str = call.sid
    return sid


def api_url(scene: Scene, path: str) -> str:
    return f"{scene.sandbox_url}/2010-04-01/Accounts/{ACCOUNT.sid}/{path}"


@pytest.mark.parametrize("faults", [Faults(fail_call_creates_after_commit=1)])
def test_a_create_answered_500_still_places_the_call(scene: Scene, clients: ClientFactory) -> None:
    twilio = clients()

    with pytest.raises(TwilioRestException) as raised:
        create(scene, twilio)

    assert (raised.value.status, raised.value.code) == (500, 20500)
    [listed] = twilio.calls.list(to=TO)
    truth = scene.finished(listed.sid)
    assert (truth["to"], truth["status"], truth["answered_by"]) == (TO, "completed", "human")
    # Only the next create failed: the one after is answered 201.
    assert scene.faults.fail_call_creates_after_commit == 0
    assert create(scene, twilio, OTHER) != listed.sid


@pytest.mark.parametrize("faults", [Faults(delay_call_create_response_s=600)])
def test_a_client_that_gave_up_on_a_slow_create_finds_the_call(
    scene: Scene, clients: ClientFactory
) -> None:
    impatient = clients(timeout=0.5)

    try:
        with pytest.raises(requests.exceptions.Timeout):
            create(scene, impatient)
    finally:
        scene.faults.delay_call_create_response_s = 0  # releases the held answer

    [listed] = clients().calls.list(to=TO)
    assert scene.finished(listed.sid)["status"] == "completed"


@pytest.mark.parametrize("max_concurrent_requests", [1])
@pytest.mark.parametrize("faults", [Faults(delay_call_create_response_s=600)])
def test_a_request_beyond_the_concurrency_limit_is_refused_and_not_processed(
    scene: Scene, clients: ClientFactory
) -> None:
    held_client, twilio = clients(), clients()
    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(create, scene, held_client)
        try:
            # The held create has committed its call and now waits to answer.
            scene.receiver.wait_for(lambda: list(scene.store.newest_first()) != [])

            with pytest.raises(TwilioRestException) as raised:
                create(scene, twilio, OTHER)
            refused = httpx.get(api_url(scene, "Calls.json"), auth=(ACCOUNT.sid, "wrong"))
        finally:
            scene.faults.delay_call_create_response_s = 0
        held_sid = held.result(timeout=30)

    assert (raised.value.status, raised.value.code) == (429, 20429)
    # Refused before anything else, authentication included.
    assert refused.status_code == 429
    assert refused.json()["code"] == 20429
    assert refused.headers["Twilio-Concurrent-Requests"] == "1"
    assert [call.sid for call in scene.store.newest_first()] == [held_sid]
    assert twilio.calls.list(to=OTHER) == []
    admitted = httpx.get(api_url(scene, "Calls.json"), auth=(ACCOUNT.sid, ACCOUNT.auth_token))
    assert admitted.headers["Twilio-Concurrent-Requests"] == "1"


def test_every_api_response_says_how_many_requests_were_in_flight(scene: Scene) -> None:
    response = httpx.get(api_url(scene, "Calls.json"), auth=(ACCOUNT.sid, "wrong"))

    assert response.status_code == 401
    assert response.headers["Twilio-Concurrent-Requests"] == "1"


@pytest.mark.parametrize(
    "fields",
    [
        {"fail_call_creates_after_commit": -1},
        {"delay_call_create_response_s": -0.5},
        {"fail_recording_downloads": -1},
    ],
)
def test_negative_faults_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(SandboxConfigError, match="negative"):
        Faults(**fields)  # type: ignore[arg-type]
