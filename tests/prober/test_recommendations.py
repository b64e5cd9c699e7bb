"""Targeted recommendations: texts in the criteria file keyed by how a criterion failed, checked
on load, filled in with a structure's stored tallies and ordered by the points they would win."""

from __future__ import annotations

import itertools
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
from prober.results.structure_view import structure_view
from storage.db import session_scope
from tests.support.cli import Run
from tests.support.results_scene import REPLIED_THEN_SENT, scored_wave, write_attempts

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def scored(prober_cli: Run, database_url: str) -> Iterator[Engine]:
    yield from scored_wave(prober_cli, database_url)


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
                one = item.failed < 2
                calls, answered = ("appel", "décroché") if one else ("appels", "décrochés")
                assert item.text == (
                    "Dimensionner l'accueil téléphonique aux heures de pointe :"
                    f" {item.failed} {calls} sur {item.decided} {answered} après la 5e sonnerie."
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
    ("tally", "text"),
    [
        (
            {"passed": 1, "failed": 1},
            "Assurer une présence au standard sur toute l'amplitude des horaires publiés (renvoi"
            " vers un poste de secours, file d'attente plutôt que tonalité « occupé ») : 1 appel"
            " sur 2 est resté sans réponse.",
        ),
        (
            {"passed": 1, "failed": 2},
            "Assurer une présence au standard sur toute l'amplitude des horaires publiés (renvoi"
            " vers un poste de secours, file d'attente plutôt que tonalité « occupé ») : 2 appels"
            " sur 3 sont restés sans réponse.",
        ),
        (
            {"passed": 0, "failed": 1},
            "Rétablir l'accueil téléphonique : l'appel passé n'a pas été décroché.",
        ),
        (
            {"passed": 0, "failed": 2},
            "Rétablir l'accueil téléphonique : aucun des 2 appels n'a été décroché.",
        ),
    ],
)
def test_words_agree_with_the_count(tally: dict[str, int], text: str) -> None:
    grid = load_criteria(shipped_path("criteria.toml"))
    (item,) = channel_recommendations(grid, "phone", {"phone.answered": tally})
    assert item.text == text


PLURAL_WORDS = frozenset(
    "appels courriels courriers réponses vérifications transferts attentes échanges contacts"
    " sont n'ont restés décrochés rejetés jugés jugées inexactes génériques personnalisées".split()
)


def test_no_shipped_text_reads_a_singular_count_with_a_plural_word() -> None:
    """Every shipped text, filled in for one failed contact out of one and out of two."""
    grid = load_criteria(shipped_path("criteria.toml"))
    for criterion in grid.criteria:
        for failed, passed in ((1, 0), (1, 1)):
            tallies = {criterion.id: {"passed": passed, "failed": failed}}
            (item,) = channel_recommendations(grid, criterion.channel, tallies)
            words = item.text.rstrip(".").split()
            # "1 appel sur 2 décroché": the noun and what agrees with it follow 1 and 2
            after = [word for number, word in itertools.pairwise(words) if number in ("1", "2")]
            assert not PLURAL_WORDS & set(after), item.text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Trop long : {ratés} sur {decided}", "unknown figure {ratés}"),
        ("{failed} {failed:appel} sur {decided}", "cannot be filled in"),
        ("{failed} {failed:appel|appels|appelés}", "expected two forms, singular then plural"),
        ("{failed} {failed:|appels}", "expected two forms, singular then plural"),
        ("{share} {share:pour cent|pour cents}", "only the counts"),
        ("{decided:aucun {nombre} appel|appels}", "unknown figure {nombre}"),
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


@SQLITE
def test_the_structure_view_by_offer(prober_cli: Run, scored: Engine) -> None:
    created = prober_cli("wave", "create", "post", "--start", "2026-09-07", "--end", "2026-10-02",
                         "--channels", "phone,email")  # fmt: skip
    assert created.exit_code == 0, created.stderr
    assert prober_cli("wave", "plan", "post", "--seed", "3").exit_code == 0
    write_attempts(scored, "post", 1, REPLIED_THEN_SENT)
    assert prober_cli("score", "post").exit_code == 0
    settings = load_settings()
    grid = load_grid(settings, None)
    with session_scope(scored) as session:
        pre = load_results(session, "pre", grid, settings.scoring)
        post = load_results(session, "post", grid, settings.scoring)
    structure_id = next(
        sid for sid in sorted(post.structures)
        if any(s.details["criteria"] and any(t["failed"] for t in s.details["criteria"].values())
               for s in post.of_structure(sid))
    )  # fmt: skip
    before = {s.channel: s.score for s in pre.of_structure(structure_id)}
    detailed = structure_view(post, grid, structure_id, offer="detailed", before=pre,
                              reviewed=True)  # fmt: skip
    assert detailed.compared_with == "pre"
    assert {c.channel: c.before for c in detailed.channels} == before
    assert detailed.recommendations
    points = [r.points for r in detailed.recommendations]
    assert points == sorted(points, reverse=True)
    assert not structure_view(post, grid, structure_id, offer="detailed").recommendations
    free = structure_view(post, grid, structure_id, offer="free", before=pre, reviewed=True)
    assert free.compared_with is None and not free.recommendations and not free.strengths
    assert all(c.before is None and not c.evidence for c in free.channels)
    # Peer aggregates only, and none for a group under min_peers.
    for channel in free.channels:
        stats = post.comparisons.peer_stats(structure_id, channel.channel)["score"]
        if stats.structures >= 3:
            assert (channel.peers.mean, channel.peers.median) == (stats.mean, stats.median)
        else:
            assert channel.peers.mean is None and channel.peers.rank is None
    small = structure_view(post, grid, structure_id, offer="free", min_peers=10_000)
    assert all(c.peers.mean is None and c.peers.p25 is None for c in small.channels)
