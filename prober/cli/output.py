"""What the command line prints: one console, tables, JSON lines, and text made safe to print.

Text that comes from outside (an email's subject, a structure's name from an imported file) may
hold rich markup (``[/bold]``, ``[link=…]``) or terminal control sequences (``ESC[2J``):
:func:`safe` neutralises both, and tables built with :func:`table` apply it to every cell.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

# Piped output has no terminal width to fit: give tables room instead of rich's 80 columns.
PIPED_WIDTH = 140

console = Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else PIPED_WIDTH)

# C0 and C1 control characters but tab and newline; DEL too (ESC starts terminal sequences).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: object) -> str:
    """``text`` with its control characters shown as ``\\xNN`` (for output rich does not render)."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", str(text))


def safe(text: object) -> str:
    """``text`` for rich: control characters shown as ``\\xNN``, rich markup escaped."""
    return escape(plain(text))


class PlainTable(Table):
    """A rich table whose cells are printed as plain text (``None`` as empty); a cell meant to
    be styled is given as a rich ``Text``."""

    def add_row(self, *cells: Any, **options: Any) -> None:
        super().add_row(
            *(
                cell if isinstance(cell, Text) else "" if cell is None else safe(cell)
                for cell in cells
            ),
            **options,
        )


def table(*columns: str, rows: Iterable[Iterable[object]] = (), **options: Any) -> PlainTable:
    """A :class:`PlainTable` with ``columns`` and, optionally, its ``rows``."""
    built = PlainTable(*columns, **options)
    for row in rows:
        built.add_row(*row)
    return built


def print_json_lines(objects: Iterable[Mapping[str, Any]]) -> None:
    """One JSON object per line on standard output (JSON escapes control characters itself)."""
    for item in objects:
        sys.stdout.write(json.dumps(item, ensure_ascii=False, default=str) + "\n")


def print_json(document: object) -> None:
    """One indented JSON document on standard output."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n")
