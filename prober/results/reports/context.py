"""What each report shows, built from a wave's results: plain dicts the templates read.

No wording here: labels, titles and recommendations come from ``texts.toml`` and the
templates; this module chooses and computes the figures.
"""

from __future__ import annotations

import os
import tomllib
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from config.criteria import CriteriaGrid, Criterion
from prober.errors import UsageError
from prober.results.published import CHANNEL_ORDER, WaveResults, structure_facts_json
from prober.results.recommendations import channel_recommendations, strengths
from prober.results.reports.charts import distribution_svg
from prober.results.scoring.compare import MEASURES
from prober.results.scoring.model import ChannelScore, ContactScore, CriterionResult
from prober.results.timeline_strip import segments_from, timeline_strip_svg
from storage.call_measurements import audio_measurements
from storage.models import CallMeasurement, Recording, Score

TOP_PER_GROUP = 3
"""Structures listed per peer group in the wave overview's rankings (the yearly trophies)."""
LARGEST_CHANGES = 15
"""Changes listed per channel in the overview's comparison with another wave."""


@cache
def texts() -> dict[str, Any]:
    """The reports' labels and recommendations (``texts.toml``)."""
    source = resources.files("prober.results.reports").joinpath("texts.toml").read_text("utf-8")
    return tomllib.loads(source)


def recommendation(criterion_id: str) -> str:
    """What to do about a failed criterion."""
    advice: dict[str, str] = texts()["recommendations"]
    return advice.get(criterion_id, advice["default"])


# ---------------------------------------------------------------- choosing structures


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def structure_by_official_id(results: WaveResults, official_id: str) -> int:
    """The id of the structure with ``official_id`` among the wave's scored structures."""
    for structure_id, info in results.structures.items():
        if info.official_id == official_id:
            return structure_id
    raise UsageError(
        f"--structure {official_id}: no structure with this official id was scored in wave"
        f" {results.wave.name!r}; `prober structures list` shows the official ids"
    )


def organisation_members(results: WaveResults, name: str) -> list[int]:
    """Structures whose name contains ``name``, ignoring case and accents, by official id."""
    wanted = _folded(name.strip())
    if not wanted:
        raise UsageError("--organisation: give part of the structures' name, e.g. 'CAF'")
    structures = results.structures
    members = [sid for sid, info in structures.items() if wanted in _folded(info.name)]
    if not members:
        raise UsageError(
            f"--organisation {name!r}: no structure scored in wave {results.wave.name!r} has"
            " this in its name (case and accents ignored)"
        )
    return sorted(members, key=lambda sid: structures[sid].official_id)


# ---------------------------------------------------------------- shared pieces


def header(results: WaveResults) -> dict[str, Any]:
    """The wave, the grid and when the scores were computed."""
    wave = results.wave
    return {
        "wave": wave.name,
        "starts_on": wave.starts_on,
        "ends_on": wave.ends_on,
        "channels": results.channels(),
        "grid": results.grid,
        "grid_digest": results.grid_digest,
        "computed_at": results.computed_at,
        "as_of": results.as_of,
    }


def structure_facts(results: WaveResults, structure_id: int) -> dict[str, Any]:
    """What a report says of a structure."""
    info = results.structures[structure_id]
    group = results.comparisons.group_of[structure_id]
    return {**structure_facts_json(info, group), "timezone": info.timezone}


def _criteria(grid: CriteriaGrid) -> dict[str, Criterion]:
    return {criterion.id: criterion for criterion in grid.criteria}


def criterion_facts(criterion: Criterion | None, criterion_id: str) -> dict[str, Any]:
    """A criterion's title, source and rule for display (the id alone if the grid lost it)."""
    if criterion is None:
        return {"id": criterion_id, "title": criterion_id, "source": None, "rule": None}
    rule = criterion.rule
    return {
        "id": criterion.id,
        "title": criterion.title,
        "source": criterion.source,
        "index": criterion.index,
        "weight": criterion.weight,
        "kind": criterion.kind,
        "rule": None
        if rule is None
        else {"op": rule.op, "threshold": rule.threshold, "unit": rule.unit},
    }


