"""What prober's phone channel sends to Twilio, and what it gets back, conforms to Twilio's
OpenAPI description (checked on the sandbox's side of the wire)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests
from openapi_core import OpenAPI
from requests.structures import CaseInsensitiveDict
from sqlalchemy import Engine

from channels.phone.twilio_client import CallRequest
from prober.probes.phone import AttemptKey
from sandbox import parse_world
from tests.support.openapi_conformance import check_exchange, load_spec
from tests.support.phone_scene import (
    CALLER_ID,
    Exchange,
    Sandbox,
    StartSandbox,
    Target,
    attempts_of,
    phone_scenario,
    running_prober,
    seed_probes,
    wait_until,
)

WORLD = """
[numbers."+33142760301"]
rings = 2
greeting = "Mairie, bonjour."

[numbers."+33142760302"]
rings = 100
"""
SCENARIOS = {"ask": phone_scenario("ask", max_ring_seconds=120, max_call_seconds=30)}


@pytest.fixture(scope="module")
def twilio_spec() -> OpenAPI:
    """Twilio's OpenAPI description (1.8 MB), loaded once for this module."""
    return load_spec()


def as_requests_response(exchange: Exchange) -> requests.Response:
    request = requests.Request(
        exchange.method,
        exchange.url,
        headers=exchange.request_headers,
        data=exchange.request_body or None,
    ).prepare()
    response = requests.Response()
    response.status_code = exchange.status
    response.headers = CaseInsensitiveDict(exchange.response_headers)
    response._content = exchange.response_body
    response.request = request
    response.url = exchange.url
    return response


async def test_every_exchange_with_twilio_conforms_to_its_openapi_description(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path, twilio_spec: OpenAPI
) -> None:
    probe_ids = seed_probes(
        engine, [Target("+33142760301", "ask"), Target("+33142760302", "ask")], SCENARIOS
    )
    with phone_sandbox(parse_world(WORLD), time_scale=0.02) as sandbox:
        await _calls_fetches_and_hang_ups(engine, sandbox, probe_ids, tmp_path)
    exchanges = sandbox.recorder.exchanges
    operations = {
        (e.method, e.url.split("/Accounts/")[1].split("/", 1)[1].split("?")[0]) for e in exchanges
    }
    calls = {path for _, path in operations if path.startswith("Calls/CA")}
    assert ("POST", "Calls.json") in operations  # create
    assert ("GET", "Calls.json") in operations  # list (reconciliation)
    assert {method for method, path in operations if path in calls} == {"GET", "POST"}
    assert any(e.status == 500 for e in exchanges)  # the injected failure was exercised
    for exchange in exchanges:
        check_exchange(twilio_spec, as_requests_response(exchange))


async def _calls_fetches_and_hang_ups(
    engine: Engine, sandbox: Sandbox, probe_ids: list[uuid.UUID], tmp_path: Path
) -> None:
    async with running_prober(engine, sandbox.base_url, tmp_path, time_scale=0.02) as prober:
        answered = await prober.probes.place(probe_ids[0])
        ringing = await prober.probes.place(probe_ids[1])
        assert answered is not None and ringing is not None
        # A create answered 500 after the fact, without callbacks to go by: prober lists calls.
        sandbox.faults.fail_call_creates_after_commit = 1
        urls, _ = prober.probes.webhook_urls(AttemptKey(uuid.uuid4(), 1))
        request = CallRequest(to="+33142760303", from_=CALLER_ID, urls=urls, record=False)
        found = await prober.phone.place(request)
        assert found.reconciled
        await wait_until(
            lambda: sandbox.store.get(ringing.sid).status.value == "ringing",
            timeout_s=30,
            what="the second call to ring",
        )
        fetched = await prober.phone.fetch_call(ringing.sid)
        assert fetched["status"] == "ringing"
        await prober.phone.hang_up(ringing.sid)
        await wait_until(
            lambda: (
                all(a.ended_at is not None for a in attempts_of(engine, probe_ids))
                and len(sandbox.truth.entries) == 3
            ),
            timeout_s=60,
            what="both calls to end",
        )
    outcomes = sorted(a.outcome or "" for a in attempts_of(engine, probe_ids))
    assert outcomes == ["answered", "canceled"]
