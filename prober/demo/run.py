"""``prober demo``: a whole wave, phone, email and websites, against the sandbox, in a couple of
minutes.

Everything runs on loopback and in this process, and is stopped before it returns: the sandbox
(a Twilio-compatible API playing simulated structures, their mailboxes and their websites, each
structure's website contact pointing at its simulated site), prober's own mail
provider (a throw-away Dovecot and an SMTP server delivering into it), and the daemon. The wave
is planned as usual over the bundled sample structures; a **demo clock** then runs through its
weeks in about a minute, so that probes are claimed at their planned instants, inside opening
hours, while calls and replies play out at the sandbox's time scale.

Only this command (and ``prober sandbox``) loads the sandbox: production never depends on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlmodel import Session, col, select

import prober.demo.samples
from channels.phone.twilio_client import TwilioPhone
from config.criteria import load_criteria
from config.settings import (
    ImapSettings,
    Settings,
    SitesSettings,
    SmtpSettings,
    TwilioSettings,
    WebSettings,
    WorkspaceSettings,
    load_settings,
)
from prober.demo.corrections import check_corrections, read_jsonl, summary
from prober.demo.participant import open_structure_results
from prober.demo.sites import SITE_BEHAVIOURS, check_differences, french_hours
from prober.errors import ProberError
from prober.probes.costs import WaveCost, sweep_prices, wave_cost
from prober.project import Project
from prober.project.database import Database
from prober.project.importing import import_structures
from prober.project.starter import write_starter_files
from prober.results.reports.build import ReportRequest, write_report
from prober.results.scoring.wave import score_wave, store_scoring
from prober.results.tables import scores_table
from prober.runtime.daemon import Daemon, DaemonOptions
from prober.web.passwords import generate_password, hash_password
from sandbox import (
    Account,
    CallPacer,
    CallRunner,
    CallStore,
    RunnerTiming,
    TruthLog,
    create_app,
)
from sandbox.errors import SandboxConfigError
from sandbox.mail import Dovecot, MailSandbox, MailTruthLog, Relay, parse_mail_world
from sandbox.mail.delivery import DovecotDelivery
from sandbox.mail.dovecot import free_port
from sandbox.serve import serve_in_thread
from sandbox.web import SiteSpec, WebSandbox, site_truth
from sandbox.web.world import OTHER_HOURS
from sandbox.world import load_world, parse_world
from scheduler.retry import RetryPolicy
from scheduler.waves import WaveSpec, define_wave, plan_stored_wave
from storage import claims
from storage.accounts import add_account
from storage.db import make_engine, upgrade
from storage.models import Attempt, ContactPoint, Probe, Reply, Role, Structure, Wave, WaveStatus
from storage.review_assignments import assign_reviews

WAVE = "demo"
DEMO_AUDITOR = "auditrice"
PERSONA = "marie-dupont"
MAILBOX = "marie.dupont@probes.example.org"  # the persona's reply mailbox (personas.toml)
ACCOUNT_SID = "AC" + "d3" * 16
# Calls play 5 times faster than real time: prober times holds on its own clock, so a webhook
# round trip of 100 ms real counts 0.5 s, and a hold must be measured within 2 s of the truth
# over dozens of listening slices (hold music, announcements). Replies come 100 times faster.
CALL_TIME_SCALE = 0.2
# How close a measured hold must be to the truth, in call seconds.
HOLD_TOLERANCE_S = 2.0
MAIL_TIME_SCALE = 0.01
WAVE_SECONDS = 45.0  # the demo clock runs through the planned wave in this many real seconds

# Every behaviour a structure can have, given in turn to the sample structures.
PHONE_BEHAVIOURS = [
    'rings = 2\ngreeting = "Mairie, bonjour, que puis-je pour vous ?"',
    'rings = 4\ngreeting = "Accueil de la mairie, bonjour."',
    'rings = 1\nanswer = "ivr"\ngreeting = "Bienvenue. Pour l\'état civil, tapez 1. Pour'
    ' l\'urbanisme, tapez 2."\n[numbers."{n}".menu."1"]\nhold_s = 40\nthen = "human"\n'
    'greeting = "État civil, bonjour."',
    'rings = 3\ngreeting = "Mairie, bonjour."\n[numbers."{n}".transfer]\nhold_s = 25\n'
    'then = "human"\ngreeting = "Service état civil, je vous écoute."',
    'rings = 5\nanswer = "machine"\ngreeting = "Vous êtes bien sur la messagerie de la mairie,'
    ' laissez votre message après le bip."',
    'outcome = "busy"',
    'outcome = "no-answer"',
    'rings = 2\nanswer = "ivr"\ngreeting = "Bienvenue. Pour l\'état civil, tapez 1."\n'
    '[numbers."{n}".menu."1"]\nhold_s = 70\nthen = "dropped"',
    'rings = 6\ngreeting = "Bonjour."',
    'rings = 2\ngreeting = "Mairie, bonjour."\n[numbers."{n}".transfer]\nhold_s = 30\n'
    'then = "voicemail"\ngreeting = "Messagerie du service état civil : laissez un message après'
    ' le bip."',
    # Real switchboards: pauses, music first, hold cues and music, announcements, a second-level
    # menu, a recogniser that mishears.
    'rings = 2\nanswer = "ivr"\nrecognition = "noisy"\ngreeting = "Mairie de Lyon, bonjour.'
    " [pause 1.5] Pour l'état civil, tapez 1. [pause 1] Pour l'urbanisme, tapez 2.\"\n"
    '[numbers."{n}".menu."1"]\nsay = "Je vous mets en relation."\nhold = "music"\n'
    'announcement = "Votre appel est important pour nous, veuillez patienter."\n'
    'announcement_every_s = 15\nhold_s = 45\ngreeting = "État civil, bonjour."',
    'rings = 3\ngreeting = "Mairie, bonjour."\n[numbers."{n}".transfer]\n'
    'say = "Ne quittez pas, je vous passe le service de l\'état civil."\nhold = "music"\n'
    'hold_s = 35\ngreeting = "État civil, je vous écoute."',
    'rings = 1\nanswer = "ivr"\nmusic_before_greeting_s = 12\ngreeting = "Bienvenue à la'
    ' mairie. [pause 1.5] Pour l\'état civil, tapez 1."\n[numbers."{n}".menu."1"]\nhold_s = 5\n'
    'then = "menu"\ngreeting = "Vous êtes au service de l\'état civil. [pause 1.5] Pour un acte'
    " de naissance, tapez 1. Pour parler à un agent de l'état civil, tapez 2.\"\n"
    '[numbers."{n}".menu."1".menu."2"]\nhold = "music"\nhold_s = 20\n'
    'greeting = "Bonjour, état civil."',
    'rings = 2\nrecognition = "noisy"\ngreeting = "Mairie, bonjour."\n'
    '[numbers."{n}".transfer]\nsay = "Veuillez patienter."\nhold = "music"\nhold_s = 25\n'
    'then = "dropped"',
    # A number the directory publishes but nobody holds any more (SIP 404).
    'outcome = "failed"',
    # A switchboard that answers at once and plays its own ringback: the callbacks count one
    # ring, the caller hears three (a recording from the first ring shows it).
    'rings = 1\nringback_after_answer = 2\ngreeting = "Standard de la mairie, bonjour."',
]
MAIL_BEHAVIOURS = [
    'behaviour = "reply"\ndelay_s = 900',
    'behaviour = "ack_then_reply"\nack_delay_s = 60\ndelay_s = 1500',
    'behaviour = "out_of_office"\ndelay_s = 30',
    'behaviour = "bounce"\ndelay_s = 20',
    'behaviour = "reply_from_other_address"\ndelay_s = 1200',
    'behaviour = "strip_threading"\ndelay_s = 600',
    'behaviour = "none"',
]


class DemoClock:
    """The demo's "now": from the wave's first planned instant, ``speed`` times real time."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start = start
        self.speed = speed
        self._origin = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._origin) * self.speed)


