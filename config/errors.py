"""The exception hierarchy of the config package: every error names where the problem is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class ConfigError(Exception):
    """Base of every error raised while reading settings or input files."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in an input file, located as precisely as the format allows.

    ``line`` is the 1-based physical line in the file (the CSV header is line 1);
    ``column`` a column name or a key path such as ``phone.transfer_to``.
    """

    message: str
    line: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column:
            where.append(f"column {self.column}" if self.line is not None else self.column)
        return f"{', '.join(where)}: {self.message}" if where else self.message


class InvalidFileError(ConfigError):
    """An input file holds one or more problems; nothing from it was used."""

    def __init__(self, path: Path | str, problems: list[Problem]) -> None:
        self.path = Path(path)
        self.problems = problems
        listing = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"{self.path}: {len(problems)} problem(s), nothing from it was used:\n{listing}"
        )


class SettingsError(ConfigError):
    """The settings (prober.toml, PROBER_* variables, secrets) are invalid."""
