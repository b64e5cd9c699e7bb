"""Web probes end to end: check a structure's website, store what it publishes, settle the probe.

An attempt is recorded before the site is contacted; the check runs on the daemon's shared
``SiteChecker`` (one request at a time per host, many hosts at once) and is bounded by the
``[sites]`` site timeout, so a site that never answers costs that long and holds nothing else
up. What the check found is stored once as a ``site.checked`` event, dated by the check, and
as the attempt's measurement, with the directory's contacts of the moment beside it: scoring
and corrections compare the two without reading anything else. Checking a site twice harms
nobody, so an attempt a crash interrupted is simply planned again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from channels.events import ObservedEvent
from channels.web import SiteReport
from config.errors import ConfigError
from config.settings import Settings
from config.territory import territory_for
from prober.probes.events import AfterAttempt, EventLog
from prober.project.database import Database
from storage import attempts
from storage.corrections import DirectoryEntry, directory_entry, open_attempts
from storage.models import Probe, ProbeState, Structure
from storage.types import utcnow

logger = logging.getLogger(__name__)

SOURCE = "web"
EVENT_KIND = "site.checked"
CHECK_FAILED = "check_failed"
"""The outcome of a check that prober itself could not carry out (a fault on our side)."""
# Beyond the checker's own site timeout: what a check may take before it is abandoned here.
GUARD_S = 5.0


class SiteChecking(Protocol):
    """What the daemon's site checker does (``channels.web.SiteChecker``)."""

    async def check(self, url: str, *, phone_region: str | None = None) -> SiteReport: ...


@dataclass(frozen=True, slots=True)
class _Started:
    attempt_id: int
    url: str | None
    directory: DirectoryEntry | None
    phone_region: str | None


def site_measurement(report: SiteReport, directory: DirectoryEntry | None) -> dict[str, Any]:
    """What an attempt stores of a check: the report and the directory's contacts beside it."""
    return {
        **report.to_json(),
        "final_url": report.final_url,
        "redirects": list(report.redirects),
        "ttfb_s": report.ttfb_s,
        "accessibility_statement_url": report.accessibility_statement_url,
        "mobile_viewport": report.mobile_viewport,
        "outcome": report.outcome,
        "error": report.error,
        "checked_at": report.checked_at.isoformat(),
        "directory": {
            "phones": [] if directory is None else list(directory.phones),
            "emails": [] if directory is None else list(directory.emails),
            "opening_hours": None if directory is None else directory.opening_hours,
        },
    }


def abandoned_report(url: str, waited_s: float, at: datetime) -> SiteReport:
    """The report of a check that outlived its guard: the site counts as not answering."""
    return replace(
        SiteReport.blank(url, at),
        outcome="timeout",
        error=f"le site n'a pas répondu en {waited_s:g} s",
    )


def _phone_region(departement: str) -> str | None:
    try:
        return territory_for(departement).phone_region
    except ConfigError:
        return None


