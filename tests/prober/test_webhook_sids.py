"""Signed webhooks naming a malformed SID, or another call than their attempt's, change nothing.

Defence in depth: a SID names a file (recordings) and a URL (Twilio's API), so only Twilio's
form (two letters + 32 hex digits) is let through; and once an attempt knows its call SID, a
callback about another call is refused, even when correctly signed.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from storage import attempts
from storage.models import Attempt, Event, OutboxMessage, Probe, Recording
from tests.support.phone_scene import ACCOUNT, Target, phone_scenario, running_prober, seed_probes

CALL_SID = "CA" + "ab" * 16
OTHER_CALL_SID = "CA" + "cd" * 16
RECORDING_SID = "RE" + "ef" * 16


def snapshot(engine: Engine) -> list[Any]:
    """Everything a webhook could change, comparable before and after."""
    with Session(engine) as session:
        return [
            sorted((e.kind, e.dedup_key) for e in session.exec(select(Event))),
            sorted((a.id, a.external_id, a.outcome) for a in session.exec(select(Attempt))),
            sorted((p.id, p.state, p.attempt_count) for p in session.exec(select(Probe))),
            sorted((r.external_id, r.status) for r in session.exec(select(Recording))),
            len(list(session.exec(select(OutboxMessage)))),
        ]


def started_probe(engine: Engine, *, call_sid: str | None) -> uuid.UUID:
    """A probe whose first attempt is under way, its call SID stored (or not yet known)."""
    [probe_id] = seed_probes(
        engine, [Target("+33142760001", "ask")], {"ask": phone_scenario("ask")}
    )
    with Session(engine) as session:
        attempt = attempts.start_attempt(session, probe_id)
        session.flush()
        if call_sid is not None:
            assert attempt.id is not None
            attempts.set_external_id(session, attempt.id, call_sid)
        session.commit()
    return probe_id


async def post_signed(
    engine: Engine, tmp_path: Path, probe_id: uuid.UUID, hook: str, params: dict[str, str]
) -> httpx.Response:
    async with running_prober(engine, "http://127.0.0.1:9", tmp_path, time_scale=1) as prober:
        url = f"{prober.settings.twilio.webhook_base_url}/twilio/calls/{probe_id}/1/{hook}"
        signature = RequestValidator(ACCOUNT.auth_token).compute_signature(url, params)
        async with httpx.AsyncClient() as client:
            return await client.post(url, data=params, headers={"X-Twilio-Signature": signature})


def status(call_sid: str, call_status: str = "ringing") -> dict[str, str]:
    return {"AccountSid": ACCOUNT.sid, "CallSid": call_sid, "CallStatus": call_status}


def recording(call_sid: str, recording_sid: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT.sid,
        "CallSid": call_sid,
        "RecordingSid": recording_sid,
        "RecordingStatus": "completed",
        "RecordingUrl": f"https://api.twilio.com/Recordings/{recording_sid}",
    }


@pytest.mark.parametrize(
    ("hook", "params"),
    [
        ("recording", recording(CALL_SID, "../../../../tmp/evil")),
        ("recording", recording(CALL_SID, "RE" + "EF" * 16)),
        ("status", {**status(CALL_SID, "completed"), "RecordingSid": "RE/../x"}),
        ("status", status("CA1")),
        ("voice?step=answered", status("CA../../x", "in-progress")),
    ],
)
async def test_a_signed_webhook_with_a_malformed_sid_is_refused(
    engine: Engine, tmp_path: Path, hook: str, params: dict[str, str]
) -> None:
    probe_id = started_probe(engine, call_sid=None)
    before = snapshot(engine)
    response = await post_signed(engine, tmp_path / "recordings", probe_id, hook, params)
    assert response.status_code == 400
    assert "not a Twilio SID" in response.text
    assert snapshot(engine) == before
    assert not (tmp_path / "recordings").exists() or not any((tmp_path / "recordings").rglob("*"))


@pytest.mark.parametrize(
    ("hook", "params"),
    [
        ("status", status(OTHER_CALL_SID, "completed")),
        ("recording", recording(OTHER_CALL_SID, RECORDING_SID)),
        ("voice?step=answered", status(OTHER_CALL_SID, "in-progress")),
    ],
)
async def test_a_callback_about_another_call_than_the_attempt_s_is_refused_and_logged(
    engine: Engine,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    hook: str,
    params: dict[str, str],
) -> None:
    probe_id = started_probe(engine, call_sid=CALL_SID)
    before = snapshot(engine)
    with caplog.at_level(logging.WARNING, logger="prober.web.app"):
        response = await post_signed(engine, tmp_path, probe_id, hook, params)
    assert response.status_code == 400
    assert snapshot(engine) == before
    assert any(
        OTHER_CALL_SID in record.getMessage() and CALL_SID in record.getMessage()
        for record in caplog.records
    )


async def test_a_callback_about_the_attempt_s_call_is_taken(engine: Engine, tmp_path: Path) -> None:
    probe_id = started_probe(engine, call_sid=CALL_SID)
    response = await post_signed(engine, tmp_path, probe_id, "status", status(CALL_SID))
    assert response.status_code == 204
    with Session(engine) as session:
        kinds = [e.kind for e in session.exec(select(Event).where(Event.probe_id == probe_id))]
    assert kinds == ["call.ringing"]


async def test_a_first_callback_names_the_call_of_an_attempt_that_had_none(
    engine: Engine, tmp_path: Path
) -> None:
    # Callbacks may come before the call SID is stored: the first one tells it, later ones
    # must agree with it.
    probe_id = started_probe(engine, call_sid=None)
    first = await post_signed(engine, tmp_path, probe_id, "status", status(CALL_SID))
    assert first.status_code == 204
    other = status(OTHER_CALL_SID, "in-progress")
    assert (await post_signed(engine, tmp_path, probe_id, "status", other)).status_code == 400
    with Session(engine) as session:
        [attempt] = session.exec(select(Attempt).where(Attempt.probe_id == probe_id))
    assert attempt.external_id == CALL_SID


async def test_a_stored_recording_id_that_is_not_a_sid_names_no_file_and_no_url(
    engine: Engine, tmp_path: Path
) -> None:
    probe_id = started_probe(engine, call_sid=CALL_SID)
    evil = "../../escaped"
    with Session(engine) as session:
        session.add(Recording(probe_id=probe_id, external_id=evil))
        session.commit()
    recordings_dir = tmp_path / "recordings"

    async def fetch() -> Path | None:
        # Nothing listens at the API's address: any request would fail as transient.
        async with running_prober(engine, "http://127.0.0.1:9", recordings_dir, time_scale=1) as p:
            return await p.probes.fetch_recording(probe_id, evil)

    assert await fetch() is None
    with Session(engine) as session:
        [stored] = session.exec(select(Recording).where(Recording.external_id == evil))
    assert stored.status == "missing"
    assert not any(tmp_path.rglob("*escaped*"))