@dataclass
class DemoResult:
    """Where the demo left its data, and how its measurements compare with the truth."""

    folder: Path
    calls_matching: int
    calls: int
    replies_stored: int
    replies_sent: int
    sites_matching: int
    sites: int
    corrections_differing: list[str]
    cost: DemoCost | None = None


@dataclass(frozen=True)
class DemoCost:
    """The wave's cost: estimated before launch, spent per prober, charged per the sandbox."""

    currency: str
    estimated: Decimal
    spent: Decimal
    charged: Decimal

    @property
    def matches(self) -> bool:
        cent = Decimal("0.01")
        return self.spent.quantize(cent) == self.charged.quantize(cent)


def _world(engine: Any) -> str:
    """The world file for the sample structures: the behaviours given in turn."""
    lines: list[str] = ["# Le monde simulé de la démo : une structure par comportement, en boucle."]
    with Session(engine) as session:
        points = session.exec(select(ContactPoint).order_by(col(ContactPoint.structure_id))).all()
    numbers = sorted({p.value for p in points if p.kind == "phone"})
    addresses = sorted({p.value for p in points if p.kind == "email"})
    for index, number in enumerate(numbers):
        behaviour = PHONE_BEHAVIOURS[index % len(PHONE_BEHAVIOURS)].replace("{n}", number)
        lines += [f'[numbers."{number}"]', behaviour, ""]
    for index, address in enumerate(addresses):
        behaviour = MAIL_BEHAVIOURS[index % len(MAIL_BEHAVIOURS)]
        lines += [f'[mailboxes."{address}"]', behaviour, ""]
    return "\n".join(lines) + "\n"


