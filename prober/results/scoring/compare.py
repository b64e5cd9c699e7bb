"""Comparisons: peer groups, national and regional averages, and one wave against another.

Pure functions over score rows (stored ``Score`` rows or fresh ``ChannelScore`` objects alike).
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from config.settings import ScoringSettings
from storage.scores import StructureInfo

MEASURES = ("score", "accessibility", "responsiveness", "quality")


class ScoreLike(Protocol):
    """What comparisons read of a score row."""

    @property
    def structure_id(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def score(self) -> float | None: ...
    @property
    def accessibility(self) -> float | None: ...
    @property
    def responsiveness(self) -> float | None: ...
    @property
    def quality(self) -> float | None: ...


def population_band(population: int | None, limits: Sequence[int]) -> str:
    """``<2k``, ``2k-10k``... from ``limits`` [2000, 10000, ...]; ``unknown`` without a figure."""
    if population is None:
        return "unknown"
    lower: int | None = None
    for limit in limits:
        if population < limit:
            return f"<{_short(limit)}" if lower is None else f"{_short(lower)}-{_short(limit)}"
        lower = limit
    return f"{_short(lower)}+" if lower is not None else "all"


def _short(number: int) -> str:
    if number % 1_000_000 == 0:
        return f"{number // 1_000_000}M"
    if number % 1_000 == 0:
        return f"{number // 1_000}k"
    return str(number)


def peer_group(structure: StructureInfo, settings: ScoringSettings) -> str:
    """The structure's peer group under ``settings.peer_group_by``, e.g. ``mairie · 2k-10k``."""
    parts: list[str] = []
    for key in settings.peer_group_by:
        if key == "population_band":
            parts.append(population_band(structure.population, settings.population_bands))
        else:
            parts.append(str(getattr(structure, key)))
    return " · ".join(parts)


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Distribution of one measure over a group of structures on one channel."""

    structures: int
    mean: float | None
    median: float | None
    p25: float | None
    p75: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "structures": self.structures,
            "mean": self.mean,
            "median": self.median,
            "p25": self.p25,
            "p75": self.p75,
        }


def group_stats(values: Iterable[float | None]) -> GroupStats:
    """Mean, median and quartiles of the values present."""
    present = sorted(value for value in values if value is not None)
    if not present:
        return GroupStats(0, None, None, None, None)
    if len(present) == 1:
        only = round(present[0], 1)
        return GroupStats(1, only, only, only, only)
    quartiles = statistics.quantiles(present, n=4, method="inclusive")
    return GroupStats(
        structures=len(present),
        mean=round(statistics.fmean(present), 1),
        median=round(statistics.median(present), 1),
        p25=round(quartiles[0], 1),
        p75=round(quartiles[2], 1),
    )


def percentile_rank(value: float, values: Sequence[float]) -> float:
    """Share of ``values`` below ``value``, ties counted half (0..100, mid-rank definition)."""
    return _percentile_in(value, sorted(values))


def _percentile_in(value: float, ordered: Sequence[float]) -> float:
    below = bisect.bisect_left(ordered, value)
    equal = bisect.bisect_right(ordered, value) - below
    return round(100.0 * (below + 0.5 * equal) / len(ordered), 1)


def rank(value: float, ordered: Sequence[float]) -> int:
    """1 for the highest of ``ordered`` (sorted ascending); ties share the best rank."""
    return len(ordered) - bisect.bisect_right(ordered, value) + 1


@dataclass(frozen=True, slots=True)
class Standing:
    """Where one structure stands among its peers on one channel."""

    structure_id: int
    channel: str
    peer_group: str
    peers: int
    """Structures of the group with a score on this channel, this one included."""
    percentile: float | None
    """None when the group has fewer than ``min_peers`` scored structures."""
    rank: int | None
    """1 is the best score of the group; ties share a rank."""

    def to_json(self) -> dict[str, Any]:
        return {
            "peer_group": self.peer_group,
            "peers": self.peers,
            "percentile": self.percentile,
            "rank": self.rank,
        }


@dataclass(frozen=True, slots=True)
class Comparisons:
    """A wave's comparisons on every channel."""

    peer_groups: dict[tuple[str, str], dict[str, GroupStats]]
    """(channel, peer group) → measure → stats."""
    regions: dict[tuple[str, str], dict[str, GroupStats]]
    """(channel, region) → measure → stats."""
    national: dict[str, dict[str, GroupStats]]
    """channel → measure → stats."""
    standings: dict[tuple[int, str], Standing]
    """(structure id, channel) → standing."""
    group_of: dict[int, str]

    def peer_stats(self, structure_id: int, channel: str) -> dict[str, GroupStats]:
        """The stats of ``structure_id``'s peer group on ``channel``."""
        return self.peer_groups.get((channel, self.group_of[structure_id]), {})


