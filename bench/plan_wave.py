"""Benchmark: import a synthetic panel of 35,000 structures and plan 3 calls + 2 emails each.

Goal (issue 2): planning under 20 s and under 1 GB peak memory, on one core, with SQLite.
Runs the same code as ``prober structures import`` and ``prober wave plan``; prints the figures.
With ``--database-url postgresql://…`` it runs on a throw-away database of that server, dropped
afterwards.

    python bench/plan_wave.py [--structures 35000] [--seed 1] [--database-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import random
import resource
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from config.settings import load_settings
from prober.project import Project
from prober.project.importing import import_structures
from prober.project.starter import write_starter_files
from scheduler.waves import WaveSpec, define_wave, plan_stored_wave
from storage.db import make_engine, normalise_database_url, upgrade

# (département, phone prefix) pairs: metropolitan, Alsace-Moselle and overseas.
TERRITORIES = [
    ("77", "01 64"), ("75", "01 53"), ("69", "04 78"), ("13", "04 42"), ("33", "05 56"),
    ("29", "02 98"), ("59", "03 20"), ("57", "03 87"), ("67", "03 88"), ("68", "03 89"),
    ("2A", "04 95"), ("974", "0262"), ("971", "0590"), ("972", "0596"), ("973", "0594"),
    ("976", "0269"),
]  # fmt: skip
HOURS = [
    "Mo-Fr 08:30-12:00,13:30-17:30",
    "Mo-Fr 08:30-12:00,13:30-17:00; Sa 09:00-12:00",
    "Mo,Tu,Th,Fr 09:00-12:00,14:00-17:00; We 09:00-12:00",
    "Mo-Fr 08:00-18:00",
    "Tu,Th 09:00-12:00; Sa 09:00-11:30",
    "Mo-Th 07:30-12:00,13:00-16:00; Fr 07:30-11:30",
]
KINDS = ["mairie"] * 8 + ["epci", "cg", "cpam", "caf"]


def write_panel(path: Path, count: int, rng: random.Random) -> None:
    """A structures CSV of ``count`` fictional rows in the documented format."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["official_id", "name", "kind", "departement", "population", "phone", "email",
             "opening_hours"]
        )  # fmt: skip
        for n in range(count):
            departement, prefix = TERRITORIES[n % len(TERRITORIES)]
            digits = f"{n % 1_000_000:06d}"
            national = f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]}"
            if len(prefix) == 4:  # overseas: 0262 + six digits
                national = f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]}"
            writer.writerow(
                [
                    f"BENCH{n:06d}",
                    f"Structure {n}",
                    rng.choice(KINDS),
                    departement,
                    rng.randrange(200, 300_000),
                    national,
                    f"accueil{n}@bench-exemple.fr",
                    rng.choice(HOURS),
                ]
            )


@contextlib.contextmanager
def throwaway_database(server_url: str | None) -> Iterator[str | None]:
    """A new database on ``server_url``'s PostgreSQL server, dropped afterwards; its URL.

    ``None`` (the project's SQLite file) and SQLite URLs are passed through.
    """
    if server_url is None or server_url.startswith("sqlite"):
        yield server_url
        return
    with throwaway_postgres(server_url, "bench_plan_wave") as url:
        yield url


@contextlib.contextmanager
def throwaway_postgres(server_url: str, prefix: str) -> Iterator[str]:
    """A new database ``<prefix>_<random>`` on ``server_url``'s PostgreSQL server, dropped
    afterwards (whoever is still connected); its URL."""
    server_url = normalise_database_url(server_url)
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=35_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url",
        help="postgresql://… of a server to run on (a throw-away database); default: SQLite",
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    with (
        tempfile.TemporaryDirectory() as folder,
        throwaway_database(args.database_url) as database_url,
    ):
        root = Path(folder)
        write_starter_files(root)
        settings = load_settings(root / "prober.toml")
        if database_url is not None:
            settings = settings.model_copy(update={"database_url": database_url})
        engine = make_engine(settings.effective_database_url)
        upgrade(engine)
        project = Project(settings=settings, engine=engine)
        panel = root / "panel.csv"
        write_panel(panel, args.structures, random.Random(args.seed))

        started = time.perf_counter()
        report = import_structures(project, panel)
        imported = time.perf_counter() - started

        with project.session() as session:
            define_wave(
                session,
                settings,
                WaveSpec(
                    name="bench",
                    starts_on=date(2027, 1, 4),
                    ends_on=date(2027, 3, 26),
                    channels=("phone", "email"),
                    panel={},
                    calls_per_structure=3,
                    emails_per_structure=2,
                ),
            )
        started = time.perf_counter()
        with project.session() as session:
            plan = plan_stored_wave(
                session, "bench", seed=args.seed, max_wave_days=settings.planning.max_wave_days
            )
        planned = time.perf_counter() - started
        engine.dispose()

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"database: {engine.dialect.name}")
    print(f"structures imported: {report.counts.created} in {imported:.1f} s")
    print(
        f"wave planned: {plan.probes} probes for {plan.structures} structures "
        f"({len(plan.shortfalls)} shortfalls) in {planned:.1f} s  [goal < 20 s]"
    )
    print(f"peak memory: {peak_mib:.0f} MiB  [goal < 1024 MiB]")


if __name__ == "__main__":
    main()
