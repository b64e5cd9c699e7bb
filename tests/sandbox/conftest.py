"""A sandbox served by uvicorn on loopback, and the official twilio client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_core import OpenAPI
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from sandbox import Account, CallPacer, CallStore, Faults, RunnerTiming, create_app
from tests.support.loopback import serve
from tests.support.openapi_conformance import check_exchange, load_spec
from tests.support.sandbox_scene import Scene, open_scene

ACCOUNT = Account(sid="AC" + "0123456789abcdef" * 2, auth_token="sandbox-token")  # noqa: S106


@dataclass
class RunningSandbox:
    base_url: str
    account: Account
    store: CallStore


@dataclass
class RecordedExchanges:
    """Every response the twilio client received, with the request it sent."""

    responses: list[requests.Response] = field(default_factory=list)

    def record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.responses.append(response)


@pytest.fixture(scope="session")
def twilio_spec() -> OpenAPI:
    """Twilio's OpenAPI description, loaded once: it is 1.8 MB."""
    return load_spec()


@pytest.fixture
def calls_per_second() -> float:
    return 1.0


@pytest.fixture
def sandbox(calls_per_second: float) -> Iterator[RunningSandbox]:
    """The sandbox API served over HTTP on a free loopback port for one test."""
    store = CallStore(CallPacer(calls_per_second))
    app = create_app(ACCOUNT, store)
    with serve(app, lifespan="off") as base_url:
        yield RunningSandbox(base_url, ACCOUNT, store)


@pytest.fixture
def exchanges(twilio_spec: OpenAPI) -> Iterator[RecordedExchanges]:
    """Records the twilio client's traffic; on teardown, checks all of it against the spec."""
    recorded = RecordedExchanges()
    yield recorded
    for response in recorded.responses:
        check_exchange(twilio_spec, response)


def sandbox_client(
    sandbox: RunningSandbox,
    exchanges: RecordedExchanges,
    *,
    auth_token: str | None = None,
    account_sid: str | None = None,
) -> tuple[Client, TwilioHttpClient]:
    http_client = TwilioHttpClient(request_hooks={"response": [exchanges.record]})
    client = Client(
        sandbox.account.sid,
        auth_token or sandbox.account.auth_token,
        account_sid=account_sid,
        http_client=http_client,
    )
    client.api.base_url = sandbox.base_url
    return client, http_client


@pytest.fixture
def twilio(sandbox: RunningSandbox, exchanges: RecordedExchanges) -> Iterator[Client]:
    """The official twilio client with the sandbox's credentials and base URL."""
    client, http_client = sandbox_client(sandbox, exchanges)
    yield client
    assert http_client.session is not None
    http_client.session.close()


@pytest.fixture
def timing() -> RunnerTiming:
    """The runner's clock for a scene: 200 simulated seconds per real second."""
    return RunnerTiming(time_scale=0.005, poll_interval_s=0.01)


@pytest.fixture
def faults() -> Faults:
    """The faults a scene's API injects (none); parametrize to inject some."""
    return Faults()


@pytest.fixture
def max_concurrent_requests() -> int:
    """A scene's API concurrency limit (0: none)."""
    return 0


@pytest.fixture
def scene(
    tmp_path: Path, timing: RunnerTiming, faults: Faults, max_concurrent_requests: int
) -> Iterator[Scene]:
    """The sandbox with its runner and the test world, a webhook receiver, the twilio client."""
    with open_scene(
        tmp_path / "truth.jsonl",
        timing,
        faults=faults,
        max_concurrent_requests=max_concurrent_requests,
    ) as scene:
        yield scene
