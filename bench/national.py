"""Benchmark: a national wave (63,000 structures × 3 calls + 1 email) carried out by two daemons
sharing one PostgreSQL database, against the sandbox, in compressed time.

The same code as ``prober structures import`` and ``prober wave plan`` imports a synthetic
directory (every département and overseas département of ``config.territory``, six opening-hours
patterns) and plans the wave over six weeks; two ``prober run`` daemons (``Daemon``, each in its
own process, ``a`` watching the reply mailbox) then carry it out on a throw-away database on
``--database-url``'s server. The sandbox (calls, mailboxes) runs in this process with Dovecot
and an SMTP server as the operators' mail provider.

Time is compressed twice: calls and replies play at the sandbox's time scale, and the daemons
share a **bench clock** that runs through the wave's busy quarter-hours (those holding planned
probes) at the speed that asks for ``--rate`` probes per second, jumping over nights and weekends.

Checked against the sandbox's truth: every probe settled, no structure contacted more often than
its probes (one call per call probe, one email per email probe), every call the sandbox placed
stored with its end, every reply it sent stored, every event published from the outbox.

    python bench/national.py [--structures 63000] [--rate 30] [--database-url postgresql://...]

Prints: import and planning times, wall time, probes per second per daemon, CPU and peak memory
of each daemon, database size per 1,000 probes, and what a real wave of this size needs in days
of opening hours at Twilio's default 1 call per second and at ``--account-cps``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import logging
import math
import multiprocessing
import os
import random
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from pydantic import SecretStr
from sqlalchemy import Engine, func, select, text
from sqlmodel import Session

from config.opening_hours import parse_opening_hours
from config.settings import (
    ImapSettings,
    Settings,
    SmtpSettings,
    TwilioSettings,
    WebSettings,
    WorkspaceSettings,
    load_settings,
)
from config.territory import TERRITORIES
from prober.project import Project
from prober.project.importing import import_structures
from prober.project.starter import write_starter_files
from prober.runtime.daemon import Daemon, DaemonOptions
from sandbox import Account
from sandbox.mail import Dovecot
from sandbox.mail.delivery import DovecotDelivery
from sandbox.mail.dovecot import free_port
from sandbox.mail.truth import read_mail_truth
from sandbox.truth import read_truth
from scheduler.retry import RetryPolicy
from scheduler.waves import WaveSpec, define_wave, plan_stored_wave
from storage.db import make_engine, upgrade
from storage.models import Reply, WaveStatus

sys.path.insert(0, str(Path(__file__).parent))
from dispatch import machine
from plan_wave import HOURS, KINDS, throwaway_postgres

WAVE = "national"
PERSONA = "marie-dupont"
MAILBOX = "marie.dupont@probes.example.org"  # the starter persona's reply mailbox
ACCOUNT_SID = "AC" + "4e" * 16
CALLS, EMAILS = 3, 1
TIME_SCALE = 0.05  # a 30-second call lasts 1.5 s; a reply 10 minutes later comes 30 s later
BUCKET_S = 900  # the bench clock skips quarter-hours with nothing planned
ANALYZE_EVERY_S = 120.0
POLL_S = 1.0  # how often the bench counts what is due and settled (two queries on the probes)
WORLD = """
[default]
rings = 2
answer = "human"
greeting = "Mairie, bonjour."
hangup_after_s = 30

[mailboxes.default]
behaviour = "reply"
delay_s = 600
"""
# Metropolitan numbers by the first digit of their zone; overseas by their own prefix.
ZONES = {
    "Île-de-France": "01",
    "Bretagne": "02",
    "Normandie": "02",
    "Pays de la Loire": "02",
    "Centre-Val de Loire": "02",
    "Hauts-de-France": "03",
    "Grand Est": "03",
    "Bourgogne-Franche-Comté": "03",
    "Auvergne-Rhône-Alpes": "04",
    "Provence-Alpes-Côte d'Azur": "04",
    "Corse": "04",
    "Occitanie": "05",
    "Nouvelle-Aquitaine": "05",
}
OVERSEAS = {"971": "0590", "972": "0596", "973": "0594", "974": "0262", "976": "0269"}
# The starter's short call, recorded only with --record: a recording's sound and its analysis
# have their own benchmark (bench/audio.py) and would be most of this one's CPU.
PHONE_SCENARIO = "national-phone"
PHONE_SCENARIO_TOML = """
id = "national-phone"
channel = "phone"
title = "Demande des horaires d'ouverture par téléphone"

