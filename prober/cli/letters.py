"""``prober letter``: print the due probe letters, record their posting and the answers."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from channels.letter import LetterError
from config.cells import SafeCsvWriter, file_stem
from prober.cli.output import console, safe
from prober.cli.output import table as plain_table
from prober.cli.project import project
from prober.errors import UsageError
from storage.letters import letter_rows

letter_app = typer.Typer(
    no_args_is_help=True,
    help="Letter probes: print them, say when they were posted and what came back.",
)

MANIFEST_COLUMNS = ("reference", "official_id", "structure", "address", "pdf")


@letter_app.command("print")
def letter_print(
    wave: Annotated[str, typer.Argument(help="The wave.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the PDFs and manifest.csv.")],
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="Print the letters scheduled up to this day (default: today)."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most N letters.")] = None,
    again: Annotated[
        bool,
        typer.Option("--again", help="Print again the letters printed but not posted yet."),
    ] = False,
) -> None:
    """Write the due letters as PDFs (one per structure) and a manifest to post them by."""
    from prober.probes.letters import LetterDesk, LetterProbeError, LetterProblem, PrintedLetter

    opened = project()
    desk = LetterDesk(opened.settings)
    day = _day(until) if until else datetime.now(ZoneInfo("Europe/Paris")).date()
    # Letters scheduled on that day count, whatever their hour.
    horizon = datetime.combine(day, time.max, ZoneInfo("Europe/Paris")).astimezone(UTC)
    printed: list[PrintedLetter] = []
    problems: list[LetterProblem] = []
    with opened.session() as session:
        todo = (
            desk.already_printed(session, wave)
            if again
            else [(probe_id, 0) for probe_id in desk.due(session, wave, horizon, limit)]
        )
    if limit:
        todo = todo[:limit]
    for probe_id, number in todo:
        try:
            with opened.session() as session:
                if number:
                    printed.append(desk.print_again(session, probe_id, number))
                else:
                    printed.append(desk.print_new(session, probe_id, day))
        except (LetterError, LetterProbeError) as error:
            problems.append(LetterProblem(probe_id, str(error)))
    out.mkdir(parents=True, exist_ok=True)
    with (out / "manifest.csv").open("w", newline="", encoding="utf-8") as file:
        writer = SafeCsvWriter(file)
        writer.writerow(MANIFEST_COLUMNS)
        for letter in printed:
            # An official id comes from an imported file: it may hold any character.
            name = f"{letter.reference}-{file_stem(letter.official_id, str(letter.probe_id))}.pdf"
            shutil.copyfile(letter.pdf, out / name)
            address = " / ".join(letter.recipient)
            writer.writerow(
                (letter.reference, letter.official_id, letter.structure_name, address, name)
            )
    console.print(f"{len(printed)} letter(s) written to {safe(out)} (manifest.csv lists them)")
    if printed and not again:
        console.print(
            "post them, then record it: prober letter posted REFERENCE... --on YYYY-MM-DD"
        )
    for problem in problems:
        print(f"prober: probe {problem.probe_id}: {problem.reason}", file=sys.stderr)  # noqa: T201
    if problems:
        print(  # noqa: T201
            f"prober: error: {len(problems)} letter(s) not printed; they stay planned",
            file=sys.stderr,
        )
        raise typer.Exit(1)


@letter_app.command("posted")
def letter_posted(
    references: Annotated[list[str], typer.Argument(help="References printed on the letters.")],
    on: Annotated[
        str,
        typer.Option("--on", help="When they were posted: 2026-12-03 (noon) or a date-time."),
    ],
) -> None:
    """Record that printed letters were posted: their reply deadlines run from then."""
    from prober.probes.letters import LetterDesk, LetterProbeError

    opened = project()
    desk = LetterDesk(opened.settings)
    failed = 0
    for reference in references:
        try:
            with opened.session() as session:
                at = desk.instant_for(session, reference, on)
                desk.posted(session, reference, at)
            console.print(f"{safe(reference.upper())}: posted {at.isoformat()}")
        except LetterProbeError as error:
            failed += 1
            print(f"prober: {reference.upper()}: {error}", file=sys.stderr)  # noqa: T201
    if failed:
        print(f"prober: error: {failed} of {len(references)} not recorded", file=sys.stderr)  # noqa: T201
        raise typer.Exit(1)


@letter_app.command("received")
def letter_received(
    reference: Annotated[str, typer.Argument(help="The reference the answer is about.")],
    on: Annotated[
        str,
        typer.Option("--on", help="When it arrived: 2026-12-10 (noon) or a date-time."),
    ],
    acknowledgement: Annotated[
        bool,
        typer.Option(
            "--acknowledgement", help="An acknowledgement of receipt, not the answer itself."
        ),
    ] = False,
    scan: Annotated[
        Path | None, typer.Option("--scan", help="A scan of what arrived (kept for auditors).")
    ] = None,
    sender: Annotated[str, typer.Option("--from", help="Who signed it.")] = "",
    note: Annotated[str, typer.Option("--note", help="What it says, in a line.")] = "",
) -> None:
    """Record an answer to a posted letter, timed from its posting in days and working days."""
    from prober.probes.letters import LetterDesk

    opened = project()
    desk = LetterDesk(opened.settings)
    kind = "acknowledgement" if acknowledgement else "reply"
    with opened.session() as session:
        at = desk.instant_for(session, reference, on)
        desk.received(session, reference, at, kind=kind, scan=scan, sender=sender, note=note)
        measurement = desk.measurement(session, reference)
    key = "first_acknowledgement" if acknowledgement else "first_human_reply"
    figure = measurement.get(key) or {}
    timing = ""
    if "working_days" in figure:
        timing = (
            f": {float(figure['elapsed_s']) / 86400:.1f} days,"
            f" {figure['working_days']} working days after posting"
        )
    console.print(f"{safe(reference.upper())}: {kind} received {at.isoformat()}{timing}")


@letter_app.command("list")
def letter_list(
    wave: Annotated[str, typer.Argument(help="The wave.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every letter probe of a wave: printed, posted, answered."""

    opened = project()
    with opened.session() as session:
        rows = letter_rows(session, wave)
    if as_json:
        for row in rows:
            record = {
                "probe": str(row.probe_id),
                "structure": row.official_id,
                "name": row.structure_name,
                "state": row.state,
                "reference": row.reference,
                "printed_at": _iso(row.printed_at),
                "posted_at": _iso(row.posted_at),
                "outcome": row.outcome,
                "replies": row.replies,
            }
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    table = plain_table("reference", "structure", "name", "state", "printed", "posted", "outcome")
    for row in rows:
        table.add_row(
            row.reference or "",
            row.official_id,
            row.structure_name,
            row.state,
            _day_of(row.printed_at),
            _day_of(row.posted_at),
            row.outcome or "",
        )
    console.print(table)
    console.print(f"{len(rows)} letter probe(s) in {safe(repr(wave))}")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--until {text!r}: expected a day like 2026-12-03") from None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _day_of(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(ZoneInfo("Europe/Paris")).date().isoformat()
