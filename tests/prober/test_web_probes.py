"""The web probe worker's own faults and interruptions: never counted as a site down, and an
interrupted check is planned again (on SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session

from channels.web import SiteReport
from config.settings import Settings
from prober.probes.web import CHECK_FAILED, WebProbes
from prober.project.database import Database
from storage import attempts
from storage.models import Attempt, Probe, ProbeState
from tests.support.seeding import add_persona, add_probe, add_scenario, add_structure, add_wave

SITE = "https://www.mairie.example"


class BrokenChecker:
    """A checker with a bug: what no real site can provoke."""

    async def check(self, url: str, *, phone_region: str | None = None) -> SiteReport:
        raise RuntimeError(f"bug while checking {url}")


def web_probe(engine: Engine) -> uuid.UUID:
    with Session(engine) as session:
        add_persona(session)
        add_scenario(session, "site-web", "web")
        wave_id = add_wave(
            session,
            "w",
            starts_on=datetime(2027, 3, 1).date(),
            ends_on=datetime(2027, 3, 5).date(),
            channels=["web"],
            parameters={
                "catalogue": {
                    "scenarios": {
                        "site-web": {"id": "site-web", "channel": "web", "title": "x", "web": {}}
                    }
                }
            },
        )
        structure_id = add_structure(session, opening_hours="Mo-Fr 08:00-18:00")
        probe_id = add_probe(
            session,
            wave_id=wave_id,
            structure_id=structure_id,
            channel="web",
            scenario_id="site-web",
            persona_id="p",
            scheduled_at=datetime(2027, 3, 1, 9, tzinfo=UTC),
            contact=SITE,
        )
        session.commit()
    return probe_id


async def test_a_fault_of_ours_is_recorded_as_such_not_as_a_site_down(engine: Engine) -> None:
    probe_id = web_probe(engine)
    database = Database(engine)
    try:
        probes = WebProbes(Settings(), database, BrokenChecker())
        assert await probes.check(probe_id) is None
    finally:
        database.close()
    with Session(engine) as session:
        probe = session.get(Probe, probe_id)
        assert probe is not None and probe.state == ProbeState.FAILED
        [event] = attempts.probe_events(session, probe_id)
        assert event.kind == "site.check_failed"
        assert "bug while checking" in event.payload["error"]
        attempt = attempts.find_attempt(session, probe_id, 1)
        assert attempt is not None and attempt.outcome == CHECK_FAILED


async def test_a_check_a_stop_interrupted_is_planned_again(engine: Engine) -> None:
    probe_id = web_probe(engine)
    with Session(engine) as session:
        attempts.start_attempt(session, probe_id)  # the daemon stopped during the check
        session.commit()
    database = Database(engine)
    try:
        assert await WebProbes(Settings(), database, BrokenChecker()).reconcile() == 1
    finally:
        database.close()
    with Session(engine) as session:
        probe = session.get(Probe, probe_id)
        assert probe is not None and probe.state == ProbeState.PLANNED
        attempt = session.get(Attempt, 1)
        assert attempt is not None and attempt.outcome == "interrupted"
        assert attempt.ended_at is not None
