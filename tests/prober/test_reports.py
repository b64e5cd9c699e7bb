"""`prober report` on SQLite and PostgreSQL: every kind and format against the stored scores.

Waves are planned with the command line over the sample structures; their attempts are written
with measurements shaped as the channels store them (copied from a `prober demo` run), and
phone calls get a recording file under the project's recordings folder. Expected values come
from the stored `Score` rows and `load_results`, never from the report under test.
"""

from __future__ import annotations

import csv
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import Engine
from sqlmodel import col, select

from config.settings import load_settings
from prober.results.grid import load_grid
from prober.results.published import WaveResults, load_results
from prober.results.recommendations import channel_recommendations
from prober.results.reports.exports import (
    SYNTHETIC_COLUMNS,
    write_results_json,
    write_synthetic_csv,
)
from storage.call_measurements import DISAGREEMENT, save_measurement
from storage.db import make_engine, session_scope
from storage.models import Attempt, Probe, Score, Structure
from tests.support.cli import SAMPLES, Run
from tests.support.results_scene import email, latency, write_attempts

EMAIL = [
    email("replied", first_acknowledgement=latency(7200, 0),
           first_human_reply=latency(7200, 0)),
    email("replied", first_acknowledgement=latency(600, 0),
           first_human_reply=latency(8 * 86400, 6)),
    email("bounced", bounce=latency(20, 0)),
    email("sent"),
]  # fmt: skip

# In wave `pre`, the second structure by official id: answered after six rings, unanswered,
# a voicemail after five rings; its email answered after six working days.
SIX_RINGS = "18670001000011"
SIX_RINGS_NAME = "Préfecture du Bas-Rhin (exemple)"


@pytest.fixture
def project(prober_cli: Run, database_url: str, tmp_path: Path) -> Iterator[Engine]:
    """Wave `pre` (the 30 sample structures) and `post` (Alsace-Moselle), carried out, not
    scored."""
    assert prober_cli("init").exit_code == 0
    assert prober_cli("structures", "import", str(SAMPLES / "structures.csv")).exit_code == 0
    engine = make_engine(database_url)
    waves = {
        "pre": ("2026-05-04", "2026-05-29", []),
        "post": ("2026-09-07", "2026-10-02", ["--panel", "departement=57,67,68"]),
    }
    for shift, (name, (start, end, panel)) in enumerate(waves.items()):
        created = prober_cli(
            "wave", "create", name, "--start", start, "--end", end, "--channels", "phone,email",
            *panel,
        )  # fmt: skip
        assert created.exit_code == 0, created.stderr
        assert prober_cli("wave", "plan", name, "--seed", "3").exit_code == 0
        write_attempts(engine, name, shift, EMAIL, tmp_path / "project" / "recordings")
    yield engine
    engine.dispose()


def results_of(engine: Engine, wave: str) -> WaveResults:
    settings = load_settings()
    with session_scope(engine) as session:
        return load_results(session, wave, load_grid(settings, None), settings.scoring)


def stored_rows(engine: Engine, wave: str) -> dict[tuple[str, str], Score]:
    results = results_of(engine, wave)
    return {
        (results.structures[row.structure_id].official_id, row.channel): row
        for row in results.scores
    }


def cell(value: Any) -> str:
    return "" if value is None else str(value)


def number(text: str) -> str | float:
    """A cell's text as a number when it is one (XLSX gives 100 where CSV says 100.0)."""
    try:
        return float(text)
    except ValueError:
        return text


