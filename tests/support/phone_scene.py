"""A phone probe scene on loopback: the sandbox (the world) and prober (database, web app, client).

Shared by the end-to-end tests and `bench/phone_calls.py`. The sandbox runs in its own thread,
as the outside world would; prober's web app and its Twilio client run in the caller's loop.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import uvicorn
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.phone.twilio_client import RetryPolicy, TwilioPhone
from config.scenarios import Scenario as ScenarioFile
from config.settings import Settings, TwilioSettings
from prober.probes.phone import PhoneProbes
from prober.project.database import Database
from prober.web.app import create_app as create_prober_app
from sandbox import (
    Account,
    CallPacer,
    CallRunner,
    CallStore,
    Faults,
    RunnerTiming,
    TruthLog,
    World,
    create_app,
)
from storage.models import (
    Attempt,
    Channel,
    Recording,
)
from tests.support.loopback import serve
from tests.support.seeding import add_persona, add_probe, add_scenario, add_structure, add_wave

ACCOUNT = Account(sid="AC" + "fedcba9876543210" * 2, auth_token="scene-token")  # noqa: S106
CALLER_ID = "+33970000001"


def phone_scenario(scenario_id: str, **phone: Any) -> dict[str, Any]:
    """A validated phone scenario, as a wave freezes it."""
    scenario = ScenarioFile.model_validate(
        {
            "id": scenario_id,
            "channel": "phone",
            "title": scenario_id,
            "phone": {"request": "Bonjour, pourriez-vous m'indiquer vos horaires ?", **phone},
        }
    )
    return scenario.model_dump(mode="json")


@dataclass(frozen=True)
class Target:
    """One structure to call: its number and the scenario the probe follows."""

    number: str
    scenario_id: str


def seed_probes(
    engine: Engine, targets: Sequence[Target], scenarios: dict[str, dict[str, Any]]
) -> list[uuid.UUID]:
    """Store one structure, contact and phone probe per target in a wave; the probes' ids."""
    probe_ids: list[uuid.UUID] = []
    with Session(engine) as session:
        add_persona(
            session,
            "camille",
            display_name="Camille Martin",
            caller_id=CALLER_ID,
            reply_mailbox="camille@example.org",
        )
        for scenario_id, definition in scenarios.items():
            add_scenario(session, scenario_id, "phone", definition=definition)
        wave_id = add_wave(
            session,
            f"phone-{uuid.uuid4().hex[:6]}",
            starts_on=date(2026, 11, 23),
            ends_on=date(2026, 11, 27),
            channels=["phone"],
            parameters={
                "catalogue": {
                    "scenarios": scenarios,
                    "personas": {
                        "camille": {
                            "id": "camille",
                            "display_name": "Camille Martin",
                            "caller_id": CALLER_ID,
                        }
                    },
                }
            },
        )
        for index, target in enumerate(targets):
            structure_id = add_structure(session, f"test-{index:04d}", name=f"Mairie test {index}")
            probe_ids.append(
                add_probe(
                    session,
                    wave_id=wave_id,
                    structure_id=structure_id,
                    channel=Channel.PHONE,
                    scenario_id=target.scenario_id,
                    persona_id="camille",
                    scheduled_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
                    contact=target.number,
                )
            )
        session.commit()
    return probe_ids


@dataclass(frozen=True)
class Exchange:
    """One API request the sandbox received and the response it gave, as bytes."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes


class ExchangeRecorder:
    """ASGI middleware keeping every exchange with the sandbox's REST API (``*.json`` paths)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.exchanges: list[Exchange] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith(".json"):
            await self.app(scope, receive, send)
            return
        request_body: list[bytes] = []
        response: dict[str, Any] = {"status": 0, "headers": {}, "body": []}

        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request_body.append(message.get("body", b""))
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
            elif message["type"] == "http.response.body":
                response["body"].append(message.get("body", b""))
            await send(message)

        await self.app(scope, receiving, sending)
        query = scope["query_string"].decode()
        host = dict(scope["headers"]).get(b"host", b"").decode()
        self.exchanges.append(
            Exchange(
                method=scope["method"],
                url=f"http://{host}{scope['path']}" + (f"?{query}" if query else ""),
                request_headers={k.decode(): v.decode() for k, v in scope["headers"]},
                request_body=b"".join(request_body),
                status=response["status"],
                response_headers=response["headers"],
                response_body=b"".join(response["body"]),
            )
        )