[phone]
request = "Bonjour, pourriez-vous m'indiquer vos horaires d'ouverture au public, s'il vous plaît ?"
max_ring_seconds = 60
max_call_seconds = 180
record = {record}
"""


# -- the directory ----------------------------------------------------------------------------


def departements() -> list[tuple[str, str]]:
    """(département, number prefix) for every département the directory covers."""
    out = []
    for code, territory in TERRITORIES.items():
        if code in OVERSEAS:
            out.append((code, OVERSEAS[code]))
        elif territory.region in ZONES:
            out.append((code, ZONES[territory.region]))
    return out


def write_directory(path: Path, count: int, rng: random.Random) -> None:
    """A structures CSV of ``count`` fictional counters spread over every département."""
    places = departements()
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["official_id", "name", "kind", "departement", "population", "phone", "email",
             "opening_hours"]
        )  # fmt: skip
        for n in range(count):
            departement, prefix = places[n % len(places)]
            rank, serial = n % len(places), n // len(places)  # together they give n back
            if len(prefix) == 4:  # overseas: 0262 + 00 + four digits
                digits = f"00{serial:04d}"
                national = f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]}"
            else:  # 0X + eight digits
                digits = f"{rank + 200:03d}{serial:05d}"
                national = f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:6]} {digits[6:]}"
            writer.writerow(
                [
                    f"NAT{n:06d}",
                    f"Guichet {n}",
                    rng.choice(KINDS),
                    departement,
                    rng.randrange(200, 300_000),
                    national,
                    f"accueil{n}@national-exemple.fr",
                    rng.choice(HOURS),
                ]
            )


def weekly_open_hours() -> float:
    """The directory's mean opening hours per week (its patterns in equal shares)."""
    minutes = [
        sum(end - start for day in parse_opening_hours(hours).weekly for start, end in day)
        for hours in HOURS
    ]
    return sum(minutes) / len(minutes) / 60


# -- the bench clock ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchClock:
    """The daemons' "now": bench time (POSIX seconds) in shared memory, which the bench's
    :class:`ClockDriver` moves on; every process reads the same instant."""

    seconds: Any  # a multiprocessing Value("d")

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.seconds.value, UTC)


class ClockDriver:
    """Moves bench time through the busy quarter-hours ``buckets`` (their starts, sorted) at
    ``speed`` times real time, jumping over the quarter-hours with nothing planned (nights,
    weekends); past the last one, on at the same speed. While more than ``backlog`` probes are
    due and not yet carried out, it slows to real time: the daemons get the time they need
    instead of seeing their probes' slots pass (a probe whose structure has closed meanwhile is
    rescheduled to its next opening, as in production; a clock far ahead of the daemons would
    turn the bench into rescheduling)."""

    def __init__(
        self, buckets: list[datetime], speed: float, backlog: int, clock: BenchClock
    ) -> None:
        self.buckets = buckets
        self.speed = speed
        self.backlog = backlog
        self.clock = clock
        self.index = 0
        self.offset_s = 0.0
        self.slowed_s = 0.0
        self.stopped_at: datetime | None = None
        clock.seconds.value = buckets[0].timestamp()

    def stop(self) -> None:
        """Note the instant the wave is paused (``--carry-out-s``); bench time goes on, so that
        what the daemons hold (paced calls, replies) carries on."""
        self.stopped_at = self.clock()

    def advance(self, real_s: float, due: int) -> None:
        """Move bench time on after ``real_s`` real seconds with ``due`` probes waiting."""
        if due > self.backlog:
            self.slowed_s += real_s
            self.offset_s += real_s
        else:
            self.offset_s += real_s * self.speed
        while self.index + 1 < len(self.buckets) and self.offset_s >= BUCKET_S:
            self.index += 1
            self.offset_s -= BUCKET_S
        instant = self.buckets[self.index] + timedelta(seconds=self.offset_s)
        self.clock.seconds.value = instant.timestamp()

    def real_seconds(self) -> float:
        """How long bench time takes to run through every busy quarter-hour at full speed."""
        return len(self.buckets) * BUCKET_S / self.speed


