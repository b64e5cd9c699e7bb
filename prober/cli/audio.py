"""``prober audio``: what a call recording holds, from the sound itself (no project needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from prober.cli.output import console, errors, print_json_lines, safe, table

if TYPE_CHECKING:
    from channels.phone.audio import Timeline

audio_app = typer.Typer(
    no_args_is_help=True, help="Call recordings: the timeline of what the caller heard."
)


@audio_app.command("timeline")
def audio_timeline(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Recordings: WAV (8 or 16 kHz, mono or dual: callee on channel 1) or MP3."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file.")] = False,
    channel: Annotated[
        int,
        typer.Option(
            min=1, max=2, help="The callee's channel of a dual recording (2 for <Dial> recordings)."
        ),
    ] = 1,
) -> None:
    """Rings heard, the answer, busy tone, and the segments (ringback, busy, speech, music,
    silence, tone) of each recording. A file that cannot be analysed is reported on stderr and
    the others are still analysed; the exit status is then 1."""
    from channels.phone.audio import AudioError, timeline_of_file

    failed = 0
    for path in files:
        try:
            timeline = timeline_of_file(path, channel=channel)
        except AudioError as exc:
            errors.print(f"prober: error: {safe(exc)}")
            failed += 1
            continue
        if as_json:
            print_json_lines([_as_json(path, timeline)])
        else:
            _print(path, timeline)
    if failed:
        raise typer.Exit(1)


def _as_json(path: Path, timeline: Timeline) -> dict[str, Any]:
    return {
        "file": str(path),
        "rings": timeline.rings,
        "answered_at_s": timeline.answered_at_s,
        "busy": timeline.busy,
        "segments": [
            {"kind": s.kind, "start_s": s.start_s, "end_s": s.end_s} for s in timeline.segments
        ],
    }


def _figure(value: float | int | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def _print(path: Path, timeline: Timeline) -> None:
    busy = "yes" if timeline.busy else "no"
    console.print(
        f"[bold]{safe(path)}[/bold]  {timeline.duration_s:g} s: rings {_figure(timeline.rings)},"
        f" answered at {_figure(timeline.answered_at_s, ' s')}, busy {busy}"
    )
    console.print(
        f"  rings after the answer {timeline.rings_after_answer}, first live words at"
        f" {_figure(timeline.first_words_s, ' s')}, music {timeline.music_s:g} s,"
        f" announcements {timeline.announcement_s:g} s"
    )
    ring = 0
    rows = []
    for segment in timeline.segments:
        label: str = segment.kind
        if segment.kind == "ringback":
            ring += 1
            label = f"ringback #{ring}"
        rows.append(
            (label, f"{segment.start_s:.2f}", f"{segment.end_s:.2f}", f"{segment.duration_s:.2f}")
        )
    console.print(table("segment", "start s", "end s", "duration s", rows=rows))
