"""``prober structures``: import the structures probed, list them, show one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.text import Text

from prober.cli.output import console, print_json, safe, table
from prober.cli.project import project
from prober.errors import UsageError
from prober.project.importing import import_structures
from scheduler.errors import WaveDefinitionError
from scheduler.waves import parse_panel
from storage.models import Structure
from storage.structures import contacts_of, get_structure, list_structures

structures_app = typer.Typer(no_args_is_help=True, help="The structures probed.")

PanelOption = Annotated[
    list[str] | None,
    typer.Option(
        "--panel",
        help="Filter KEY=V1,V2 (kind, departement, region, peer_group, official_id), or "
        "'participants' (the accepted participants); "
        "repeat or join with ';' to combine.",
    ),
]


def panel_filter(expressions: list[str] | None) -> dict[str, list[str]]:
    """``--panel`` values as a panel; a mistake is reported against ``--panel``."""
    try:
        return parse_panel(expressions or [])
    except WaveDefinitionError as error:
        raise UsageError(f"--panel {error.reason}") from None


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
    if file_format not in ("auto", "csv", "annuaire"):
        raise UsageError(f"--format {file_format}: expected auto, csv or annuaire")
    if rejected is not None and not skip_invalid:
        raise UsageError("--rejected only applies with --skip-invalid")
    fmt: Literal["auto", "csv", "annuaire"] = file_format  # type: ignore[assignment]
    report = import_structures(
        project(), path, file_format=fmt, skip_invalid=skip_invalid, rejected_file=rejected
    )
    counts = report.counts
    console.print(
        f"{safe(path)}: {counts.created} created, {counts.updated} updated, "
        f"{counts.unchanged} unchanged ({report.file_format})"
    )
    if report.rejected_file is not None:
        console.print(
            f"[yellow]{report.rejected} invalid row(s) skipped, written with their reason to "
            f"{safe(report.rejected_file)}[/yellow]"
        )


@structures_app.command("list")
def structures_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    panel: PanelOption = None,
) -> None:
    """List the structures (optionally a panel of them)."""
    with project().session() as session:
        structures = list_structures(session, panel_filter(panel))
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
        print_json(rows)
        return
    console.print(
        table(
            "official id",
            "name",
            "kind",
            "dép.",
            "timezone",
            "phone",
            "email",
            rows=(
                (
                    row["official_id"],
                    row["name"],
                    row["kind"],
                    row["departement"],
                    row["timezone"],
                    row["phone"] or "-",
                    row["email"] or "-",
                )
                for row in rows
            ),
        )
    )
    console.print(f"{len(rows)} structure(s)")


@structures_app.command("show")
def structures_show(
    official_id: Annotated[str, typer.Argument(help="The structure's official id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one structure with its contact points and opening hours."""
    with project().session() as session:
        structure = get_structure(session, official_id)
        contacts = contacts_of(session, [structure.id or 0])[structure.id or 0]
    dumped = structure.model_dump(mode="json")
    data: dict[str, Any] = {name: dumped[name] for name in Structure.model_fields if name != "id"}
    data["contacts"] = [{"kind": c.kind, "value": c.value, "label": c.label} for c in contacts]
    if as_json:
        print_json(data)
        return
    shown = table(show_header=False, box=None)
    for key, value in data.items():
        if key != "contacts":
            shown.add_row(Text(key, style="bold"), value)
    for contact in data["contacts"]:
        label = f" ({contact['label']})" if contact["label"] else ""
        shown.add_row(Text(contact["kind"], style="bold"), f"{contact['value']}{label}")
    console.print(shown)
