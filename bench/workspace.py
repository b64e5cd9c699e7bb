"""Benchmark: the review queue of a 35,000-structure wave and a call's page, p95 server time.

Goal (issue 15): under 200 ms each at the 95th percentile. A fresh database gets the finished
synthetic wave of bench/report.py (35,000 structures × 5 probes, events, recordings, replies),
its reviewable contacts assigned to 20 auditors (10 % blind double review) with a share already
reviewed, and a real 2-minute WAV for the call opened. Then the workspace app is driven
in-process (no network: the time is the server's) by signed-in people:

- an auditor's queue (first page, then the fifth), filtered by channel, by criterion;
- a lead's queue over every auditor, and the flagged contacts only;
- a call's page (player, waveform computed from the WAV, timeline, transcript, figures, grid).

    python bench/workspace.py [--structures 35000] [--requests 60] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import math
import statistics
import struct
import tempfile
import time
import wave
from pathlib import Path

import httpx
from report import WAVE, database, generate
from sqlmodel import Session, col, select

from config.settings import load_settings
from prober.project.database import Database
from prober.project.starter import write_starter_files
from prober.web.auth import SESSION_COOKIE, Auth
from prober.web.passwords import hash_password
from prober.web.workspace import create_workspace_app
from storage.accounts import add_account
from storage.db import make_engine, session_scope, upgrade
from storage.models import Probe, Recording, ReviewAssignment, Role, Wave
from storage.review_assignments import assign_reviews
from storage.reviews import add_review

print = functools.partial(print, flush=True)

AUDITORS = [f"auditeur{n:02d}" for n in range(1, 21)]
PASSWORD = "banc-d-essai-workspace"  # noqa: S105 - a throw-away account of the bench's own database
GOAL_MS = 200.0


def write_wav(path: Path, seconds: int = 120, rate: int = 8000) -> None:
    """A 2-minute mono 16-bit WAV, as long as a typical call."""
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(n / 7) * (0.3 + 0.7 * ((n // rate) % 4) / 3)))
        for n in range(seconds * rate)
    )
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(frames)


def prepare(engine_url: str, root: Path) -> tuple[str, int]:
    """Accounts, assignments, some reviews done; the (wave name, recording id) to open."""
    engine = make_engine(engine_url)
    settings = load_settings(root / "prober.toml")
    with session_scope(engine) as session:
        for login in AUDITORS:
            add_account(
                session, login=login, role=Role.AUDITOR, password_hash=hash_password(PASSWORD)
            )
        add_account(
            session, login="responsable", role=Role.LEAD, password_hash=hash_password(PASSWORD)
        )
    started = time.perf_counter()
    with session_scope(engine) as session:
        wave_row = session.exec(select(Wave).where(col(Wave.name) == WAVE)).one()
        summary = assign_reviews(
            session,
            wave_row,
            AUDITORS,
            double_share=settings.review.double_share,
            reviewed_channels={"phone", "email"},
        )
    print(
        f"assigned {summary.assigned} contacts ({summary.double} double) to {len(AUDITORS)}"
        f" auditors in {time.perf_counter() - started:.1f} s (not part of the goal)"
    )
    with session_scope(engine) as session:
        # The first auditor has reviewed a third of their contacts.
        rows = session.exec(
            select(ReviewAssignment.probe_id).where(col(ReviewAssignment.auditor) == AUDITORS[0])
        ).all()
        for probe_id in rows[: len(rows) // 3]:
            probe = session.get(Probe, probe_id)
            assert probe is not None  # noqa: S101
            for criterion in ("courtesy", "personalisation"):
                add_review(session, probe, f"{probe.channel}.{criterion}", reviewer=AUDITORS[0],
                           verdict="passed")  # fmt: skip
        recording = session.exec(
            select(Recording)
            .join(ReviewAssignment, col(ReviewAssignment.probe_id) == col(Recording.probe_id))
            .where(col(ReviewAssignment.auditor) == AUDITORS[0])
            .where(col(Recording.status) == "stored")
        ).first()
        assert recording is not None and recording.id is not None  # noqa: S101
        media = settings.resolve(settings.recordings_dir) / f"{recording.external_id}.wav"
        media.parent.mkdir(parents=True, exist_ok=True)
        write_wav(media)
        recording.media_path = str(media)
        recording_id = recording.id
    engine.dispose()
    return WAVE, recording_id


async def measure(root: Path, url: str, wave_name: str, recording_id: int, requests: int) -> None:
    settings = load_settings(root / "prober.toml")
    database = Database(make_engine(url))
    app = create_workspace_app(settings, database)
    auth = Auth(database, settings.workspace)
    try:
        cookies = {
            login: (await auth.sign_in(login, PASSWORD, "127.0.0.1")).cookie
            for login in (AUDITORS[0], "responsable")
        }

        def probe_of(session: Session) -> str:
            found = session.get(Recording, recording_id)
            assert found is not None  # noqa: S101
            return str(found.probe_id)

        probe_id = await database.run(probe_of)
        base = f"/revue/{wave_name}"
        cases = {
            "queue, auditor, page 1": (AUDITORS[0], base),
            "queue, auditor, page 5": (AUDITORS[0], f"{base}?page=5"),
            "queue, auditor, phone, criterion left": (
                AUDITORS[0],
                f"{base}?canal=phone&critere=phone.courtesy",
            ),
            "queue, lead, every auditor": ("responsable", base),
            "queue, lead, flagged": ("responsable", f"{base}?signale=1"),
            "call page (waveform, timeline, grid)": (AUDITORS[0], f"{base}/contacts/{probe_id}"),
        }
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            worst = 0.0
            for name, (login, path) in cases.items():
                client.cookies.set(SESSION_COOKIE, cookies[login])
                timings = []
                for attempt in range(requests + 3):
                    started = time.perf_counter()
                    response = await client.get(path)
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status_code != 200:
                        raise SystemExit(f"{name}: HTTP {response.status_code} on {path}")
                    if attempt >= 3:  # the first ones warm caches up
                        timings.append(elapsed)
                p95 = statistics.quantiles(timings, n=20)[-1]
                worst = max(worst, p95)
                print(
                    f"{name:42} p50 {statistics.median(timings):6.1f} ms"
                    f"  p95 {p95:6.1f} ms  ({len(timings)} requests)"
                )
        verdict = "met" if worst < GOAL_MS else "NOT met"
        print(
            f"goal: p95 under {GOAL_MS:.0f} ms for each page: {verdict} (worst p95 {worst:.1f} ms)"
        )
    finally:
        database.close()
        database.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=35_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: a SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_starter_files(root)
        settings = load_settings(root / "prober.toml")
        with database(args.database_url, root) as url:
            engine = make_engine(url)
            upgrade(engine)
            started = time.perf_counter()
            counts = generate(engine, settings, structures=args.structures, probes=5, seed=1)
            engine.dispose()
            print(
                f"generated ({engine.dialect.name}): {counts.structures} structures,"
                f" {counts.probes} probes, {counts.attempts} attempts, {counts.events} events"
                f" in {time.perf_counter() - started:.1f} s (not part of the goal)"
            )
            wave_name, recording_id = prepare(url, root)
            asyncio.run(measure(root, url, wave_name, recording_id, args.requests))


if __name__ == "__main__":
    main()