class BackendCpu:
    """The CPU seconds of the PostgreSQL server's processes working for this database (its
    connections, autovacuum), read from /proc at each :meth:`sample`; a process that ends keeps
    the figure it had at the last sample."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: dict[int, float] = {}

    def sample(self) -> None:
        with self.engine.connect() as connection:
            pids = connection.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            ).scalars()
            for pid in pids:
                with contextlib.suppress(OSError):
                    self.seen[pid] = max(self.seen.get(pid, 0.0), process_cpu_s(pid))

    def cpu_s(self) -> float:
        return sum(self.seen.values())


class StandInAutovacuum:
    """``ANALYZE`` every ``ANALYZE_EVERY_S`` when the server runs no autovacuum (production
    servers do, by default): the attempts, events and outbox rows a wave writes would otherwise
    keep the statistics of empty tables, and the bench would measure the planner's guesses."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with engine.connect() as connection:
            self.needed = connection.exec_driver_sql("SHOW autovacuum").scalar_one() == "off"
        self.last = time.monotonic()
        if self.needed:
            print(
                f"autovacuum             off on this server: the bench analyses the database every"
                f" {ANALYZE_EVERY_S:.0f} s in its stead"
            )

    def tick(self) -> None:
        if self.needed and time.monotonic() - self.last >= ANALYZE_EVERY_S:
            self.last = time.monotonic()
            with self.engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
                connection.commit()


