"""Importing structure files into the store: all or nothing, unless asked to skip bad rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from config.errors import MAX_PROBLEMS_LISTED, InvalidFileError, Problem
from config.structures import (
    RejectedRow,
    RejectsWriter,
    StructureRecord,
    StructureRows,
    open_structure_file,
)
from prober.project import Project
from storage.structures import UpsertCounts, upsert_structures


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did."""

    path: Path
    file_format: str
    counts: UpsertCounts
    rejected: int
    rejected_file: Path | None


def import_structures(
    project: Project,
    path: Path,
    *,
    file_format: Literal["auto", "csv", "annuaire"] = "auto",
    skip_invalid: bool = False,
    rejected_file: Path | None = None,
) -> ImportReport:
    """Read ``path`` and upsert its structures by official id.

    Any invalid row rejects the whole file (:class:`InvalidFileError`, nothing written; reading
    stops after ``MAX_PROBLEMS_LISTED`` problems) unless ``skip_invalid``: then valid rows are
    imported and the others written, as they are read, to ``rejected_file`` (default:
    ``<file>.rejected.csv`` or ``.rejected.json`` beside the input) with the reason.
    """
    with open_structure_file(path, file_format=file_format) as rows:
        if skip_invalid:
            records, rejected, written = _keep_valid(rows, rejected_file)
        else:
            records, rejected, written = _all_valid(rows), 0, None
    with project.session() as session:
        counts = upsert_structures(session, records, source=f"{rows.format}:{path.name}")
    return ImportReport(
        path=path,
        file_format=rows.format,
        counts=counts,
        rejected=rejected,
        rejected_file=written,
    )


def _all_valid(rows: StructureRows) -> list[StructureRecord]:
    """Every record, or :class:`InvalidFileError` with the problems (the first 100 or so)."""
    records: list[StructureRecord] = []
    problems: list[Problem] = []
    for item in rows.items:
        if isinstance(item, StructureRecord):
            records.append(item)
            continue
        problems.extend(item.problems)
        if len(problems) >= MAX_PROBLEMS_LISTED:
            raise InvalidFileError(
                rows.path,
                problems,
                stopped_at_line=item.line,
                rows_not_checked=rows.count_rest(),
            )
    if problems:
        raise InvalidFileError(rows.path, problems)
    return records


def _keep_valid(
    rows: StructureRows, rejected_file: Path | None
) -> tuple[list[StructureRecord], int, Path | None]:
    records: list[StructureRecord] = []
    writer: RejectsWriter | None = None
    suffix = ".rejected.csv" if rows.format == "csv" else ".rejected.json"
    out = rejected_file or rows.path.with_name(rows.path.stem + suffix)
    try:
        for item in rows.items:
            if isinstance(item, RejectedRow):
                writer = writer or RejectsWriter(rows.format, rows.columns, out)
                writer.write(item)
            else:
                records.append(item)
    except InvalidFileError:
        if writer is not None:
            writer.close()
            out.unlink(missing_ok=True)
        raise
    if writer is None:
        return records, 0, None
    writer.close()
    return records, writer.count, out
