"""``prober score``: judge a wave's contacts against the criteria grid and keep the scores."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from config.criteria import CriteriaGrid, load_criteria
from config.settings import Settings
from prober.errors import UsageError
from prober.results.scoring.model import ChannelScore

results_app = typer.Typer()


def _project() -> Any:
    from prober.cli import _open

    return _open()


def load_grid(settings: Settings, path: Path | None) -> CriteriaGrid:
    """The grid at ``path``, or the project's ``criteria_file``."""
    chosen = path if path is not None else settings.resolve(settings.criteria_file)
    if not chosen.exists():
        raise UsageError(
            f"{chosen}: no criteria grid there; set criteria_file in prober.toml,"
            " pass --criteria, or run `prober init` to get the default grid"
        )
    return load_criteria(chosen)


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of: expected an ISO 8601 instant, got {text!r}") from None
    if moment.tzinfo is None:
        raise UsageError(f"--as-of: give a time zone offset, e.g. {text}+01:00")
    return moment


def scores_table(scores: Sequence[ChannelScore], title: str) -> Table:
    """Per channel: structures, contacts, pending contacts and the mean score and indices."""
    from prober.results.scoring.compare import group_stats

    def mean(values: list[float | None]) -> str:
        stats = group_stats(values)
        return "—" if stats.mean is None else f"{stats.mean:.1f}"

    table = Table(
        "channel", "structures", "contacts", "pending", "mean score", "accessibility",
        "responsiveness", "quality", title=title,
    )  # fmt: skip
    for channel in ("phone", "email", "letter"):
        rows = [row for row in scores if row.channel == channel]
        if rows:
            table.add_row(
                channel,
                str(len(rows)),
                str(sum(row.contacts for row in rows)),
                str(sum(row.pending for row in rows)),
                mean([row.score for row in rows]),
                mean([row.accessibility for row in rows]),
                mean([row.responsiveness for row in rows]),
                mean([row.quality for row in rows]),
            )
    return table


@results_app.command("score")
def score(
    wave: Annotated[str, typer.Argument(help="The wave to score.")],
    criteria: Annotated[
        Path | None, typer.Option("--criteria", help="Criteria grid (default: criteria_file).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Judge replies still awaited at this instant (ISO 8601; default: now).",
        ),
    ] = None,
) -> None:
    """Score every structure of WAVE on each channel, replacing the wave's scores for the grid.

    Reads the stored measurements; raw events, calls and replies are never changed, so a
    changed grid is applied by scoring again.
    """
    from prober.cli import console
    from prober.results.scoring.wave import score_wave, store_scoring
    from storage.waves import get_wave

    project = _project()
    grid = load_grid(project.settings, criteria)
    with project.session() as session:
        wave_row = get_wave(session, wave)
        scoring = score_wave(session, wave_row, grid, as_of=_instant(as_of))
        store_scoring(session, wave_row, scoring)
    console.print(scores_table(scoring.scores, f"{wave}: scored under {grid.name!r}"))


@results_app.command("report")
def report(
    wave: Annotated[str, typer.Argument(help="The wave to report on.")],
    out: Annotated[Path, typer.Option("--out", help="The file to write.")],
    output_format: Annotated[
        str, typer.Option("--format", help="html, pdf, csv, xlsx or json.")
    ] = "html",
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="synthetic, detailed, multisite or overview (default: from the other options).",
        ),
    ] = None,
    structure: Annotated[
        str | None,
        typer.Option("--structure", help="One structure, by official id (detailed report)."),
    ] = None,
    organisation: Annotated[
        str | None,
        typer.Option(
            "--organisation",
            help="Structures whose name contains NAME, case and accents ignored (multisite).",
        ),
    ] = None,
    criteria: Annotated[
        Path | None, typer.Option("--criteria", help="Criteria grid (default: criteria_file).")
    ] = None,
    compare_with: Annotated[
        str | None,
        typer.Option("--compare-with", help="An earlier wave: show each score's change."),
    ] = None,
) -> None:
    """Write a report on WAVE's scores; the wave is scored first if it has no scores yet.

    See docs/reports.md for each kind, format and column.
    """
    import sys

    from prober.cli import console
    from prober.results.reports.build import (
        FORMATS,
        KINDS,
        ReportRequest,
        check_request,
        write_report,
    )

    if output_format not in FORMATS:
        raise UsageError(f"--format {output_format}: expected one of {', '.join(FORMATS)}")
    if kind is not None and kind not in KINDS:
        raise UsageError(f"--kind {kind}: expected one of {', '.join(KINDS)}")
    request = ReportRequest(
        wave=wave,
        format=output_format,
        out=out,
        kind=kind,
        structure=structure,
        organisation=organisation,
        compare_with=compare_with,
    )
    check_request(request)
    project = _project()
    grid = load_grid(project.settings, criteria)
    with project.session() as session:
        written = write_report(session, project.settings, grid, request)
    for name in written.scored:
        print(  # noqa: T201 - a note beside the report, not its content
            f"wave {name!r} had no scores under the grid {grid.name!r}: scored it first"
            f" (as `prober score {name}` does)",
            file=sys.stderr,
        )
    size = ""
    if written.rows is not None:
        size = f", {written.rows} rows"
    elif written.pages is not None:
        size = f", {written.pages} pages"
    console.print(
        f"wrote {written.path}: {written.kind} report, {written.structures} structure(s){size}",
        highlight=False,
        soft_wrap=True,
    )
