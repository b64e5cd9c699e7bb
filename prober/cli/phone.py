"""``prober phone``: place a wave's planned calls now, see what calls measured, and settle
the calls whose recording and callbacks disagree."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated

import typer

from prober.cli.output import console, print_json_lines, table
from prober.cli.project import project
from prober.errors import UsageError
from prober.probes.call_audio import reweigh_attempt
from storage.attempts import MeasuredCall, measured_calls
from storage.call_measurements import check_measurement, measurements_to_check
from storage.models import CallMeasurement

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


@phone_app.command("disagreements")
def phone_disagreements(
    every: Annotated[
        bool, typer.Option("--all", help="Also those already confirmed or rejected.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per call.")] = False,
) -> None:
    """Calls whose recording and Twilio's callbacks disagree (more than a ring, or 2 s of
    hold): an auditor listens and confirms the audio's figures or rejects them."""
    with project().session() as session:
        rows = measurements_to_check(session, pending_only=not every)
    records = [
        {
            "id": row.id,
            "attempt": row.attempt_id,
            "recording": row.recording_external_id,
            "rings_audio": row.rings,
            "rings_callbacks": row.details.get("callbacks", {}).get("rings"),
            "hold_s_audio": row.hold_s,
            "hold_s_callbacks": row.details.get("callbacks", {}).get("hold_s"),
            "why": row.details.get("disagreements", []),
            "check": row.check,
            "checked_by": row.checked_by,
        }
        for row in rows
    ]
    if as_json:
        print_json_lines(records)
        return
    shown = table("id", "attempt", "rings audio/callbacks", "hold audio/callbacks", "why", "check")
    for record in records:
        shown.add_row(
            str(record["id"]),
            str(record["attempt"]),
            f"{record['rings_audio']}/{record['rings_callbacks']}",
            f"{_seconds(record['hold_s_audio'])}/{_seconds(record['hold_s_callbacks'])}",
            "; ".join(record["why"]),
            str(record["check"]) + (f" by {record['checked_by']}" if record["checked_by"] else ""),
        )
    console.print(shown)
    console.print(
        f"{len(records)} call(s); `prober phone confirm ID --by NAME` keeps the audio's figures,"
        " `prober phone reject ID --by NAME` uses the callbacks'."
    )


def _check(measurement_id: int, verdict: str, reviewer: str) -> None:
    if not reviewer.strip():
        raise UsageError("--by: say who listened")
    opened = project()
    with opened.session() as session:
        check_measurement(session, measurement_id, verdict, by=reviewer.strip())
        session.flush()
        row = session.get(CallMeasurement, measurement_id)
        if row is not None:
            reweigh_attempt(session, opened.settings.measure, row.attempt_id)
    typer.echo(
        f"call measurement {measurement_id} {verdict} by {reviewer.strip()};"
        " `prober score WAVE` recomputes the scores"
    )


@phone_app.command("confirm")
def phone_confirm(
    measurement_id: Annotated[int, typer.Argument(help="See `prober phone disagreements`.")],
    reviewer: Annotated[str, typer.Option("--by", help="Who listened (name or initials).")],
) -> None:
    """The recording is right: its figures stand (with measure.prefer = "audio")."""
    _check(measurement_id, "confirmed", reviewer)


@phone_app.command("reject")
def phone_reject(
    measurement_id: Annotated[int, typer.Argument(help="See `prober phone disagreements`.")],
    reviewer: Annotated[str, typer.Option("--by", help="Who listened (name or initials).")],
) -> None:
    """The recording's figures are wrong: the callbacks' are used for this call."""
    _check(measurement_id, "rejected", reviewer)
