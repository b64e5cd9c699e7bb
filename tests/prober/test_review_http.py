"""The review pages over HTTP without a browser: recordings seek with Range, letters' scans go
only to those allowed to see the contact and cannot run anything."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlmodel import col, select

from prober.project.database import Database
from prober.web.auth import SESSION_COOKIE, Auth
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
