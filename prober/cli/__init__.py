"""The ``prober`` command line."""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from channels.errors import ChannelError
from config.errors import ConfigError
from prober.cli.letters import letter_app
from prober.cli.mail import mail_app, replies_app
from prober.cli.results import results_app
from prober.cli.reviews import review_app
from prober.cli.tokens import tokens_app
from prober.cli.workspace import workspace
from prober.errors import ProberError, UsageError
from scheduler.errors import SchedulerError
from storage.errors import StorageError

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    help="prober: measure how reachable and responsive public services are.",
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
structures_app = typer.Typer(no_args_is_help=True, help="The structures probed.")
wave_app = typer.Typer(no_args_is_help=True, help="Probe waves: create, plan, show, export.")
check_app = typer.Typer(no_args_is_help=True, help="Validate catalogue files.")
phone_app = typer.Typer(
    no_args_is_help=True, help="Phone probes: place calls, see what they measured."
)
app.add_typer(db_app, name="db")
app.add_typer(structures_app, name="structures")
app.add_typer(wave_app, name="wave")
app.add_typer(check_app, name="check")
app.add_typer(phone_app, name="phone")
app.add_typer(mail_app, name="mail")
app.add_typer(replies_app, name="replies")
app.add_typer(review_app, name="review")
app.add_typer(letter_app, name="letter")
app.add_typer(tokens_app, name="tokens")
app.command("workspace")(workspace)
app.registered_commands.extend(results_app.registered_commands)

# Piped output has no terminal width to fit: give tables room instead of rich's 80 columns.
PIPED_WIDTH = 140
console = Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)
_on_exit = contextlib.ExitStack()
USER_ERRORS = (ConfigError, StorageError, SchedulerError, ProberError, ChannelError)


def main() -> None:
    """Entry point: user mistakes become one message on stderr and exit status 1."""
    try:
        with _on_exit:
            app()
    except USER_ERRORS as exc:
        print(f"prober: error: {exc}", file=sys.stderr)  # noqa: T201
        sys.exit(1)


def _open(*, check: bool = True) -> Any:
    """The project, its database engine disposed of when the command ends (see ``main``)."""
    from prober.project import open_project

    project = open_project(check=check)
    _on_exit.callback(project.engine.dispose)
    return project


