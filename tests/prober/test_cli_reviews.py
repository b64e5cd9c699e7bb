"""``prober review``: auditors' verdicts count at the next ``prober score``, and only there."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import Session, col

from storage.attempts import finish_attempt, start_attempt
from storage.db import make_engine
from storage.models import Probe, ProbeState, Score
from tests.support.cli import SAMPLES, Run

ANSWERED = {
    "outcome": "answered", "final_status": "completed", "post_dial_delay_s": 1, "ring_s": 6,
    "rings": 2, "answered_by": "human", "amd_answered_by": "human",
    "greeting": "Mairie de Metz, bonjour", "greeting_gives_opening_hours": False, "menu_s": None,
    "menu_key": None, "transfer_requested": None, "transfer_outcome": None, "hold_s": None,
    "transferred_greeting": None, "talk_s": 40, "sip_response_code": 200, "recording_sid": None,
}  # fmt: skip
BUSY = {**ANSWERED, "outcome": "busy", "final_status": "busy", "ring_s": None, "rings": None,
        "answered_by": None, "amd_answered_by": None, "greeting": None,
        "greeting_gives_opening_hours": None, "talk_s": 0, "sip_response_code": 486}  # fmt: skip


def _phone_wave(prober_cli: Run) -> tuple[str, str]:
    """A one-structure phone wave: one call answered by a person, one busy line."""
    prober_cli("init")
    prober_cli("structures", "import", str(SAMPLES / "structures.csv"))
    created = prober_cli(
        "wave", "create", "w", "--start", "2026-05-04", "--end", "2026-05-29",
        "--channels", "phone", "--panel", "official_id=21570463000018",
        "--calls-per-structure", "2",
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    assert prober_cli("wave", "plan", "w", "--seed", "1").exit_code == 0
    engine = make_engine(os.environ["PROBER_DATABASE_URL"])
    with Session(engine) as session:
        probes = list(session.scalars(select(Probe).order_by(col(Probe.scheduled_at))))
        assert len(probes) == 2
        for probe, measurement in zip(probes, (ANSWERED, BUSY), strict=True):
            attempt = start_attempt(session, probe.id)
            assert attempt.id is not None
            finish_attempt(
                session, attempt.id, outcome=str(measurement["outcome"]),
                ended_at=datetime(2026, 5, 5, 10, tzinfo=UTC), measurement=measurement,
                probe_state=ProbeState.DONE,
            )  # fmt: skip
        session.commit()
        answered, busy = (str(probe.id) for probe in probes)
    engine.dispose()
    return answered, busy


def _phone_score() -> Score:
    engine = make_engine(os.environ["PROBER_DATABASE_URL"])
    with Session(engine) as session:
        score = session.scalars(select(Score)).one()
    engine.dispose()
    return score


def test_a_review_counts_at_the_next_score_and_only_exchanges_need_one(prober_cli: Run) -> None:
    answered, _ = _phone_wave(prober_cli)
    todo = prober_cli("review", "todo", "w", "--json")
    assert todo.exit_code == 0, todo.stderr
    listed = [json.loads(line) for line in todo.stdout.splitlines()]
    # The busy call has nothing a person could judge.
    assert [item["probe"] for item in listed] == [answered]
    assert listed[0]["criteria"] == [
        "phone.greeting_names_structure", "phone.courtesy",
        "phone.personalisation", "phone.answer_quality",
    ]  # fmt: skip

    assert prober_cli("score", "w").exit_code == 0
    before = _phone_score()
    # Objective, decided: answered (3, failed once), 5 rings (2), agent (2) → 7 / 10.
    assert before.score == 70.0
    assert before.details["criteria"]["phone.courtesy"]["to_review"] == 1
    assert before.details["criteria"]["phone.courtesy"]["not_applicable"] == 1

    added = prober_cli("review", "add", answered[:8], "phone.courtesy", "failed", "--by", "AB")
    assert added.exit_code == 0, added.stderr
    assert _phone_score().score == 70.0  # nothing changes before scoring again
    assert prober_cli("score", "w").exit_code == 0
    after = _phone_score()
    # Courtesy (weight 1) decided and failed: 7 / 11, and the quality index is 0.
    assert after.score == round(100 * 7 / 11, 1)
    assert after.quality == 0.0
    # The latest review of a criterion counts.
    prober_cli("review", "add", answered, "phone.courtesy", "passed", "--by", "CD")
    prober_cli("score", "w")
    assert _phone_score().score == round(100 * 8 / 11, 1)
    remaining = [
        json.loads(line) for line in prober_cli("review", "todo", "w", "--json").stdout.splitlines()
    ]
    assert "phone.courtesy" not in remaining[0]["criteria"]


def test_review_mistakes_are_refused_with_what_to_do(prober_cli: Run) -> None:
    answered, _ = _phone_wave(prober_cli)
    objective = prober_cli("review", "add", answered, "phone.answered", "passed", "--by", "AB")
    assert objective.exit_code == 1
    assert "not reviewed on phone probes" in objective.stderr
    assert "phone.courtesy" in objective.stderr
    short = prober_cli("review", "add", answered[:4], "phone.courtesy", "passed", "--by", "AB")
    assert "at least its first 8 characters" in short.stderr
    unknown = prober_cli("review", "add", "0" * 8, "phone.courtesy", "passed", "--by", "AB")
    assert "no probe '00000000'" in unknown.stderr
    verdict = prober_cli("review", "add", answered, "phone.courtesy", "maybe", "--by", "AB")
    assert "expected one of passed, failed, not_applicable" in verdict.stderr