class WebProbes:
    """Carries out web probes with a shared site checker, keeping everything in the database."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        checker: SiteChecking | None,
        *,
        after_attempt: AfterAttempt | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.checker = checker
        self.events = EventLog.of(settings)
        self.after_attempt = after_attempt
        self.guard_s = settings.sites.site_timeout_s + GUARD_S

    async def check(
        self, probe_id: uuid.UUID, *, claimed_by: str | None = None
    ) -> SiteReport | None:
        """Check the site of one probe's structure and store what was found; None when the
        probe has no website to check (it fails, saying so). With ``claimed_by``, a claim lost
        to another daemon raises ``ClaimLostError`` before the site is fetched."""
        if self.checker is None:
            raise RuntimeError("web probes need a site checker")
        started = await self.database.run(
            lambda session: self._start(session, probe_id, claimed_by)
        )
        if started.url is None:
            await self.database.run(
                lambda session: self._settle_without_site(session, probe_id, started.attempt_id)
            )
            return None
        began = utcnow()
        try:
            report = await asyncio.wait_for(
                self.checker.check(started.url, phone_region=started.phone_region), self.guard_s
            )
        except TimeoutError:
            report = abandoned_report(started.url, self.guard_s, began)
        except Exception as error:
            # prober's own fault, not the site's: recorded as such, never as a site down.
            logger.exception("probe %s: checking %s failed", probe_id, started.url)
            failure = error
            await self.database.run(
                lambda session: self._settle_failed(session, probe_id, started, failure)
            )
            return None
        await self.database.run(lambda session: self._record(session, probe_id, started, report))
        return report

    def _start(self, session: Session, probe_id: uuid.UUID, claimed_by: str | None) -> _Started:
        attempt = attempts.start_attempt(session, probe_id, claimed_by=claimed_by)
        context = attempts.attempt_context(session, probe_id, attempt.number)
        assert attempt.id is not None  # noqa: S101 (flushed)
        probe = session.get(Probe, probe_id)
        directory = None if probe is None else directory_entry(session, probe.structure_id)
        structure = None if probe is None else session.get(Structure, probe.structure_id)
        # National numbers on the site are read as the structure's territory dials them.
        region = None if structure is None else _phone_region(structure.departement)
        return _Started(attempt.id, context.contact, directory, region)

    def _record(
        self, session: Session, probe_id: uuid.UUID, started: _Started, report: SiteReport
    ) -> None:
        measurement = site_measurement(report, started.directory)
        self.events.record(
            session,
            ObservedEvent(
                kind=EVENT_KIND,
                source=SOURCE,
                source_at=report.checked_at,
                received_at=utcnow(),
                dedup_key=f"attempt:{started.attempt_id}:checked",
                payload=measurement,
            ),
            probe_id=probe_id,
            attempt_id=started.attempt_id,
        )
        attempts.finish_attempt(
            session,
            started.attempt_id,
            outcome=report.outcome,
            ended_at=utcnow(),
            measurement=measurement,
            probe_state=ProbeState.DONE,
        )
        if self.after_attempt is not None:
            self.after_attempt(session, probe_id, report.outcome)

    def _settle_failed(
        self, session: Session, probe_id: uuid.UUID, started: _Started, error: Exception
    ) -> None:
        now = utcnow()
        payload = {"url": started.url, "error": f"{type(error).__name__}: {error}"[:500]}
        self.events.attempt_step(
            session,
            probe_id=probe_id,
            attempt_id=started.attempt_id,
            kind="site.check_failed",
            step="check_failed",
            at=now,
            payload=payload,
        )
        attempts.finish_attempt(
            session,
            started.attempt_id,
            outcome=CHECK_FAILED,
            ended_at=now,
            measurement={"outcome": CHECK_FAILED, **payload},
            probe_state=ProbeState.FAILED,
        )

    def _settle_without_site(self, session: Session, probe_id: uuid.UUID, attempt_id: int) -> None:
        now = utcnow()
        payload = {"error": "the structure has no website in the directory"}
        self.events.attempt_step(
            session,
            probe_id=probe_id,
            attempt_id=attempt_id,
            kind="site.not_checked",
            step="not_checked",
            at=now,
            payload=payload,
        )
        attempts.finish_attempt(
            session,
            attempt_id,
            outcome="no_website",
            ended_at=now,
            measurement={"outcome": "no_website", **payload},
            probe_state=ProbeState.FAILED,
        )

    async def reconcile(self) -> int:
        """Plan again the checks a crash interrupted (checking a site twice harms nobody)."""

        def work(session: Session) -> int:
            interrupted = open_attempts(session, "web")
            for attempt_id, probe_id in interrupted:
                attempts.finish_attempt(
                    session,
                    attempt_id,
                    outcome="interrupted",
                    ended_at=utcnow(),
                    measurement={"outcome": "interrupted"},
                    probe_state=ProbeState.PLANNED,
                )
                attempts.plan_again(session, probe_id, at=utcnow())
            return len(interrupted)

        count = await self.database.run(work)
        if count:
            logger.info("%d site check(s) interrupted by a stop are planned again", count)
        return count
