"""Assignments of reviews, the reproducible double-review draw, the queue and what counts."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from storage.attempts import finish_attempt, start_attempt
from storage.models import Probe, ProbeState, Review, ReviewAssignment, Wave
from storage.review_assignments import (
    QueueFilters,
    assign_reviews,
    blind_pairs,
    draw_double,
    mark_reviewed,
    review_queue,
    update_dispute,
)
from storage.reviews import ReviewRow, add_review, decide
from storage.scores import load_wave_contacts
from tests.support.seeding import add_persona, add_probe, add_scenario, add_structure, add_wave

CRITERIA = {"phone": ["phone.courtesy", "phone.greeting"], "email": ["email.courtesy"]}


def _wave(session: Session, *, structures: int, name: str = "w") -> Wave:
    """A wave where every structure answered one call, plus a busy line that is not reviewed."""
    add_persona(session)
    add_scenario(session, "s", "phone")
    wave_id = add_wave(
        session, name, starts_on=date(2026, 5, 4), ends_on=date(2026, 5, 29), channels=["phone"]
    )
    for number in range(structures + 1):
        structure_id = add_structure(session, f"2157{number:010d}", name=f"Mairie {number}")
        probe_id = add_probe(
            session, wave_id=wave_id, structure_id=structure_id, channel="phone",
            scenario_id="s", persona_id="p", scheduled_at=datetime(2026, 5, 5, 9, tzinfo=UTC),
        )  # fmt: skip
        session.flush()
        attempt = start_attempt(session, probe_id)
        assert attempt.id is not None
        finish_attempt(
            session, attempt.id, outcome="busy" if number == structures else "answered",
            ended_at=datetime(2026, 5, 5, 9, 5, tzinfo=UTC), measurement={},
            probe_state=ProbeState.DONE,
        )  # fmt: skip
    session.flush()
    wave = session.get(Wave, wave_id)
    assert wave is not None
    return wave


def test_the_draw_is_reproducible_and_takes_the_share() -> None:
    ids = [uuid.UUID(int=n) for n in range(1, 201)]
    first = draw_double("2027-pre", ids, 0.10)
    assert len(first) == 20
    assert draw_double("2027-pre", list(reversed(ids)), 0.10) == first
    assert draw_double("2027-post", ids, 0.10) != first
    assert draw_double("2027-pre", ids, 0.0) == set()


def test_assignment_balances_auditors_and_doubles_the_drawn_share(engine: Engine) -> None:
    with Session(engine) as session:
        wave = _wave(session, structures=40)
        summary = assign_reviews(
            session, wave, ["bob", "alice", "carol"], double_share=0.10,
            reviewed_channels={"phone"},
        )  # fmt: skip
        session.commit()
        assert (summary.assigned, summary.double, summary.already) == (40, 4, 0)
        assert sum(summary.per_auditor.values()) == 44
        assert max(summary.per_auditor.values()) - min(summary.per_auditor.values()) <= 1
        doubles = session.execute(
            select(
                col(ReviewAssignment.probe_id), func.count(func.distinct(ReviewAssignment.auditor))
            )
            .where(col(ReviewAssignment.double))
            .group_by(col(ReviewAssignment.probe_id))
        ).all()
        assert len(doubles) == 4 and all(count == 2 for _, count in doubles)
        # Running it again assigns nothing more.
        again = assign_reviews(
            session, wave, ["alice", "bob", "carol"], double_share=0.10,
            reviewed_channels={"phone"},
        )  # fmt: skip
        assert (again.assigned, again.already) == (0, 40)


def test_a_double_submit_records_one_review(engine: Engine) -> None:
    with Session(engine) as session:
        wave = _wave(session, structures=1)
        probe = session.scalars(select(Probe).where(col(Probe.wave_id) == wave.id)).first()
        assert probe is not None
        for _ in range(2):
            add_review(
                session, probe, "phone.courtesy", reviewer="alice", verdict="passed",
                submission="form-1",
            )  # fmt: skip
        add_review(
            session, probe, "phone.greeting", reviewer="alice", verdict="failed",
            submission="form-1",
        )  # fmt: skip
        session.commit()
        assert session.execute(select(func.count()).select_from(Review)).scalar_one() == 2


def test_decide_counts_arbitration_else_agreement_of_blind_reviews_else_the_single_one() -> None:
    single, double, arbitrated = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    rows = [
        ReviewRow(single, "c", "alice", "failed", "review"),
        ReviewRow(single, "c", "alice", "passed", "review"),
        ReviewRow(double, "c", "alice", "passed", "review"),
        ReviewRow(double, "d", "alice", "passed", "review"),
        ReviewRow(double, "d", "bob", "passed", "review"),
        ReviewRow(double, "e", "alice", "passed", "review"),
        ReviewRow(arbitrated, "c", "alice", "passed", "review"),
        ReviewRow(arbitrated, "c", "bob", "failed", "review"),
        ReviewRow(arbitrated, "c", "lead", "failed", "arbitration"),
        ReviewRow(arbitrated, "d", "alice", "passed", "review"),
        ReviewRow(arbitrated, "d", "bob", "failed", "review"),
    ]
    decided = decide(rows, {double, arbitrated})
    assert decided[single] == {"c": "passed"}
    # c and e: one blind review only; d: both agree.
    assert decided[double] == {"d": "passed"}
    # c arbitrated; d disagrees and waits for a lead.
    assert decided[arbitrated] == {"c": "failed"}


def test_the_queue_filters_pages_and_counts_progress(engine: Engine) -> None:
    with Session(engine) as session:
        wave = _wave(session, structures=10)
        assert wave.id is not None
        assign_reviews(
            session, wave, ["alice", "bob"], double_share=0.2, reviewed_channels={"phone"}
        )
        mine = review_queue(
            session, wave.id, QueueFilters(auditor="alice"), reviewed_criteria=CRITERIA, limit=3
        )
        assert len(mine.items) == 3 and mine.done == 0
        total_alice = mine.total
        assert (
            total_alice
            == session.execute(
                select(func.count()).where(col(ReviewAssignment.auditor) == "alice")
            ).scalar_one()
        )
        first = session.get(Probe, mine.items[0].probe_id)
        assert first is not None
        add_review(session, first, "phone.courtesy", reviewer="alice", verdict="passed")
        assert not mark_reviewed(session, first.id, "alice", CRITERIA["phone"])
        half = review_queue(
            session, wave.id, QueueFilters(auditor="alice"), reviewed_criteria=CRITERIA
        )
        assert half.done == 0
        todo_courtesy = review_queue(
            session, wave.id, QueueFilters(auditor="alice", criterion="phone.courtesy"),
            reviewed_criteria=CRITERIA,
        )  # fmt: skip
        assert todo_courtesy.total == total_alice - 1
        add_review(session, first, "phone.greeting", reviewer="alice", verdict="failed")
        assert mark_reviewed(session, first.id, "alice", CRITERIA["phone"])
        done = review_queue(
            session, wave.id, QueueFilters(auditor="alice"), reviewed_criteria=CRITERIA
        )
        assert done.done == 1
        by_name = review_queue(
            session, wave.id, QueueFilters(structure="mairie 3"), reviewed_criteria=CRITERIA
        )
        assert {item.name for item in by_name.items} == {"Mairie 3"}
        assert (
            review_queue(
                session, wave.id, QueueFilters(channel="email"), reviewed_criteria=CRITERIA
            ).total
            == 0
        )


def test_a_disagreement_is_flagged_paired_and_counts_once_arbitrated(engine: Engine) -> None:
    with Session(engine) as session:
        wave = _wave(session, structures=10)
        assert wave.id is not None
        assign_reviews(
            session, wave, ["alice", "bob"], double_share=0.1, reviewed_channels={"phone"}
        )
        double_id = session.scalars(
            select(col(ReviewAssignment.probe_id)).where(col(ReviewAssignment.double))
        ).first()
        probe = session.get(Probe, double_id)
        assert probe is not None
        add_review(session, probe, "phone.courtesy", reviewer="alice", verdict="passed")
        add_review(session, probe, "phone.courtesy", reviewer="bob", verdict="failed")
        assert update_dispute(session, probe.id)
        flagged = review_queue(
            session, wave.id, QueueFilters(flagged=True), reviewed_criteria=CRITERIA
        )
        assert [item.probe_id for item in flagged.items] == [probe.id]
        assert flagged.items[0].disagreement and flagged.items[0].double
        # An auditor's own view keeps the review blind: the disagreement is not flagged there.
        for auditor in ("alice", "bob"):
            assert review_queue(
                session, wave.id, QueueFilters(auditor=auditor, flagged=True, blind=True),
                reviewed_criteria=CRITERIA,
            ).total == 0  # fmt: skip
        pairs = blind_pairs(session, wave.id)
        assert [(p.first_auditor, p.first_verdict, p.second_auditor, p.second_verdict)
                for p in pairs] == [("alice", "passed", "bob", "failed")]  # fmt: skip
        assert "phone.courtesy" not in load_wave_contacts(session, wave.id).reviews.get(
            probe.id, {}
        )

        add_review(
            session, probe, "phone.courtesy", reviewer="lead", verdict="failed", kind="arbitration"
        )
        assert not update_dispute(session, probe.id)
        session.flush()
        assert load_wave_contacts(session, wave.id).reviews[probe.id]["phone.courtesy"] == "failed"
        assert (
            review_queue(
                session, wave.id, QueueFilters(flagged=True), reviewed_criteria=CRITERIA
            ).total
            == 0
        )