def due_now(engine: Engine, now: datetime) -> int:
    """Probes due by ``now`` and not settled: planned and late, or being carried out."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(*) FROM probe WHERE (state = 'planned' AND scheduled_at <= :now)"
                    " OR state IN ('dispatching', 'in_progress')"
                ),
                {"now": now},
            ).scalar_one()
        )


def _aware(value: datetime | str) -> datetime:
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def busy_buckets(engine: Engine) -> list[datetime]:
    """The starts of the quarter-hours holding at least one planned probe."""
    with Session(engine) as session:
        instants = [
            _aware(value)
            for value in session.execute(text("SELECT scheduled_at FROM probe")).scalars()
        ]
    starts = {
        instant - timedelta(seconds=instant.timestamp() % BUCKET_S, microseconds=0)
        for instant in instants
    }
    return sorted(starts)


# -- the daemons --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DaemonPlan:
    """What one daemon process needs."""

    name: str
    settings: Settings
    clock: BenchClock
    watch_mail: bool


@dataclass(frozen=True)
class DaemonUsage:
    """What one daemon process used."""

    name: str
    cpu_s: float
    peak_mib: float


def run_daemon(plan: DaemonPlan, stop: Any, usage: Any) -> None:
    """A daemon process: runs until ``stop`` (a multiprocessing Event) is set."""
    # A tick that outlasts the next one is skipped with a warning each time: under a national
    # wave's load, thousands of lines saying the same thing.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    engine = make_engine(plan.settings.database_url)
    options = DaemonOptions(
        daemon_id=plan.name,
        clock=plan.clock,
        tick_s=0.2,
        # In bench time, which runs thousands of times faster and jumps nights: a claim must
        # outlive the jump from one busy quarter-hour to the next.
        lease=timedelta(days=3650),
        retry=RetryPolicy(max_attempts=2, min_delay=timedelta(hours=2)),
        watch_mail=plan.watch_mail,
        drain_s=30,
    )

    async def main() -> None:
        stopping = asyncio.Event()

        async def watch() -> None:
            await asyncio.to_thread(stop.wait)
            stopping.set()

        watcher = asyncio.create_task(watch())
        await Daemon(Project(settings=plan.settings, engine=engine), options).run(stopping)
        await watcher

    asyncio.run(main())
    engine.dispose()
    rusage = resource.getrusage(resource.RUSAGE_SELF)
    usage.put(DaemonUsage(plan.name, rusage.ru_utime + rusage.ru_stime, rusage.ru_maxrss / 1024))


# -- the outside world --------------------------------------------------------------------------


@dataclass
class World:
    """The sandbox (its own process: calls and the structures' mailboxes) and the operators'
    mail provider (Dovecot, and an SMTP server delivering to it, in this process)."""

    sandbox_url: str
    sandbox: subprocess.Popen[bytes]
    call_truth: Path
    mail_truth: Path
    imap: ImapSettings
    smtp: SmtpSettings
    account: Account

    def cpu_s(self) -> float:
        """The sandbox process's CPU seconds so far (user + system)."""
        return process_cpu_s(self.sandbox.pid)


def process_cpu_s(pid: int) -> float:
    """A live process's CPU seconds (user + system), from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for_port(port: int, what: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(400):
        if process.poll() is not None:
            raise SystemExit(f"the sandbox stopped as it started (status {process.returncode})")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise SystemExit(f"the sandbox's {what} did not listen on port {port}")


@contextlib.contextmanager
def outside_world(folder: Path) -> Iterator[World]:
    """Dovecot, its SMTP server, and ``python -m sandbox`` living ``WORLD`` on free ports."""
    account = Account(sid=ACCOUNT_SID, auth_token=secrets.token_hex(16))
    password = secrets.token_hex(8)
    world_file = folder / "world.toml"
    world_file.write_text(WORLD, encoding="utf-8")
    with contextlib.ExitStack() as stack:
        dovecot = stack.enter_context(Dovecot())
        dovecot.add_user(MAILBOX, password)
        relay_port = free_port()
        controller = Controller(DovecotDelivery(dovecot), hostname="127.0.0.1", port=relay_port)
        controller.start()
        stack.callback(controller.stop)
        api_port, smtp_port = free_port(), free_port()
        call_truth, mail_truth = folder / "truth-calls.jsonl", folder / "truth-mail.jsonl"
        sandbox = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [
                sys.executable, "-m", "sandbox", "--port", str(api_port),
                "--account-sid", account.sid, "--auth-token", account.auth_token,
                "--world", str(world_file), "--time-scale", str(TIME_SCALE),
                "--calls-per-second", "1000", "--truth", str(call_truth), "--price-delay-s", "0",
                "--smtp-port", str(smtp_port), "--mail-world", str(world_file),
                "--relay-port", str(relay_port), "--mail-truth", str(mail_truth),
                "--no-access-log",
            ],
        )  # fmt: skip

        def stop_sandbox() -> None:
            sandbox.terminate()
            try:
                sandbox.wait(timeout=60)
            except subprocess.TimeoutExpired:
                sandbox.kill()
                sandbox.wait()

        stack.callback(stop_sandbox)
        _wait_for_port(api_port, "API", sandbox)
        _wait_for_port(smtp_port, "SMTP server", sandbox)
        yield World(
            sandbox_url=f"http://127.0.0.1:{api_port}",
            sandbox=sandbox,
            call_truth=call_truth,
            mail_truth=mail_truth,
            imap=ImapSettings(
                host=dovecot.host,
                port=dovecot.port,
                username=MAILBOX,
                password=SecretStr(password),
                poll_interval_s=2,
            ),
            smtp=SmtpSettings(host="127.0.0.1", port=smtp_port),
            account=account,
        )


# -- the bench ----------------------------------------------------------------------------------


@dataclass
class Prepared:
    settings: Settings
    engine: Engine
    probes: int
    import_s: float
    plan_s: float
    shortfalls: int
    empty_size: int  # bytes of the database with the schema and nothing else
    planned_size: int  # bytes once the directory is imported and the wave planned


def prepare(
    folder: Path, database_url: str, structures: int, seed: int, *, record: bool
) -> Prepared:
    """A project on ``database_url`` with the directory imported and the wave planned."""
    write_starter_files(folder)
    (folder / "scenarios" / f"{PHONE_SCENARIO}.toml").write_text(
        PHONE_SCENARIO_TOML.format(record=str(record).lower()), encoding="utf-8"
    )
    settings = load_settings(folder / "prober.toml").model_copy(
        update={"database_url": database_url}
    )
    engine = make_engine(database_url)
    upgrade(engine)
    empty_size = _database_size(engine)
    project = Project(settings=settings, engine=engine)
    directory = folder / "directory.csv"
    write_directory(directory, structures, random.Random(seed))
    started = time.perf_counter()
    import_structures(project, directory)
    import_s = time.perf_counter() - started
    starts = date.today() + timedelta(days=1)
    with project.session() as session:
        define_wave(
            session,
            settings,
            WaveSpec(
                name=WAVE,
                starts_on=starts,
                ends_on=starts + timedelta(weeks=6),
                channels=("phone", "email"),
                panel={},
                calls_per_structure=CALLS,
                emails_per_structure=EMAILS,
                off_hours_calls=0,
                personas=(PERSONA,),
                scenarios={"phone": [PHONE_SCENARIO]},
            ),
        )
    started = time.perf_counter()
    with project.session() as session:
        plan = plan_stored_wave(
            session, WAVE, seed=seed, max_wave_days=settings.planning.max_wave_days
        )
    plan_s = time.perf_counter() - started
    return Prepared(
        settings,
        engine,
        plan.probes,
        import_s,
        plan_s,
        len(plan.shortfalls),
        empty_size,
        _database_size(engine),
    )


def daemon_settings(base: Settings, world: World, rate: float) -> Settings:
    web_port = free_port()
    return base.model_copy(
        update={
            "twilio": TwilioSettings(
                account_sid=world.account.sid,
                auth_token=SecretStr(world.account.auth_token),
                api_base_url=world.sandbox_url,
                webhook_base_url=f"http://127.0.0.1:{web_port}",
                calls_per_second=rate,
                time_scale=TIME_SCALE,
            ),
            "web": WebSettings(host="127.0.0.1", port=web_port),
            "workspace": WorkspaceSettings(host="127.0.0.1", port=free_port()),
            "imap": world.imap,
            "smtp": world.smtp,
        }
    )


def settled(engine: Engine) -> tuple[int, str]:
    with engine.connect() as connection:
        done = connection.execute(
            text("SELECT count(*) FROM probe WHERE state IN ('done', 'failed')")
        ).scalar_one()
        status = connection.execute(
            text("SELECT status FROM wave WHERE name = :name"), {"name": WAVE}
        ).scalar_one()
    return int(done), str(status)


def run(arguments: argparse.Namespace) -> None:
    print(f"machine                {machine()}")
    with (
        tempfile.TemporaryDirectory() as temporary,
        throwaway_postgres(arguments.database_url, "bench_national") as database_url,
    ):
        folder = Path(temporary)
        prepared = prepare(
            folder, database_url, arguments.structures, arguments.seed, record=arguments.record
        )
        engine = prepared.engine
        print(
            f"directory              {arguments.structures} structures in"
            f" {len(departements())} départements, imported in {prepared.import_s:.1f} s"
        )
        print(
            f"wave planned           {prepared.probes} probes ({CALLS} calls + {EMAILS} email"
            f" each, {prepared.shortfalls} shortfalls) in {prepared.plan_s:.1f} s"
        )
        if arguments.plan_only:
            planned_only(arguments, prepared)
            return
        buckets = busy_buckets(engine)
        speed = len(buckets) * BUCKET_S / (prepared.probes / arguments.rate)
        with engine.begin() as connection:
            connection.execute(text("UPDATE wave SET status = 'running'"))
        context = multiprocessing.get_context("spawn")
        clock = BenchClock(context.Value("d", 0.0))
        driver = ClockDriver(buckets, speed, backlog=int(arguments.rate * 5), clock=clock)
        print(
            f"bench clock            {len(buckets)} busy quarter-hours at {speed:,.0f}× real"
            f" time: {driver.real_seconds():.0f} s for the planned wave at full speed"
        )
        with outside_world(folder) as world:
            stop, usage = context.Event(), context.Queue()
            processes = [
                context.Process(
                    target=run_daemon,
                    args=(
                        DaemonPlan(
                            name,
                            daemon_settings(prepared.settings, world, arguments.rate / 2),
                            clock,
                            watch_mail=name == "a",
                        ),
                        stop,
                        usage,
                    ),
                    name=f"daemon-{name}",
                )
                for name in ("a", "b")
            ]
            started = time.monotonic()
            for process in processes:
                process.start()
            backends = BackendCpu(engine)
            try:
                deadline = (
                    started + (arguments.carry_out_s or driver.real_seconds()) + arguments.grace
                )
                follow(engine, prepared.probes, processes, driver, backends, deadline, arguments)
                wall_s = time.monotonic() - started
                replies_sent = _await_replies(world, engine, driver, deadline)
                backends.sample()
                sandbox_cpu_s = world.cpu_s()
                stop.set()
                usages = [usage.get(timeout=120) for _ in processes]
            finally:
                stop.set()
                for process in processes:
                    process.join(timeout=120)
                    if process.is_alive():
                        process.terminate()
            print(f"bench clock slowed     {driver.slowed_s:.0f} s of {wall_s:.0f} s (backlog)")
        call_truth = read_truth(world.call_truth) if world.call_truth.exists() else []
        mail_truth = read_mail_truth(world.mail_truth) if world.mail_truth.exists() else []
        report(arguments, engine, prepared, wall_s, usages, sandbox_cpu_s, backends.cpu_s())
        problems = check(
            engine, prepared.probes, call_truth, mail_truth, replies_sent, driver.stopped_at
        )
        engine.dispose()
        if problems:
            raise SystemExit("FAILED: " + "; ".join(problems))


def follow(
    engine: Engine,
    probes: int,
    processes: list[Any],
    driver: ClockDriver,
    backends: BackendCpu,
    deadline: float,
    arguments: argparse.Namespace,
) -> None:
    """Move the bench clock on until every probe settled and the wave is done, or, with
    ``--carry-out-s``, until that many seconds have passed: the wave is then paused (nothing
    more is claimed) and what the daemons hold is let settle. Gives up at ``deadline``; prints
    the progress."""
    started = shown = moved = time.monotonic()
    stop_at = started + arguments.carry_out_s if arguments.carry_out_s else math.inf
    autovacuum = StandInAutovacuum(engine)
    while True:
        done, status = settled(engine)
        if done == probes and status == WaveStatus.DONE:
            return
        now = time.monotonic()
        if driver.stopped_at is None and now >= stop_at:
            driver.stop()
            with engine.begin() as connection:
                connection.execute(text("UPDATE wave SET status = 'paused'"))
            print(f"  … wave paused at {driver.clock().isoformat()}: settling what is under way")
        if driver.stopped_at is not None and under_way(engine) == 0:
            return
        for process in processes:
            if not process.is_alive():
                raise SystemExit(f"{process.name} stopped (status {process.exitcode})")
        if now > deadline:  # figures anyway; the check says why
            print(f"  … gave up waiting: {done}/{probes} settled")
            return
        if now - shown > arguments.progress_s:
            shown = now
            print(f"  … {done}/{probes} settled after {shown - started:.0f} s", flush=True)
            backends.sample()
        autovacuum.tick()
        time.sleep(POLL_S)
        now = time.monotonic()
        due = due_now(engine, driver.clock()) if driver.stopped_at is None else 0
        driver.advance(now - moved, due)
        moved = now


def under_way(engine: Engine) -> int:
    """Probes claimed or being carried out."""
    with engine.connect() as connection:
        query = "SELECT count(*) FROM probe WHERE state IN ('dispatching', 'in_progress')"
        return int(connection.execute(text(query)).scalar_one())


def _await_replies(world: World, engine: Engine, driver: ClockDriver, deadline: float) -> set[str]:
    """Wait for the replies still on their way (the sandbox's delay: every mailbox answers
    every email) to be sent and stored; their ids."""
    replies_sent = _human_replies(world)
    while len(replies_sent) < _emails_sent(engine) and time.monotonic() < deadline:
        driver.advance(0.5, 0)
        time.sleep(0.5)
        replies_sent = _human_replies(world)
    while _replies_stored(engine) < len(replies_sent) and time.monotonic() < deadline:
        time.sleep(0.5)
    return replies_sent


def _human_replies(world: World) -> set[str]:
    return {
        entry["message_id"]
        for entry in (read_mail_truth(world.mail_truth) if world.mail_truth.exists() else [])
        if entry["kind"] == "human_reply" and entry["message_id"]
    }


def _emails_sent(engine: Engine) -> int:
    with engine.connect() as connection:
        query = text("SELECT count(*) FROM probe WHERE channel = 'email' AND state = 'done'")
        return int(connection.execute(query).scalar_one())


def _replies_stored(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(Reply)).scalar_one())


def check(
    engine: Engine,
    probes: int,
    call_truth: list[Any],
    mail_truth: list[Any],
    replies_sent: set[str],
    stopped_at: datetime | None,
) -> list[str]:
    """Against the sandbox's truth: nothing lost, nobody contacted more than planned; what
    is wrong. With the wave paused at ``stopped_at``, the probes never claimed stay planned."""
    with Session(engine) as session:
        states = Counter(session.execute(text("SELECT state FROM probe")).scalars())
        status = session.execute(text("SELECT status FROM wave")).scalar_one()
        rows = session.execute(
            text(
                "SELECT attempt.probe_id, attempt.external_id, attempt.ended_at,"
                " attempt.started_at, probe.structure_id, contactpoint.value FROM attempt"
                " JOIN probe ON probe.id = attempt.probe_id"
                " LEFT JOIN contactpoint ON contactpoint.id = probe.contact_point_id"
            )
        ).all()
        stored_replies = set(session.execute(text("SELECT message_id FROM reply")).scalars())
        events = session.execute(text("SELECT count(*) FROM event")).scalar_one()
        outbox_rows = session.execute(  # alerts are published from the outbox too
            text("SELECT count(*) FROM outboxmessage WHERE event_id IS NOT NULL")
        ).scalar_one()
        unpublished = session.execute(
            text("SELECT count(*) FROM outboxmessage WHERE published_at IS NULL")
        ).scalar_one()
    problems = []
    left = {"planned"} if stopped_at is not None else set()  # never claimed: the wave paused
    if set(states) - {"done", "failed"} - left or sum(states.values()) != probes:
        problems.append(f"probes not settled: {dict(states)}, wave {status}")
    # Every call the sandbox saw is one stored attempt (a retry is an attempt of its own).
    called = Counter(entry["to"] for entry in call_truth)
    attempted = Counter(row[5] for row in rows if row[1] and row[1].startswith("CA"))
    if called != attempted:
        problems.append(f"calls per number differ from attempts: {(called - attempted)}")
    twice_at_once = [entry["to"] for entry in call_truth if entry.get("lines_in_use")]
    if twice_at_once:
        problems.append(f"{len(twice_at_once)} calls to a number already on a call with us")
    retried = sum(1 for count in Counter(row[0] for row in rows).values() if count > 1)
    emails = Counter(e["mailbox"] for e in mail_truth if e["probe_message_id"])
    if emails and max(emails.values()) > EMAILS:
        problems.append(f"mailboxes written to twice: {emails.most_common(3)}")
    placed = {row[1] for row in rows if row[1] and row[1].startswith("CA")}
    if placed != {entry["sid"] for entry in call_truth}:
        problems.append("the calls stored differ from the calls the sandbox placed")
    if any(row[2] is None for row in rows if row[1] and row[1].startswith("CA")):
        problems.append("calls stored without their end")
    if not replies_sent <= stored_replies:
        problems.append(f"{len(replies_sent - stored_replies)} replies sent but not stored")
    if unpublished or outbox_rows != events:
        problems.append(f"outbox: {unpublished} unpublished, {outbox_rows} rows for {events}")
    print(
        f"checked                {sum(states.values())} probes ({dict(states)}, wave {status}),"
        f" {len(call_truth)} calls ({retried} probes retried) and {len(emails)} emails as the"
        " sandbox saw them,"
        f" {len(replies_sent)} replies sent / {len(stored_replies & replies_sent)} stored,"
        f" {events} events all published"
    )
    if not problems:
        print(
            "                       every probe claimed settled, every call an attempt, nobody"
            " called twice at once, every reply stored, no event lost ✓"
        )
    return problems


def report(
    arguments: argparse.Namespace,
    engine: Engine,
    prepared: Prepared,
    wall_s: float,
    usages: list[DaemonUsage],
    sandbox_cpu_s: float,
    postgres_cpu_s: float,
) -> None:
    with Session(engine) as session:
        per_daemon = dict(
            session.execute(
                text(
                    "SELECT probe.claimed_by, count(*) FROM attempt"
                    " JOIN probe ON probe.id = attempt.probe_id GROUP BY probe.claimed_by"
                )
            ).all()
        )
    carried, _ = settled(engine)
    size = _database_size(engine)
    print(
        f"wall time              {wall_s:.0f} s to carry out {carried} of the {prepared.probes}"
        f" probes ({carried / wall_s:.1f} probes/s)"
    )
    for used in sorted(usages, key=lambda used: used.name):
        attempts = per_daemon.get(used.name, 0)
        print(
            f"daemon {used.name}               {attempts} attempts, {attempts / wall_s:.1f}"
            f" probes/s, CPU {used.cpu_s:.0f} s ({used.cpu_s / max(attempts, 1) * 1000:.1f} ms"
            f" per probe), peak memory {used.peak_mib:.0f} MiB"
        )
    print(
        f"PostgreSQL CPU         {postgres_cpu_s:.0f} s"
        f" ({postgres_cpu_s / carried * 1000:.1f} ms per probe; the server's processes for this"
        " database)"
    )
    print(
        f"sandbox CPU            {sandbox_cpu_s:.0f} s ({sandbox_cpu_s / carried * 1000:.1f} ms"
        " per probe; its process: calls, mailboxes)"
    )
    total_s = sum(used.cpu_s for used in usages) + postgres_cpu_s + sandbox_cpu_s
    print(
        f"all CPU                {total_s:.0f} s, {total_s / carried * 1000:.1f} ms per probe"
        f" ({total_s / wall_s:.2f} CPUs busy on average)"
    )
    print(
        f"database size          {size / 2**20:.0f} MiB: planning took"
        f" {(prepared.planned_size - prepared.empty_size) / prepared.probes * 1000 / 2**20:.2f}"
        " MiB per 1,000 probes planned, carrying out"
        f" {(size - prepared.planned_size) / carried * 1000 / 2**20:.1f} MiB per 1,000 probes"
        " carried out"
    )
    if carried < prepared.probes:
        print(
            f"whole wave             {prepared.probes} probes, extrapolated (not measured):"
            f" at this run's rate {prepared.probes / (carried / wall_s) / 3600:.1f} h;"
            " at its CPU per probe"
            f" {prepared.probes * total_s / carried / 3600:.1f} CPU-hours"
        )
    real_wave(arguments.account_cps)


def planned_only(arguments: argparse.Namespace, prepared: Prepared) -> None:
    """``--plan-only``: the planned wave's database size and the real wave's figures."""
    size = _database_size(prepared.engine)
    print(
        f"database size          {size / 2**20:.0f} MiB planned,"
        f" {(size - prepared.empty_size) / prepared.probes * 1000 / 2**20:.2f} MiB per 1,000"
        " planned probes (the empty schema's size apart)"
    )
    real_wave(arguments.account_cps)
    prepared.engine.dispose()


def _database_size(engine: Engine) -> int:
    with engine.connect() as connection:
        query = text("SELECT pg_database_size(current_database())")
        return int(connection.execute(query).scalar_one())


def real_wave(account_cps: float) -> None:
    """What a real national wave needs, in days of opening hours, at 1 call/s and at ours."""
    calls = 63_000 * CALLS
    hours = weekly_open_hours() / 5  # per working day, the patterns' mean
    print(
        f"a real national wave   63,000 structures: {calls:,} calls; the directory's counters"
        f" open {hours:.1f} h per working day on average"
    )
    for label, cps in (("Twilio's default", 1.0), ("this account's", account_cps)):
        days = calls / cps / 3600 / hours
        print(
            f"  at {label} {cps:g} call/s: {calls / cps / 3600:,.1f} h of dialling ="
            f" {days:.1f} working days of opening hours"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--structures", type=int, default=63_000)
    parser.add_argument("--rate", type=float, default=30.0, help="probes per second asked")
    parser.add_argument("--account-cps", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--record",
        action="store_true",
        help="record every call (the sandbox renders it, the daemons analyse it: bench/audio.py)",
    )
    parser.add_argument(
        "--plan-only", action="store_true", help="import and plan, print, stop (no daemons)"
    )
    parser.add_argument("--grace", type=float, default=600.0, help="seconds past the plan")
    parser.add_argument(
        "--progress-s", type=float, default=30.0, help="seconds between progress lines"
    )
    parser.add_argument(
        "--carry-out-s",
        type=float,
        help="stop the bench clock after this many seconds of carrying out, let what is due"
        " settle, check it (the rest stays planned)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "PROBER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL server where a throw-away database can be created",
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
