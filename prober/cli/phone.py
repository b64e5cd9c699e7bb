"""``prober phone``: place a wave's planned calls now, and see what calls measured."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated

import typer

from prober.cli.output import console, print_json_lines, table
from prober.cli.project import project
from storage.attempts import MeasuredCall, measured_calls

phone_app = typer.Typer(
    no_args_is_help=True, help="Phone probes: place calls, see what they measured."
)


@phone_app.command("call")
def phone_call(
    wave: Annotated[str, typer.Argument(help="The wave whose planned phone probes to place.")],
    structure: Annotated[
        list[str] | None,
        typer.Option(help="Only this structure (official id); repeat for several."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many calls.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per call.")] = False,
) -> None:
    """Place planned phone probes now, serve Twilio's webhooks, and show what the calls measured."""
    from prober.runtime.phone_now import call_now

    run = asyncio.run(call_now(project(), wave, structure or [], limit))
    _print_calls(run.results, as_json=as_json)
    if not as_json:
        console.print(f"{run.placed} call(s) placed, {run.not_placed} not placed.")


@phone_app.command("results")
def phone_results(
    wave: Annotated[str, typer.Argument(help="The wave.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per call.")] = False,
) -> None:
    """What every phone attempt of a wave measured so far."""
    with project().session() as session:
        _print_calls(measured_calls(session, wave_name=wave), as_json=as_json)


def _seconds(value: object) -> str:
    return "" if value is None else f"{value:g}"


def _print_calls(results: Sequence[MeasuredCall], *, as_json: bool) -> None:
    if as_json:
        print_json_lines(
            {
                "probe": str(call.probe_id),
                "attempt": call.attempt,
                "structure": call.official_id,
                "number": call.number,
                "call_sid": call.call_sid,
                "outcome": call.outcome,
                "recording": call.recording,
                **call.measurement,
            }
            for call in results
        )
        return
    console.print(
        table(
            "structure",
            "number",
            "outcome",
            "rings",
            "answered by",
            "menu s",
            "transfer",
            "hold s",
            "talk s",
            "recording",
            rows=(
                (
                    call.official_id,
                    call.number,
                    call.outcome or "(in progress)",
                    _seconds(call.measurement.get("rings")),
                    call.measurement.get("answered_by") or "",
                    _seconds(call.measurement.get("menu_s")),
                    call.measurement.get("transfer_outcome") or "",
                    _seconds(call.measurement.get("hold_s")),
                    _seconds(call.measurement.get("talk_s")),
                    "yes" if call.recording else "",
                )
                for call in results
            ),
        )
    )
