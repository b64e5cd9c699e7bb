"""Agreement between blind reviewers: percentage, Cohen's kappa, flagged auditors, CSV."""

from __future__ import annotations

import csv
import io

import pytest

from prober.results.agreement import (
    Judgement,
    agreement_csv,
    by_auditor,
    by_criterion,
    cohen_kappa,
)


def test_kappa_matches_the_textbook_example() -> None:
    # 50 items: both yes 20, A yes B no 5, A no B yes 10, both no 15 (po 0.7, pe 0.5).
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)


def test_kappa_is_one_for_perfect_agreement_and_negative_below_chance() -> None:
    assert cohen_kappa([("a", "a"), ("b", "b"), ("a", "a")]) == pytest.approx(1.0)
    assert cohen_kappa([("a", "b"), ("b", "a")]) == pytest.approx(-1.0)


def test_kappa_is_undefined_without_pairs_or_when_both_always_say_the_same() -> None:
    assert cohen_kappa([]) is None
    assert cohen_kappa([("passed", "passed")] * 4) is None


def _judgement(criterion: str, a: str, va: str, b: str, vb: str) -> Judgement:
    return Judgement(criterion, a, va, b, vb)


def test_per_criterion_and_per_auditor_with_a_flag_under_the_threshold() -> None:
    judgements = [
        _judgement("phone.courtesy", "alice", "passed", "bob", "passed"),
        _judgement("phone.courtesy", "alice", "failed", "bob", "failed"),
        _judgement("phone.courtesy", "alice", "passed", "carol", "failed"),
        _judgement("phone.personalisation", "bob", "passed", "carol", "failed"),
        _judgement("phone.personalisation", "alice", "failed", "carol", "passed"),
    ]
    criteria = {row.subject: row for row in by_criterion(judgements)}
    assert criteria["phone.courtesy"].pairs == 3
    assert criteria["phone.courtesy"].agreeing == 2
    assert criteria["phone.courtesy"].percent == pytest.approx(2 / 3)
    assert criteria["phone.personalisation"].percent == 0.0

    auditors = {row.subject: row for row in by_auditor(judgements, threshold=0.85, min_pairs=2)}
    assert (auditors["alice"].pairs, auditors["alice"].agreeing) == (4, 2)
    assert (auditors["bob"].pairs, auditors["bob"].agreeing) == (3, 2)
    assert (auditors["carol"].pairs, auditors["carol"].agreeing) == (3, 0)
    assert auditors["carol"].flagged and auditors["alice"].flagged
    # carol always said the opposite of her partners: agreement worse than chance.
    assert auditors["carol"].kappa is not None and auditors["carol"].kappa < 0

    few = {row.subject: row for row in by_auditor(judgements, threshold=0.85, min_pairs=4)}
    assert few["alice"].flagged and not few["carol"].flagged  # carol has only 3 judgements


def test_the_csv_holds_both_tables_with_empty_cells_where_undefined() -> None:
    judgements = [_judgement("email.courtesy", "a", "passed", "b", "passed")] * 3
    text = agreement_csv(
        by_criterion(judgements), by_auditor(judgements, threshold=0.9, min_pairs=1)
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(row["scope"], row["subject"]) for row in rows] == [
        ("criterion", "email.courtesy"), ("auditor", "a"), ("auditor", "b"),
    ]  # fmt: skip
    assert rows[0]["percent"] == "100.0"
    assert rows[0]["kappa"] == ""
    assert rows[1]["flagged"] == "no"
