"""The review pages over HTTP without a browser: recordings seek with Range, letters' scans go
only to those allowed to see the contact and cannot run anything."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, select

from channels.phone.audio import timeline_of_file
from prober.probes.call_audio import audio_figures
from prober.project.database import Database
from prober.web.auth import SESSION_COOKIE, Auth
from sandbox.sound import Piece, Scene, render
from storage.call_measurements import save_measurement
from storage.db import session_scope
from storage.models import Recording, Reply, Role
from tests.support.cli import Run
from tests.support.review_scene import hostile_reply, playable_call
from tests.support.workspace_site import WAVE, Site

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
async def signed_in(site: Site) -> AsyncIterator[dict[str, str]]:
    """Session cookies of a few accounts, by login."""
    database = Database(site.engine)
    auth = Auth(database, site.settings.workspace)
    cookies = {}
    try:
        for login, role in (("a.durand", Role.AUDITOR), ("z.autre", Role.AUDITOR)):
            password = site.add_user(login, role)
            cookies[login] = (await auth.sign_in(login, password, "127.0.0.1")).cookie
        yield cookies
    finally:
        database.close()


async def test_a_recording_answers_ranges_to_its_auditor_only(
    site: Site, prober_cli: Run, signed_in: dict[str, str]
) -> None:
    call = playable_call(site.engine)
    assert prober_cli("review", "assign", WAVE, "--auditor", "a.durand").exit_code == 0
    with session_scope(site.engine) as session:
        recording = session.scalars(
            select(Recording).where(col(Recording.probe_id) == call.probe_id)
        ).one()
        url, size = f"{site.url}/enregistrements/{recording.id}", recording.size_bytes
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).status_code == 401
        client.cookies.set(SESSION_COOKIE, signed_in["z.autre"])
        assert (await client.get(url)).status_code == 403
        client.cookies.set(SESSION_COOKIE, signed_in["a.durand"])
        part = await client.get(url, headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 1000-1999/{size}"
        assert len(part.content) == 1000


async def test_a_letter_scan_is_served_sandboxed_to_its_auditor_only(
    site: Site, prober_cli: Run, signed_in: dict[str, str]
) -> None:
    replies_dir = site.settings.resolve(site.settings.replies_dir)
    contact = hostile_reply(site.engine, replies_dir)
    scan = replies_dir / str(contact.probe_id) / "letter-scan.png"
    scan.write_bytes(PNG)
    with session_scope(site.engine) as session:
        reply = Reply(
            probe_id=contact.probe_id, channel="letter", sha256="b" * 64,
            received_at=datetime(2026, 5, 20, tzinfo=UTC),
            raw_path=str(scan),
        )  # fmt: skip
        session.add(reply)
        session.flush()
        url = f"{site.url}/pieces/{reply.id}"
    assert prober_cli("review", "assign", WAVE, "--auditor", "a.durand").exit_code == 0
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).status_code == 401
        client.cookies.set(SESSION_COOKIE, signed_in["z.autre"])
        assert (await client.get(url)).status_code == 403
        client.cookies.set(SESSION_COOKIE, signed_in["a.durand"])
        served = await client.get(url)
        assert served.status_code == 200
        assert served.content == PNG
        assert served.headers["content-type"] == "image/png"
        assert served.headers["content-security-policy"].startswith("sandbox")


async def test_a_call_page_shows_the_strip_of_what_the_caller_heard(
    site: Site, prober_cli: Run, signed_in: dict[str, str], tmp_path: Path
) -> None:
    call = playable_call(site.engine)
    # Three rings then hold music, recorded from the first ring, as the daemon analyses it.
    rendered = render(
        Scene(
            pieces=(Piece("ringback", 0.0, 15.0), Piece("music", 15.0, 10.0)),
            duration_s=25.0,
            seed=3,
        )
    )
    recording_file = tmp_path / "from-ringing.wav"
    recording_file.write_bytes(rendered.wav)
    timeline = timeline_of_file(recording_file)
    figures, details = audio_figures(timeline, from_ringing=True, transfer_s=None)
    assert prober_cli("review", "assign", WAVE, "--auditor", "a.durand").exit_code == 0
    url = f"{site.url}/revue/{WAVE}/contacts/{call.probe_id}"
    async with httpx.AsyncClient(cookies={SESSION_COOKIE: signed_in["a.durand"]}) as client:
        before = await client.get(url)
        assert before.status_code == 200 and "timeline-strip" not in before.text
        with session_scope(site.engine) as session:
            attempt_id = session.scalars(
                select(Recording.attempt_id).where(col(Recording.probe_id) == call.probe_id)
            ).one()
            assert attempt_id is not None
            save_measurement(
                session, attempt_id=attempt_id, source="audio", figures=figures, details=details
            )
        page = (await client.get(url)).text
    strip = page[
        page.index('class="timeline-strip"') : page.index("</svg>", page.index("timeline-strip"))
    ]
    numbered = [int(n) for n in re.findall(r'fill="#6d4c00">(\d+)</text>', strip)]
    assert timeline.rings == 3 and numbered == [1, 2, 3]
    assert "décroché" in strip and "musique" in strip
