"""The criteria grid a wave is scored under: the one named, or the project's own."""

from __future__ import annotations

from pathlib import Path

from config.criteria import CriteriaGrid, load_criteria
from config.settings import Settings
from prober.errors import ProberError


class GridNotFoundError(ProberError):
    """No criteria grid where one was looked for.

    ``setting`` is ``"criteria_file"`` when the path came from the project's settings, ``None``
    when the caller named the file itself.
    """

    def __init__(self, path: Path, setting: str | None) -> None:
        self.path = path
        self.setting = setting
        hint = (
            f"; set {setting} in prober.toml, or run `prober init` to get the default grid"
            if setting
            else ""
        )
        super().__init__(f"{path}: no criteria grid there{hint}")


def load_grid(settings: Settings, path: Path | None) -> CriteriaGrid:
    """The grid at ``path``, or the project's ``criteria_file``."""
    chosen = path if path is not None else settings.resolve(settings.criteria_file)
    if not chosen.exists():
        raise GridNotFoundError(chosen, None if path is not None else "criteria_file")
    return load_criteria(chosen)
