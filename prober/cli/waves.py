"""``prober wave``: define, plan, show, list and export waves; start, pause and follow them."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from prober.cli.output import console, errors, print_json_lines, safe, table
from prober.cli.project import project
from prober.cli.structures import PanelOption, panel_filter
from prober.errors import UsageError
from scheduler.errors import WaveDefinitionError
from scheduler.waves import WaveSpec, define_wave, plan_stored_wave
from storage.claims import set_wave_status, wave_progress
from storage.models import WaveStatus
from storage.wave_parameters import PlanShortfall, wave_parameters
from storage.waves import get_wave, list_waves, set_panel, summarise

wave_app = typer.Typer(no_args_is_help=True, help="Probe waves: create, plan, show, export.")

SHORTFALLS_SHOWN = 50

# The option of `wave create` that sets each field a WaveDefinitionError may name.
OPTION_OF_FIELD = {
    "name": "NAME",
    "start": "--start",
    "end": "--end",
    "channels": "--channels",
    "panel": "--panel",
    "scenarios": "--scenario",
    "personas": "--persona",
    "quotas": "--calls-per-structure/--emails-per-structure/--letters-per-structure"
    "/--site-checks-per-structure",
}


@contextmanager
def _options_named() -> Iterator[None]:
    """A wave's field at fault reported as the option that sets it."""
    try:
        yield
    except WaveDefinitionError as error:
        if error.field is None:
            raise
        option = OPTION_OF_FIELD.get(error.field, error.field)
        raise UsageError(f"{option}: {error.reason}") from None


def _parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r}: expected a date as YYYY-MM-DD") from None


@wave_app.command("create")
def wave_create(
    name: Annotated[str, typer.Argument(help="The wave's name, e.g. 2026-pre-elections.")],
    start: Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last day, YYYY-MM-DD (included).")],
    channels: Annotated[
        str, typer.Option("--channels", help="Comma-separated: phone,email,letter,web.")
    ] = "phone,email",
    panel: PanelOption = None,
    calls_per_structure: Annotated[int | None, typer.Option(min=0)] = None,
    emails_per_structure: Annotated[int | None, typer.Option(min=0)] = None,
    letters_per_structure: Annotated[int, typer.Option(min=0)] = 1,
    site_checks_per_structure: Annotated[
        int, typer.Option(min=0, help="Checks of each structure's website (web channel).")
    ] = 1,
    off_hours_calls: Annotated[
        int | None,
        typer.Option(min=0, help="Calls per structure placed just outside opening hours."),
    ] = None,
    min_spacing_hours: Annotated[float | None, typer.Option(min=0)] = None,
    max_calls_per_minute: Annotated[int | None, typer.Option(min=1)] = None,
    max_emails_per_minute: Annotated[int | None, typer.Option(min=1)] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option(help="CHANNEL=SCENARIO_ID, repeatable (default: every scenario of it)."),
    ] = None,
    persona: Annotated[
        list[str] | None, typer.Option(help="Persona id, repeatable (default: all).")
    ] = None,
) -> None:
    """Define a wave: its window, channels, panel, quotas, scenarios and personas."""
    scenarios: dict[str, list[str]] = {}
    for item in scenario or []:
        channel, sep, scenario_id = item.partition("=")
        if not sep or not scenario_id:
            raise UsageError(f"--scenario {item!r}: expected CHANNEL=SCENARIO_ID")
        scenarios.setdefault(channel.strip(), []).append(scenario_id.strip())
    spec = WaveSpec(
        name=name,
        starts_on=_parse_day(start, "--start"),
        ends_on=_parse_day(end, "--end"),
        channels=tuple(c.strip() for c in channels.split(",") if c.strip()),
        panel=panel_filter(panel),
        calls_per_structure=calls_per_structure,
        emails_per_structure=emails_per_structure,
        letters_per_structure=letters_per_structure,
        site_checks_per_structure=site_checks_per_structure,
        off_hours_calls=off_hours_calls,
        min_spacing_hours=min_spacing_hours,
        max_calls_per_minute=max_calls_per_minute,
        max_emails_per_minute=max_emails_per_minute,
        scenarios=scenarios,
        personas=tuple(persona or ()),
    )
    opened = project()
    with opened.session() as session, _options_named():
        wave = define_wave(session, opened.settings, spec)
        quotas = ", ".join(f"{k}: {v}" for k, v in wave_parameters(wave).quotas.items())
    console.print(
        f"wave {safe(name)} created: {spec.starts_on} to {spec.ends_on}, "
        f"probes per structure {safe(quotas)}; plan it with `prober wave plan {safe(name)}`"
    )


