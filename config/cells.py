"""Cells of the CSV and XLSX files prober writes, safe to open in a spreadsheet.

Text that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is what a
spreadsheet runs as a formula (OWASP, "CSV injection"): CSV writers prefix it with ``'``, XLSX
writers store it as a string cell. Numbers are left alone. Sheet titles and file names made of
stored names (waves, structures) are sanitised here too.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a text cell may not start with unless quoted (the OWASP list)."""

QUOTE = "'"


def inert_text(text: str) -> str:
    """``text``, prefixed with ``'`` if a spreadsheet would read it as a formula."""
    return QUOTE + text if text.startswith(FORMULA_STARTS) else text


def inert_cell(value: object) -> object:
    """A CSV cell: text made inert, anything else (numbers, ``None``) as is."""
    return inert_text(value) if isinstance(value, str) else value


def read_cell(text: str) -> str:
    """A cell as written by :func:`inert_text`, back to its text (``'=x`` → ``=x``)."""
    if text.startswith(QUOTE) and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


class SafeCsvWriter:
    """``csv.writer`` whose text cells are made inert."""

    def __init__(self, out: TextIO, **fmtparams: Any) -> None:
        self._writer = csv.writer(out, **fmtparams)

    def writerow(self, cells: Iterable[object]) -> None:
        """Write one row."""
        self._writer.writerow([inert_cell(cell) for cell in cells])


class SafeDictWriter:
    """``csv.DictWriter`` whose text cells are made inert (the header is ours: left as is)."""

    def __init__(self, out: TextIO, fieldnames: Sequence[str], **fmtparams: Any) -> None:
        self.fieldnames = tuple(fieldnames)
        self._writer = csv.writer(out, **fmtparams)

    def writeheader(self) -> None:
        """Write the column names."""
        self._writer.writerow(self.fieldnames)

    def writerow(self, row: Mapping[str, object]) -> None:
        """Write one row; a missing key is an empty cell."""
        self._writer.writerow([inert_cell(row.get(name)) for name in self.fieldnames])


# Excel refuses these in a sheet title, and titles longer than 31 characters.
_SHEET_FORBIDDEN = re.compile(r"[\\/?*\[\]:\x00-\x1f]")
SHEET_TITLE_MAX = 31


def sheet_title(name: str, fallback: str = "results") -> str:
    """``name`` as an XLSX sheet title: forbidden characters replaced by ``_``, 31 at most."""
    title = _SHEET_FORBIDDEN.sub("_", name)[:SHEET_TITLE_MAX].strip(" '")
    # "History" is reserved by Excel.
    return fallback if not title or title.casefold() == "history" else title


_FILE_FORBIDDEN = re.compile(r"[^\w.-]+")
FILE_STEM_MAX = 80


def file_stem(name: str, fallback: str) -> str:
    """``name`` as part of a file name: letters, digits, ``.``, ``-`` and ``_`` only."""
    stem = _FILE_FORBIDDEN.sub("_", name).strip("._")[:FILE_STEM_MAX]
    return stem or fallback
