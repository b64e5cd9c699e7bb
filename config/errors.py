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


MAX_PROBLEMS_LISTED = 100
"""Problems an error lists; readers may stop after as many (a garbage file has millions)."""


class InvalidFileError(ConfigError):
    """An input file holds one or more problems; nothing from it was used.

    At most ``MAX_PROBLEMS_LISTED`` problems are listed. A reader that stopped early says where
    (``stopped_at_line``) and how many rows it left unread (``rows_not_checked``).
    """

    def __init__(
        self,
        path: Path | str,
        problems: list[Problem],
        *,
        stopped_at_line: int | None = None,
        rows_not_checked: int = 0,
    ) -> None:
        self.path = Path(path)
        self.problems = problems
        self.stopped_at_line = stopped_at_line
        self.rows_not_checked = rows_not_checked
        lines = [f"  {p}" for p in problems[:MAX_PROBLEMS_LISTED]]
        hidden = len(problems) - len(lines)
        if hidden:
            lines.append(f"  and {hidden} more problem(s) in the rows above")
        if stopped_at_line is not None:
            lines.append(
                f"  and {rows_not_checked} more row(s) not checked: stopped at line "
                f"{stopped_at_line}, after the first {MAX_PROBLEMS_LISTED} problems"
            )
        counted = f"{len(problems)}" + ("+" if stopped_at_line is not None else "")
        listing = "\n".join(lines)
        super().__init__(f"{self.path}: {counted} problem(s), nothing from it was used:\n{listing}")


class SettingsError(ConfigError):
    """The settings (prober.toml, PROBER_* variables, secrets) are invalid."""