@dataclass
class Sandbox:
    """The running sandbox: its URL, calls, truth log, fault switches and API exchanges."""

    base_url: str
    store: CallStore
    truth: TruthLog
    faults: Faults
    recorder: ExchangeRecorder


@contextmanager
def running_sandbox(
    world: World,
    *,
    time_scale: float,
    calls_per_second: float = 100.0,
    max_concurrent_requests: int = 0,
) -> Iterator[Sandbox]:
    """The sandbox API and call runner served on loopback in their own thread."""
    store = CallStore(CallPacer(calls_per_second))
    truth = TruthLog()
    faults = Faults()
    runner = CallRunner(
        ACCOUNT, store, world, timing=RunnerTiming(time_scale=time_scale), truth=truth
    )
    app = create_app(
        ACCOUNT,
        store,
        runner=runner,
        faults=faults,
        max_concurrent_requests=max_concurrent_requests,
    )
    recorder = ExchangeRecorder(app)
    with serve(recorder) as base_url:
        yield Sandbox(base_url, store, truth, faults, recorder)


class StartSandbox(Protocol):
    """The `phone_sandbox` fixture: ``with phone_sandbox(world, time_scale=…) as sandbox:``."""

    def __call__(
        self,
        world: World,
        *,
        time_scale: float,
        calls_per_second: float = 100.0,
        max_concurrent_requests: int = 0,
    ) -> AbstractContextManager[Sandbox]: ...


def free_listener() -> socket.socket:
    """A loopback socket bound to a free port (TCP_NODELAY-capable, see loopback.serve)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    return listener


@asynccontextmanager
async def serving_here(app: ASGIApp, listener: socket.socket) -> AsyncIterator[None]:
    """Serve ``app`` in the running loop until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task
        listener.close()


@dataclass
class Prober:
    """prober's side of the scene: settings, database runner, phone probes and web address."""

    settings: Settings
    database: Database
    probes: PhoneProbes
    phone: TwilioPhone


@asynccontextmanager
async def running_prober(
    engine: Engine,
    sandbox_url: str,
    recordings_dir: Path,
    *,
    time_scale: float,
    retry: RetryPolicy | None = None,
    calls_per_second: float = 100.0,
    wrap_app: Callable[[ASGIApp], ASGIApp] | None = None,
    own_leg: str | None = None,
) -> AsyncIterator[Prober]:
    """prober's web app served on loopback and its Twilio client pointed at the sandbox;
    with ``own_leg``, calls are placed to it and record from the first ring."""
    listener = free_listener()
    port = listener.getsockname()[1]
    settings = Settings(
        twilio=TwilioSettings(
            account_sid=ACCOUNT.sid,
            auth_token=SecretStr(ACCOUNT.auth_token),
            api_base_url=sandbox_url,
            webhook_base_url=f"http://127.0.0.1:{port}",
            calls_per_second=calls_per_second,
            time_scale=time_scale,
            record_from_ringing=own_leg is not None,
            own_leg=own_leg or "",
        ),
        recordings_dir=recordings_dir,
    )
    database = Database(engine)
    try:
        async with TwilioPhone(settings.twilio, retry=retry) as phone:
            probes = PhoneProbes(settings, database, phone)
            app: ASGIApp = create_prober_app(probes)
            if wrap_app is not None:
                app = wrap_app(app)
            async with serving_here(app, listener):
                yield Prober(settings, database, probes, phone)
                await probes.drain()
    finally:
        database.close()


def attempts_of(engine: Engine, probe_ids: Sequence[uuid.UUID]) -> list[Attempt]:
    """Every attempt of these probes."""
    with Session(engine) as session:
        return list(session.exec(select(Attempt).where(col(Attempt.probe_id).in_(probe_ids))))


def recordings_of(engine: Engine, probe_ids: Sequence[uuid.UUID]) -> list[Recording]:
    """Every recording of these probes."""
    with Session(engine) as session:
        return list(session.exec(select(Recording).where(col(Recording.probe_id).in_(probe_ids))))


async def wait_until(condition: Any, *, timeout_s: float, what: str) -> None:
    """Poll ``condition()`` (a failure, not a speed check, if it never holds)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout_s} s")
        await asyncio.sleep(0.05)