def _site_specs(engine: Any) -> list[tuple[ContactPoint, SiteSpec, str]]:
    """A simulated site for every structure that publishes a website, the behaviours given in
    turn: (its website contact point, the site, the directory's opening hours)."""
    specs: list[tuple[ContactPoint, SiteSpec, str]] = []
    with Session(engine) as session:
        structures = session.exec(select(Structure).order_by(col(Structure.official_id))).all()
        points = session.exec(select(ContactPoint).order_by(col(ContactPoint.position))).all()
    first: dict[tuple[int, str], ContactPoint] = {}
    for point in points:
        first.setdefault((point.structure_id, point.kind), point)
    for structure in structures:
        website = first.get((structure.id or 0, "web"))
        if website is None:
            continue
        behaviour: Any = SITE_BEHAVIOURS[len(specs) % len(SITE_BEHAVIOURS)]
        phone = first.get((structure.id or 0, "phone"))
        email = first.get((structure.id or 0, "email"))
        directory_phone = phone.value if phone else ""
        directory_email = email.value if email else f"accueil@s{structure.official_id}.fr"
        hours = french_hours(structure.opening_hours)
        site = SiteSpec(
            slug=f"s{structure.official_id}",
            town=structure.name,
            behaviour=behaviour,
            phone=f"+3338899{len(specs):04d}" if behaviour == "phone_differs" else directory_phone,
            email=directory_email,
            hours=OTHER_HOURS if behaviour == "hours_differ" else hours,
            accessibility=None if behaviour == "no_statement" else "partiellement conforme",
            directory_phone=directory_phone,
            directory_email=directory_email,
            directory_hours=hours,
        )
        specs.append((website, site, structure.opening_hours or ""))
    return specs


@contextlib.contextmanager
def _start_sites(engine: Any, folder: Path) -> Iterator[WebSandbox]:
    """Serve the structures' simulated sites, point their website contacts at them, and write
    the truth of each site (``truth-sites.jsonl``)."""
    specs = _site_specs(engine)
    with WebSandbox([site for _, site, _ in specs]) as web:
        lines = []
        with Session(engine) as session:
            for point, site, hours in specs:
                stored = session.get(ContactPoint, point.id)
                assert stored is not None  # noqa: S101 - read just before
                stored.value = web.url_of(site)
                session.add(stored)
                truth = site_truth(site, web)
                lines.append(
                    {
                        "url": stored.value,
                        "behaviour": site.behaviour,
                        "outcome": truth.outcome,
                        "expected": truth.expected,
                        "min_load_s": truth.min_load_s,
                        "directory_phone": site.directory_phone,
                        "directory_hours": hours,
                    }
                )
            session.commit()
        (folder / "truth-sites.jsonl").write_text(
            "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines),
            encoding="utf-8",
        )
        yield web


@contextlib.contextmanager
def _thread_loop(name: str) -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in its own thread until the block ends."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@contextlib.asynccontextmanager
async def _in_loop(loop: asyncio.AbstractEventLoop, manager: Any) -> Any:
    """Enter an async context manager inside ``loop`` (another thread) and exit it there."""
    value = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(manager.__aenter__(), loop))
    try:
        yield value
    finally:
        await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(manager.__aexit__(None, None, None), loop)
        )


