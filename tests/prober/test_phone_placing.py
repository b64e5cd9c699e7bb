"""Placing calls against the sandbox when things go wrong: a structure is never called twice."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session

from channels.phone.twilio_client import CallRequest, CallUrls, PlacedCall, RetryPolicy, TwilioPhone
from config.settings import TwilioSettings
from prober.probes.phone import AttemptKey
from sandbox import World
from storage.models import Probe, ProbeState
from tests.support.phone_scene import (
    ACCOUNT,
    CALLER_ID,
    Sandbox,
    StartSandbox,
    Target,
    attempts_of,
    phone_scenario,
    running_prober,
    seed_probes,
    wait_until,
)

SCENARIOS = {"ask": phone_scenario("ask", max_call_seconds=30)}
FAST_RETRY = RetryPolicy(
    attempts=4,
    first_backoff_s=0.05,
    max_backoff_s=0.2,
    request_timeout_s=0.5,
    reconcile_after_s=0.1,
)
TIME_SCALE = 0.01


def calls_to(sandbox: Sandbox, number: str) -> list[str]:
    return [call.sid for call in sandbox.store.newest_first() if call.to == number]


async def place_all(
    engine: Engine,
    sandbox: Sandbox,
    probe_ids: list[uuid.UUID],
    tmp_path: Path,
    *,
    set_fault: str | None = None,
    fault_value: float = 0,
    calls_per_second: float = 100.0,
) -> list[PlacedCall | None]:
    if set_fault is not None:
        setattr(sandbox.faults, set_fault, fault_value)
    async with running_prober(
        engine,
        sandbox.base_url,
        tmp_path,
        time_scale=TIME_SCALE,
        retry=FAST_RETRY,
        calls_per_second=calls_per_second,
    ) as prober:
        placed = await asyncio.gather(*(prober.probes.place(probe) for probe in probe_ids))
        if set_fault == "delay_call_create_response_s":
            sandbox.faults.delay_call_create_response_s = 0  # release the waiting responses

        def finished() -> bool:
            attempts = attempts_of(engine, probe_ids)
            return all(a.ended_at is not None for a in attempts) and len(
                sandbox.truth.entries
            ) >= len([p for p in placed if p is not None])

        await wait_until(finished, timeout_s=60, what="the calls to end")
    return placed


async def test_a_create_answered_500_after_the_call_was_made_is_reconciled_not_repeated(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path
) -> None:
    probe_ids = seed_probes(engine, [Target("+33142760101", "ask")], SCENARIOS)
    with phone_sandbox(World(), time_scale=TIME_SCALE) as sandbox:
        [placed] = await place_all(
            engine,
            sandbox,
            probe_ids,
            tmp_path,
            set_fault="fail_call_creates_after_commit",
            fault_value=1,
        )
        assert placed is not None and placed.reconciled
        assert calls_to(sandbox, "+33142760101") == [placed.sid]
        assert [entry.sid for entry in sandbox.truth.entries] == [placed.sid]
    [attempt] = attempts_of(engine, probe_ids)
    assert attempt.external_id == placed.sid
    assert attempt.outcome == "answered"


async def test_a_create_that_timed_out_is_found_and_adopted(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path
) -> None:
    probe_ids = seed_probes(engine, [Target("+33142760102", "ask")], SCENARIOS)
    with phone_sandbox(World(), time_scale=TIME_SCALE) as sandbox:
        [placed] = await place_all(
            engine,
            sandbox,
            probe_ids,
            tmp_path,
            set_fault="delay_call_create_response_s",
            fault_value=5,
        )
        assert placed is not None and placed.reconciled
        assert calls_to(sandbox, "+33142760102") == [placed.sid]
    [attempt] = attempts_of(engine, probe_ids)
    assert attempt.external_id == placed.sid


async def test_an_invalid_number_fails_the_probe_with_twilios_reason(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path
) -> None:
    probe_ids = seed_probes(engine, [Target("+3314276", "ask")], SCENARIOS)
    with phone_sandbox(World(), time_scale=TIME_SCALE) as sandbox:
        [placed] = await place_all(engine, sandbox, probe_ids, tmp_path)
        assert placed is None
        assert calls_to(sandbox, "+3314276") == []
    [attempt] = attempts_of(engine, probe_ids)
    assert attempt.outcome == "refused"
    assert attempt.measurement["error_code"] == 21211
    assert "+3314276" in attempt.measurement["error"]
    with Session(engine) as session:
        probe = session.get(Probe, probe_ids[0])
        assert probe is not None and probe.state == ProbeState.FAILED


async def test_too_many_requests_are_retried_and_every_structure_is_called_exactly_once(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="channels.phone.twilio_client")
    numbers = [f"+331427602{index:02d}" for index in range(12)]
    with phone_sandbox(World(), time_scale=TIME_SCALE, max_concurrent_requests=1) as sandbox:
        # Each create holds its slot a little, so that the others find the account busy.
        sandbox.faults.delay_call_create_response_s = 0.05
        placed = await _place_at_once(engine, sandbox, numbers, tmp_path)
        assert len({call.sid for call in placed}) == len(numbers)
        for number in numbers:
            assert len(calls_to(sandbox, number)) == 1, number
    busy = [r for r in caplog.records if "Twilio is busy (429)" in r.getMessage()]
    assert busy, "the sandbox never answered 429: the test did not test retries"


async def _place_at_once(
    engine: Engine, sandbox: Sandbox, numbers: list[str], tmp_path: Path
) -> list[PlacedCall]:
    """Creates sent all at once, unpaced, straight through the channel."""
    async with running_prober(
        engine,
        sandbox.base_url,
        tmp_path,
        time_scale=TIME_SCALE,
        retry=RetryPolicy(attempts=40, first_backoff_s=0.05, max_backoff_s=0.2),
        calls_per_second=100_000,
    ) as prober:
        requests = []
        for number in numbers:
            urls, _ = prober.probes.webhook_urls(AttemptKey(uuid.uuid4(), 1))
            requests.append(CallRequest(to=number, from_=CALLER_ID, urls=urls, record=False))
        return await asyncio.gather(*(prober.phone.place(request) for request in requests))


async def test_an_earlier_call_to_the_same_number_is_never_adopted(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path
) -> None:
    """A create that never reached Twilio (connection reset) looks for its call: the
    structure's previous call, minutes old and held by another attempt, is not it."""
    number = "+33142760103"
    [first] = seed_probes(engine, [Target(number, "ask")], SCENARIOS)
    with phone_sandbox(World(), time_scale=TIME_SCALE) as sandbox:
        [placed] = await place_all(engine, sandbox, [first], tmp_path)
        assert placed is not None
        held = {placed.sid}

        async def taken(sids: list[str]) -> set[str]:
            return held & set(sids)

        request = CallRequest(
            to=number, from_=CALLER_ID, urls=CallUrls(*["http://127.0.0.1:9/unused"] * 4)
        )
        settings = TwilioSettings(
            account_sid=ACCOUNT.sid,
            auth_token=SecretStr(ACCOUNT.auth_token),
            api_base_url=sandbox.base_url,
        )
        asked_at = datetime.now(UTC)
        async with TwilioPhone(settings, retry=FAST_RETRY) as phone:
            found = await phone.find_placed(request, asked_at, None, taken)
            held.clear()  # nobody holds it: it would be taken for this attempt's call
            unheld = await phone.find_placed(request, asked_at, None, taken)
        assert found is None
        assert unheld is not None and unheld.sid == placed.sid
        assert calls_to(sandbox, number) == [placed.sid]
