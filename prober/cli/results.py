"""``prober score``: judge a wave's contacts against the criteria grid and keep the scores."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from prober.cli.output import console
from prober.cli.project import criteria_grid, project
from prober.errors import UsageError
from storage.waves import get_wave

results_app = typer.Typer()


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
    from prober.results.scoring.wave import score_wave, store_scoring
    from prober.results.tables import scores_table

    opened = project()
    grid = criteria_grid(opened.settings, criteria)
    with opened.session() as session:
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
    opened = project()
    grid = criteria_grid(opened.settings, criteria)
    with opened.session() as session:
        written = write_report(session, opened.settings, grid, request)
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