def run_demo(
    folder: Path,
    console: Console,
    *,
    world: Path | None = None,
    structures: Path | None = None,
) -> DemoResult:
    """Set everything up in ``folder``, run the wave to its end, and show the results.

    ``world`` (a sandbox world file) and ``structures`` (a structures CSV or annuaire JSON)
    replace the bundled ones; the bundled world gives each sample structure a behaviour.
    """
    base, engine, world_text, clock = _prepare(folder, world=world, structures=structures)
    cost = asyncio.run(_play(folder, base, engine, world_text, clock, console))
    result = replace(_show_results(engine, folder, console), cost=cost)
    console.print(
        f"Coût de la vague ({cost.currency}) : estimé avant lancement {cost.estimated} ;"
        f" dépensé selon prober (`prober wave cost {WAVE}`) {cost.spent.quantize(Decimal('0.01'))},"
        f" facturé par le bac à sable {cost.charged.quantize(Decimal('0.01'))}"
        f" ({'identiques au centime' if cost.matches else 'DIFFÉRENTS'})."
    )
    _score_and_report(Project(settings=base, engine=engine), folder, console)
    checked = check_corrections(engine, WAVE, folder)
    console.print(summary(checked), markup=False)
    for value, problem in checked.missing:
        console.print(f"Correction manquante : {problem} {value}", markup=False)
        result.corrections_differing.append(f"missing {problem} {value}")
    for value, problem in checked.unexpected:
        console.print(f"Correction en trop : {problem} {value}", markup=False)
        result.corrections_differing.append(f"unexpected {problem} {value}")
    _open_workspace(Project(settings=base, engine=engine), folder, console)
    open_structure_results(Project(settings=base, engine=engine), WAVE, console)
    engine.dispose()
    return result


def _open_workspace(project: Project, folder: Path, console: Console) -> None:
    """Create an auditor for the demo, give her the wave's contacts to review, and say how to
    open the workspace on them (nothing is left running)."""
    settings = project.settings
    grid = load_criteria(settings.resolve(settings.criteria_file))
    password = generate_password()
    with project.session() as session:
        add_account(
            session, login=DEMO_AUDITOR, role=Role.AUDITOR, password_hash=hash_password(password)
        )
        wave = session.exec(select(Wave).where(col(Wave.name) == WAVE)).one()
        summary = assign_reviews(
            session,
            wave,
            [DEMO_AUDITOR],
            double_share=settings.review.double_share,
            reviewed_channels={c.channel for c in grid.criteria if c.kind == "reviewed"},
        )
    listener = settings.workspace
    console.print(
        f"Espace de travail : {summary.assigned} contact(s) à revoir confiés à"
        f" « {DEMO_AUDITOR} ». Lancez `cd {folder} && prober workspace`, puis ouvrez"
        f" http://{listener.host}:{listener.port}/revue/{WAVE} et connectez-vous :"
        f" identifiant {DEMO_AUDITOR}, mot de passe {password} (affiché une seule fois).",
        highlight=False,
    )


def _score_and_report(project: Project, folder: Path, console: Console) -> None:
    """Score the wave as it will stand once every reply deadline has passed, and write the
    wave overview (HTML, PDF), one structure's detailed report and the CSV of every structure."""

    settings = project.settings
    grid = load_criteria(settings.resolve(settings.criteria_file))
    with project.session() as session:
        wave = session.exec(select(Wave).where(col(Wave.name) == WAVE)).one()
        # Three weeks after the wave: the 5-working-day and 14-day deadlines have all passed.
        as_of = datetime.combine(wave.ends_on + timedelta(days=21), datetime.min.time(), UTC)
        scoring = score_wave(session, wave, grid, as_of=as_of)
        store_scoring(session, wave, scoring)
    console.print(scores_table(scoring.scores, f"Scores au {as_of:%d/%m/%Y} ({grid.name})"))
    detailed = min(scoring.structures.values(), key=lambda info: info.official_id)
    requests = [
        ReportRequest(WAVE, "html", folder / "rapport-vague.html"),
        ReportRequest(WAVE, "pdf", folder / "rapport-vague.pdf"),
        ReportRequest(
            WAVE,
            "pdf",
            folder / f"rapport-{detailed.official_id}.pdf",
            structure=detailed.official_id,
        ),
        ReportRequest(WAVE, "csv", folder / "resultats.csv"),
    ]
    with project.session() as session:
        written = [write_report(session, settings, grid, request) for request in requests]
    console.print(
        "Rapports : "
        + ", ".join(str(report.path) for report in written)
        + f" (détaillé : {detailed.name})."
    )