def channel_summary(
    results: WaveResults,
    score: Score,
    grid: CriteriaGrid,
    change: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A structure's results on one channel beside its peers, its region and the nation."""
    row = results.row_json(score)
    criteria = _criteria(grid)
    tallies: Mapping[str, Mapping[str, Any]] = row["criteria"]
    measures = [
        {
            "key": measure,
            "value": row[measure],
            "peer_mean": row["peers"].get(measure, {}).get("mean"),
            "peer_median": row["peers"].get(measure, {}).get("median"),
            "region_mean": row["region"].get(measure, {}).get("mean"),
            "national_mean": row["national"].get(measure, {}).get("mean"),
        }
        for measure in MEASURES
    ]
    return {
        **row,
        "measures": measures,
        "change": change,
        "tallies": [
            {**criterion_facts(criteria.get(cid), cid), **tally} for cid, tally in tallies.items()
        ],
        "failed": [
            {
                **criterion_facts(criteria.get(cid), cid),
                **tallies[advice.criterion_id],
                "recommendation": advice.text,
                "points": advice.points,
            }
            for advice in channel_recommendations(grid, score.channel, tallies)
            for cid in (advice.criterion_id,)
        ],
        "strengths": [
            {"id": item.criterion_id, "title": item.title, "passed": item.passed}
            for item in strengths(grid, {score.channel: tallies})
        ],
    }


def _changes_by_key(changes: Sequence[Mapping[str, Any]] | None) -> dict[tuple[int, str], Any]:
    return {(c["structure_id"], c["channel"]): c for c in changes or ()}


# ---------------------------------------------------------------- the four report kinds


def synthetic_context(
    results: WaveResults,
    grid: CriteriaGrid,
    structure_ids: Sequence[int],
    changes: Sequence[Mapping[str, Any]] | None = None,
    compare_with: str | None = None,
) -> dict[str, Any]:
    """Each structure's channel scores and first comparison with its peers, one page each."""
    by_key = _changes_by_key(changes)
    return {
        "header": header(results),
        "compare_with": compare_with,
        "structures": [
            {
                "structure": structure_facts(results, sid),
                "channels": [
                    channel_summary(results, score, grid, by_key.get((sid, score.channel)))
                    for score in results.of_structure(sid)
                ],
            }
            for sid in structure_ids
        ],
    }


def multisite_context(
    results: WaveResults,
    grid: CriteriaGrid,
    structure_ids: Sequence[int],
    organisation: str,
    changes: Sequence[Mapping[str, Any]] | None = None,
    compare_with: str | None = None,
) -> dict[str, Any]:
    """Several structures side by side on each channel, with their common failures."""
    by_key = _changes_by_key(changes)
    criteria = _criteria(grid)
    channels: list[dict[str, Any]] = []
    for channel in results.channels():
        rows = []
        failures: dict[str, int] = defaultdict(int)
        for sid in structure_ids:
            score = next((s for s in results.of_structure(sid) if s.channel == channel), None)
            if score is None:
                continue
            summary = channel_summary(results, score, grid, by_key.get((sid, channel)))
            for failed in summary["failed"]:
                failures[failed["id"]] += 1
            rows.append({"structure": structure_facts(results, sid), **summary})
        if rows:
            channels.append(
                {
                    "channel": channel,
                    "rows": rows,
                    "national": results.comparisons.national.get(channel, {}).get("score"),
                    "failures": [
                        {
                            **criterion_facts(criteria.get(cid), cid),
                            "structures": count,
                            "recommendation": recommendation(cid),
                        }
                        for cid, count in sorted(failures.items(), key=lambda item: -item[1])
                    ],
                }
            )
    return {
        "header": header(results),
        "organisation": organisation,
        "structures": [structure_facts(results, sid) for sid in structure_ids],
        "channels": channels,
        "compare_with": compare_with,
    }


def overview_context(
    results: WaveResults,
    changes: Sequence[Mapping[str, Any]] | None = None,
    compare_with: str | None = None,
    before: WaveResults | None = None,
) -> dict[str, Any]:
    """National figures, the best structures of each peer group, regions, and changes."""
    comparisons = results.comparisons
    contacts: dict[str, int] = defaultdict(int)
    pending: dict[str, int] = defaultdict(int)
    members: dict[tuple[str, str], list[Score]] = defaultdict(list)
    for score in results.scores:
        contacts[score.channel] += score.sample_size
        pending[score.channel] += int(score.details.get("pending", 0))
        members[(score.channel, comparisons.group_of[score.structure_id])].append(score)
    channels = []
    for channel in results.channels():
        groups = []
        for (group_channel, group), rows in sorted(members.items()):
            if group_channel != channel:
                continue
            ranked = sorted(
                (row for row in rows if row.score is not None),
                key=lambda row: (-(row.score or 0.0), -row.sample_size),
            )
            groups.append(
                {
                    "group": group,
                    "stats": comparisons.peer_groups[(channel, group)]["score"],
                    "top": [
                        {
                            "rank": comparisons.standings[(row.structure_id, channel)].rank,
                            "structure": structure_facts(results, row.structure_id),
                            "score": row.score,
                            "contacts": row.sample_size,
                        }
                        for row in ranked[:TOP_PER_GROUP]
                    ],
                }
            )
        regions = sorted(
            (
                {"region": region, "stats": stats}
                for (region_channel, region), stats in comparisons.regions.items()
                if region_channel == channel
            ),
            key=lambda item: str(item["region"]),
        )
        channels.append(
            {
                "channel": channel,
                "national": comparisons.national[channel],
                "contacts": contacts[channel],
                "pending": pending[channel],
                "groups": groups,
                "regions": regions,
                "changes": None
                if changes is None
                else _channel_changes(channel, changes, results, before),
            }
        )
    return {
        "header": header(results),
        "channels": channels,
        "compare_with": compare_with,
        "top_per_group": TOP_PER_GROUP,
    }


def _channel_changes(
    channel: str,
    changes: Sequence[Mapping[str, Any]],
    after: WaveResults,
    before: WaveResults | None,
) -> dict[str, Any]:
    rows = [change for change in changes if change["channel"] == channel]
    moved = [row for row in rows if row["delta"] is not None]
    conclusive = [row for row in moved if row["conclusive"]]
    changed = [row for row in moved if row["delta"] != 0]
    national_before = None
    if before is not None:
        national_before = before.comparisons.national.get(channel, {}).get("score")
    national_after = after.comparisons.national.get(channel, {}).get("score")
    mean_before = None if national_before is None else national_before.mean
    mean_after = None if national_after is None else national_after.mean
    return {
        "mean_before": mean_before,
        "mean_after": mean_after,
        "delta": None
        if mean_before is None or mean_after is None
        else round(mean_after - mean_before, 1),
        "compared": len(moved),
        "conclusive": len(conclusive),
        "improved": sum(1 for row in conclusive if row["delta"] > 0),
        "declined": sum(1 for row in conclusive if row["delta"] < 0),
        "largest": sorted(changed, key=lambda row: (-abs(row["delta"]), row["official_id"]))[
            :LARGEST_CHANGES
        ],
    }


# ---------------------------------------------------------------- the detailed report


def recording_paths(session: Session, recording_ids: Sequence[int]) -> dict[int, str | None]:
    """Where each recording's file lies (None while not downloaded)."""
    if not recording_ids:
        return {}
    query = select(col(Recording.id), col(Recording.media_path)).where(
        col(Recording.id).in_(list(recording_ids))
    )
    return {recording_id: path for recording_id, path in session.execute(query)}


def _link(media_path: str, recordings_dir: Path, out_dir: Path) -> dict[str, str]:
    """The recording's path under recordings_dir (shown) and from the report's folder (href)."""
    path = Path(media_path)
    if not path.is_absolute():
        path = recordings_dir / path
    try:
        shown = path.relative_to(recordings_dir).as_posix()
    except ValueError:
        shown = path.name
    href = Path(os.path.relpath(path, out_dir)).as_posix()
    return {"shown": shown, "href": href}


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone)