@wave_app.command("plan")
def wave_plan(
    name: Annotated[str, typer.Argument(help="The wave to plan.")],
    seed: Annotated[int, typer.Option(help="Same seed, same plan.")] = 0,
    panel: PanelOption = None,
) -> None:
    """Schedule every probe of the wave (replaces a plan none of whose probes has started).

    ``--panel`` first replaces the wave's panel, e.g. ``--panel participants`` (the accepted
    participants' structures and sites)."""
    opened = project()
    with opened.session() as session, _options_named():
        if panel:
            set_panel(session, name, panel_filter(panel))
        report = plan_stored_wave(
            session, name, seed=seed, max_wave_days=opened.settings.planning.max_wave_days
        )
    console.print(
        f"wave {safe(name)}: {report.probes} probe(s) planned for {report.structures} "
        f"structure(s) (seed {report.seed})"
    )
    if report.shortfalls:
        _print_shortfalls(
            [PlanShortfall.model_validate(s, from_attributes=True) for s in report.shortfalls]
        )


def _print_shortfalls(shortfalls: Sequence[PlanShortfall]) -> None:
    errors.print(
        table(
            "structure",
            "channel",
            "wanted",
            "planned",
            "why",
            title="Not fully planned",
            rows=(
                (s.official_id, s.channel, s.wanted, s.planned, s.reason)
                for s in shortfalls[:SHORTFALLS_SHOWN]
            ),
        )
    )
    if len(shortfalls) > SHORTFALLS_SHOWN:
        errors.print(f"... and {len(shortfalls) - SHORTFALLS_SHOWN} more")


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "-"


@wave_app.command("show")
def wave_show(name: Annotated[str, typer.Argument(help="The wave.")]) -> None:
    """Summarise a wave: window, status, probes per channel, what could not be planned."""
    with project().session() as session:
        wave = get_wave(session, name)
        summary = summarise(session, wave)
    p = wave_parameters(wave)
    console.print(
        f"[bold]wave {safe(wave.name)}[/bold]  {wave.starts_on} → {wave.ends_on}  {wave.status}"
    )
    console.print(
        safe(
            f"panel: {wave.panel or 'all structures'}; quotas: {p.quotas}; "
            f"off-hours calls: {p.off_hours_calls}; spacing ≥ {p.min_spacing_hours} h; "
            f"≤ {p.max_calls_per_minute} calls/min; seed: {wave.plan_seed}"
        )
    )
    console.print(
        table(
            "channel",
            "slots",
            "probes",
            "structures",
            "from",
            "to",
            "states",
            rows=(
                (
                    row.channel,
                    row.slot_kind,
                    row.probes,
                    row.structures,
                    _day(row.first_at),
                    _day(row.last_at),
                    ", ".join(f"{k} {v}" for k, v in sorted(row.states.items())),
                )
                for row in summary
            ),
        )
    )
    if p.plan_shortfalls:
        _print_shortfalls(p.plan_shortfalls)


@wave_app.command("list")
def wave_list() -> None:
    """List the waves."""
    with project().session() as session:
        waves = list_waves(session)
    console.print(
        table(
            "name",
            "start",
            "end",
            "channels",
            "status",
            rows=(
                (wave.name, wave.starts_on, wave.ends_on, ",".join(wave.channels), wave.status)
                for wave in waves
            ),
        )
    )