def _prepare(
    folder: Path, *, world: Path | None, structures: Path | None
) -> tuple[Settings, Any, str, DemoClock]:
    """A new project with the structures imported and the demo wave planned and running."""
    # Read (and check) the world before anything is created: a bad file fails at once.
    given_world = None
    if world is not None:
        given_world = world.read_text(encoding="utf-8")
        try:
            load_world(world)
        except SandboxConfigError as error:  # it names the file and the key
            raise ProberError(str(error)) from None
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    write_starter_files(folder, force=True)
    base = load_settings(folder / "prober.toml")
    engine = make_engine(base.effective_database_url)
    upgrade(engine)
    samples = Path(prober.demo.samples.__file__).parent
    project = Project(settings=base, engine=engine)
    sources = (
        [structures]
        if structures is not None
        else [samples / "structures.csv", samples / "annuaire-sample.json"]
    )
    for source in sources:
        import_structures(project, source)
    today = date.today()
    with project.session() as session:
        define_wave(
            session,
            base,
            WaveSpec(
                name=WAVE,
                starts_on=today + timedelta(days=1),
                ends_on=today + timedelta(days=14),
                channels=("phone", "email", "web"),
                panel={},
                calls_per_structure=1,
                emails_per_structure=1,
                off_hours_calls=0,
                personas=(PERSONA,),
            ),
        )
    with project.session() as session:
        plan_stored_wave(session, WAVE, seed=1, max_wave_days=base.planning.max_wave_days)
    world_text = given_world if given_world is not None else _world(engine)
    (folder / "world.toml").write_text(world_text, encoding="utf-8")
    with Session(engine) as session:
        first = min(session.exec(select(Probe.scheduled_at)))
        calls_and_emails = select(Probe.scheduled_at).where(col(Probe.channel) != "web")
        last = max(session.exec(calls_and_emails))
        # The sites are checked once the calls are placed: the demo plays calls five times
        # faster than real time, and its holds are timed to two seconds on a loaded machine.
        for probe in session.exec(select(Probe).where(col(Probe.channel) == "web")):
            probe.scheduled_at = last
            session.add(probe)
        wave = session.exec(select(Wave).where(col(Wave.name) == WAVE)).one()
        wave.status = WaveStatus.RUNNING
        session.add(wave)
        session.commit()
    clock = DemoClock(first - timedelta(minutes=1), (last - first).total_seconds() / WAVE_SECONDS)
    return base, engine, world_text, clock


async def _play(
    folder: Path, base: Settings, engine: Any, world_text: str, clock: DemoClock, console: Console
) -> DemoCost:
    """Start the simulated world and prober's mail provider, run the daemon through the wave."""

    token = secrets.token_hex(16)
    account = Account(sid=ACCOUNT_SID, auth_token=token)
    password = secrets.token_hex(8)
    call_truth = TruthLog(folder / "truth-calls.jsonl")
    mail_truth = MailTruthLog(folder / "truth-mail.jsonl")
    with contextlib.ExitStack() as stack:
        dovecot = stack.enter_context(Dovecot())
        dovecot.add_user(MAILBOX, password)
        smtp_port = free_port()
        controller = Controller(DovecotDelivery(dovecot), hostname="127.0.0.1", port=smtp_port)
        controller.start()
        stack.callback(controller.stop)
        # Twilio prices a call some time after it ends: a second here.
        store = CallStore(CallPacer(20), price_delay_s=1.0)
        runner = CallRunner(
            account,
            store,
            parse_world(world_text),
            timing=RunnerTiming(CALL_TIME_SCALE),
            truth=call_truth,
        )
        sandbox_url = stack.enter_context(
            serve_in_thread(create_app(account, store, runner=runner))
        )
        web = stack.enter_context(_start_sites(engine, folder))
        mail_loop = stack.enter_context(_thread_loop("demo-mailboxes"))
        web_port = free_port()
        settings = base.model_copy(
            update={
                "twilio": TwilioSettings(
                    account_sid=ACCOUNT_SID,
                    auth_token=SecretStr(token),
                    api_base_url=sandbox_url,
                    pricing_base_url=sandbox_url,
                    webhook_base_url=f"http://127.0.0.1:{web_port}",
                    calls_per_second=10,
                    time_scale=CALL_TIME_SCALE,
                ),
                "web": WebSettings(host="127.0.0.1", port=web_port),
                "sites": SitesSettings(
                    resolve=web.resolve, ca_file=web.ca_file, timeout_s=5, site_timeout_s=15
                ),
                "workspace": WorkspaceSettings(host="127.0.0.1", port=free_port()),
                "imap": ImapSettings(
                    host=dovecot.host,
                    port=dovecot.port,
                    username=MAILBOX,
                    password=SecretStr(password),
                    poll_interval_s=2,
                ),
            }
        )
        mail_sandbox = MailSandbox(
            parse_mail_world(world_text),
            Relay("127.0.0.1", smtp_port),
            truth=mail_truth,
            time_scale=MAIL_TIME_SCALE,
        )
        async with _in_loop(mail_loop, mail_sandbox) as mailboxes:
            settings = settings.model_copy(
                update={"smtp": SmtpSettings(host=mailboxes.host, port=mailboxes.port)}
            )
            options = DaemonOptions(
                clock=clock,
                tick_s=0.2,
                # A claim lasts a real minute: on the demo clock ten minutes pass in a few
                # milliseconds, and a claim that expires while its probe is carried out would
                # let another tick claim (and send) it again.
                lease=timedelta(seconds=60 * clock.speed),
                retry=RetryPolicy(max_attempts=2, min_delay=timedelta(hours=2)),
                drain_s=30,
            )
            project = Project(settings=settings, engine=engine)
            estimated = (await _wave_cost(settings, engine, sweep=False)).estimate.total
            await _run_wave(project, options, mailboxes, console)
            spent = await _wave_cost(settings, engine, sweep=True)
    return DemoCost(settings.costs.currency, estimated, spent.spending.twilio, store.total_price())


