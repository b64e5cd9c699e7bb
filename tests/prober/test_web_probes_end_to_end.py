"""A wave with web probes, planned like any other and carried out by the daemon against sites on
loopback: what is stored (events dated by the check, measurements), scored and proposed as
directory corrections matches what each site really is.

The sandbox's showcase sites (one per behaviour: down, silent, slow, loops, certificates, bombs,
other contacts...) come with their ground truth; a few sites served here by host name make
the corrections' cases plain (each site's truth is written next to its page). Nothing expected
is read from prober's output.
"""

from __future__ import annotations

import asyncio
import csv
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from config.criteria import load_criteria
from config.settings import SitesSettings, WebSettings, WorkspaceSettings, load_settings
from prober.project import Project
from prober.project.importing import import_structures
from prober.project.starter import write_starter_files
from prober.results.corrections import find_corrections
from prober.results.reports.build import ReportRequest, write_report
from prober.results.scoring.wave import score_wave
from prober.runtime.daemon import Daemon, DaemonOptions
from sandbox.web import WebSandbox, site_truth
from scheduler.retry import RetryPolicy
from scheduler.waves import WaveSpec, define_wave, plan_stored_wave
from storage import claims
from storage.corrections import wave_observations
from storage.db import make_engine, upgrade
from storage.models import Attempt, Event, Probe, Structure, Wave, WaveStatus
from tests.support.loopback import serve
from tests.support.phone_scene import free_listener
from tests.support.web_scene import assert_matches_truth

pytestmark = pytest.mark.e2e

WAVE = "sites"
# A Monday 10:00 in Paris: every site is checked inside its opening hours.
START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
HOURS = "Mo-Fr 08:30-12:00,13:30-17:30"
HOURS_TEXT = "Du lundi au vendredi de 8h30 à 12h et de 13h30 à 17h30"
OTHER_HOURS_TEXT = "Du lundi au vendredi de 9h à 12h et de 14h à 17h"
TIMEOUT_S, SITE_TIMEOUT_S = 3.0, 5.0


def page(phone: str, email: str, hours: str, *, statement: str | None, form: bool) -> str:
    footer = f'<a href="/accessibilite">Accessibilité : {statement}</a>' if statement else ""
    contact_form = '<form method="post"><textarea name="message"></textarea></form>'
    return (
        '<html><head><meta name="viewport" content="width=device-width"></head><body>'
        f"<h1>Mairie</h1><p>Téléphone : {phone}</p>"
        f'<p>Courriel : <a href="mailto:{email}">{email}</a></p>'
        f"<h2>Horaires</h2><p>{hours}</p>{contact_form if form else ''}"
        f"<footer>{footer}</footer></body></html>"
    )


@dataclass(frozen=True)
class Site:
    """One structure's site and what the directory says of the structure, with the truth."""

    official_id: str
    host: str
    phone: str  # the directory's, as the CSV writes it
    phone_e164: str
    email: str
    outcome: str
    published_phones: tuple[str, ...] = ()
    published_emails: tuple[str, ...] = ()
    accessibility: str | None = None
    contact_form: bool = False
    corrections: frozenset[str] = field(default_factory=frozenset)


SITES = [
    Site(
        "21770001800011", "ok.test", "01 64 81 00 11", "+33164810011", "accueil@ok-exemple.fr",
        "ok",
        ("+33164810011",), ("accueil@ok-exemple.fr",), "totalement conforme", True,
    ),
    Site(
        "21750056000015", "other.test", "01 53 27 11 11", "+33153271111", "mairie@other-exemple.fr",
        "ok", ("+33153279999",), ("mairie@other-exemple.fr",), None, False,
        frozenset({"phone_differs_from_site", "opening_hours_differ_from_site"}),
    ),
    Site(
        "21690123000014", "error.test", "04 78 03 67 67", "+33478036767",
        "contact@error-exemple.fr",
        "http_error", corrections=frozenset({"website_down"}),
    ),
    Site(
        "21130055000012", "moved.test", "04 42 18 19 19", "+33442181919", "mairie@moved-exemple.fr",
        "ok", ("+33442181919",), ("mairie@moved-exemple.fr",), "partiellement conforme", True,
        frozenset({"website_moved"}),
    ),
    Site(
        "21590001900018", "silent.test", "03 20 86 11 11", "+33320861111",
        "mairie@silent-exemple.fr",
        "timeout", corrections=frozenset({"website_down"}),
    ),
    Site(
        "21330063000017", "down.test", "05 56 49 03 03", "+33556490303", "mairie@down-exemple.fr",
        "unreachable", corrections=frozenset({"website_down"}),
    ),
]  # fmt: skip
BY_HOST = {site.host: site for site in SITES}


