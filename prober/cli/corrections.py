"""``prober corrections``: what a wave found wrong with the structures' directory entries."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from prober.cli.output import console, table
from prober.cli.project import project


def corrections(
    wave: Annotated[str, typer.Argument(help="The wave whose findings to list.")],
    out: Annotated[Path, typer.Option("--out", help="The CSV file to write.")],
) -> None:
    """Write one CSV row per thing WAVE found wrong with a structure's directory entry.

    Numbers not in service or never answered, addresses that bounce, websites down or moved,
    and phones, addresses or opening hours that differ from the structure's own site: each with
    the events that show it and the value to publish instead when the wave saw one
    (docs/corrections.md).
    """
    from prober.project.files import write_atomically
    from prober.results.corrections import DESCRIPTIONS, find_corrections, write_corrections_csv
    from storage.corrections import wave_observations
    from storage.waves import get_wave

    opened = project()
    with opened.session() as session:
        wave_row = get_wave(session, wave)
        assert wave_row.id is not None  # noqa: S101 - a stored wave
        found = find_corrections(wave_observations(session, wave_row.id))
    buffer = io.StringIO(newline="")
    rows = write_corrections_csv(found, buffer)
    write_atomically(out, buffer.getvalue().encode("utf-8"))
    counts = Counter(correction.problem for correction in found)
    console.print(
        table(
            "problem",
            "description",
            "rows",
            rows=[(problem, DESCRIPTIONS[problem], n) for problem, n in sorted(counts.items())],
            title=f"{wave}: corrections de l'annuaire",
        )
    )
    structures = len({correction.official_id for correction in found})
    console.print(f"wrote {out}: {rows} row(s), {structures} structure(s)", highlight=False)