async def _wave_cost(settings: Settings, engine: Any, *, sweep: bool) -> WaveCost:
    """What `prober wave cost` shows: first asking Twilio the prices it has not given yet."""
    database = Database(engine)
    try:
        async with TwilioPhone(settings.twilio) as phone:
            deadline = time.monotonic() + 30
            while sweep:
                await sweep_prices(settings, database, phone, now=datetime.now(UTC))
                cost = await wave_cost(settings, database, WAVE, phone)
                if not cost.spending.calls_unpriced or time.monotonic() > deadline:
                    return cost
                await asyncio.sleep(0.5)
            return await wave_cost(settings, database, WAVE, phone)
    finally:
        database.close()


async def _run_wave(
    project: Project, options: DaemonOptions, mailboxes: Any, console: Console
) -> None:
    stop = asyncio.Event()
    daemon = asyncio.create_task(Daemon(project, options).run(stop))
    deadline = time.monotonic() + 300
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        bars: dict[str, Any] = {}
        while True:
            if daemon.done():
                daemon.result()
                return
            with Session(project.engine) as session:
                state = claims.wave_progress(session, WAVE)
                replies_pending = mailboxes.pending
            for channel, states in sorted(state.by_channel.items()):
                total = sum(states.values())
                finished = states.get("done", 0) + states.get("failed", 0)
                if channel not in bars:
                    label = {"phone": "appels", "email": "courriels", "web": "sites"}.get(
                        channel, channel
                    )
                    bars[channel] = progress.add_task(label, total=total)
                progress.update(bars[channel], completed=finished, total=total)
            if state.status == WaveStatus.DONE and replies_pending == 0:
                break
            if time.monotonic() > deadline:
                console.print("the demo took too long; stopping it (see the log above)")
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # the last replies reach the mailbox
    stop.set()
    await daemon


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def call_differences(measured: dict[str, Any], truth: dict[str, Any]) -> list[str]:
    """How a measured call differs from the sandbox's truth: outcome, who answered, transfer
    outcome and rings exactly, hold within ``HOLD_TOLERANCE_S``; empty when it does not."""
    transfer = measured.get("transfer_outcome")
    if transfer == "not_transferred":  # the person asked answered it: no transfer happened
        transfer = None
    got = {
        "outcome": measured.get("outcome"),
        "rings": measured.get("rings") or 0,
        "answered_by": measured.get("answered_by"),
        "transfer": transfer,
    }
    expected = {
        "outcome": "answered" if truth["status"] == "completed" else truth["status"],
        "rings": truth["rings"],
        "answered_by": truth["answered_by"],
        "transfer": truth["transfer_outcome"],
    }
    differences = [
        f"{name} {got[name]} (vérité {expected[name]})"
        for name in got
        if got[name] != expected[name]
    ]
    hold_s, true_hold_s = measured.get("hold_s"), truth.get("hold_s")
    if truth["transfer_outcome"] in ("human", "voicemail") and true_hold_s is not None:
        if hold_s is None or abs(hold_s - true_hold_s) > HOLD_TOLERANCE_S:
            differences.append(f"attente {hold_s} s (vérité {true_hold_s} s)")
    return differences