def sites_app() -> Starlette:
    """Every site above, chosen by the Host header."""

    async def home(request: Request) -> Response:
        host = (request.headers.get("host") or "").split(":")[0]
        if request.url.path == "/robots.txt":
            return PlainTextResponse("User-agent: *\nAllow: /\n")
        if host == "error.test":
            return PlainTextResponse("erreur interne", status_code=500)
        if host == "moved.test":
            # Another host, same server: the structure moved its site.
            port = request.url.port
            return RedirectResponse(f"http://new-moved.test:{port}/", status_code=301)
        if host == "new-moved.test":
            site = BY_HOST["moved.test"]
            return HTMLResponse(
                page(site.phone, site.email, HOURS_TEXT, statement=site.accessibility, form=True)
            )
        if host == "other.test":
            site = BY_HOST[host]
            return HTMLResponse(
                page("01 53 27 99 99", site.email, OTHER_HOURS_TEXT, statement=None, form=False)
            )
        site = BY_HOST["ok.test"]
        return HTMLResponse(
            page(site.phone, site.email, HOURS_TEXT, statement=site.accessibility, form=True)
        )

    return Starlette(routes=[Route("/{path:path}", home, methods=["GET", "HEAD"])])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never sends a byte."""
    listener = free_listener()
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def closed_port() -> int:
    listener = free_listener()
    port: int = listener.getsockname()[1]
    listener.close()
    return port


def url_of(site: Site, port: int, silent: int, closed: int) -> str:
    chosen = {"silent.test": silent, "down.test": closed}.get(site.host, port)
    return f"http://{site.host}:{chosen}/"


Row = tuple[str, str, str, str, str]
"""A structure of the CSV: official id, phone, email, website, opening hours."""


def write_structures(path: Path, rows: list[Row]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["official_id", "name", "kind", "departement", "phone", "email", "website",
             "opening_hours"]
        )  # fmt: skip
        for official_id, phone, email, website, hours in rows:
            writer.writerow(
                [official_id, f"Mairie {official_id}", "mairie", "75", phone, email, website,
                 hours]
            )  # fmt: skip


def site_checks(session: Session) -> dict[str, tuple[Attempt, Event]]:
    """Each structure's site check and its ``site.checked`` event, by official id."""
    rows = session.exec(
        select(Structure, Attempt, Event)
        .join(Probe, col(Probe.structure_id) == col(Structure.id))
        .join(Attempt, col(Attempt.probe_id) == col(Probe.id))
        .join(Event, col(Event.attempt_id) == col(Attempt.id))
        .where(col(Event.kind) == "site.checked")
    )
    return {structure.official_id: (attempt, event) for structure, attempt, event in rows}


class Clock:
    """The daemon's now: START, then real time."""

    def __init__(self) -> None:
        self._origin = time.monotonic()

    def __call__(self) -> datetime:
        return START + timedelta(seconds=time.monotonic() - self._origin)


def _prepare(tmp_path: Path, rows: list[Row], sites: SitesSettings) -> Project:
    write_starter_files(tmp_path, force=True)
    settings = load_settings(tmp_path / "prober.toml").model_copy(
        update={
            "sites": sites,
            "web": WebSettings(port=closed_port()),
            "workspace": WorkspaceSettings(port=closed_port()),
        }
    )
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    project = Project(settings=settings, engine=engine)
    write_structures(tmp_path / "structures.csv", rows)
    import_structures(project, tmp_path / "structures.csv")
    with project.session() as session:
        define_wave(
            session,
            settings,
            WaveSpec(
                name=WAVE,
                starts_on=START.date(),
                ends_on=START.date() + timedelta(days=4),
                channels=("web",),
                panel={},
            ),
        )
    with project.session() as session:
        plan_stored_wave(session, WAVE, seed=1, max_wave_days=30)
    with Session(engine) as session:
        # Due now: the daemon's clock starts at START.
        for probe in session.exec(select(Probe)):
            probe.scheduled_at = START - timedelta(minutes=1)
            session.add(probe)
        wave = session.exec(select(Wave)).one()
        wave.status = WaveStatus.RUNNING
        session.add(wave)
        session.commit()
    return project


