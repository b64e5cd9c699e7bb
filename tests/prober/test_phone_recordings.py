"""Call recordings reach the auditors' folder even when a download fails on the way."""

from __future__ import annotations

import hashlib
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session

from channels.errors import TransientContactError
from channels.phone.twilio_client import TwilioPhone
from config.settings import TwilioSettings
from prober.probes.phone import PhoneProbes
from sandbox import parse_world
from storage.models import Recording
from tests.support.phone_scene import (
    ACCOUNT,
    Prober,
    Sandbox,
    StartSandbox,
    Target,
    phone_scenario,
    recordings_of,
    running_prober,
    seed_probes,
    wait_until,
)

TIME_SCALE = 0.2
NUMBER = "+33142760001"
WORLD = f"""
[numbers."{NUMBER}"]
rings = 1
greeting = "Mairie de Vincennes, bonjour."
"""
SCENARIOS = {"ask": phone_scenario("ask", max_ring_seconds=30, max_call_seconds=60)}


async def _one_recorded_call(
    engine: Engine, sandbox: Sandbox, prober: Prober, probe_id: uuid.UUID
) -> Recording:
    """Place the probe's call; its recording row once announced and no download is under way."""
    assert await prober.probes.place(probe_id) is not None

    def download_started() -> bool:
        # The row is written before the webhook starts the download: wait for the download too.
        return prober.probes.downloads_started > 0 and len(recordings_of(engine, [probe_id])) == 1

    await wait_until(download_started, timeout_s=60, what="the recording's download started")
    await prober.probes.drain()
    (recording,) = recordings_of(engine, [probe_id])
    return recording


def _sandbox_media(sandbox: Sandbox, recording_sid: str) -> bytes:
    return sandbox.store.recording_media(recording_sid, "wav")


async def test_a_download_answered_503_is_tried_again_and_stored(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path
) -> None:
    (probe_id,) = seed_probes(engine, [Target(NUMBER, "ask")], SCENARIOS)

    async def scene() -> tuple[Recording, bytes, int]:
        with phone_sandbox(parse_world(WORLD), time_scale=TIME_SCALE) as sandbox:
            sandbox.faults.fail_recording_downloads = 2
            async with running_prober(
                engine, sandbox.base_url, tmp_path / "recordings", time_scale=TIME_SCALE
            ) as prober:
                prober.probes.recording_retry_delays_s = (0.05, 0.05, 0.05)
                recording = await _one_recorded_call(engine, sandbox, prober, probe_id)
                media = _sandbox_media(sandbox, recording.external_id)
                return recording, media, sandbox.faults.fail_recording_downloads

    recording, media, failures_left = await scene()

    assert failures_left == 0  # both injected 503s were met
    assert recording.status == "stored"
    assert recording.media_path is not None
    assert Path(recording.media_path).read_bytes() == media
    assert recording.sha256 == hashlib.sha256(media).hexdigest()


async def test_a_recording_still_failing_is_fetched_after_a_restart(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path
) -> None:
    (probe_id,) = seed_probes(engine, [Target(NUMBER, "ask")], SCENARIOS)

    async def scene() -> tuple[Recording, Recording, bytes, int]:
        with phone_sandbox(parse_world(WORLD), time_scale=TIME_SCALE) as sandbox:
            sandbox.faults.fail_recording_downloads = 100
            async with running_prober(
                engine, sandbox.base_url, tmp_path / "recordings", time_scale=TIME_SCALE
            ) as prober:
                prober.probes.recording_retry_delays_s = (0.01,)
                given_up = await _one_recorded_call(engine, sandbox, prober, probe_id)
                tries = 100 - sandbox.faults.fail_recording_downloads
                sandbox.faults.fail_recording_downloads = 0
                # A later start: new probes object, same database, the sweep it runs first.
                restarted = PhoneProbes(prober.settings, prober.database, prober.phone)
                assert await restarted.fetch_missing_recordings() == 1
                await restarted.drain()
                (fetched,) = recordings_of(engine, [probe_id])
                return given_up, fetched, _sandbox_media(sandbox, fetched.external_id), tries

    given_up, fetched, media, tries = await scene()

    assert tries == 2  # the first download and the one retry, then left for later
    assert given_up.status == "announced"
    assert given_up.media_path is None
    assert fetched.status == "stored"
    assert fetched.media_path is not None
    assert Path(fetched.media_path).read_bytes() == media
    assert Path(fetched.media_path).parent.name == str(probe_id)


async def test_a_shutdown_cancels_the_downloads_waiting_to_try_again(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path
) -> None:
    (probe_id,) = seed_probes(engine, [Target(NUMBER, "ask")], SCENARIOS)

    async def scene() -> tuple[int, list[Recording]]:
        with phone_sandbox(parse_world(WORLD), time_scale=TIME_SCALE) as sandbox:
            sandbox.faults.fail_recording_downloads = 100
            async with running_prober(
                engine, sandbox.base_url, tmp_path / "recordings", time_scale=TIME_SCALE
            ) as prober:
                prober.probes.recording_retry_delays_s = (3600.0,)
                assert await prober.probes.place(probe_id) is not None

                def refused_once() -> bool:
                    return sandbox.faults.fail_recording_downloads == 99

                await wait_until(refused_once, timeout_s=60, what="a refused download")
                await prober.probes.drain(timeout_s=0.1)
                return 100 - sandbox.faults.fail_recording_downloads, recordings_of(
                    engine, [probe_id]
                )

    tries, recordings = await scene()

    assert tries == 1  # cancelled while waiting for its second try
    assert [r.status for r in recordings] == ["announced"]


async def test_a_recording_twilio_does_not_have_is_marked_missing_and_not_asked_again(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path
) -> None:
    (probe_id,) = seed_probes(engine, [Target(NUMBER, "ask")], SCENARIOS)
    with Session(engine) as session:
        session.add(Recording(probe_id=probe_id, external_id="RE" + "0" * 32))
        session.commit()

    async def scene() -> tuple[int, int]:
        with phone_sandbox(parse_world(WORLD), time_scale=TIME_SCALE) as sandbox:
            async with running_prober(
                engine, sandbox.base_url, tmp_path / "recordings", time_scale=TIME_SCALE
            ) as prober:
                first = await prober.probes.fetch_missing_recordings()
                await prober.probes.drain()
                second = await prober.probes.fetch_missing_recordings()
                return first, second

    first, second = await scene()

    assert (first, second) == (1, 0)
    (recording,) = recordings_of(engine, [probe_id])
    assert recording.status == "missing"
    assert recording.media_path is None


@pytest.fixture
def hanging_up_server() -> Iterator[str]:
    """An HTTP address whose server closes every connection without answering."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.recv(65536)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    done.set()
    thread.join()
    listener.close()


async def test_a_connection_closed_without_answer_is_a_transient_failure(
    hanging_up_server: str,
) -> None:
    settings = TwilioSettings(
        account_sid=ACCOUNT.sid,
        auth_token=SecretStr(ACCOUNT.auth_token),
        api_base_url=hanging_up_server,
    )

    async def download() -> None:
        async with TwilioPhone(settings) as phone:
            await phone.download_recording("RE" + "1" * 32)

    with pytest.raises(TransientContactError, match=r"RE1+ failed: RemoteProtocolError"):
        await download()
