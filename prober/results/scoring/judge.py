"""Judging one contact against a criteria grid: a verdict per criterion, with its evidence."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from config.criteria import CriteriaGrid, Criterion, Metric, evaluate
from prober.results.scoring.metrics import figures, has_exchange, measure
from prober.results.scoring.model import Contact, ContactScore, CriterionResult, Measured, Verdict

# Rules that a late value can only fail (the deadline kind) and those it can only pass.
_UPPER_BOUNDS = frozenset({"<", "<="})
_LOWER_BOUNDS = frozenset({">", ">="})


MeasureFn = Callable[[Metric, Contact, datetime], Measured]


def judge(
    criterion: Criterion, contact: Contact, as_of: datetime, *, measure: MeasureFn = measure
) -> CriterionResult:
    """The verdict of ``criterion`` on ``contact``; awaited replies are judged at ``as_of``."""
    if criterion.kind == "reviewed":
        if not has_exchange(contact):
            return CriterionResult(
                criterion.id,
                "not_applicable",
                None,
                "nothing to review: no exchange took place",
                (),
            )
        review = contact.reviews.get(criterion.id)
        if review in ("passed", "failed", "not_applicable"):
            verdict: Verdict = review  # type: ignore[assignment]
            return CriterionResult(criterion.id, verdict, None, "reviewed by an auditor", ())
        return CriterionResult(criterion.id, "to_review", None, "waiting for an auditor", ())
    rule = criterion.rule
    if rule is None:
        raise ValueError(f"criterion {criterion.id!r} is objective but has no rule")
    if rule.applies_when is not None:
        gate = measure(rule.applies_when, contact, as_of)
        if gate.value is not True:
            note = gate.note or f"{rule.applies_when} not measured"
            return CriterionResult(
                criterion.id,
                "not_applicable",
                None,
                f"applies only when {rule.applies_when}: {note}",
                gate.evidence,
            )
    measured = measure(rule.metric, contact, as_of)
    if measured.value is not None:
        passed = evaluate(rule, measured.value)
        verdict = "passed" if passed else "failed"
    elif measured.at_least is not None:
        verdict = _censored(rule.op, evaluate(rule, measured.at_least))
    else:
        verdict = measured.absent
    return CriterionResult(
        criterion.id,
        verdict,
        measured.value if measured.value is not None else measured.at_least,
        measured.note,
        measured.evidence,
        measured.replies,
    )


def _censored(op: str, passes_so_far: bool | None) -> Verdict:
    """A value known only to be at least this large: decided only when any larger one agrees."""
    if op in _UPPER_BOUNDS and passes_so_far is False:
        return "failed"
    if op in _LOWER_BOUNDS and passes_so_far is True:
        return "passed"
    return "pending"


def score_contact(
    grid: CriteriaGrid,
    contact: Contact,
    as_of: datetime,
    *,
    criteria: Sequence[Criterion] | None = None,
) -> ContactScore:
    """Every criterion of the contact's channel, in grid order (``criteria``: those, already
    picked out of ``grid``, when scoring many contacts)."""
    measured: dict[Metric, Measured] = {}

    def measure_once(metric: Metric, contact: Contact, as_of: datetime) -> Measured:
        # Several criteria test the same metric ("answered" gates most phone criteria).
        found = measured.get(metric)
        if found is None:
            found = measured[metric] = measure(metric, contact, as_of)
        return found

    results = tuple(
        judge(criterion, contact, as_of, measure=measure_once)
        for criterion in (grid.for_channel(contact.channel) if criteria is None else criteria)
    )
    return ContactScore(contact, results, figures(contact))
