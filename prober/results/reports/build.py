"""``prober report``: choose the structures and the kind, build the context, write the file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlmodel import Session

from config.criteria import CriteriaGrid
from config.settings import Settings
from prober.errors import UsageError
from prober.results.published import (
    WaveResults,
    ensure_scored,
    load_results,
    structure_detail,
    wave_changes,
)
from prober.results.reports import context, exports
from prober.results.reports.render import render_html, write_pdf
from prober.results.scoring.model import ChannelScore
from storage.waves import get_wave

Kind = Literal["synthetic", "detailed", "multisite", "overview"]
Format = Literal["html", "pdf", "csv", "xlsx", "json"]
KINDS: tuple[Kind, ...] = ("synthetic", "detailed", "multisite", "overview")
FORMATS: tuple[Format, ...] = ("html", "pdf", "csv", "xlsx", "json")


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """What ``prober report`` was asked for."""

    wave: str
    format: Format
    out: Path
    kind: Kind | None = None
    structure: str | None = None
    organisation: str | None = None
    compare_with: str | None = None


@dataclass(frozen=True, slots=True)
class ReportWritten:
    """What was written, for the command's summary line."""

    kind: Kind
    path: Path
    structures: int
    rows: int | None = None
    pages: int | None = None
    scored: tuple[str, ...] = ()
    """Waves that had no scores under the grid and were scored first."""


def check_request(request: ReportRequest) -> None:
    """Reject contradictory options before touching the database."""
    if request.format not in FORMATS:
        raise UsageError(f"--format {request.format}: expected one of {', '.join(FORMATS)}")
    if request.kind is not None and request.kind not in KINDS:
        raise UsageError(f"--kind {request.kind}: expected one of {', '.join(KINDS)}")
    if request.structure is not None and request.organisation is not None:
        raise UsageError("give --structure or --organisation, not both")
    kind = request.kind
    if kind == "detailed" and request.structure is None:
        raise UsageError("--kind detailed: name the structure with --structure OFFICIAL_ID")
    if kind == "multisite" and request.organisation is None:
        raise UsageError("--kind multisite: choose the structures with --organisation NAME")
    if kind == "overview" and (request.structure or request.organisation):
        raise UsageError("--kind overview covers the whole wave: drop --structure/--organisation")
    if kind == "overview" and request.format in ("csv", "xlsx"):
        raise UsageError(
            f"--kind overview has no {request.format.upper()} form: use --format html, pdf or"
            f" json, or --kind synthetic for one {request.format.upper()} row per structure"
        )
    folder = request.out.parent
    if not folder.is_dir():
        raise UsageError(f"--out {request.out}: no folder {folder}; create it first")
    if request.out.is_dir():
        raise UsageError(f"--out {request.out}: is a folder; give a file name")


def default_kind(request: ReportRequest) -> Kind:
    """Detailed for a structure, multisite for an organisation; else overview or synthetic."""
    if request.kind is not None:
        return request.kind
    if request.structure is not None:
        return "detailed"
    if request.organisation is not None:
        return "multisite"
    return "overview" if request.format in ("html", "pdf") else "synthetic"


def _scored(session: Session, wave: str, grid: CriteriaGrid) -> bool:
    return ensure_scored(session, get_wave(session, wave), grid)


def _selection(results: WaveResults, request: ReportRequest) -> list[int] | None:
    if request.structure is not None:
        return [context.structure_by_official_id(results, request.structure)]
    if request.organisation is not None:
        return context.organisation_members(results, request.organisation)
    return None


def _all_ids(results: WaveResults) -> list[int]:
    structures = results.structures
    return sorted(structures, key=lambda sid: (structures[sid].official_id, sid))


def _writing(path: Path, write: Callable[[], Any]) -> Any:
    try:
        return write()
    except OSError as error:
        raise UsageError(
            f"--out {path}: cannot write there ({error.strerror}); choose another path"
        ) from None


def write_report(
    session: Session, settings: Settings, grid: CriteriaGrid, request: ReportRequest
) -> ReportWritten:
    """Score the waves if needed, then write the report ``request`` asks for."""
    check_request(request)
    kind = default_kind(request)
    scored = [name for name in (request.wave, request.compare_with) if name is not None]
    scored = [name for name in scored if _scored(session, name, grid)]
    results = load_results(session, request.wave, grid, settings.scoring)
    selection = _selection(results, request)
    ids = selection if selection is not None else _all_ids(results)
    changes: list[dict[str, Any]] | None = None
    before: WaveResults | None = None
    if request.compare_with is not None:
        before = load_results(session, request.compare_with, grid, settings.scoring)
        changes = wave_changes(before, results, settings.scoring)
    out = request.out
    written = ReportWritten(kind, out, len(ids), scored=tuple(scored))

    if request.format in ("csv", "xlsx"):
        if request.format == "csv":

            def csv_file() -> int:
                with out.open("w", encoding="utf-8", newline="") as stream:
                    rows = exports.synthetic_rows(results, selection)
                    return exports.write_synthetic_rows_csv(rows, stream)

            count = _writing(out, csv_file)
        else:
            count = _writing(out, lambda: exports.write_synthetic_xlsx(results, out, selection))
        return ReportWritten(kind, out, len(ids), rows=count, scored=tuple(scored))

    details: dict[int, Sequence[ChannelScore]] = {}
    if kind == "detailed":
        details = {sid: structure_detail(session, results, grid, sid) for sid in ids}

    if request.format == "json":
        extra: dict[str, Any] = {"kind": kind}
        if changes is not None:
            extra["compare_with"] = request.compare_with
            extra["changes"] = [c for c in changes if selection is None or c["structure_id"] in ids]
        if kind == "detailed":
            _writing(out, lambda: exports.write_detailed_json(results, out, details, extra=extra))
        else:
            document_ids = None if selection is None else ids
            _writing(
                out,
                lambda: exports.write_results_json_with(results, out, document_ids, extra=extra),
            )
        return written

    page = render_html(
        kind,
        _html_context(
            session, settings, grid, results, kind, ids, details, request, changes, before
        ),
    )
    if request.format == "html":
        _writing(out, lambda: out.write_text(page, encoding="utf-8"))
        return written
    pages = _writing(out, lambda: write_pdf(page, out, base_url=out.parent))
    return ReportWritten(kind, out, len(ids), pages=pages, scored=tuple(scored))


def _html_context(
    session: Session,
    settings: Settings,
    grid: CriteriaGrid,
    results: WaveResults,
    kind: Kind,
    ids: list[int],
    details: dict[int, Sequence[ChannelScore]],
    request: ReportRequest,
    changes: list[dict[str, Any]] | None,
    before: WaveResults | None,
) -> dict[str, Any]:
    compare_with = request.compare_with
    if kind == "overview":
        return context.overview_context(results, changes, compare_with, before)
    if kind == "multisite":
        name = request.organisation or ""
        return context.multisite_context(results, grid, ids, name, changes, compare_with)
    if kind == "synthetic":
        return context.synthetic_context(results, grid, ids, changes, compare_with)
    return context.detailed_context(
        session,
        results,
        grid,
        ids[0],
        details[ids[0]],
        recordings_dir=settings.resolve(settings.recordings_dir).resolve(),
        out_dir=request.out.parent.resolve(),
        changes=changes,
        compare_with=compare_with,
    )