async def _run_until_done(project: Project) -> None:
    stop = asyncio.Event()
    # One check per site: a site down is not tried again (the retry is the policy's business).
    options = DaemonOptions(
        clock=Clock(),
        tick_s=0.2,
        serve_web=False,
        watch_mail=False,
        retry=RetryPolicy(max_attempts=1),
    )
    daemon = asyncio.create_task(Daemon(project, options).run(stop))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not daemon.done():
        with Session(project.engine) as session:
            if claims.wave_progress(session, WAVE).status == WaveStatus.DONE:
                break
        await asyncio.sleep(0.2)
    stop.set()
    await daemon


async def test_a_wave_of_site_checks_is_stored_scored_and_corrected_as_the_sites_are(
    tmp_path: Path, silent_port: int
) -> None:
    closed = closed_port()
    with serve(sites_app()) as base:
        port = int(base.rsplit(":", 1)[1])
        urls = {site.host: url_of(site, port, silent_port, closed) for site in SITES}
        rows = [(s.official_id, s.phone, s.email, urls[s.host], HOURS) for s in SITES]
        sites = SitesSettings(
            timeout_s=TIMEOUT_S, site_timeout_s=SITE_TIMEOUT_S, resolve={"*.test": "127.0.0.1"}
        )
        project = _prepare(tmp_path, rows, sites)
        await _run_until_done(project)

    with Session(project.engine) as session:
        wave = session.exec(select(Wave)).one()
        assert wave.status == WaveStatus.DONE
        by_id = site_checks(session)
        assert sorted(by_id) == sorted(site.official_id for site in SITES)
        ended: dict[str, datetime] = {}
        for site in SITES:
            attempt, event = by_id[site.official_id]
            assert attempt.ended_at is not None
            stored = event.payload
            assert attempt.outcome == stored["outcome"] == site.outcome, (site.host, stored)
            assert stored["url"] == urls[site.host]
            assert tuple(stored["phones"]) == site.published_phones, site.host
            assert tuple(stored["emails"]) == site.published_emails, site.host
            assert stored["accessibility"] == site.accessibility, site.host
            assert stored["contact_form"] is site.contact_form, site.host
            assert stored["directory"]["phones"] == [site.phone_e164]
            # Dated by the check itself, within the attempt.
            assert event.clock == "source"
            assert attempt.started_at <= event.source_at <= attempt.ended_at
            assert attempt.measurement == stored
            ended[site.host] = attempt.ended_at
        # The site that never answers cost its timeout, and held up no other site.
        silent, _ = by_id[BY_HOST["silent.test"].official_id]
        assert ended["silent.test"] - silent.started_at <= timedelta(seconds=SITE_TIMEOUT_S + 10)
        assert all(ended[host] < ended["silent.test"] for host in ("ok.test", "other.test"))

        grid = load_criteria(project.settings.resolve(project.settings.criteria_file))
        scoring = score_wave(session, wave, grid, with_evidence=True)
        found = find_corrections(wave_observations(session, wave.id or 0))
        detailed = tmp_path / "ok.html"
        ok_id = BY_HOST["ok.test"].official_id
        write_report(
            session, project.settings, grid, ReportRequest(WAVE, "html", detailed, structure=ok_id)
        )
        write_report(
            session, project.settings, grid, ReportRequest(WAVE, "html", tmp_path / "w.html")
        )

    # The structure's report shows its site as checked.
    html = detailed.read_text(encoding="utf-8")
    assert "Site internet" in html and "totalement conforme" in html
    assert "Site internet" in (tmp_path / "w.html").read_text(encoding="utf-8")

    official = {info.id: info.official_id for info in scoring.structures.values()}
    for score in scoring.scores:
        site = next(s for s in SITES if s.official_id == official[score.structure_id])
        [contact] = score.contact_scores
        verdicts = {r.criterion_id: r.verdict for r in contact.results}
        reachable = site.outcome == "ok"
        applies = "passed" if reachable else "not_applicable"
        assert verdicts["web.site_reachable"] == ("passed" if reachable else "failed"), site.host
        expected_statement = "passed" if site.accessibility else "failed"
        assert verdicts["web.accessibility_statement"] == (
            expected_statement if reachable else applies
        ), site.host
        consistent = bool(site.published_phones) and site.phone_e164 in site.published_phones
        assert verdicts["web.contact_information_consistent"] == (
            ("passed" if consistent else "failed") if reachable else applies
        ), site.host
        assert verdicts["web.contact_form"] == (
            ("passed" if site.contact_form else "failed") if reachable else applies
        ), site.host
        assert all(r.evidence for r in contact.results if r.verdict != "not_applicable")

    got = {(c.official_id, c.problem) for c in found}
    assert got == {(s.official_id, p) for s in SITES for p in s.corrections}
    moved = next(c for c in found if c.problem == "website_moved")
    assert moved.proposed_value == f"http://new-moved.test:{port}/"
    other = next(c for c in found if c.problem == "phone_differs_from_site")
    assert other.proposed_value == "+33153279999"
    assert all(c.evidence for c in found)


