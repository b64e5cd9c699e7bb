"""What one structure sees of a wave's results: its own figures and, of its peers, aggregates only.

Never another structure's name or figures: the peer group's mean, median, quartiles and the
structure's rank. The offer decides the rest: ``free`` gets the synthetic view (channel scores
and the comparison), ``detailed`` adds the evidence (each contact and the criteria it failed),
the comparison with the structure's previous published wave, its recommendations (once
operators reviewed them) and its strengths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from config.criteria import CriteriaGrid
from prober.results.published import WaveResults
from prober.results.recommendations import (
    Recommendation,
    Strength,
    channel_recommendations,
    strengths,
)
from prober.results.scoring.model import ChannelScore
from prober.results.trophies import Trophy

CHANNEL_NAMES = {"phone": "Téléphone", "email": "Courriel", "letter": "Courrier", "web": "Site"}


@dataclass(frozen=True, slots=True)
class PeerFigures:
    """The peer group's distribution of the channel score, and where the structure stands."""

    group: str
    structures: int
    mean: float | None
    median: float | None
    p25: float | None
    p75: float | None
    rank: int | None


@dataclass(frozen=True, slots=True)
class ContactEvidence:
    """One contact of the structure: when (its local time), how it ended, what it failed."""

    started_at: datetime
    outcome: str
    failed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChannelView:
    channel: str
    name: str
    score: float | None
    accessibility: float | None
    responsiveness: float | None
    quality: float | None
    contacts: int
    peers: PeerFigures
    before: float | None = None
    """The score in the previous published wave (detailed offer), None when not probed then."""
    evidence: tuple[ContactEvidence, ...] = ()


@dataclass(frozen=True, slots=True)
class StructureView:
    wave: str
    official_id: str
    name: str
    offer: str
    channels: list[ChannelView]
    compared_with: str | None = None
    recommendations: list[Recommendation] = field(default_factory=list)
    strengths: list[Strength] = field(default_factory=list)
    recommendations_reviewed: bool = False
    trophies: list[Trophy] = field(default_factory=list)
    """The trophies the structure won in the wave (``prober trophies``'s rules and default
    minimum of contacts), whatever its offer: the rankings are published."""


def _evidence(
    detail: ChannelScore, titles: dict[str, str], zone: ZoneInfo
) -> tuple[ContactEvidence, ...]:
    return tuple(
        ContactEvidence(
            judged.contact.started_at.astimezone(zone),
            judged.contact.outcome or "—",
            tuple(
                titles.get(result.criterion_id, result.criterion_id)
                for result in judged.results
                if result.verdict == "failed"
            ),
        )
        for judged in detail.contact_scores
    )


def structure_view(
    results: WaveResults,
    grid: CriteriaGrid,
    structure_id: int,
    *,
    offer: str,
    before: WaveResults | None = None,
    details: Sequence[ChannelScore] = (),
    reviewed: bool = False,
    min_peers: int = 3,
    trophies: Sequence[Trophy] = (),
) -> StructureView:
    """The view of ``structure_id`` in ``results`` for its ``offer``; ``before`` is its
    previous published wave, ``details`` its contacts judged with evidence (detailed offer).
    Peer aggregates of a group under ``min_peers`` structures are left out."""
    info = results.structures[structure_id]
    detailed = offer == "detailed"
    titles = {criterion.id: criterion.title for criterion in grid.criteria}
    judged = {detail.channel: detail for detail in details}
    earlier = {} if before is None else {s.channel: s for s in before.of_structure(structure_id)}
    channels = []
    tallies = {}
    for score in results.of_structure(structure_id):
        stats = results.comparisons.peer_stats(structure_id, score.channel).get("score")
        if stats is not None and stats.structures < min_peers:
            # Two peers' mean and the structure's own score would give away the other's.
            stats = None
        standing = results.comparisons.standings.get((structure_id, score.channel))
        tallies[score.channel] = score.details.get("criteria", {})
        evidence = (
            _evidence(judged[score.channel], titles, ZoneInfo(info.timezone))
            if detailed and score.channel in judged
            else ()
        )
        previous = earlier.get(score.channel)
        channels.append(
            ChannelView(
                channel=score.channel,
                name=CHANNEL_NAMES.get(score.channel, score.channel),
                score=score.score,
                accessibility=score.accessibility,
                responsiveness=score.responsiveness,
                quality=score.quality,
                contacts=score.sample_size,
                peers=PeerFigures(
                    group=results.comparisons.group_of[structure_id],
                    structures=0 if stats is None else stats.structures,
                    mean=None if stats is None else stats.mean,
                    median=None if stats is None else stats.median,
                    p25=None if stats is None else stats.p25,
                    p75=None if stats is None else stats.p75,
                    rank=None if standing is None or stats is None else standing.rank,
                ),
                before=None if not detailed or previous is None else previous.score,
                evidence=evidence,
            )
        )
    advice: list[Recommendation] = []
    if detailed and reviewed:
        advice = sorted(
            (
                item
                for channel, rows in tallies.items()
                for item in channel_recommendations(grid, channel, rows)
            ),
            key=lambda item: (-item.points, item.channel, item.criterion_id),
        )
    return StructureView(
        wave=results.wave.name,
        official_id=info.official_id,
        name=info.name,
        offer=offer,
        channels=channels,
        compared_with=None if before is None or not detailed else before.wave.name,
        recommendations=advice,
        strengths=strengths(grid, tallies) if detailed else [],
        recommendations_reviewed=reviewed,
        trophies=list(trophies),
    )
