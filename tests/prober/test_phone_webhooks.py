"""prober's Twilio webhooks: forged requests refused, repeated and out-of-order ones harmless."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from storage import attempts
from storage.models import Attempt, Event, Probe, ProbeState
from tests.support.phone_scene import ACCOUNT, Target, phone_scenario, running_prober, seed_probes

SCENARIOS = {"ask": phone_scenario("ask")}
CALL_SID = "CA" + "ab" * 16


def snapshot(engine: Engine) -> list[Any]:
    """Everything a webhook could change, comparable before and after."""
    with Session(engine) as session:
        return [
            sorted(
                (e.kind, e.dedup_key, e.payload["call_sid"]) for e in session.exec(select(Event))
            ),
            sorted(
                (a.id, a.external_id, a.outcome, str(a.measurement))
                for a in session.exec(select(Attempt))
            ),
            sorted((p.id, p.state, p.attempt_count) for p in session.exec(select(Probe))),
        ]


def signed(url: str, params: dict[str, str], token: str = ACCOUNT.auth_token) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


def status_params(status: str, sequence: int, at: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT.sid,
        "CallSid": CALL_SID,
        "CallStatus": status,
        "SequenceNumber": str(sequence),
        "Timestamp": f"Mon, 23 Nov 2026 10:00:{at} +0000",
        **extra,
    }


def started_probe(engine: Engine) -> uuid.UUID:
    [probe_id] = seed_probes(engine, [Target("+33142760001", "ask")], SCENARIOS)
    with Session(engine) as session:
        attempts.start_attempt(session, probe_id)
        session.commit()
    return probe_id


async def test_forged_or_unsigned_callbacks_are_refused_and_change_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    probe_id = started_probe(engine)
    before = snapshot(engine)
    await _post_forgeries(engine, probe_id, tmp_path)
    assert snapshot(engine) == before


async def _post_forgeries(engine: Engine, probe_id: uuid.UUID, tmp_path: Path) -> None:
    async with running_prober(engine, "http://127.0.0.1:9", tmp_path, time_scale=1) as prober:
        base = prober.settings.twilio.webhook_base_url
        url = f"{base}/twilio/calls/{probe_id}/1/status"
        other_url = f"{base}/twilio/calls/{uuid.uuid4()}/1/status"
        params = status_params("completed", 3, "40", CallDuration="30", SipResponseCode="200")
        tampered = {**params, "CallDuration": "3"}
        forgeries = [
            ({}, params),  # no signature at all
            ({"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}, params),
            (signed(url, params, token="another-accounts-token"), params),  # noqa: S106
            (signed(other_url, params), params),  # replayed from another attempt
            (signed(url, params), tampered),  # body changed after signing
        ]
        async with httpx.AsyncClient() as client:
            for headers, form in forgeries:
                response = await client.post(url, data=form, headers=headers)
                assert response.status_code == 403, (headers, form)
            voice = f"{base}/twilio/calls/{probe_id}/1/voice?step=answered"
            response = await client.post(voice, data=params)
            assert response.status_code == 403


@pytest.mark.parametrize("order", ["in order", "shuffled with repeats"])
async def test_repeated_and_out_of_order_callbacks_give_one_event_each_and_the_same_measurement(
    engine: Engine, tmp_path: Path, order: str
) -> None:
    probe_id = started_probe(engine)
    callbacks = [
        ("status", status_params("initiated", 0, "00")),
        ("status", status_params("ringing", 1, "01")),
        ("status", status_params("in-progress", 2, "12")),
        ("amd", {"AccountSid": ACCOUNT.sid, "CallSid": CALL_SID, "AnsweredBy": "human"}),
        (
            "status",
            status_params("completed", 3, "40", CallDuration="28", SipResponseCode="200"),
        ),
    ]
    if order != "in order":
        callbacks = [
            callbacks[4],
            callbacks[1],
            callbacks[4],
            callbacks[3],
            callbacks[0],
            callbacks[2],
            callbacks[1],
        ]
    await _post_signed(engine, probe_id, tmp_path, callbacks)
    with Session(engine) as session:
        events = list(session.exec(select(Event).where(Event.probe_id == probe_id)))
        [attempt] = session.exec(select(Attempt).where(Attempt.probe_id == probe_id))
        probe = session.get(Probe, probe_id)
    assert sorted(e.kind for e in events) == [
        "call.amd",
        "call.answered",
        "call.completed",
        "call.initiated",
        "call.ringing",
    ]
    assert attempt.external_id == CALL_SID
    assert attempt.outcome == "answered"
    assert attempt.measurement["rings"] == 3  # 11 s of ringing at 5 s a ring
    assert attempt.measurement["post_dial_delay_s"] == 1
    assert attempt.measurement["answered_by"] == "human"
    assert attempt.measurement["talk_s"] == 28
    assert probe is not None and probe.state == ProbeState.DONE


async def _post_signed(
    engine: Engine, probe_id: uuid.UUID, tmp_path: Path, callbacks: list[tuple[str, dict[str, str]]]
) -> None:
    async with running_prober(engine, "http://127.0.0.1:9", tmp_path, time_scale=1) as prober:
        base = f"{prober.settings.twilio.webhook_base_url}/twilio/calls/{probe_id}/1"
        async with httpx.AsyncClient() as client:
            for hook, params in callbacks:
                url = f"{base}/{hook}"
                response = await client.post(url, data=params, headers=signed(url, params))
                assert response.status_code == 204, response.text
