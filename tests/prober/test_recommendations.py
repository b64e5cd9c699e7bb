"""Targeted recommendations: texts in the criteria file keyed by how a criterion failed, checked
on load, filled in with a structure's stored tallies and ordered by the points they would win."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from config.criteria import load_criteria
from config.errors import InvalidFileError
from config.settings import load_settings
from config.shipped import shipped_path
from prober.results.grid import load_grid
from prober.results.published import load_results
from prober.results.recommendations import channel_recommendations, recommendations, strengths
from storage.db import make_engine, session_scope
from tests.support.cli import SAMPLES, Run
from tests.support.results_scene import email, latency, write_attempts

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

EMAIL = [
    email("replied", first_acknowledgement=latency(600, 0), first_human_reply=latency(86400, 1)),
    email("sent"),
]


@pytest.fixture
def scored(prober_cli: Run, database_url: str, tmp_path: Path) -> Iterator[Engine]:
    assert prober_cli("init").exit_code == 0
    assert prober_cli("structures", "import", str(SAMPLES / "structures.csv")).exit_code == 0
    created = prober_cli("wave", "create", "pre", "--start", "2026-05-04", "--end", "2026-05-29",
                         "--channels", "phone,email")  # fmt: skip
    assert created.exit_code == 0, created.stderr
    assert prober_cli("wave", "plan", "pre", "--seed", "3").exit_code == 0
    engine = make_engine(database_url)
    write_attempts(engine, "pre", 0, EMAIL)
    assert prober_cli("score", "pre").exit_code == 0
    yield engine
    engine.dispose()


@SQLITE
def test_recommendations_match_the_stored_scores(scored: Engine) -> None:
    settings = load_settings()
    grid = load_grid(settings, None)
    weights = {c.id: c.weight for c in grid.criteria}
    with session_scope(scored) as session:
        results = load_results(session, "pre", grid, settings.scoring)
    seen_rings = 0
    for score in results.scores:
        tallies = score.details["criteria"]
        advice = channel_recommendations(grid, score.channel, tallies)
        failing = {cid for cid, tally in tallies.items() if tally["failed"]}
        assert {item.criterion_id for item in advice} == failing
        points = [item.points for item in advice]
        assert points == sorted(points, reverse=True)
        decided_weight = sum(
            weights[cid] * (tally["passed"] + tally["failed"]) for cid, tally in tallies.items()
        )
        passed_weight = sum(weights[cid] * tally["passed"] for cid, tally in tallies.items())
        # the stored score is the same ratio the points are counted on
        assert score.score == round(100 * passed_weight / decided_weight, 1)
        for item in advice:
            tally = tallies[item.criterion_id]
            assert (item.failed, item.decided) == (
                tally["failed"],
                tally["passed"] + tally["failed"],
            )
            assert item.points == round(100 * weights[item.criterion_id] * item.failed
                                        / decided_weight, 1)  # fmt: skip
            if item.criterion_id == "phone.answered_within_5_rings":
                seen_rings += 1
                assert item.text == (
                    "Dimensionner l'accueil téléphonique aux heures de pointe :"
                    f" {item.failed} appels sur {item.decided} décrochés après la 5e sonnerie."
                )
        assert "{" not in "".join(item.text for item in advice)
        shown = {s.criterion_id for s in strengths(grid, {score.channel: tallies})}
        assert shown == {cid for cid, t in tallies.items() if t["passed"] and not t["failed"]}
    assert seen_rings > 0


@SQLITE
def test_a_structure_with_no_failure_gets_none(scored: Engine) -> None:
    settings = load_settings()
    grid = load_grid(settings, None)
    with session_scope(scored) as session:
        results = load_results(session, "pre", grid, settings.scoring)
    channels = {
        score.channel: {
            cid: {**tally, "passed": tally["passed"] + tally["failed"], "failed": 0}
            for cid, tally in score.details["criteria"].items()
        }
        for score in results.of_structure(results.scores[0].structure_id)
    }
    assert recommendations(grid, channels) == []
    assert strengths(grid, channels)


def test_all_failed_has_its_own_text() -> None:
    grid = load_criteria(shipped_path("criteria.toml"))
    tallies = {"phone.answered": {"passed": 0, "failed": 4}}
    (item,) = channel_recommendations(grid, "phone", tallies)
    assert item.text == "Rétablir l'accueil téléphonique : aucun des 4 appels n'a été décroché."
    assert item.points == 100.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Trop long : {ratés} sur {decided}", "unknown figure {ratés}"),
        ("Accolade { seule", "malformed {placeholder}"),
        ("   ", "expected non-empty text"),
    ],
)
def test_a_bad_recommendation_is_located(tmp_path: Path, text: str, message: str) -> None:
    source = shipped_path("criteria.toml").read_text("utf-8")
    marker = 'failed = "Dimensionner'
    start = source.index(marker)
    end = source.index("\n", start)
    broken = source[:start] + f"failed = {text!r}".replace("'", '"') + source[end:]
    path = tmp_path / "criteria.toml"
    path.write_text(broken, "utf-8")
    line = broken[:start].count("\n") + 1
    with pytest.raises(InvalidFileError) as raised:
        load_criteria(path)
    shown = str(raised.value)
    assert f"line {line}," in shown, shown
    assert "recommendation.failed" in shown, shown
    assert message in shown, shown