@wave_app.command("export")
def wave_export(
    name: Annotated[str, typer.Argument(help="The wave.")],
    file_format: Annotated[str, typer.Option("--format", help="json or csv.")] = "json",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Export every planned probe (scheduled_at in the structure's local time, with offset)."""
    from prober.probes.planned import write_probes_csv, write_probes_json

    writers = {"json": write_probes_json, "csv": write_probes_csv}
    if file_format not in writers:
        raise UsageError(f"--format {file_format}: expected json or csv")
    with project().session() as session:
        wave = get_wave(session, name)
        if out is None:
            writers[file_format](session, wave, sys.stdout)
            return
        with out.open("w", encoding="utf-8", newline="") as handle:
            count = writers[file_format](session, wave, handle)
    errors.print(f"{count} probe(s) written to {safe(out)}")


def _set_wave_status(name: str, status: WaveStatus) -> None:
    with project().session() as session:
        wave = set_wave_status(session, name, status)
    console.print(f"wave {safe(wave.name)}: {wave.status}")


@wave_app.command("start")
def wave_start(name: Annotated[str, typer.Argument(help="The wave.")]) -> None:
    """Let the daemon carry the wave out (refused if estimated over its budget)."""
    from prober.cli.costs import check_budget, compute_wave_cost

    opened = project()
    with opened.session() as session:
        budgeted = get_wave(session, name).budget is not None
    if budgeted:
        check_budget(compute_wave_cost(opened, name))
    _set_wave_status(name, WaveStatus.RUNNING)


@wave_app.command("cost")
def wave_cost(
    name: Annotated[str, typer.Argument(help="The wave.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Estimate what the wave will cost (Twilio's prices, past calls) and show what it spent."""
    from prober.cli.costs import compute_wave_cost, print_cost

    print_cost(compute_wave_cost(project(), name), as_json=as_json)


@wave_app.command("budget")
def wave_budget(
    name: Annotated[str, typer.Argument(help="The wave.")],
    amount: Annotated[str, typer.Argument(help="In [costs] currency, e.g. 250; none: no budget.")],
) -> None:
    """Set what the wave may spend: `wave start` refuses more, the daemon pauses it there."""
    from prober.cli.costs import money, parse_budget
    from storage.costs import set_budget

    budget = parse_budget(amount)
    opened = project()
    with opened.session() as session:
        wave = set_budget(session, name, budget)
    shown = "none" if budget is None else f"{money(budget)} {opened.settings.costs.currency}"
    console.print(f"wave {safe(wave.name)}: budget {shown}")


@wave_app.command("pause")
def wave_pause(name: Annotated[str, typer.Argument(help="The wave.")]) -> None:
    """Stop claiming the wave's probes (those under way finish)."""
    _set_wave_status(name, WaveStatus.PAUSED)


@wave_app.command("resume")
def wave_resume(name: Annotated[str, typer.Argument(help="The wave.")]) -> None:
    """Claim the wave's due probes again (refused while it has spent its budget)."""
    from prober.cli.costs import check_budget_left

    opened = project()
    with opened.session() as session:
        check_budget_left(session, get_wave(session, name), opened.settings)
    _set_wave_status(name, WaveStatus.RUNNING)


@wave_app.command("status")
def wave_status(
    name: Annotated[str, typer.Argument(help="The wave.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Where a wave stands: its status and its probes by state and channel."""
    with project().session() as session:
        progress = wave_progress(session, name)
    if as_json:
        print_json_lines(
            [
                {
                    "wave": name,
                    "status": str(progress.status),
                    "total": progress.total,
                    "by_state": progress.by_state,
                    "by_channel": progress.by_channel,
                }
            ]
        )
        return
    states = sorted(progress.by_state)
    console.print(f"wave {safe(name)}: {progress.status}, {progress.total} probe(s)")
    console.print(
        table(
            "channel",
            *states,
            "total",
            rows=(
                (channel, *(counts.get(state, 0) for state in states), sum(counts.values()))
                for channel, counts in sorted(progress.by_channel.items())
            ),
        )
    )