def _stats_by(rows: Sequence[ScoreLike]) -> dict[str, GroupStats]:
    return {measure: group_stats(getattr(row, measure) for row in rows) for measure in MEASURES}


def compare(
    rows: Sequence[ScoreLike],
    structures: Mapping[int, StructureInfo],
    settings: ScoringSettings,
) -> Comparisons:
    """Peer, regional and national statistics, and each structure's standing among its peers."""
    group_of = {sid: peer_group(info, settings) for sid, info in structures.items()}
    by_group: dict[tuple[str, str], list[ScoreLike]] = defaultdict(list)
    by_region: dict[tuple[str, str], list[ScoreLike]] = defaultdict(list)
    by_channel: dict[str, list[ScoreLike]] = defaultdict(list)
    for row in rows:
        by_group[(row.channel, group_of[row.structure_id])].append(row)
        by_region[(row.channel, structures[row.structure_id].region)].append(row)
        by_channel[row.channel].append(row)
    standings: dict[tuple[int, str], Standing] = {}
    for (channel, group), members in by_group.items():
        ordered = sorted(row.score for row in members if row.score is not None)
        enough = len(ordered) >= settings.min_peers
        for row in members:
            value = row.score
            standings[(row.structure_id, channel)] = Standing(
                structure_id=row.structure_id,
                channel=channel,
                peer_group=group,
                peers=len(ordered),
                percentile=None if value is None or not enough else _percentile_in(value, ordered),
                rank=None if value is None else rank(value, ordered),
            )
    return Comparisons(
        peer_groups={key: _stats_by(members) for key, members in by_group.items()},
        regions={key: _stats_by(members) for key, members in by_region.items()},
        national={channel: _stats_by(members) for channel, members in by_channel.items()},
        standings=standings,
        group_of=group_of,
    )


@dataclass(frozen=True, slots=True)
class Change:
    """One structure × channel between two waves."""

    structure_id: int
    channel: str
    before: float | None
    after: float | None
    delta: float | None
    contacts_before: int
    contacts_after: int
    conclusive: bool
    """Both waves have at least ``min_sample`` scored contacts and both have a score."""

    def to_json(self) -> dict[str, Any]:
        return {
            "structure_id": self.structure_id,
            "channel": self.channel,
            "before": self.before,
            "after": self.after,
            "delta": self.delta,
            "contacts_before": self.contacts_before,
            "contacts_after": self.contacts_after,
            "conclusive": self.conclusive,
        }


class SampledScore(ScoreLike, Protocol):
    """A score row with its sample size."""

    @property
    def sample_size(self) -> int: ...


def compare_waves(
    before: Sequence[SampledScore],
    after: Sequence[SampledScore],
    *,
    min_sample: int,
    measure: str = "score",
) -> list[Change]:
    """Per structure × channel present in either wave: the change of ``measure``.

    A change is *conclusive* only when both waves scored at least ``min_sample`` contacts: with
    fewer, one unlucky call moves a score by tens of points.
    """
    old = {(row.structure_id, row.channel): row for row in before}
    new = {(row.structure_id, row.channel): row for row in after}
    changes: list[Change] = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        value_a = None if a is None else getattr(a, measure)
        value_b = None if b is None else getattr(b, measure)
        n_a = 0 if a is None else a.sample_size
        n_b = 0 if b is None else b.sample_size
        delta = None if value_a is None or value_b is None else round(value_b - value_a, 1)
        changes.append(
            Change(
                structure_id=key[0],
                channel=key[1],
                before=value_a,
                after=value_b,
                delta=delta,
                contacts_before=n_a,
                contacts_after=n_b,
                conclusive=delta is not None and min(n_a, n_b) >= min_sample,
            )
        )
    return changes
