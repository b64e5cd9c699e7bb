"""Benchmark: the dispatcher's lag at 20 calls per second, 2,000 structures × 3 calls.

Goal (issue 18): p99 dispatch lag under 1 s at 20 calls per second.

The sandbox (the outside world: Twilio's API, callers, switchboards) runs in its own process on
the other core, with time compressed (``--time-scale``: a 60-second call lasts 3 s); prober's
daemon (``prober.runtime.daemon.Daemon``: dispatcher, webhooks, event bus, on SQLite unless
``--database-url``) runs in this process, on one core. Every structure is open (``24/7``); its
three calls are planned ``structures / rate`` seconds apart, and the planned instants of all
calls are ``1 / rate`` apart, so the wave asks for exactly ``--rate`` calls per second.

Dispatch lag is the attempt's start (written just before Twilio's API is asked to place the
call) minus the probe's planned instant (``scheduled_at``).

    python bench/dispatch.py [--structures 2000] [--rate 20] [--time-scale 0.05]
                             [--database-url postgresql://...] [--tick 1.0]

Prints: calls placed and settled, dispatch lag p50/p99/max, calls per second, prober's CPU
seconds (and the sandbox's), peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine, bindparam, text, update
from sqlmodel import Session

from config.settings import (
    DispatchSettings,
    Settings,
    TwilioSettings,
    WebSettings,
    WorkspaceSettings,
)
from prober.project import Project
from prober.runtime.daemon import Daemon, DaemonOptions
from storage.db import make_engine, upgrade
from storage.models import Channel, Probe, WaveStatus
from tests.support.phone_scene import ACCOUNT, CALLER_ID, phone_scenario
from tests.support.seeding import add_persona, add_probe, add_scenario, add_structure, add_wave

sys.path.insert(0, str(Path(__file__).parent))
from phone_calls import free_port, sandbox_process

CALLS_PER_STRUCTURE = 3
# Answered, a short exchange, then the structure hangs up: 40 s of compressed call each.
WORLD = """
[default]
rings = 2
answer = "human"
greeting = "Mairie, bonjour."
hangup_after_s = 30
"""
SCENARIO = phone_scenario("ask", max_ring_seconds=60, max_call_seconds=120)
START_MARGIN_S = 5.0  # between the daemon's start and the first planned call


def machine() -> str:
    """``nproc``, CPU model and RAM of this machine, for the record."""
    model = platform.processor() or "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return f"{os.cpu_count()} CPUs ({model}), {pages / 2**30:.1f} GiB RAM"


def seed(engine: Engine, structures: int) -> list[uuid.UUID]:
    """A running wave of ``structures`` open structures with three calls each; probe ids in
    planned order (round by round)."""
    with Session(engine) as session:
        add_persona(session, "camille", display_name="Camille Martin", caller_id=CALLER_ID)
        add_scenario(session, "ask", "phone", definition=SCENARIO)
        wave_id = add_wave(
            session,
            "bench-dispatch",
            starts_on=date(2026, 1, 1),
            ends_on=date(2030, 12, 31),
            channels=["phone"],
            status=WaveStatus.PLANNED,
            parameters={
                "catalogue": {
                    "scenarios": {"ask": SCENARIO},
                    "personas": {
                        "camille": {
                            "id": "camille",
                            "display_name": "Camille Martin",
                            "caller_id": CALLER_ID,
                        }
                    },
                }
            },
        )
        ids = [
            add_structure(
                session, f"bench-{index:05d}", name=f"Mairie {index}", opening_hours="24/7"
            )
            for index in range(structures)
        ]
        far = datetime(2030, 1, 1, tzinfo=UTC)
        probes = [
            add_probe(
                session,
                wave_id=wave_id,
                structure_id=structure_id,
                channel=Channel.PHONE,
                scenario_id="ask",
                persona_id="camille",
                scheduled_at=far,
                contact=f"+3314{round_ * structures + index:08d}",
            )
            for round_ in range(CALLS_PER_STRUCTURE)
            for index, structure_id in enumerate(ids)
        ]
        session.commit()
    return probes


def plan_from(engine: Engine, probes: list[uuid.UUID], start: datetime, rate: float) -> None:
    """Probe ``i`` at ``start + i / rate``; the wave runs."""
    table = Probe.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(
            update(table)
            .where(table.c.id == bindparam("probe", type_=table.c.id.type))
            .values(scheduled_at=bindparam("at", type_=table.c.scheduled_at.type)),
            [
                {"probe": probe, "at": start + timedelta(seconds=index / rate)}
                for index, probe in enumerate(probes)
            ],
        )
        connection.execute(text("UPDATE wave SET status = 'running'"))


def lags(engine: Engine) -> list[tuple[float, float]]:
    """(started, lag) in seconds of every first attempt: started as a POSIX time."""
    with Session(engine) as session:
        rows = session.execute(
            text(
                "SELECT attempt.started_at, probe.scheduled_at FROM attempt"
                " JOIN probe ON probe.id = attempt.probe_id WHERE attempt.number = 1"
            )
        ).all()
    out = []
    for started, planned in rows:
        started_at = _aware(started)
        out.append((started_at.timestamp(), (started_at - _aware(planned)).total_seconds()))
    return out


def _aware(value: datetime | str) -> datetime:
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def settled(engine: Engine) -> int:
    with engine.connect() as connection:
        query = text("SELECT count(*) FROM probe WHERE state IN ('done', 'failed')")
        return int(connection.execute(query).scalar_one())


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def run(arguments: argparse.Namespace, folder: Path) -> None:
    url = arguments.database_url or f"sqlite:///{folder / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    structures: int = arguments.structures
    seeded_at = time.monotonic()
    probes = seed(engine, structures)
    print(
        f"seeded                 {structures} structures, {len(probes)} calls"
        f" in {time.monotonic() - seeded_at:.1f} s"
    )
    web_port = free_port()
    settings = Settings(
        database_url=url,
        twilio=TwilioSettings(
            account_sid=ACCOUNT.sid,
            auth_token=SecretStr(ACCOUNT.auth_token),
            api_base_url="",
            webhook_base_url=f"http://127.0.0.1:{web_port}",
            calls_per_second=arguments.rate,
            time_scale=arguments.time_scale,
        ),
        web=WebSettings(port=web_port),
        workspace=WorkspaceSettings(port=free_port()),
        dispatch=DispatchSettings(tick_seconds=arguments.tick),
        base_dir=folder,
        recordings_dir=folder / "recordings",
    )
    with sandbox_process(folder, arguments.time_scale, world=WORLD) as sandbox_url:
        settings.twilio.api_base_url = sandbox_url
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # prober on one core
        options = DaemonOptions.from_settings(settings.dispatch)
        options.watch_mail = False
        daemon = Daemon(Project(settings=settings, engine=engine), options)
        stop = asyncio.Event()
        cpu_before = time.process_time()
        running = asyncio.create_task(daemon.run(stop))
        start = datetime.now(UTC) + timedelta(seconds=START_MARGIN_S)
        await asyncio.to_thread(plan_from, engine, probes, start, arguments.rate)
        deadline = time.monotonic() + START_MARGIN_S + len(probes) / arguments.rate + 600
        while (done := await asyncio.to_thread(settled, engine)) < len(probes):
            if running.done():
                await running  # raises the daemon's error
                raise SystemExit("the daemon stopped before the wave ended")
            if time.monotonic() > deadline:
                raise SystemExit(f"gave up: {done}/{len(probes)} calls settled after 10 minutes")
            await asyncio.sleep(1.0)
        stop.set()
        await running
        cpu_s = time.process_time() - cpu_before
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    samples = lags(engine)
    lag_s = [lag for _, lag in samples]
    starts = sorted(started for started, _ in samples)
    span_s = starts[-1] - starts[0]
    print(f"machine                {machine()}")
    print(f"calls placed           {len(samples)} of {len(probes)}, all settled")
    print(
        f"dispatch lag           p50 {statistics.median(lag_s) * 1000:.0f} ms,"
        f" p99 {percentile(lag_s, 0.99) * 1000:.0f} ms, max {max(lag_s) * 1000:.0f} ms"
        f"  [goal p99 < 1000 ms]"
    )
    print(
        f"calls per second       {(len(starts) - 1) / span_s:.2f} (asked {arguments.rate:g};"
        f" first to last start, {span_s:.1f} s)"
    )
    print(
        f"CPU seconds            prober {cpu_s:.1f} s ({cpu_s / len(samples) * 1000:.1f} ms per"
        f" call), sandbox {children.ru_utime + children.ru_stime:.1f} s"
    )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (prober)   {peak_mib:.0f} MiB")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--structures", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=20.0, help="calls per second asked")
    parser.add_argument("--time-scale", type=float, default=0.05)
    parser.add_argument("--tick", type=float, default=DispatchSettings().tick_seconds)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp folder")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(arguments, Path(folder)))


if __name__ == "__main__":
    main()