def _show_results(engine: Any, folder: Path, console: Console) -> DemoResult:
    """The results table, per structure, and how it compares with the sandbox's truth."""
    with Session(engine) as session:
        rows = session.exec(
            select(Structure, Probe, Attempt)
            .join(Probe, col(Probe.structure_id) == col(Structure.id))
            .join(Attempt, col(Attempt.probe_id) == col(Probe.id))
            .order_by(col(Structure.official_id), col(Probe.channel), col(Attempt.number))
        ).all()
        stored = {r.message_id for r in session.exec(select(Reply))}
    truth_by_sid = {entry["sid"]: entry for entry in _read_jsonl(folder / "truth-calls.jsonl")}
    truth_by_url = {entry["url"]: entry for entry in read_jsonl(folder / "truth-sites.jsonl")}
    per_structure: dict[str, dict[str, Any]] = {}
    matching = calls = sites_matching = sites = 0
    differing: list[str] = []
    for structure, probe, attempt in rows:
        entry = per_structure.setdefault(
            structure.official_id, {"name": structure.name, "phone": [], "email": [], "web": []}
        )
        entry[probe.channel].append(attempt)
        site_truth = truth_by_url.get(attempt.measurement.get("url") or "")
        if probe.channel == "web" and site_truth is not None and attempt.outcome is not None:
            sites += 1
            site_differences = check_differences(attempt.measurement, site_truth)
            sites_matching += not site_differences
            if site_differences:
                differing.append(f"{structure.official_id} site : " + ", ".join(site_differences))
        truth = truth_by_sid.get(attempt.external_id or "")
        if probe.channel == "phone" and truth is not None:
            calls += 1
            differences = call_differences(attempt.measurement, truth)
            matching += not differences
            if differences:
                differing.append(f"{structure.official_id} : " + ", ".join(differences))
    table = Table("structure", "appel", "sonneries", "décroché par", "transfert", "attente s",
                  "courriel", "réponse", "site")  # fmt: skip
    for official_id, entry in sorted(per_structure.items()):
        phone_attempts: list[Attempt] = entry["phone"]
        last = phone_attempts[-1].measurement if phone_attempts else {}
        outcomes = " → ".join(str(a.outcome or "…") for a in phone_attempts)
        emails: list[Attempt] = entry["email"]
        reply = emails[-1].measurement if emails else {}
        human = reply.get("first_human_reply") or {}
        delay = human.get("header_elapsed_s")
        table.add_row(
            f"{official_id} {entry['name'][:30]}",
            outcomes,
            "" if last.get("rings") is None else str(last["rings"]),
            last.get("answered_by") or "",
            last.get("transfer_outcome") or "",
            "" if last.get("hold_s") is None else f"{last['hold_s']:.0f}",
            str(reply.get("outcome") or (emails[-1].outcome if emails else "")),
            "" if delay is None else f"{delay / 60:.0f} min",
            " → ".join(str(a.outcome or "…") for a in entry["web"]),
        )
    console.print(table)
    for line in differing:
        console.print(f"Écart avec la vérité : {line}", markup=False)
    sent = [m for m in _read_jsonl(folder / "truth-mail.jsonl") if m.get("message_id")]
    replies_stored = sum(1 for m in sent if m["message_id"] in stored)
    console.print(
        f"Vérité terrain du bac à sable : {matching}/{calls} appels mesurés comme ils ont eu lieu"
        f" (issue, sonneries, qui a décroché, transfert, attente à {HOLD_TOLERANCE_S:g} s près),"
        f" {replies_stored}/{len(sent)} messages"
        " des structures reçus, rattachés et classés,"
        f" {sites_matching}/{sites} vérifications de sites conformes (issue, statut, HTTPS,"
        " certificat, accessibilité, formulaire, téléphones, courriels, horaires, réseaux)."
    )
    console.print(
        f"Données : {folder}/prober.db (mesures), {folder}/recordings/ (enregistrements),"
        f" {folder}/replies/ (courriels), {folder}/world.toml et {folder}/truth-*.jsonl"
        " (le monde simulé et sa vérité)."
    )
    return DemoResult(folder, matching, calls, replies_stored, len(sent), sites_matching, sites, [])
