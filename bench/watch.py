"""Benchmark: the daemon's watch (alert rules, budgets) and /metrics over a national wave's rows.

Issue 18: a wave of 63,000 structures (3 calls and 1 email each). This seeds that many
structures, their probes and one ended attempt per probe (a share failed, unanswered, bounced)
straight into SQLite or PostgreSQL, then times what runs every `check_interval_s` in each daemon
(every alert rule, the budget check) and what one Prometheus scrape reads, and the estimate
`prober wave cost` makes of the same wave still to be carried out.

    python bench/watch.py [--structures 63000] [--database-url URL]

Prints the rows seeded, each timing (best of 3) and the peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, func, insert
from sqlmodel import Session, select

from config.settings import Settings
from prober.probes.costs import cost_inputs
from prober.project.database import Database
from prober.runtime.alerts import AlertWatch
from scheduler.costs import CostPolicy, estimate
from storage.db import make_engine, upgrade
from storage.metrics import stored_figures
from storage.models import (
    Alert,
    Attempt,
    ContactPoint,
    Persona,
    Probe,
    Scenario,
    Structure,
    Wave,
)
from storage.waves import get_wave

NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
CHUNK = 5_000


def seed(engine: Engine, structures: int) -> int:
    """Structures, 3 calls and 1 email each, one ended attempt per probe; rows written."""
    rows = 0
    with Session(engine) as session:
        session.add(
            Persona(id="p", display_name="P", caller_id="+33199000001", reply_mailbox="p@x.org")
        )
        session.add(Scenario(id="ask", channel="phone", title="ask"))
        session.add(Scenario(id="write", channel="email", title="write"))
        wave = Wave(
            name="nationale",
            starts_on=date(2027, 3, 1),
            ends_on=date(2027, 4, 30),
            channels=["phone", "email"],
            status="running",
            budget=Decimal("50000"),
            parameters={"catalogue": {"scenarios": {"ask": {"phone": {"max_call_seconds": 300}}}}},
        )
        session.add(wave)
        session.commit()
        wave_id = wave.id
        for start in range(0, structures, CHUNK):
            count = min(CHUNK, structures - start)
            ids = list(range(start + 1, start + count + 1))
            session.execute(
                insert(Structure),
                [
                    {
                        "id": i,
                        "official_id": f"{i:014d}",
                        "name": f"Mairie {i}",
                        "kind": "mairie",
                        "departement": "57",
                        "region": "Grand Est",
                        "timezone": "Europe/Paris",
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for i in ids
                ],
            )
            points, probes, attempts = [], [], []
            for i in ids:
                phone_point, mail_point = 2 * i - 1, 2 * i
                points += [
                    {
                        "id": phone_point,
                        "structure_id": i,
                        "kind": "phone",
                        "value": f"+333{i:08d}",
                    },
                    {"id": mail_point, "structure_id": i, "kind": "email", "value": f"m{i}@x.fr"},
                ]
                for slot, (channel, point, outcome) in enumerate(
                    [
                        ("phone", phone_point, "failed" if i % 50 == 0 else "answered"),
                        ("phone", phone_point, "failed" if i % 50 == 0 else "no-answer"),
                        ("phone", phone_point, "answered"),
                        ("email", mail_point, "bounced" if i % 40 == 0 else "replied"),
                    ]
                ):
                    probe_id = uuid.uuid4()
                    done = slot < 2 or channel == "email"
                    probes.append(
                        {
                            "id": probe_id,
                            "wave_id": wave_id,
                            "structure_id": i,
                            "channel": channel,
                            "scenario_id": "ask" if channel == "phone" else "write",
                            "persona_id": "p",
                            "contact_point_id": point,
                            "slot_index": slot,
                            "slot_kind": "open",
                            "scheduled_at": NOW + timedelta(days=1),
                            "state": "done" if done else "planned",
                            "attempt_count": int(done),
                            "updated_at": NOW,
                        }
                    )
                    if done:
                        attempts.append(
                            {
                                "probe_id": probe_id,
                                "number": 1,
                                "external_id": f"CA{uuid.uuid4().hex}",
                                "started_at": NOW - timedelta(minutes=slot),
                                "ended_at": NOW,
                                "outcome": outcome,
                                "measurement": {"talk_s": 95 if outcome == "answered" else None},
                                "price": Decimal("-0.046") if outcome == "answered" else None,
                            }
                        )
            session.execute(insert(ContactPoint), points)
            session.execute(insert(Probe), probes)
            session.execute(insert(Attempt), attempts)
            session.commit()
            rows += count + len(points) + len(probes) + len(attempts)
    return rows


def best_of(work: object, repeat: int = 3) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            asyncio.run(result)
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=63_000)
    parser.add_argument("--database-url", default="")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = arguments.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        rows = seed(engine, arguments.structures)
        print(
            f"seeded {rows:,} rows ({arguments.structures:,} structures)"
            f" in {time.perf_counter() - started:.1f} s"
        )
        settings = Settings()

        def check() -> object:
            async def run() -> None:
                database = Database(engine)
                try:
                    await AlertWatch(settings, database, phone=None, clock=lambda: NOW).check()
                finally:
                    database.close()

            return run()

        def scrape() -> None:
            with Session(engine) as session:
                stored_figures(session, since=NOW - timedelta(days=1))

        def cost() -> None:
            with Session(engine) as session:
                inputs = cost_inputs(session, get_wave(session, "nationale"))
            estimate(
                inputs.calls,
                per_minute=lambda number: Decimal("0.023"),
                history=inputs.history,
                policy=CostPolicy(
                    settings.costs, machine_detection=True, record_from_ringing=False
                ),
                emails=inputs.emails,
                letters=inputs.letters,
            )

        logging.getLogger("prober").setLevel(logging.ERROR)
        figures = {
            "alert rules and budget check, first round (raising)": best_of(check, repeat=1),
            "alert rules and budget check, next rounds": best_of(check),
            "/metrics scrape (database figures)": best_of(scrape),
            "wave cost estimate (calls left, past calls)": best_of(cost),
        }
        with Session(engine) as session:
            alerts = session.exec(select(func.count()).select_from(Alert)).one()
        for what, seconds in figures.items():
            print(f"{what}: {seconds:.2f} s")
        print(f"alerts raised: {alerts:,}")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory: {peak_mb:.0f} MB")
        engine.dispose()


if __name__ == "__main__":
    main()