# ---------------------------------------------------------------- project and database


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Project folder.")] = Path(),
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
) -> None:
    """Write a commented prober.toml, sample scenarios, personas and criteria, and a database."""
    from config.settings import load_settings
    from prober.project.starter import write_starter_files
    from storage.db import make_engine, upgrade

    directory.mkdir(parents=True, exist_ok=True)
    starter = write_starter_files(directory, force=force)
    settings = load_settings(directory / "prober.toml")
    engine = make_engine(settings.effective_database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    for path in starter.written:
        console.print(f"wrote {path}")
    console.print(f"database ready: {_display_url(settings.effective_database_url)}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database or bring its schema up to date."""
    from storage.db import current_revision, upgrade

    project = _open(check=False)
    upgrade(project.engine)
    revision = current_revision(project.engine)
    url = _display_url(project.settings.effective_database_url)
    console.print(f"database {url} at revision {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the one this prober expects."""
    from storage.db import current_revision, head_revision

    project = _open(check=False)
    url = project.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).exists():
            # Connecting would create an empty file: say there is none instead.
            console.print(
                f"database: none (no file {url.database}; `prober db upgrade` creates it)",
                highlight=False,
                soft_wrap=True,
            )
            console.print(f"expected: {head_revision()}")
            return
    console.print(f"database: {current_revision(project.engine) or 'empty'}")
    console.print(f"expected: {head_revision()}")


def _display_url(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# ---------------------------------------------------------------- structures


@structures_app.command("import")
def structures_import(
    path: Annotated[Path, typer.Argument(help="A structures CSV or an annuaire JSON file.")],
    file_format: Annotated[
        str, typer.Option("--format", help="auto, csv or annuaire (JSON).")
    ] = "auto",
    skip_invalid: Annotated[
        bool, typer.Option(help="Import the valid rows; write the others to --rejected.")
    ] = False,
    rejected: Annotated[
        Path | None, typer.Option(help="Where rejected rows go (with --skip-invalid).")
    ] = None,
) -> None:
    """Import structures; by default any invalid row rejects the whole file."""
    from prober.project.importing import import_structures

    if file_format not in ("auto", "csv", "annuaire"):
        raise UsageError(f"--format {file_format}: expected auto, csv or annuaire")
    if rejected is not None and not skip_invalid:
        raise UsageError("--rejected only applies with --skip-invalid")
    fmt: Literal["auto", "csv", "annuaire"] = file_format  # type: ignore[assignment]
    report = import_structures(
        _open(), path, file_format=fmt, skip_invalid=skip_invalid, rejected_file=rejected
    )
    counts = report.counts
    console.print(
        f"{path}: {counts.created} created, {counts.updated} updated, "
        f"{counts.unchanged} unchanged ({report.file_format})"
    )
    if report.rejected_file is not None:
        console.print(
            f"[yellow]{report.rejected} invalid row(s) skipped, written with their reason to "
            f"{report.rejected_file}[/yellow]"
        )


PanelOption = Annotated[
    list[str] | None,
    typer.Option(
        "--panel",
        help="Filter KEY=V1,V2 (kind, departement, region, peer_group, official_id); "
        "repeat or join with ';' to combine.",
    ),
]


@structures_app.command("list")
def structures_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    panel: PanelOption = None,
) -> None:
    """List the structures (optionally a panel of them)."""
    from scheduler.waves import parse_panel
    from storage.structures import contacts_of, list_structures

    project = _open()
    with project.session() as session:
        structures = list_structures(session, parse_panel(panel or []))
        contacts = contacts_of(session, [s.id for s in structures if s.id is not None])
    rows = []
    for s in structures:
        own = contacts.get(s.id or 0, [])
        rows.append(
            {
                "official_id": s.official_id,
                "name": s.name,
                "kind": s.kind,
                "departement": s.departement,
                "region": s.region,
                "timezone": s.timezone,
                "peer_group": s.peer_group,
                "phone": next((c.value for c in own if c.kind == "phone"), None),
                "email": next((c.value for c in own if c.kind == "email"), None),
                "opening_hours": s.opening_hours,
            }
        )
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table("official id", "name", "kind", "dép.", "timezone", "phone", "email")
    for row in rows:
        table.add_row(
            row["official_id"],
            row["name"],
            row["kind"],
            row["departement"],
            row["timezone"],
            row["phone"] or "-",
            row["email"] or "-",
        )
    console.print(table)
    console.print(f"{len(rows)} structure(s)")


@structures_app.command("show")
def structures_show(
    official_id: Annotated[str, typer.Argument(help="The structure's official id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one structure with its contact points and opening hours."""
    from storage.models import Structure
    from storage.structures import contacts_of, get_structure

    project = _open()
    with project.session() as session:
        structure = get_structure(session, official_id)
        contacts = contacts_of(session, [structure.id or 0])[structure.id or 0]
    dumped = structure.model_dump(mode="json")
    data: dict[str, Any] = {name: dumped[name] for name in Structure.model_fields if name != "id"}
    data["contacts"] = [{"kind": c.kind, "value": c.value, "label": c.label} for c in contacts]
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        if key == "contacts":
            continue
        table.add_row(f"[bold]{key}[/bold]", "" if value is None else str(value))
    for contact in data["contacts"]:
        label = f" ({contact['label']})" if contact["label"] else ""
        table.add_row(f"[bold]{contact['kind']}[/bold]", f"{contact['value']}{label}")
    console.print(table)


# ---------------------------------------------------------------- waves


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
        str, typer.Option("--channels", help="Comma-separated: phone,email,letter.")
    ] = "phone,email",
    panel: PanelOption = None,
    calls_per_structure: Annotated[int | None, typer.Option(min=0)] = None,
    emails_per_structure: Annotated[int | None, typer.Option(min=0)] = None,
    letters_per_structure: Annotated[int, typer.Option(min=0)] = 1,
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
    from scheduler.waves import WaveSpec, define_wave, parse_panel

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
        panel=parse_panel(panel or []),
        calls_per_structure=calls_per_structure,
        emails_per_structure=emails_per_structure,
        letters_per_structure=letters_per_structure,
        off_hours_calls=off_hours_calls,
        min_spacing_hours=min_spacing_hours,
        max_calls_per_minute=max_calls_per_minute,
        max_emails_per_minute=max_emails_per_minute,
        scenarios=scenarios,
        personas=tuple(persona or ()),
    )
    project = _open()
    with project.session() as session:
        wave = define_wave(session, project.settings, spec)
        quotas = ", ".join(f"{k}: {v}" for k, v in wave.parameters["quotas"].items())
    console.print(
        f"wave {name} created: {spec.starts_on} to {spec.ends_on}, "
        f"probes per structure {quotas}; plan it with `prober wave plan {name}`"
    )


@wave_app.command("plan")
def wave_plan(
    name: Annotated[str, typer.Argument(help="The wave to plan.")],
    seed: Annotated[int, typer.Option(help="Same seed, same plan.")] = 0,
) -> None:
    """Schedule every probe of the wave (replaces a plan none of whose probes has started)."""
    from scheduler.waves import plan_stored_wave

    project = _open()
    with project.session() as session:
        report = plan_stored_wave(session, name, seed=seed)
    console.print(
        f"wave {name}: {report.probes} probe(s) planned for {report.structures} structure(s) "
        f"(seed {report.seed})"
    )
    if report.shortfalls:
        _print_shortfalls([vars_of(s) for s in report.shortfalls])


def vars_of(shortfall: Any) -> dict[str, Any]:
    """A shortfall as a plain dict."""
    import dataclasses

    return dataclasses.asdict(shortfall)


def _print_shortfalls(shortfalls: list[dict[str, Any]]) -> None:
    err = Console(stderr=True, width=None if sys.stderr.isatty() else PIPED_WIDTH)
    table = Table("structure", "channel", "wanted", "planned", "why", title="Not fully planned")
    for s in shortfalls[:50]:
        table.add_row(
            s["official_id"], s["channel"], str(s["wanted"]), str(s["planned"]), s["reason"]
        )
    err.print(table)
    if len(shortfalls) > 50:
        err.print(f"... and {len(shortfalls) - 50} more")


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "-"


@wave_app.command("show")
def wave_show(name: Annotated[str, typer.Argument(help="The wave.")]) -> None:
    """Summarise a wave: window, status, probes per channel, what could not be planned."""
    from storage.waves import get_wave, summarise

    project = _open()
    with project.session() as session:
        wave = get_wave(session, name)
        summary = summarise(session, wave)
    p = wave.parameters
    console.print(
        f"[bold]wave {wave.name}[/bold]  {wave.starts_on} → {wave.ends_on}  {wave.status}"
    )
    console.print(
        f"panel: {wave.panel or 'all structures'}; quotas: {p['quotas']}; "
        f"off-hours calls: {p['off_hours_calls']}; spacing ≥ {p['min_spacing_hours']} h; "
        f"≤ {p['max_calls_per_minute']} calls/min; seed: {wave.plan_seed}"
    )
    table = Table("channel", "slots", "probes", "structures", "from", "to", "states")
    for row in summary:
        table.add_row(
            row.channel,
            row.slot_kind,
            str(row.probes),
            str(row.structures),
            _day(row.first_at),
            _day(row.last_at),
            ", ".join(f"{k} {v}" for k, v in sorted(row.states.items())),
        )
    console.print(table)
    shortfalls = p.get("plan_shortfalls", [])
    if shortfalls:
        _print_shortfalls(shortfalls)


@wave_app.command("list")
def wave_list() -> None:
    """List the waves."""
    from storage.waves import list_waves

    project = _open()
    with project.session() as session:
        waves = list_waves(session)
    table = Table("name", "start", "end", "channels", "status")
    for wave in waves:
        table.add_row(
            wave.name, str(wave.starts_on), str(wave.ends_on), ",".join(wave.channels), wave.status
        )
    console.print(table)


@wave_app.command("export")
def wave_export(
    name: Annotated[str, typer.Argument(help="The wave.")],
    file_format: Annotated[str, typer.Option("--format", help="json or csv.")] = "json",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Export every planned probe (scheduled_at in the structure's local time, with offset)."""
    from prober.probes.planned import write_probes_csv, write_probes_json
    from storage.waves import get_wave

    writers = {"json": write_probes_json, "csv": write_probes_csv}
    if file_format not in writers:
        raise UsageError(f"--format {file_format}: expected json or csv")
    project = _open()
    with project.session() as session:
        wave = get_wave(session, name)
        if out is None:
            writers[file_format](session, wave, sys.stdout)
            return
        with out.open("w", encoding="utf-8", newline="") as handle:
            count = writers[file_format](session, wave, handle)
    Console(stderr=True).print(f"{count} probe(s) written to {out}")


# ---------------------------------------------------------------- sandbox


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sandbox(
    context: typer.Context,
    account_sid: Annotated[str, typer.Option(help="The simulated account's SID (AC...).")],
    auth_token: Annotated[str, typer.Option(help="The auth token clients must present.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8099,
    calls_per_second: Annotated[
        float, typer.Option(help="Calls started per second; the others queue.")
    ] = 1.0,
    world: Annotated[
        Path | None, typer.Option(help="TOML world file: how each called number behaves.")
    ] = None,
    time_scale: Annotated[
        float, typer.Option(help="Real seconds per simulated second (0.01: 100 times faster).")
    ] = 1.0,
    truth: Annotated[
        Path | None, typer.Option(help="Ground-truth log (JSON lines), one line per call.")
    ] = None,
) -> None:
    """Serve the simulated Twilio API (and mailboxes) on loopback; see docs/sandbox.md.

    Any other option of `python -m sandbox` (--smtp-port, --mail-world, --relay-port,
    --mail-truth, --max-concurrent-requests, --fail-creates-after-commit...) is passed on.
    """
    # Only this command (and the demo) loads the simulated world: production never depends on it.
    from sandbox.__main__ import main as sandbox_main

    arguments = [
        "--host", host,
        "--port", str(port),
        "--account-sid", account_sid,
        "--auth-token", auth_token,
        "--calls-per-second", str(calls_per_second),
        "--time-scale", str(time_scale),
    ]  # fmt: skip
    if world is not None:
        arguments += ["--world", str(world)]
    if truth is not None:
        arguments += ["--truth", str(truth)]
    code = sandbox_main([*arguments, *context.args])
    if code:
        raise typer.Exit(code)


# ---------------------------------------------------------------- the daemon


@app.command()
def run(
    seconds: Annotated[
        float | None, typer.Option("--for", min=0, help="Stop after this many seconds.")
    ] = None,
    log_format: Annotated[
        str, typer.Option(help="Log lines as text or json (one object per line).")
    ] = "text",
) -> None:
    """Run the daemon: carry running waves out, serve webhooks, read replies, publish events."""
    import asyncio

    from prober.runtime.daemon import configure_logging, run_daemon

    if log_format not in ("text", "json"):
        raise UsageError(f"--log-format: expected text or json, got {log_format!r}")
    configure_logging(log_format)
    asyncio.run(run_daemon(_open(), for_s=seconds))


@app.command()
def demo(
    folder: Annotated[Path, typer.Argument(help="Where the demo project is (re)created.")] = Path(
        "demo"
    ),
) -> None:
    """A whole wave, phone and email, against the simulated world, in about two minutes."""
    from prober.demo.run import run_demo
    from prober.runtime.daemon import configure_logging

    configure_logging("text", level=40)  # errors only: the progress bars tell the story
    result = run_demo(folder, console)
    if result.calls_matching != result.calls or result.replies_stored != result.replies_sent:
        raise ProberError(
            "the measurements differ from the sandbox's ground truth: see the table above"
        )


def _set_wave_status(name: str, status: str) -> None:
    from storage.claims import set_wave_status
    from storage.models import WaveStatus

    project = _open()
    with project.session() as session:
        wave = set_wave_status(session, name, WaveStatus(status))
    console.print(f"wave {wave.name}: {wave.status}")


@wave_app.command("start")
def wave_start(name: Annotated[str, typer.Argument(help="The wave.")]) -> None:
    """Let the daemon carry the wave out (its probes are claimed when due)."""
    _set_wave_status(name, "running")


@wave_app.command("pause")
def wave_pause(name: Annotated[str, typer.Argument(help="The wave.")]) -> None:
    """Stop claiming the wave's probes (those under way finish)."""
    _set_wave_status(name, "paused")


@wave_app.command("resume")
def wave_resume(name: Annotated[str, typer.Argument(help="The wave.")]) -> None:
    """Claim the wave's due probes again."""
    _set_wave_status(name, "running")


@wave_app.command("status")
def wave_status(
    name: Annotated[str, typer.Argument(help="The wave.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Where a wave stands: its status and its probes by state and channel."""
    from storage.claims import wave_progress

    project = _open()
    with project.session() as session:
        progress = wave_progress(session, name)
    if as_json:
        print(  # noqa: T201
            json.dumps(
                {
                    "wave": name,
                    "status": str(progress.status),
                    "total": progress.total,
                    "by_state": progress.by_state,
                    "by_channel": progress.by_channel,
                }
            )
        )
        return
    table = Table("channel", *sorted(progress.by_state), "total")
    for channel, states in sorted(progress.by_channel.items()):
        table.add_row(
            channel,
            *(str(states.get(state, 0)) for state in sorted(progress.by_state)),
            str(sum(states.values())),
        )
    console.print(f"wave {name}: {progress.status}, {progress.total} probe(s)")
    console.print(table)


# ---------------------------------------------------------------- phone probes


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
    import asyncio

    from prober.probes.phone_now import call_now

    project = _open()
    run = asyncio.run(call_now(project, wave, structure or [], limit))
    _print_calls(run.results, as_json=as_json)
    if not as_json:
        console.print(f"{run.placed} call(s) placed, {run.not_placed} not placed.")


@phone_app.command("results")
def phone_results(
    wave: Annotated[str, typer.Argument(help="The wave.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per call.")] = False,
) -> None:
    """What every phone attempt of a wave measured so far."""
    from storage.attempts import measured_calls

    project = _open()
    with project.session() as session:
        _print_calls(measured_calls(session, wave_name=wave), as_json=as_json)


def _seconds(value: Any) -> str:
    return "" if value is None else f"{value:g}"


def _print_calls(results: list[Any], *, as_json: bool) -> None:
    if as_json:
        for call in results:
            print(  # noqa: T201
                json.dumps(
                    {
                        "probe": str(call.probe_id),
                        "attempt": call.attempt,
                        "structure": call.official_id,
                        "number": call.number,
                        "call_sid": call.call_sid,
                        "outcome": call.outcome,
                        "recording": call.recording,
                        **call.measurement,
                    },
                    ensure_ascii=False,
                )
            )
        return
    table = Table(
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
    )
    for call in results:
        measured = call.measurement
        table.add_row(
            call.official_id,
            call.number,
            call.outcome or "(in progress)",
            _seconds(measured.get("rings")),
            measured.get("answered_by") or "",
            _seconds(measured.get("menu_s")),
            measured.get("transfer_outcome") or "",
            _seconds(measured.get("hold_s")),
            _seconds(measured.get("talk_s")),
            "yes" if call.recording else "",
        )
    console.print(table)


# ---------------------------------------------------------------- catalogue checks


@check_app.command("scenarios")
def check_scenarios(
    directory: Annotated[Path | None, typer.Argument(help="Default: scenarios_dir.")] = None,
) -> None:
    """Validate every scenario file of a folder."""
    from config.scenarios import load_scenarios

    if directory is None:
        settings = _open(check=False).settings
        directory = settings.resolve(settings.scenarios_dir)
    scenarios = load_scenarios(directory)
    console.print(f"{directory}: {len(scenarios)} valid scenario(s)")


@check_app.command("personas")
def check_personas(
    path: Annotated[Path | None, typer.Argument(help="Default: personas_file.")] = None,
) -> None:
    """Validate a personas file."""
    from config.personas import load_personas

    if path is None:
        settings = _open(check=False).settings
        path = settings.resolve(settings.personas_file)
    console.print(f"{path}: {len(load_personas(path))} valid persona(s)")


@check_app.command("criteria")
def check_criteria(
    path: Annotated[Path | None, typer.Argument(help="Default: criteria_file.")] = None,
) -> None:
    """Validate a criteria grid."""
    from config.criteria import load_criteria

    if path is None:
        settings = _open(check=False).settings
        path = settings.resolve(settings.criteria_file)
    grid = load_criteria(path)
    console.print(f"{path}: {len(grid.criteria)} valid criteria")


if __name__ == "__main__":
    main()
