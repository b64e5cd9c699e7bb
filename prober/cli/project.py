"""The project a command works on, opened once and closed when the command ends."""

from __future__ import annotations

import contextlib
from pathlib import Path

from config.criteria import CriteriaGrid
from config.settings import Settings
from prober.errors import UsageError
from prober.project import Project, open_project
from prober.results.grid import GridNotFoundError, load_grid

# ``main`` enters this stack around the whole command: what a command opens is closed at its end.
on_exit = contextlib.ExitStack()


def project(*, check: bool = True) -> Project:
    """The project of the current folder (``prober.toml``, ``PROBER_*``), its engine disposed of
    when the command ends; ``check`` refuses a database whose schema is not current."""
    opened = open_project(check=check)
    on_exit.callback(opened.engine.dispose)
    return opened


def criteria_grid(settings: Settings, criteria: Path | None) -> CriteriaGrid:
    """The grid ``--criteria`` names, or the project's ``criteria_file``."""
    try:
        return load_grid(settings, criteria)
    except GridNotFoundError as error:
        if error.setting is None:
            raise UsageError(f"--criteria {error.path}: no criteria grid there") from None
        raise UsageError(f"{error}; or pass --criteria") from None
