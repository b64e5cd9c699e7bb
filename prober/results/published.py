"""A wave's published results: stored scores with structure facts and comparisons.

What reports, exports and the API read. Scores are a snapshot (``prober score``); a detailed
view rebuilds the evidence of one structure's contacts from the stored events on demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from config.criteria import CriteriaGrid
from config.settings import ScoringSettings
from prober.errors import ProberError
from prober.results.scoring.compare import Comparisons, compare, compare_waves, peer_group
from prober.results.scoring.model import ChannelScore
from prober.results.scoring.wave import grid_digest, score_wave, store_scoring
from storage import scores as stored
from storage.models import Score, Wave
from storage.waves import get_wave

RESULTS_FORMAT_VERSION = 1
CHANNEL_ORDER = {"phone": 0, "email": 1, "letter": 2, "web": 3}


def structure_facts_json(info: stored.StructureInfo, group: str) -> dict[str, Any]:
    """A structure as results show it, with the peer group it is compared in."""
    return {
        "id": info.id,
        "official_id": info.official_id,
        "name": info.name,
        "kind": info.kind,
        "departement": info.departement,
        "region": info.region,
        "population": info.population,
        "peer_group": group,
    }


class NotScoredError(ProberError):
    """A wave has no stored scores under the grid asked for."""


@dataclass(frozen=True, slots=True)
class WaveResults:
    """Stored scores of a wave (all structures, for fair comparisons) and their comparisons."""

    wave: Wave
    grid: str
    grid_digest: str
    computed_at: datetime
    as_of: datetime
    structures: dict[int, stored.StructureInfo]
    scores: list[Score]
    comparisons: Comparisons
    by_structure: dict[int, list[Score]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        grouped: dict[int, list[Score]] = {}
        for score in self.scores:
            grouped.setdefault(score.structure_id, []).append(score)
        for rows in grouped.values():
            rows.sort(key=lambda row: CHANNEL_ORDER.get(row.channel, len(CHANNEL_ORDER)))
        object.__setattr__(self, "by_structure", grouped)

    def of_structure(self, structure_id: int) -> list[Score]:
        """The structure's scores, one per channel."""
        return self.by_structure.get(structure_id, [])

    def channels(self) -> list[str]:
        """The channels scored in this wave, in the usual order."""
        present = {score.channel for score in self.scores}
        return [channel for channel in CHANNEL_ORDER if channel in present]

    def row_json(self, score: Score) -> dict[str, Any]:
        """One structure × channel with its comparisons."""
        comparisons = self.comparisons
        info = self.structures[score.structure_id]
        standing = comparisons.standings.get((score.structure_id, score.channel))
        region = comparisons.regions.get((score.channel, info.region), {})
        national = comparisons.national.get(score.channel, {})
        details = dict(score.details)
        details.pop("verdicts", None)
        return {
            "channel": score.channel,
            "score": score.score,
            "accessibility": score.accessibility,
            "responsiveness": score.responsiveness,
            "quality": score.quality,
            "contacts": score.sample_size,
            "probes": details.get("probes", 0),
            "excluded": details.get("excluded", 0),
            "pending": details.get("pending", 0),
            "criteria": details.get("criteria", {}),
            "figures": details.get("figures", {}),
            "standing": None if standing is None else standing.to_json(),
            "peers": {
                key: stats.to_json()
                for key, stats in comparisons.peer_stats(score.structure_id, score.channel).items()
            },
            "region": {key: stats.to_json() for key, stats in region.items()},
            "national": {key: stats.to_json() for key, stats in national.items()},
        }

    def structure_json(self, structure_id: int) -> dict[str, Any]:
        """A structure's facts and its results on each channel."""
        info = self.structures[structure_id]
        return {
            "structure": structure_facts_json(info, self.comparisons.group_of[structure_id]),
            "channels": {
                score.channel: self.row_json(score) for score in self.of_structure(structure_id)
            },
        }

    def header_json(self) -> dict[str, Any]:
        """The wave, the grid and when the scores were computed."""
        wave = self.wave
        return {
            "format_version": RESULTS_FORMAT_VERSION,
            "wave": {
                "name": wave.name,
                "starts_on": wave.starts_on.isoformat(),
                "ends_on": wave.ends_on.isoformat(),
                "status": wave.status,
                "channels": list(wave.channels),
            },
            "grid": {"name": self.grid, "digest": self.grid_digest},
            "computed_at": self.computed_at.isoformat(),
            "as_of": self.as_of.isoformat(),
        }

    def to_json(self, structure_ids: Sequence[int] | None = None) -> dict[str, Any]:
        """Header, national figures per channel and the structures' results."""
        ids = sorted(self.structures) if structure_ids is None else list(structure_ids)
        return {
            **self.header_json(),
            "national": {
                channel: {key: stats.to_json() for key, stats in measures.items()}
                for channel, measures in self.comparisons.national.items()
            },
            "results": [self.structure_json(structure_id) for structure_id in ids],
        }


def ensure_scored(session: Session, wave: Wave, grid: CriteriaGrid) -> bool:
    """Score and store ``wave`` when it has no scores under this exact grid; True if it did."""
    assert wave.id is not None  # noqa: S101 - a stored wave
    # One scoring writes all of a grid's rows at once: one row tells which grid content it used.
    if stored.stored_digest(session, wave.id, grid.name) == grid_digest(grid):
        return False
    store_scoring(session, wave, score_wave(session, wave, grid))
    return True


def load_results(
    session: Session, wave_name: str, grid: CriteriaGrid, settings: ScoringSettings
) -> WaveResults:
    """The stored results of ``wave_name`` under ``grid``, with comparisons."""
    wave = get_wave(session, wave_name)
    assert wave.id is not None  # noqa: S101 - a stored wave
    rows = stored.stored_scores(session, wave.id, grid.name)
    if not rows:
        raise NotScoredError(
            f"wave {wave_name!r} has no scores under the grid {grid.name!r}:"
            f" run `prober score {wave_name}` first"
        )
    structures = stored.structures_by_ids(session, sorted({row.structure_id for row in rows}))
    first = rows[0]
    return WaveResults(
        wave=wave,
        grid=grid.name,
        grid_digest=str(first.details.get("grid_digest", "")),
        computed_at=first.computed_at,
        as_of=datetime.fromisoformat(
            str(first.details.get("as_of", first.computed_at.isoformat()))
        ),
        structures=structures,
        scores=rows,
        comparisons=compare(rows, structures, settings),
    )


def structure_detail(
    session: Session, results: WaveResults, grid: CriteriaGrid, structure_id: int
) -> list[ChannelScore]:
    """One structure's contacts judged again with their evidence (events, replies, recordings).

    Judged at the snapshot's ``as_of`` so the verdicts agree with the stored scores.
    """
    scoring = score_wave(
        session,
        results.wave,
        grid,
        as_of=results.as_of,
        structure_ids=[structure_id],
        with_evidence=True,
    )
    return scoring.scores


def wave_changes(
    old: WaveResults, new: WaveResults, settings: ScoringSettings
) -> list[dict[str, Any]]:
    """Per structure × channel, the change of score from the ``old`` wave to the ``new`` one."""
    structures = {**old.structures, **new.structures}
    changes = compare_waves(old.scores, new.scores, min_sample=settings.min_sample)
    return [
        {
            **change.to_json(),
            "official_id": structures[change.structure_id].official_id,
            "name": structures[change.structure_id].name,
            "peer_group": peer_group(structures[change.structure_id], settings),
        }
        for change in changes
    ]