def _verdict_row(
    result: CriterionResult, criterion: Criterion | None, zone: ZoneInfo
) -> dict[str, Any]:
    return {
        **criterion_facts(criterion, result.criterion_id),
        "verdict": result.verdict,
        "value": result.value,
        "note": result.note,
        "evidence": [
            {
                "id": event.id,
                "kind": event.kind if event.phase is None else f"{event.kind}:{event.phase}",
                "at": _local(event.source_at, zone),
            }
            for event in result.evidence
        ],
        "replies": list(result.replies),
    }


def _audio_facts(row: CallMeasurement | None) -> dict[str, Any] | None:
    """A call's figures from its recording and its timeline strip (None without analysis)."""
    if row is None:
        return None
    details = row.details
    return {
        "rings": row.rings,
        "rings_after_answer": row.rings_after_answer,
        "hold_s": row.hold_s,
        "music_s": row.music_s,
        "announcement_s": row.announcement_s,
        "check": row.check,
        "disagreements": details.get("disagreements", []),
        "strip": timeline_strip_svg(
            segments_from(details.get("segments", [])),
            duration_s=details.get("duration_s"),
            answered_at_s=row.answered_at_s,
            transfer_at_s=details.get("transfer_at_s"),
            strip_id=f"strip-{row.attempt_id}",
        ),
    }


