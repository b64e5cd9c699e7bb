"""A wave's results as files for other systems: CSV and XLSX rows, JSON documents.

Written for waves of tens of thousands of structures: rows are streamed, scores are grouped
by structure once, and the comparisons come precomputed with the results.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from config.cells import FORMULA_STARTS, SafeDictWriter, sheet_title
from prober.results.published import WaveResults
from prober.results.scoring.model import ChannelScore

SYNTHETIC_COLUMNS = (
    "wave",
    "official_id",
    "name",
    "kind",
    "departement",
    "region",
    "population",
    "peer_group",
    "channel",
    "score",
    "accessibility",
    "responsiveness",
    "quality",
    "contacts",
    "probes",
    "excluded",
    "pending",
    "peer_structures",
    "peer_mean",
    "peer_median",
    "percentile",
    "rank",
    "region_mean",
    "national_mean",
    "answer_rate",
    "median_rings",
    "median_hold_s",
    "bounce_rate",
    "reply_rate",
    "median_reply_hours",
    "median_reply_working_days",
    "site_reachable_rate",
    "median_load_s",
)
"""Columns of the synthetic CSV and XLSX exports, documented in docs/reports.md."""

_FIGURE_COLUMNS = (
    "answer_rate",
    "median_rings",
    "median_hold_s",
    "bounce_rate",
    "reply_rate",
    "median_reply_hours",
    "median_reply_working_days",
    "site_reachable_rate",
    "median_load_s",
)


def _ordered_ids(results: WaveResults, structure_ids: Sequence[int] | None) -> list[int]:
    if structure_ids is not None:
        return list(structure_ids)
    structures = results.structures
    return sorted(structures, key=lambda sid: (structures[sid].official_id, sid))


def synthetic_rows(
    results: WaveResults, structure_ids: Sequence[int] | None = None
) -> Iterator[dict[str, Any]]:
    """One flat row per structure × channel (``SYNTHETIC_COLUMNS``), by official id."""
    comparisons = results.comparisons
    wave = results.wave.name
    for structure_id in _ordered_ids(results, structure_ids):
        info = results.structures[structure_id]
        group = comparisons.group_of[structure_id]
        for score in results.of_structure(structure_id):
            channel = score.channel
            standing = comparisons.standings.get((structure_id, channel))
            peers = comparisons.peer_groups.get((channel, group), {}).get("score")
            region = comparisons.regions.get((channel, info.region), {}).get("score")
            national = comparisons.national.get(channel, {}).get("score")
            figures: Mapping[str, Any] = score.details.get("figures", {})
            row: dict[str, Any] = {
                "wave": wave,
                "official_id": info.official_id,
                "name": info.name,
                "kind": info.kind,
                "departement": info.departement,
                "region": info.region,
                "population": info.population,
                "peer_group": group,
                "channel": channel,
                "score": score.score,
                "accessibility": score.accessibility,
                "responsiveness": score.responsiveness,
                "quality": score.quality,
                "contacts": score.sample_size,
                "probes": score.details.get("probes", 0),
                "excluded": score.details.get("excluded", 0),
                "pending": score.details.get("pending", 0),
                "peer_structures": None if standing is None else standing.peers,
                "peer_mean": None if peers is None else peers.mean,
                "peer_median": None if peers is None else peers.median,
                "percentile": None if standing is None else standing.percentile,
                "rank": None if standing is None else standing.rank,
                "region_mean": None if region is None else region.mean,
                "national_mean": None if national is None else national.mean,
            }
            for key in _FIGURE_COLUMNS:
                row[key] = figures.get(key)
            yield row


def write_synthetic_rows_csv(rows: Iterator[dict[str, Any]], out: TextIO) -> int:
    """Write rows as RFC 4180 CSV (comma, CRLF, header); returns how many.

    Text that a spreadsheet would run as a formula is prefixed with ``'`` (``config.cells``).
    """
    writer = SafeDictWriter(out, SYNTHETIC_COLUMNS)
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def write_synthetic_csv(results: WaveResults, path: Path) -> None:
    """Every structure's synthetic results as CSV, one row per structure × channel."""
    with path.open("w", encoding="utf-8", newline="") as out:
        write_synthetic_rows_csv(synthetic_rows(results), out)


def write_synthetic_xlsx(
    results: WaveResults, path: Path, structure_ids: Sequence[int] | None = None
) -> int:
    """The synthetic rows as an XLSX sheet with the CSV's columns; returns how many rows.

    Text goes in string cells, never formulas, whatever it starts with.
    """
    # openpyxl takes a while to import: only the XLSX export pays for it.
    from openpyxl import Workbook  # type: ignore[import-untyped]  # noqa: PLC0415
    from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]  # noqa: PLC0415
    from openpyxl.styles import Font  # type: ignore[import-untyped]  # noqa: PLC0415

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title(results.wave.name))
    sheet.freeze_panes = "A2"

    def text_cell(value: object) -> object:
        """Text as a string cell: openpyxl would make a formula of text starting with ``=``."""
        if not isinstance(value, str):
            return value
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        if value.startswith(FORMULA_STARTS):
            cell.quotePrefix = True  # Excel keeps it text even when someone edits the cell
        return cell

    bold = Font(bold=True)
    header = []
    for column in SYNTHETIC_COLUMNS:
        cell = WriteOnlyCell(sheet, value=column)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    count = 0
    for row in synthetic_rows(results, structure_ids):
        sheet.append([text_cell(row[column]) for column in SYNTHETIC_COLUMNS])
        count += 1
    workbook.save(path)
    return count


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _write_document(
    results: WaveResults,
    out: TextIO,
    structure_ids: Sequence[int] | None,
    *,
    details: Mapping[int, Sequence[ChannelScore]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    head = results.to_json(structure_ids=[])
    head.pop("results")
    head.update(extra or {})
    out.write("{\n")
    for key, value in head.items():
        out.write(f"{_dump(key)}: {_dump(value)},\n")
    out.write('"results": [')
    ids = sorted(results.structures) if structure_ids is None else list(structure_ids)
    for number, structure_id in enumerate(ids):
        item = results.structure_json(structure_id)
        if details is not None:
            item["detail"] = {
                score.channel: score.to_json(with_contacts=True)["contacts_detail"]
                for score in details.get(structure_id, ())
            }
        out.write(",\n" if number else "\n")
        out.write(_dump(item))
    out.write("\n]}\n")


def write_results_json(
    results: WaveResults, path: Path, structure_ids: Sequence[int] | None = None
) -> None:
    """``WaveResults.to_json`` (all structures, or ``structure_ids``) streamed to ``path``."""
    with path.open("w", encoding="utf-8") as out:
        _write_document(results, out, structure_ids)


def write_detailed_json(
    results: WaveResults,
    path: Path,
    details: Mapping[int, Sequence[ChannelScore]],
    *,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """The results of the structures in ``details``, each with its contacts' verdicts."""
    with path.open("w", encoding="utf-8") as out:
        _write_document(results, out, list(details), details=details, extra=extra)


def write_results_json_with(
    results: WaveResults,
    path: Path,
    structure_ids: Sequence[int] | None,
    *,
    extra: Mapping[str, Any],
) -> None:
    """``write_results_json`` with ``extra`` keys (kind, changes) beside the header."""
    with path.open("w", encoding="utf-8") as out:
        _write_document(results, out, structure_ids, extra=extra)
