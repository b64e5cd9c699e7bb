"""Trophies: per peer group and channel, the ranking of a wave's structures by the rules of the
barometer, exported for the ceremony (CSV, PDF) with the evidence behind each winner.

Rules:
- only structures with at least ``min_contacts`` scored contacts on the channel compete (fewer
  cannot be told from luck); those left out are counted;
- the channel score decides; equal scores are split by the accessibility index, then the
  responsiveness index (a missing index counts below any value);
- equal on all three: ex aequo, the same rank, and the next rank skips (1, 1, 3); every
  structure ranked first wins a trophy.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from prober.results.published import CHANNEL_ORDER, WaveResults
from storage.models import Score

TOP = 3
"""Ranks shown per peer group and channel."""

CSV_COLUMNS = (
    "peer_group", "channel", "rank", "ex_aequo", "winner", "official_id", "name", "score",
    "accessibility", "responsiveness", "quality", "contacts", "evidence",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Ranked:
    rank: int
    ex_aequo: bool
    structure_id: int
    official_id: str
    name: str
    score: float
    accessibility: float | None
    responsiveness: float | None
    quality: float | None
    contacts: int
    evidence: str
    """The workspace page where operators see this structure's contacts and their evidence."""


@dataclass(frozen=True, slots=True)
class Podium:
    peer_group: str
    channel: str
    ranked: list[Ranked]
    """Ranks 1 to ``TOP`` (more when ex aequo), best first."""
    competing: int
    too_few_contacts: int

    @property
    def winners(self) -> list[Ranked]:
        return [entry for entry in self.ranked if entry.rank == 1]


@dataclass(frozen=True, slots=True)
class Trophy:
    """A trophy one structure won: first (maybe ex aequo) of a peer group on a channel."""

    peer_group: str
    channel: str
    ex_aequo: bool
    competing: int


def won_by(podiums: Sequence[Podium], structure_id: int) -> list[Trophy]:
    """The trophies ``structure_id`` won in ``podiums``, in their order."""
    return [
        Trophy(podium.peer_group, podium.channel, entry.ex_aequo, podium.competing)
        for podium in podiums
        for entry in podium.winners
        if entry.structure_id == structure_id
    ]


def _key(score: Score) -> tuple[float, float, float]:
    def value(figure: float | None) -> float:
        return -1.0 if figure is None else figure

    return (value(score.score), value(score.accessibility), value(score.responsiveness))


def evidence_path(wave: str, official_id: str) -> str:
    return f"/resultats/{quote(wave, safe='')}/{quote(official_id, safe='')}"


def rank_scores(scores: Sequence[Score]) -> list[tuple[int, bool, Score]]:
    """(rank, ex aequo, score), best first, by the tie rules of this module."""
    ordered = sorted(scores, key=_key, reverse=True)
    keys = [_key(score) for score in ordered]
    ranked = []
    for place, score in enumerate(ordered):
        first = keys.index(keys[place])
        tied = keys.count(keys[place]) > 1
        ranked.append((first + 1, tied, score))
    return ranked


def trophies(results: WaveResults, *, min_contacts: int, top: int = TOP) -> list[Podium]:
    """Every peer group × channel of the wave, ranked; groups in name order, channels in the
    usual order."""
    groups: dict[tuple[str, str], list[Score]] = {}
    for score in results.scores:
        group = results.comparisons.group_of[score.structure_id]
        groups.setdefault((group, score.channel), []).append(score)
    podiums = []
    for (group, channel), scores in sorted(
        groups.items(), key=lambda item: (item[0][0], CHANNEL_ORDER.get(item[0][1], 9))
    ):
        competing = [s for s in scores if s.score is not None and s.sample_size >= min_contacts]
        ranked = []
        for rank, tied, score in rank_scores(competing):
            if rank > top:
                break
            assert score.score is not None  # noqa: S101 - filtered above
            info = results.structures[score.structure_id]
            ranked.append(
                Ranked(
                    rank=rank, ex_aequo=tied, structure_id=score.structure_id,
                    official_id=info.official_id, name=info.name, score=score.score,
                    accessibility=score.accessibility, responsiveness=score.responsiveness,
                    quality=score.quality, contacts=score.sample_size,
                    evidence=evidence_path(results.wave.name, info.official_id),
                )
            )  # fmt: skip
        podiums.append(Podium(group, channel, ranked, len(competing), len(scores) - len(competing)))
    return podiums


def csv_rows(podiums: Sequence[Podium]) -> list[dict[str, Any]]:
    return [
        {
            "peer_group": podium.peer_group,
            "channel": podium.channel,
            "rank": entry.rank,
            "ex_aequo": "oui" if entry.ex_aequo else "non",
            "winner": "oui" if entry.rank == 1 else "non",
            "official_id": entry.official_id,
            "name": entry.name,
            "score": entry.score,
            "accessibility": entry.accessibility,
            "responsiveness": entry.responsiveness,
            "quality": entry.quality,
            "contacts": entry.contacts,
            "evidence": entry.evidence,
        }
        for podium in podiums
        for entry in podium.ranked
    ]


def write_csv(podiums: Sequence[Podium], path: Path) -> int:
    """The rankings as CSV (UTF-8, one line per ranked structure); the lines written."""
    rows = csv_rows(podiums)
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in rows:
            # A name starting with = + - @ would be a formula in a spreadsheet.
            writer.writerow(
                {
                    key: f"'{value}" if isinstance(value, str) and value[:1] in "=+-@" else value
                    for key, value in row.items()
                }
            )
    return len(rows)
