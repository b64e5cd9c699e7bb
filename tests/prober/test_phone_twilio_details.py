"""Twilio's documented details, against the sandbox: what the create sends, a slow create, media
that redirects or comes back wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import Engine

from channels.phone.twilio_client import RetryPolicy
from sandbox import parse_world
from tests.support.phone_scene import (
    Target,
    attempts_of,
    phone_scenario,
    recordings_of,
    running_prober,
    running_sandbox,
    seed_probes,
    wait_until,
)

# The sandbox serves the simulated Twilio on loopback: the end-to-end lane.
pytestmark = pytest.mark.e2e

NUMBER = "+33142760301"
WORLD = f"""
[numbers."{NUMBER}"]
rings = 1
greeting = "Mairie de Vincennes, bonjour."
hangup_after_s = 6
"""
SCENARIOS = {"ask": phone_scenario("ask", max_ring_seconds=30, max_call_seconds=30)}
TIME_SCALE = 0.1


async def test_the_create_asks_what_twilio_documents(engine: Engine, tmp_path: Path) -> None:
    probe_ids = seed_probes(engine, [Target(NUMBER, "ask")], SCENARIOS)

    async def scene() -> list[tuple[str, str]]:
        with running_sandbox(parse_world(WORLD), time_scale=TIME_SCALE) as sandbox:
            async with running_prober(
                engine, sandbox.base_url, tmp_path, time_scale=TIME_SCALE
            ) as prober:
                assert await prober.probes.place(probe_ids[0]) is not None
                await wait_until(
                    lambda: any(r.status == "stored" for r in recordings_of(engine, probe_ids)),
                    timeout_s=30,
                    what="the recording stored",
                )
            [create] = [
                e
                for e in sandbox.recorder.exchanges
                if e.method == "POST" and e.url.endswith("/Calls.json")
            ]
            return parse_qsl(create.request_body.decode())

    form = await scene()
    # One value, events separated by a space (repeated keys: Twilio sends no callback at all).
    assert [v for k, v in form if k == "RecordingStatusCallbackEvent"] == ["completed absent"]
    assert ("Trim", "do-not-trim") in form
    assert ("MachineDetection", "Enable") in form
    # StatusCallbackEvent, on the contrary, is documented as one key per event.
    assert [v for k, v in form if k == "StatusCallbackEvent"] == [
        "initiated",
        "ringing",
        "answered",
        "completed",
    ]


async def test_a_create_that_times_out_and_is_listed_late_is_placed_once(
    engine: Engine, tmp_path: Path
) -> None:
    probe_ids = seed_probes(engine, [Target(NUMBER, "ask")], SCENARIOS)
    # Twilio may take ~26 s to answer and lists calls eventually: here the create's answer never
    # comes in time and the call is listed 20 s (scaled by 0.1: 2 s) after it was made.
    retry = RetryPolicy(
        attempts=4,
        first_backoff_s=0.05,
        max_backoff_s=0.1,
        request_timeout_s=0.3,
        reconcile_after_s=0.1,
        reconcile_window_s=3.0,
    )

    async def scene() -> tuple[int, bool]:
        with running_sandbox(parse_world(WORLD), time_scale=TIME_SCALE) as sandbox:
            sandbox.faults.delay_call_create_response_s = 10
            sandbox.faults.calls_listed_after_s = 2.0
            async with running_prober(
                engine, sandbox.base_url, tmp_path, time_scale=TIME_SCALE, retry=retry
            ) as prober:
                placed = await prober.probes.place(probe_ids[0])
                sandbox.faults.delay_call_create_response_s = 0
                calls = [c for c in sandbox.store.newest_first() if c.to == NUMBER]
                assert placed is not None
                await wait_until(
                    lambda: all(a.ended_at is not None for a in attempts_of(engine, probe_ids)),
                    timeout_s=30,
                    what="the call to end",
                )
                return len(calls), placed.reconciled

    calls, reconciled = await scene()
    assert (calls, reconciled) == (1, True)


async def test_recording_media_follows_the_redirect_and_a_wrong_body_is_fetched_again(
    engine: Engine, tmp_path: Path
) -> None:
    probe_ids = seed_probes(engine, [Target(NUMBER, "ask")], SCENARIOS)

    async def scene() -> tuple[bytes, int]:
        with running_sandbox(parse_world(WORLD), time_scale=TIME_SCALE) as sandbox:
            sandbox.faults.wrong_recording_bodies = 1  # a 200 with an error page, once
            async with running_prober(
                engine, sandbox.base_url, tmp_path / "recordings", time_scale=TIME_SCALE
            ) as prober:
                prober.probes.recording_retry_delays_s = (0.05, 0.05, 0.05)
                assert await prober.probes.place(probe_ids[0]) is not None
                await wait_until(
                    lambda: any(r.status == "stored" for r in recordings_of(engine, probe_ids)),
                    timeout_s=30,
                    what="the recording stored",
                )
                [recording] = recordings_of(engine, probe_ids)
                return (
                    sandbox.store.recording_media(recording.external_id, "wav"),
                    sandbox.faults.wrong_recording_bodies,
                )

    media, wrong_left = await scene()
    [recording] = recordings_of(engine, probe_ids)
    assert wrong_left == 0  # the wrong body was served, and refused
    assert recording.media_path is not None
    stored = Path(recording.media_path).read_bytes()
    assert stored == media and stored[:4] == b"RIFF" and stored[8:12] == b"WAVE"
    assert recording.sha256 == hashlib.sha256(media).hexdigest()
