"""The criteria grid a wave is scored under: the one named, or the project's own."""

from __future__ import annotations

from pathlib import Path

from config.criteria import CriteriaGrid, load_criteria
from config.settings import Settings
from prober.errors import UsageError


def load_grid(settings: Settings, path: Path | None) -> CriteriaGrid:
    """The grid at ``path``, or the project's ``criteria_file``."""
    chosen = path if path is not None else settings.resolve(settings.criteria_file)
    if not chosen.exists():
        raise UsageError(
            f"{chosen}: no criteria grid there; set criteria_file in prober.toml,"
            " pass --criteria, or run `prober init` to get the default grid"
        )
    return load_criteria(chosen)
