"""Printing a probe letter to PDF, laid out for a French DL window envelope (La Poste).

The A4 sheet is folded in three; the envelope's window (100 x 45 mm) shows the part of the page
from 100 mm from the left edge and 50 mm from the top, where the recipient block is placed.
"""

from __future__ import annotations

import logging
import re
import warnings
from datetime import date
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from channels.letter.compose import LetterError, ProbeLetter

MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)

_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def french_date(d: date) -> str:
    """The date as written in a French letter: ``1er décembre 2026``, ``23 août 2026``."""
    day = "1er" if d.day == 1 else str(d.day)
    return f"{day} {MONTHS[d.month - 1]} {d.year}"


def _paragraphs(body: str) -> list[list[str]]:
    """The body's paragraphs (split at blank lines), each as its lines."""
    blocks = _BLANK_LINE.split(body.replace("\r\n", "\n").strip())
    return [[line.strip() for line in block.split("\n")] for block in blocks if block.strip()]


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("channels.letter", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["french_date"] = french_date
    return environment


def letter_html(letter: ProbeLetter) -> str:
    """The letter as a standalone HTML page, every text escaped."""
    return (
        _environment()
        .get_template("letter.html.j2")
        .render(
            letter=letter,
            paragraphs=_paragraphs(letter.body),
            signature=letter.sender.lines[0],
        )
    )


def render_letter_pdf(letter: ProbeLetter) -> bytes:
    """The letter printed as an A4 PDF, ready to fold into a DL window envelope."""
    html = letter_html(letter)
    with warnings.catch_warnings():
        # Raised at import when the system lacks libharfbuzz-subset, which this version of
        # WeasyPrint only recommends (fonts are then embedded whole).
        warnings.filterwarnings("ignore", "HarfBuzz-Subset", DeprecationWarning)
        from weasyprint import HTML  # type: ignore[import-untyped]  # noqa: PLC0415

    # WeasyPrint logs every CSS property it ignores at WARNING.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    try:
        pdf: bytes = HTML(string=html).write_pdf()
    except Exception as error:  # WeasyPrint has no error hierarchy of its own.
        raise LetterError(
            f"letter {letter.reference} ({letter.scenario_id}) cannot be printed: {error}"
        ) from error
    return pdf