def _contact_row(
    judged: ContactScore,
    criteria: Mapping[str, Criterion],
    zone: ZoneInfo,
    links: Mapping[int, dict[str, str] | None],
    audio: Mapping[int, CallMeasurement] | None = None,
) -> dict[str, Any]:
    contact = judged.contact
    figures = dict(judged.figures)
    measurement = contact.measurement
    for key in ("first_acknowledgement", "first_human_reply"):
        elapsed = figures.get(f"{key}_elapsed_s")
        figures[f"{key}_hours"] = None if elapsed is None else round(elapsed / 3600.0, 1)
    sent_at = measurement.get("sent_at")
    return {
        "probe_id": str(contact.probe_id),
        "attempt": contact.attempt_number,
        "scenario": contact.scenario_id,
        "slot_kind": contact.slot_kind,
        "started_at": _local(contact.started_at, zone),
        "sent_at": None if sent_at is None else _local(datetime.fromisoformat(sent_at), zone),
        "outcome": contact.outcome,
        "figures": figures,
        "recordings": [
            {"id": recording_id, "link": links.get(recording_id)}
            for recording_id in contact.recording_ids
        ],
        "audio": _audio_facts((audio or {}).get(contact.attempt_id)),
        "criteria": [_verdict_row(r, criteria.get(r.criterion_id), zone) for r in judged.results],
        "failed": [r.criterion_id for r in judged.results if r.verdict == "failed"],
    }


def _peer_figures(results: WaveResults, structure_id: int, channel: str, key: str) -> list[float]:
    group = results.comparisons.group_of[structure_id]
    values = []
    for score in results.scores:
        if score.channel != channel or score.structure_id == structure_id:
            continue
        if results.comparisons.group_of[score.structure_id] != group:
            continue
        value = score.details.get("figures", {}).get(key)
        if value is not None:
            values.append(float(value))
    return values


def _threshold(grid: CriteriaGrid, metric: str) -> float | None:
    for criterion in grid.criteria:
        rule = criterion.rule
        if rule is not None and rule.metric == metric and not isinstance(rule.threshold, bool):
            return float(rule.threshold)
    return None


def _charts(
    results: WaveResults, grid: CriteriaGrid, structure_id: int, detail: ChannelScore
) -> list[str]:
    words: Mapping[str, str] = texts()["charts"]
    contacts = detail.contact_scores
    if detail.channel == "phone":
        own = [
            float(c.figures["rings"])
            for c in contacts
            if c.figures.get("rings") is not None and c.contact.outcome == "answered"
        ]
        chart = distribution_svg(
            _peer_figures(results, structure_id, "phone", "median_rings"),
            own,
            title=words["rings_title"],
            axis=words["rings_axis"],
            peers_label=words["rings_peers"],
            own_label=words["rings_this"],
            count_label=words["structures"],
            threshold=_threshold(grid, "rings_to_answer"),
            threshold_label=words["threshold"],
            chart_id=f"rings-{structure_id}",
        )
    elif detail.channel == "email":
        own = [
            round(float(c.figures["first_human_reply_elapsed_s"]) / 3600.0, 2)
            for c in contacts
            if c.figures.get("first_human_reply_elapsed_s") is not None
        ]
        chart = distribution_svg(
            _peer_figures(results, structure_id, "email", "median_reply_hours"),
            own,
            title=words["reply_title"],
            axis=words["reply_axis"],
            peers_label=words["reply_peers"],
            own_label=words["reply_this"],
            count_label=words["structures"],
            chart_id=f"reply-{structure_id}",
        )
    else:
        chart = None
    return [] if chart is None else [chart]


def detailed_context(
    session: Session,
    results: WaveResults,
    grid: CriteriaGrid,
    structure_id: int,
    details: Sequence[ChannelScore],
    *,
    recordings_dir: Path,
    out_dir: Path,
    changes: Sequence[Mapping[str, Any]] | None = None,
    compare_with: str | None = None,
) -> dict[str, Any]:
    """Every contact of a structure with its figures, verdicts and evidence, charts, advice."""
    criteria = _criteria(grid)
    info = results.structures[structure_id]
    zone = ZoneInfo(info.timezone)
    by_key = _changes_by_key(changes)
    recording_ids = [
        rid for detail in details for c in detail.contact_scores for rid in c.contact.recording_ids
    ]
    links = {
        rid: None if path is None else _link(path, recordings_dir, out_dir)
        for rid, path in recording_paths(session, recording_ids).items()
    }
    audio = audio_measurements(
        session,
        [c.contact.attempt_id for detail in details for c in detail.contact_scores],
    )
    stored = {score.channel: score for score in results.of_structure(structure_id)}
    channels = []
    for detail in sorted(details, key=lambda d: CHANNEL_ORDER.get(d.channel, 9)):
        score = stored.get(detail.channel)
        if score is None:
            continue
        summary = channel_summary(results, score, grid, by_key.get((structure_id, detail.channel)))
        channels.append(
            {
                **summary,
                "charts": _charts(results, grid, structure_id, detail),
                "contact_rows": [
                    _contact_row(judged, criteria, zone, links, audio)
                    for judged in detail.contact_scores
                ],
            }
        )
    return {
        "header": header(results),
        "structure": structure_facts(results, structure_id),
        "channels": channels,
        "compare_with": compare_with,
    }
