"""A structure's targeted recommendations and strengths, from its stored criteria tallies.

A failed criterion's recommendation text comes from the criteria grid (keyed by how it failed)
with the structure's figures filled in; recommendations are ordered by the points of the channel
score the structure would win if every failed contact had passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from config.criteria import CriteriaGrid, Criterion, fill_recommendation


@dataclass(frozen=True, slots=True)
class Recommendation:
    """What to do about one failed criterion, with what it would bring."""

    channel: str
    criterion_id: str
    title: str
    text: str
    failed: int
    decided: int
    points: float
    """Points of the channel score (out of 100) won if the failed contacts had passed."""

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "criterion": self.criterion_id,
            "title": self.title,
            "text": self.text,
            "failed": self.failed,
            "decided": self.decided,
            "points": self.points,
        }


@dataclass(frozen=True, slots=True)
class Strength:
    """A criterion every judged contact passed."""

    channel: str
    criterion_id: str
    title: str
    passed: int


GENERIC = (
    "Examiner les contacts en échec avec vos équipes et fixer un objectif mesurable pour la"
    " prochaine vague : {failed} {failed:contact|contacts} sur {decided} en échec."
)


def _number(value: float, digits: int = 1) -> str:
    """``5``, ``8,4``: French decimal comma, no trailing zeros."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.{digits}f}".rstrip("0").rstrip(".").replace(".", ",")


def _count(tally: Mapping[str, Any], key: str) -> int:
    value = tally.get(key, 0)
    return int(value) if isinstance(value, int | float) else 0


def _fill(text: str, criterion: Criterion, failed: int, decided: int) -> str:
    rule = criterion.rule
    threshold = "" if rule is None or isinstance(rule.threshold, bool) else _number(rule.threshold)
    return fill_recommendation(
        text,
        {
            "failed": failed,
            "decided": decided,
            "passed": decided - failed,
            "share": _number(round(100.0 * failed / decided)) if decided else "0",
            "threshold": threshold,
            "unit": "" if rule is None or rule.unit is None else rule.unit,
        },
    )


def _decided_weight(grid: CriteriaGrid, tallies: Mapping[str, Mapping[str, Any]]) -> float:
    weights = {criterion.id: criterion.weight for criterion in grid.criteria}
    return sum(
        weights.get(cid, 0.0) * (_count(tally, "passed") + _count(tally, "failed"))
        for cid, tally in tallies.items()
    )


def channel_recommendations(
    grid: CriteriaGrid, channel: str, tallies: Mapping[str, Mapping[str, Any]]
) -> list[Recommendation]:
    """The recommendations of one channel from its criteria tallies (a stored score's
    ``details["criteria"]``), most points first."""
    criteria = {criterion.id: criterion for criterion in grid.for_channel(channel)}
    total = _decided_weight(grid, tallies)
    found = []
    for cid, tally in tallies.items():
        criterion = criteria.get(cid)
        failed = _count(tally, "failed")
        if criterion is None or failed == 0 or total <= 0:
            continue
        decided = failed + _count(tally, "passed")
        advice = criterion.recommendation
        text = GENERIC if advice is None else advice.text_for(failed=failed, decided=decided)
        found.append(
            Recommendation(
                channel=channel,
                criterion_id=cid,
                title=criterion.title,
                text=_fill(text, criterion, failed, decided),
                failed=failed,
                decided=decided,
                points=round(100.0 * criterion.weight * failed / total, 1),
            )
        )
    return sorted(found, key=lambda item: (-item.points, item.criterion_id))


def recommendations(
    grid: CriteriaGrid, channels: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> list[Recommendation]:
    """Every channel's recommendations (``channels``: channel → tallies), most points first."""
    found = [
        item
        for channel, tallies in channels.items()
        for item in channel_recommendations(grid, channel, tallies)
    ]
    return sorted(found, key=lambda item: (-item.points, item.channel, item.criterion_id))


def strengths(
    grid: CriteriaGrid, channels: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> list[Strength]:
    """The criteria passed by every judged contact (at least one), in grid order."""
    titles = {criterion.id: criterion.title for criterion in grid.criteria}
    order = {criterion.id: place for place, criterion in enumerate(grid.criteria)}
    found = [
        Strength(channel, cid, titles[cid], _count(tally, "passed"))
        for channel, tallies in channels.items()
        for cid, tally in tallies.items()
        if cid in titles and _count(tally, "passed") > 0 and _count(tally, "failed") == 0
    ]
    return sorted(found, key=lambda item: order[item.criterion_id])