# The sandbox's directory hours (STANDARD_HOURS), as the directory writes them.
SANDBOX_HOURS = "Mo-Fr 08:30-12:00,13:30-17:00; Sa 09:00-12:00"
# What each sandbox behaviour calls for in the directory (the others call for nothing).
SANDBOX_FINDINGS = {
    "moved": "website_moved",
    "down": "website_down",
    "silent": "website_down",
    "server_error": "website_down",
    "redirect_loop": "website_down",
    "redirect_chain": "website_down",
    "phone_differs": "phone_differs_from_site",
    "hours_differ": "opening_hours_differ_from_site",
}


async def test_the_sandbox_sites_through_a_wave_are_stored_and_scored_as_their_truth_says(
    tmp_path: Path, web_sandbox: WebSandbox
) -> None:
    # The directory cannot list an ftp:// address: import refuses it (structures.md).
    showcase = [site for site in web_sandbox.sites if site.behaviour != "not_http"]
    ids = {site.slug: f"2100000{index:07d}" for index, site in enumerate(showcase)}
    rows = [
        (ids[site.slug], site.directory_phone, site.directory_email, web_sandbox.url_of(site),
         SANDBOX_HOURS)
        for site in showcase
    ]  # fmt: skip
    # Generous: the sandbox serves its bombs and its 50 MB page from one thread meanwhile.
    sites = SitesSettings(
        timeout_s=10,
        site_timeout_s=40,
        ca_file=web_sandbox.ca_file,
        resolve=web_sandbox.resolve,
    )
    project = _prepare(tmp_path, rows, sites)
    await _run_until_done(project)

    with Session(project.engine) as session:
        wave = session.exec(select(Wave)).one()
        assert wave.status == WaveStatus.DONE
        stored = site_checks(session)
        grid = load_criteria(project.settings.resolve(project.settings.criteria_file))
        scoring = score_wave(session, wave, grid, with_evidence=True)
        found = find_corrections(wave_observations(session, wave.id or 0))

    assert len(stored) == len(showcase)
    for site in showcase:
        attempt, event = stored[ids[site.slug]]
        truth = site_truth(site, web_sandbox)
        payload = {key: event.payload[key] for key in truth.expected}
        assert_matches_truth(payload, site, web_sandbox)
        assert attempt.outcome == event.payload["outcome"] == truth.outcome, site.behaviour
        assert attempt.measurement == event.payload
        assert attempt.ended_at is not None
        assert attempt.started_at <= event.source_at <= attempt.ended_at

    verdicts = {
        score.structure_id: {r.criterion_id: r.verdict for r in score.contact_scores[0].results}
        for score in scoring.scores
    }
    structure_of = {info.official_id: sid for sid, info in scoring.structures.items()}
    for site in showcase:
        truth = site_truth(site, web_sandbox)
        expected = truth.expected
        got = verdicts[structure_of[ids[site.slug]]]
        if truth.outcome != "ok":
            assert got["web.site_reachable"] == "failed", site.behaviour
            assert {got[c] for c in got if c != "web.site_reachable"} == {"not_applicable"}
            continue
        phones, emails = expected["phones"], expected["emails"]
        assert isinstance(phones, list) and isinstance(emails, list)
        consistent = bool(phones or emails) and (
            (not phones or site.directory_phone in phones)
            and (not emails or site.directory_email in emails)
        )

        def verdict(passed: bool) -> str:
            return "passed" if passed else "failed"

        assert got == {
            "web.site_reachable": "passed",
            "web.accessibility_statement": verdict(expected["accessibility"] is not None),
            "web.contact_information_consistent": verdict(consistent),
            "web.contact_form": verdict(bool(expected["contact_form"])),
        }, site.behaviour

    got_findings = {(c.official_id, c.problem) for c in found}
    assert got_findings == {
        (ids[site.slug], SANDBOX_FINDINGS[site.behaviour])
        for site in showcase
        if site.behaviour in SANDBOX_FINDINGS
    }
