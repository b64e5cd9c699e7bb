"""Trophies: minimum contacts, the tie rules, and `prober trophies` writing CSV and PDF."""

from __future__ import annotations

import csv
import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from config.settings import load_settings
from prober.results.grid import load_grid
from prober.results.published import WaveResults, load_results
from prober.results.scoring.compare import compare
from prober.results.trophies import trophies
from storage.db import session_scope
from storage.models import Score
from tests.support.cli import Run
from tests.support.results_scene import scored_wave

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def scored(prober_cli: Run, database_url: str) -> Iterator[Engine]:
    yield from scored_wave(prober_cli, database_url)


def stored(engine: Engine) -> WaveResults:
    settings = load_settings()
    with session_scope(engine) as session:
        return load_results(session, "pre", load_grid(settings, None), settings.scoring)


def rescored(
    results: WaveResults, figures: dict[int, tuple[float, float, float, int]]
) -> WaveResults:
    """``results`` with the phone scores of some structures replaced by (score, accessibility,
    responsiveness, contacts), the others' phone scores dropped."""
    settings = load_settings()
    rows: list[Score] = []
    for row in results.scores:
        if row.channel != "phone" or row.structure_id not in figures:
            continue
        score, accessibility, responsiveness, contacts = figures[row.structure_id]
        rows.append(
            Score(wave_id=row.wave_id, structure_id=row.structure_id, channel="phone",
                  grid=row.grid, score=score, accessibility=accessibility,
                  responsiveness=responsiveness, sample_size=contacts, details=row.details)
        )  # fmt: skip
    return dataclasses.replace(
        results, scores=rows, comparisons=compare(rows, results.structures, settings.scoring)
    )


def one_group(results: WaveResults, size: int) -> list[int]:
    by_group: dict[str, list[int]] = {}
    for structure_id, group in results.comparisons.group_of.items():
        by_group.setdefault(group, []).append(structure_id)
    largest = sorted(by_group.values(), key=len)[-1]
    return sorted(largest)[:size]


def test_min_contacts_and_ties(scored: Engine) -> None:
    results = stored(scored)
    a, b, c, d, e = one_group(results, 5)
    crafted = rescored(results, {
        a: (80.0, 90.0, 70.0, 6),  # tied with b on score, wins on accessibility
        b: (80.0, 85.0, 99.0, 6),
        c: (95.0, 95.0, 95.0, 2),  # the best score, but too few contacts
        d: (60.0, 50.0, 50.0, 5),  # tied with e on all three: ex aequo
        e: (60.0, 50.0, 50.0, 9),
    })  # fmt: skip
    (podium,) = trophies(crafted, min_contacts=5, top=5)
    assert [(r.structure_id, r.rank, r.ex_aequo) for r in podium.ranked] == [
        (a, 1, False), (b, 2, False), (d, 3, True), (e, 3, True),
    ] or [(r.structure_id, r.rank, r.ex_aequo) for r in podium.ranked] == [
        (a, 1, False), (b, 2, False), (e, 3, True), (d, 3, True),
    ]  # fmt: skip
    assert (podium.competing, podium.too_few_contacts) == (4, 1)
    assert [r.structure_id for r in podium.winners] == [a]
    # With a lower bar c competes and wins; with top=2 the ex aequo third places are cut.
    (podium,) = trophies(crafted, min_contacts=2, top=2)
    assert [(r.structure_id, r.rank) for r in podium.ranked] == [(c, 1), (a, 2)]
    # Two first places ex aequo both win.
    tied = rescored(results, {a: (70.0, 60.0, 60.0, 5), b: (70.0, 60.0, 60.0, 5)})
    (podium,) = trophies(tied, min_contacts=5)
    assert sorted(r.structure_id for r in podium.winners) == sorted([a, b])
    assert all(r.rank == 1 and r.ex_aequo for r in podium.ranked)


def test_trophies_csv_and_pdf(prober_cli: Run, scored: Engine, tmp_path: Path) -> None:
    results = stored(scored)
    out = tmp_path / "trophees.csv"
    written = prober_cli("trophies", "pre", "--out", str(out), "--min-contacts", "2")
    assert written.exit_code == 0, written.stderr
    with out.open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    expected = trophies(results, min_contacts=2)
    assert len(rows) == sum(len(p.ranked) for p in expected) > 0
    by_id = {info.official_id: sid for sid, info in results.structures.items()}
    for row in rows:
        score = next(s for s in results.of_structure(by_id[row["official_id"]])
                     if s.channel == row["channel"])  # fmt: skip
        assert float(row["score"]) == score.score
        assert int(row["contacts"]) == score.sample_size >= 2
        assert row["evidence"] == f"/resultats/pre/{row['official_id']}"
    assert f"{len(rows)} rows" in written.stdout
    pdf = tmp_path / "trophees.pdf"
    written = prober_cli("trophies", "pre", "--out", str(pdf), "--min-contacts", "2")
    assert written.exit_code == 0, written.stderr
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout  # fmt: skip
    winner = next(p.winners[0] for p in expected if p.winners)
    assert "Trophées de la vague « pre »" in text and winner.name in " ".join(text.split())
    bad = prober_cli("trophies", "pre", "--out", str(tmp_path / "t.xlsx"))
    assert bad.exit_code != 0 and ".csv or .pdf" in bad.stderr