def test_csv_and_xlsx_rows_are_the_stored_scores(
    prober_cli: Run, project: Engine, tmp_path: Path
) -> None:
    written = prober_cli("report", "pre", "--format", "csv", "--out", str(tmp_path / "pre.csv"))
    assert written.exit_code == 0, written.stderr
    assert "wave 'pre' had no scores under the grid" in written.stderr
    results = results_of(project, "pre")
    stored = stored_rows(project, "pre")
    with (tmp_path / "pre.csv").open(encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        assert tuple(reader.fieldnames or ()) == SYNTHETIC_COLUMNS
        rows = list(reader)
    assert len(rows) == len(stored)
    assert {row["official_id"] for row in rows} == {
        i.official_id for i in results.structures.values()
    }
    assert len(results.structures) == 30
    assert f"{len(rows)} rows" in written.stdout
    for row in rows:
        score = stored[(row["official_id"], row["channel"])]
        standing = results.comparisons.standings[(score.structure_id, score.channel)]
        peers = results.comparisons.peer_stats(score.structure_id, score.channel)["score"]
        assert row["wave"] == "pre"
        for column in ("score", "accessibility", "responsiveness", "quality"):
            assert row[column] == cell(getattr(score, column)), (row["official_id"], column)
        assert row["contacts"] == str(score.sample_size)
        assert row["pending"] == str(score.details["pending"])
        assert row["peer_median"] == cell(peers.median)
        assert row["percentile"] == cell(standing.percentile)
        assert row["rank"] == cell(standing.rank)
        assert row["peer_group"] == results.comparisons.group_of[score.structure_id]
    six = next(r for r in rows if r["official_id"] == SIX_RINGS and r["channel"] == "phone")
    assert six["median_rings"] == "5.5"
    assert six["answer_rate"] == "66.7"

    again = prober_cli("report", "pre", "--format", "xlsx", "--out", str(tmp_path / "pre.xlsx"))
    assert again.exit_code == 0, again.stderr
    assert "had no scores" not in again.stderr  # scored by the first report
    workbook = load_workbook(tmp_path / "pre.xlsx", read_only=True)
    table = list(workbook.active.iter_rows(values_only=True))
    workbook.close()
    assert table[0] == SYNTHETIC_COLUMNS
    width = len(SYNTHETIC_COLUMNS)  # read-only sheets drop empty trailing cells
    assert [
        [number(cell(v)) for v in (*line, *[None] * (width - len(line)))] for line in table[1:]
    ] == [[number(row[column]) for column in SYNTHETIC_COLUMNS] for row in rows]


def test_json_is_the_results_document(prober_cli: Run, project: Engine, tmp_path: Path) -> None:
    assert prober_cli("score", "pre").exit_code == 0
    results = results_of(project, "pre")
    expected = json.loads(json.dumps(results.to_json()))
    write_results_json(results, tmp_path / "all.json")
    assert json.loads((tmp_path / "all.json").read_text("utf-8")) == expected
    some = sorted(results.structures)[3:6]
    write_results_json(results, tmp_path / "some.json", some)
    assert json.loads((tmp_path / "some.json").read_text("utf-8")) == json.loads(
        json.dumps(results.to_json(some))
    )
    write_synthetic_csv(results, tmp_path / "all.csv")
    assert len((tmp_path / "all.csv").read_text("utf-8").splitlines()) == len(results.scores) + 1

    out = tmp_path / "cli.json"
    assert prober_cli("report", "pre", "--format", "json", "--out", str(out)).exit_code == 0
    document = json.loads(out.read_text("utf-8"))
    assert document.pop("kind") == "synthetic"
    assert document == expected

    detailed = prober_cli(
        "report", "pre", "--structure", SIX_RINGS, "--format", "json", "--out", str(out)
    )
    assert detailed.exit_code == 0, detailed.stderr
    document = json.loads(out.read_text("utf-8"))
    assert document["kind"] == "detailed"
    [item] = document["results"]
    assert item["structure"]["official_id"] == SIX_RINGS
    call = next(c for c in item["detail"]["phone"] if c["figures"]["rings"] == 6)
    rings = next(c for c in call["criteria"] if c["criterion"] == "phone.answered_within_5_rings")
    assert (rings["verdict"], rings["value"]) == ("failed", 6.0)
    assert [e["kind"] for e in rings["evidence"]] == ["call.ringing", "call.answered"]
    assert (
        call["recordings"]
        and item["channels"]["phone"]["criteria"]["phone.answered_within_5_rings"]["failed"] == 1
    )


def failed_criteria(engine: Engine, wave: str, official_id: str) -> set[str]:
    results = results_of(engine, wave)
    return {
        criterion
        for score in results.scores
        if results.structures[score.structure_id].official_id == official_id
        for criterion, tally in score.details["criteria"].items()
        if tally["failed"]
    }


def test_the_detailed_html_report(prober_cli: Run, project: Engine, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    out = reports / "prefecture.html"
    written = prober_cli("report", "pre", "--structure", SIX_RINGS, "--format", "html", "--out",
                         str(out))  # fmt: skip
    assert written.exit_code == 0, written.stderr
    assert "detailed report" in written.stdout
    page = out.read_text("utf-8")
    assert SIX_RINGS_NAME in page
    failed = failed_criteria(project, "pre", SIX_RINGS)
    assert "phone.answered_within_5_rings" in failed
    grid = load_grid(load_settings(), None)
    rows = stored_rows(project, "pre")
    advised = [
        item
        for channel in ("phone", "email")
        for item in channel_recommendations(
            grid, channel, rows[(SIX_RINGS, channel)].details["criteria"]
        )
    ]
    assert {item.criterion_id for item in advised} == failed
    for item in advised:
        assert str(escape(item.text)) in page, item.criterion_id
    assert "Recommandations, par points à gagner" in page
    assert page.count("<svg") == 2  # rings and reply latency against the peers
    links = [part.split('"')[0] for part in page.split('<a href="')[1:]]
    assert len(links) == 2  # the two answered calls
    for link in links:
        assert link.startswith("../project/recordings/")
        assert (reports / link).is_file()


def test_the_detailed_report_draws_a_calls_timeline_from_its_recording(
    prober_cli: Run, project: Engine, tmp_path: Path
) -> None:
    with session_scope(project) as session:
        attempt = session.exec(
            select(Attempt)
            .join(Probe, col(Probe.id) == col(Attempt.probe_id))
            .join(Structure, col(Structure.id) == col(Probe.structure_id))
            .where(col(Structure.official_id) == SIX_RINGS, col(Probe.channel) == "phone")
            .where(col(Attempt.outcome) == "answered")
        ).first()
        assert attempt is not None and attempt.id is not None
        rings = [{"kind": "ringback", "start_s": 5.0 * n, "end_s": 5.0 * n + 1.5} for n in range(7)]
        save_measurement(
            session,
            attempt_id=attempt.id,
            source="audio",
            figures={"rings": 7, "rings_after_answer": 1, "music_s": 12.0, "hold_s": 14.5},
            details={
                "duration_s": 60.0,
                "segments": [
                    *rings,
                    {"kind": "speech", "start_s": 31.5, "end_s": 34.0},
                    {"kind": "music", "start_s": 34.0, "end_s": 46.0},
                    {"kind": "speech", "start_s": 48.5, "end_s": 52.0},
                ],
                "transfer_at_s": 34.0,
                "disagreements": ["rings: callbacks 6, audio 7"],
            },
            check=DISAGREEMENT,
        )
    out = tmp_path / "prefecture.html"
    written = prober_cli("report", "pre", "--structure", SIX_RINGS, "--format", "html", "--out",
                         str(out))  # fmt: skip
    assert written.exit_code == 0, written.stderr
    page = out.read_text("utf-8")
    assert page.count('class="timeline-strip"') == 1
    strip = page.split('class="timeline-strip"')[1].split("</svg>")[0]
    assert [f">{n}</text>" in strip for n in range(1, 8)] == [True] * 7  # the rings, numbered
    assert ">8</text>" not in strip
    assert "dont 1 jouée par le standard" in page
    assert "À vérifier par un auditeur" in page and "rings: callbacks 6, audio 7" in page


def test_the_detailed_pdf_report(prober_cli: Run, project: Engine, tmp_path: Path) -> None:
    out = tmp_path / "prefecture.pdf"
    written = prober_cli("report", "pre", "--structure", SIX_RINGS, "--format", "pdf", "--out",
                         str(out))  # fmt: skip
    assert written.exit_code == 0, written.stderr
    pages = int(written.stdout.split(" pages")[0].rsplit(" ", 1)[1])
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(out), str(tmp_path / "page")], check=True)
    assert len(list(tmp_path.glob("page-*.png"))) == pages >= 2
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], check=True, capture_output=True, text=True
    ).stdout
    flat = " ".join(text.split())
    assert SIX_RINGS_NAME in flat
    assert "Rapport détaillé" in flat
    assert "Décroché en moins de 5 sonneries (1 contact en échec sur 2 ;" in flat
    assert (
        "Dimensionner l'accueil téléphonique aux heures de pointe : 1 appel sur 2 décroché"
        " après la 5e sonnerie." in flat
    )
    assert "Sonneries avant décroché" in flat  # the chart's title, drawn as text


