"""Agreement between auditors on blind double reviews: percentage and Cohen's kappa.

Per criterion, the two auditors of each pair are the two raters; per auditor, the auditor is one
rater and their partners together the other. Kappa corrects the percentage for the agreement
expected by chance from each rater's own distribution of verdicts: 1 is perfect agreement, 0 what
chance alone gives; it is undefined (None) when both raters always gave one same verdict.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Judgement:
    """Two verdicts on one criterion of one contact, by two auditors reviewing blind."""

    criterion_id: str
    first_auditor: str
    first_verdict: str
    second_auditor: str
    second_verdict: str


@dataclass(frozen=True, slots=True)
class Agreement:
    """Agreement over ``pairs`` judgements: share agreeing (0 to 1) and Cohen's kappa."""

    subject: str
    pairs: int
    agreeing: int
    percent: float | None
    kappa: float | None
    flagged: bool = False


def cohen_kappa(verdicts: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of (rater A, rater B) verdict pairs; None without pairs or when chance
    agreement is certain (both raters gave one same verdict throughout)."""
    n = len(verdicts)
    if n == 0:
        return None
    observed = sum(1 for a, b in verdicts if a == b) / n
    first = Counter(a for a, _ in verdicts)
    second = Counter(b for _, b in verdicts)
    expected = sum(first[k] * second[k] for k in first.keys() | second.keys()) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def _agreement(subject: str, verdicts: Sequence[tuple[str, str]]) -> Agreement:
    agreeing = sum(1 for a, b in verdicts if a == b)
    return Agreement(
        subject=subject,
        pairs=len(verdicts),
        agreeing=agreeing,
        percent=agreeing / len(verdicts) if verdicts else None,
        kappa=cohen_kappa(verdicts),
    )


def by_criterion(judgements: Iterable[Judgement]) -> list[Agreement]:
    """Agreement per criterion, in criterion order."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for item in judgements:
        grouped.setdefault(item.criterion_id, []).append((item.first_verdict, item.second_verdict))
    return [_agreement(criterion, grouped[criterion]) for criterion in sorted(grouped)]


def by_auditor(
    judgements: Iterable[Judgement], *, threshold: float, min_pairs: int
) -> list[Agreement]:
    """Agreement of each auditor with their partners; ``flagged`` when, over at least
    ``min_pairs`` judgements, the share agreeing is under ``threshold``."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for item in judgements:
        grouped.setdefault(item.first_auditor, []).append((item.first_verdict, item.second_verdict))
        grouped.setdefault(item.second_auditor, []).append(
            (item.second_verdict, item.first_verdict)
        )
    rows = []
    for auditor in sorted(grouped):
        row = _agreement(auditor, grouped[auditor])
        flagged = row.percent is not None and row.pairs >= min_pairs and row.percent < threshold
        rows.append(
            Agreement(row.subject, row.pairs, row.agreeing, row.percent, row.kappa, flagged)
        )
    return rows


def agreement_csv(criteria: Sequence[Agreement], auditors: Sequence[Agreement]) -> str:
    """Both tables as one CSV: scope (criterion or auditor), subject, pairs, agreeing, percent,
    kappa, flagged; empty cells where a figure is undefined."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["scope", "subject", "pairs", "agreeing", "percent", "kappa", "flagged"])
    for scope, rows in (("criterion", criteria), ("auditor", auditors)):
        for row in rows:
            writer.writerow(
                [
                    scope,
                    row.subject,
                    row.pairs,
                    row.agreeing,
                    "" if row.percent is None else f"{100 * row.percent:.1f}",
                    "" if row.kappa is None else f"{row.kappa:.3f}",
                    "yes" if row.flagged else "no",
                ]
            )
    return out.getvalue()
