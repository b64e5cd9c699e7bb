"""``prober check``: validate the catalogue files (scenarios, personas, criteria)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from config.criteria import load_criteria
from config.personas import load_personas
from config.scenarios import load_scenarios
from prober.cli.output import console, safe
from prober.cli.project import project

check_app = typer.Typer(no_args_is_help=True, help="Validate catalogue files.")


@check_app.command("scenarios")
def check_scenarios(
    directory: Annotated[Path | None, typer.Argument(help="Default: scenarios_dir.")] = None,
) -> None:
    """Validate every scenario file of a folder."""
    if directory is None:
        settings = project(check=False).settings
        directory = settings.resolve(settings.scenarios_dir)
    scenarios = load_scenarios(directory)
    console.print(f"{safe(directory)}: {len(scenarios)} valid scenario(s)")


@check_app.command("personas")
def check_personas(
    path: Annotated[Path | None, typer.Argument(help="Default: personas_file.")] = None,
) -> None:
    """Validate a personas file."""
    if path is None:
        settings = project(check=False).settings
        path = settings.resolve(settings.personas_file)
    console.print(f"{safe(path)}: {len(load_personas(path))} valid persona(s)")


@check_app.command("criteria")
def check_criteria(
    path: Annotated[Path | None, typer.Argument(help="Default: criteria_file.")] = None,
) -> None:
    """Validate a criteria grid."""
    if path is None:
        settings = project(check=False).settings
        path = settings.resolve(settings.criteria_file)
    grid = load_criteria(path)
    console.print(f"{safe(path)}: {len(grid.criteria)} valid criteria")
