"""``prober trophies WAVE --out FILE.csv|.pdf``: the rankings per peer group and channel, for the
ceremony, with the workspace page behind each winner for operators."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prober.cli.output import console, table
from prober.cli.project import criteria_grid, project
from prober.errors import UsageError

trophies_app = typer.Typer()


@trophies_app.command("trophies")
def trophies_command(
    wave: Annotated[str, typer.Argument(help="The scored wave to rank.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write FILE.csv or FILE.pdf (else: a table).")
    ] = None,
    min_contacts: Annotated[
        int | None,
        typer.Option(
            "--min-contacts",
            min=1,
            help="Scored contacts a structure needs on a channel to compete"
            " (default: scoring.min_sample).",
        ),
    ] = None,
    criteria: Annotated[
        Path | None, typer.Option("--criteria", help="Criteria grid (default: criteria_file).")
    ] = None,
) -> None:
    """Rank WAVE's structures per peer group and channel (docs/trophies.md gives the rules)."""
    from prober.results.published import NotScoredError, load_results
    from prober.results.reports.context import header
    from prober.results.reports.render import render_html, write_pdf
    from prober.results.trophies import trophies, write_csv

    suffix = None if out is None else out.suffix.lower()
    if suffix not in (None, ".csv", ".pdf"):
        raise UsageError(f"--out {out}: expected a file ending in .csv or .pdf")
    opened = project()
    grid = criteria_grid(opened.settings, criteria)
    needed = opened.settings.scoring.min_sample if min_contacts is None else min_contacts
    with opened.session() as session:
        try:
            results = load_results(session, wave, grid, opened.settings.scoring)
        except NotScoredError as error:
            raise UsageError(str(error)) from None
    podiums = trophies(results, min_contacts=needed)
    if out is None:
        rows = [
            (p.peer_group, p.channel, f"{r.rank}{' ex aequo' if r.ex_aequo else ''}",
             r.official_id, r.name, r.score, r.contacts, r.evidence)
            for p in podiums
            for r in p.ranked
        ]  # fmt: skip
        columns = ("peer group", "channel", "rank", "official id", "name", "score", "contacts")
        console.print(table(*columns, "evidence", rows=rows))
        return
    try:
        if suffix == ".csv":
            lines = write_csv(podiums, out)
            size = f"{lines} rows"
        else:
            context = {"header": header(results), "podiums": podiums, "min_contacts": needed}
            pages = write_pdf(render_html("trophies", context), out, base_url=out.parent)
            size = f"{pages} pages"
    except OSError as error:
        raise UsageError(f"--out {out}: cannot write it ({error.strerror})") from None
    winners = sum(len(p.winners) for p in podiums)
    console.print(
        f"wrote {out}: {len(podiums)} peer group × channel rankings, {winners} winner(s),"
        f" at least {needed} contacts to compete, {size}",
        highlight=False,
        soft_wrap=True,
    )
