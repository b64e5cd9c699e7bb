"""Recording from the first ring on the wire: the own leg placed through the REST API, the
structure's leg its <Dial> made (listed and fetched with its parent) and the <Dial>'s recording
conform to Twilio's OpenAPI description; the child's callbacks carry Twilio's parameters."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from openapi_core import OpenAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from sandbox import parse_world
from storage.models import Event
from tests.prober.test_phone_openapi import as_requests_response
from tests.support.openapi_conformance import check_exchange, load_spec
from tests.support.phone_scene import (
    ACCOUNT,
    StartSandbox,
    Target,
    attempts_of,
    phone_scenario,
    recordings_of,
    running_prober,
    seed_probes,
    wait_until,
)

WORLD = """
[numbers."+33142760401"]
rings = 2
ringback_after_answer = 1
greeting = "Mairie, bonjour."
"""
SCENARIOS = {"ask": phone_scenario("ask", max_ring_seconds=40, max_call_seconds=30)}


@pytest.fixture(scope="module")
def twilio_spec() -> OpenAPI:
    return load_spec()


async def test_a_call_recorded_from_the_first_ring_conforms_on_the_wire(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path, twilio_spec: OpenAPI
) -> None:
    [probe_id] = seed_probes(engine, [Target("+33142760401", "ask")], SCENARIOS)
    with phone_sandbox(parse_world(WORLD), time_scale=0.1) as sandbox:
        async with running_prober(
            engine, sandbox.base_url, tmp_path, time_scale=0.1, own_leg="client:prober"
        ) as prober:
            placed = await prober.probes.place(probe_id)
            assert placed is not None
            await wait_until(
                lambda: any(r.status == "stored" for r in recordings_of(engine, [probe_id])),
                timeout_s=60,
                what="the <Dial> recording stored",
            )
        own_leg = sandbox.store.get(placed.sid)
        [child] = [c for c in sandbox.store.newest_first() if c.parent_call_sid == placed.sid]
        base = f"{sandbox.base_url}/2010-04-01/Accounts/{ACCOUNT.sid}"
        async with httpx.AsyncClient(auth=(ACCOUNT.sid, ACCOUNT.auth_token)) as client:
            listed = (await client.get(f"{base}/Calls.json?ParentCallSid={placed.sid}")).json()
            fetched = (await client.get(f"{base}/Calls/{child.sid}.json")).json()
            [stored] = recordings_of(engine, [probe_id])
            recording = (await client.get(f"{base}/Recordings/{stored.external_id}.json")).json()
    assert own_leg.to == "client:prober"
    assert child.to == "+33142760401"
    assert fetched["parent_call_sid"] == placed.sid
    assert fetched["direction"] == "outbound-dial"
    assert any(call["sid"] == child.sid for call in listed["calls"])
    assert recording["call_sid"] == placed.sid
    assert recording["source"] == "DialVerb"
    assert recording["channels"] == 2
    for exchange in sandbox.recorder.exchanges:
        check_exchange(twilio_spec, as_requests_response(exchange))
    [attempt] = attempts_of(engine, [probe_id])
    assert attempt.outcome == "answered"
    assert attempt.external_id == placed.sid  # the own leg; its child names it as its parent
    with Session(engine) as session:
        events = list(session.exec(select(Event).where(col(Event.attempt_id) == attempt.id)))
    kinds = {event.kind for event in events}
    assert {
        "call.own_leg",
        "call.ringing",
        "call.answered",
        "call.completed",
        "call.dialed",
    } <= kinds
    ringing = next(e for e in events if e.kind == "call.ringing")
    assert ringing.payload["call_sid"] == child.sid
    assert ringing.payload["parent_call_sid"] == placed.sid
    dialed = next(e for e in events if e.kind == "call.dialed")
    assert dialed.payload["dial_call_sid"] == child.sid
    assert dialed.payload["dial_call_status"] == "completed"
    assert dialed.payload["dial_call_duration_s"] == attempt.measurement["talk_s"]
    # The callbacks saw 2 rings; the audio heard the switchboard's own one too.
    assert attempt.measurement["rings_callbacks"] == 2
    assert attempt.measurement["rings_audio"] == 3


async def test_hanging_up_the_own_leg_ends_the_structures_leg(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path
) -> None:
    world = '[numbers."+33142760402"]\nrings = 1\ngreeting = "Mairie, bonjour."\n'
    world += '[numbers."+33142760402".transfer]\nhold = "music"\nhold_s = 600\n'
    scenarios = {
        "wait": phone_scenario(
            "wait", transfer_to="état civil", max_ring_seconds=40, max_call_seconds=900
        )
    }
    [probe_id] = seed_probes(engine, [Target("+33142760402", "wait")], scenarios)
    with phone_sandbox(parse_world(world), time_scale=0.05) as sandbox:
        async with running_prober(
            engine, sandbox.base_url, tmp_path, time_scale=0.05, own_leg="client:prober"
        ) as prober:
            placed = await prober.probes.place(probe_id)
            assert placed is not None

            def child_answered() -> bool:
                legs = [c for c in sandbox.store.newest_first() if c.parent_call_sid]
                return bool(legs) and legs[0].status.value == "in-progress"

            await wait_until(child_answered, timeout_s=30, what="the structure to answer")
            await prober.phone.hang_up(placed.sid)
            await wait_until(
                lambda: all(a.ended_at is not None for a in attempts_of(engine, [probe_id])),
                timeout_s=30,
                what="the attempt to end",
            )
        [child] = [c for c in sandbox.store.newest_first() if c.parent_call_sid == placed.sid]
    assert child.status.value == "completed"
    [attempt] = attempts_of(engine, [probe_id])
    assert attempt.outcome == "answered"
    assert attempt.measurement["talk_s"] < 600