def test_overview_with_changes_and_multisite(
    prober_cli: Run, project: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "overview.html"
    written = prober_cli("report", "post", "--compare-with", "pre", "--format", "html", "--out",
                         str(out))  # fmt: skip
    assert written.exit_code == 0, written.stderr
    assert "wave 'post' had no scores" in written.stderr
    assert "wave 'pre' had no scores" in written.stderr
    page = out.read_text("utf-8")
    post, pre = results_of(project, "post"), results_of(project, "pre")
    for channel in ("phone", "email"):
        before = pre.comparisons.national[channel]["score"].mean
        after = post.comparisons.national[channel]["score"].mean
        assert before is not None and after is not None
        french = f"{before:.1f}".replace(".", ",") + " → " + f"{after:.1f}".replace(".", ",")
        assert french in page
    assert "Évolution depuis la vague « pre »" in page
    assert "<em>non</em>" in page  # one contact per wave: no change is conclusive
    best = max(
        (s for s in post.scores if s.channel == "phone" and s.score is not None),
        key=lambda s: s.score or 0.0,
    )
    assert post.structures[best.structure_id].name.replace("'", "&#39;") in page

    out = tmp_path / "prefectures.html"
    multisite = prober_cli("report", "pre", "--organisation", "PREFECTURE", "--format", "html",
                           "--out", str(out))  # fmt: skip
    assert multisite.exit_code == 0, multisite.stderr
    assert "multisite report, 2 structure(s)" in multisite.stdout
    page = out.read_text("utf-8")
    assert "Préfecture de police (exemple)" in page and "Préfecture du Bas-Rhin" in page
    assert "Mairie" not in page


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--structure", "00000000000000"], "--structure 00000000000000: no structure"),
        (["--organisation", "Gendarmerie"], "--organisation 'Gendarmerie': no structure"),
        (["--format", "docx"], "--format docx: expected one of html, pdf, csv, xlsx, json"),
        (["--kind", "overview", "--format", "csv"], "--kind overview has no CSV form"),
        (["--kind", "detailed"], "--kind detailed: name the structure with --structure"),
    ],
)
def test_user_mistakes_get_one_line(
    prober_cli: Run, project: Engine, tmp_path: Path, arguments: list[str], message: str
) -> None:
    out = tmp_path / "r.out"
    result = prober_cli("report", "pre", "--out", str(out), *arguments)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_an_unwritable_out_is_named(prober_cli: Run, project: Engine, tmp_path: Path) -> None:
    missing = prober_cli("report", "pre", "--out", str(tmp_path / "no" / "r.html"))
    assert missing.exit_code == 1
    assert f"no folder {tmp_path / 'no'}; create it first" in missing.stderr
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "r.csv").mkdir()
    folder = prober_cli("report", "pre", "--format", "csv", "--out", str(locked / "r.csv"))
    assert folder.exit_code == 1
    assert "is a folder; give a file name" in folder.stderr


def test_templates_ship_with_the_package() -> None:
    from importlib import resources

    folder = resources.files("prober.results.reports")
    for name in ("texts.toml", "templates/base.html", "templates/detailed.html"):
        assert folder.joinpath(name).is_file(), name
