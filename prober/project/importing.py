"""Importing structure files into the store: all or nothing, unless asked to skip bad rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from config.errors import InvalidFileError
from config.structures import read_structure_file, write_rejected
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

    Any invalid row rejects the whole file (:class:`InvalidFileError`, nothing written) unless
    ``skip_invalid``: then valid rows are imported and the others written to ``rejected_file``
    (default: ``<file>.rejected.csv`` or ``.rejected.json`` beside the input) with the reason.
    """
    structure_file = read_structure_file(path, file_format=file_format)
    if structure_file.rejected and not skip_invalid:
        raise InvalidFileError(path, structure_file.problems)
    written: Path | None = None
    if structure_file.rejected:
        suffix = ".rejected.csv" if structure_file.format == "csv" else ".rejected.json"
        written = rejected_file or path.with_name(path.stem + suffix)
        write_rejected(structure_file, written)
    with project.session() as session:
        counts = upsert_structures(
            session, structure_file.records, source=f"{structure_file.format}:{path.name}"
        )
    return ImportReport(
        path=path,
        file_format=structure_file.format,
        counts=counts,
        rejected=len(structure_file.rejected),
        rejected_file=written,
    )
