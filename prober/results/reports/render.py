"""HTML reports from Jinja2 templates, and PDF from the same HTML through WeasyPrint."""

from __future__ import annotations

import logging
import warnings
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from prober.results.reports.context import texts

NARROW_NBSP = "\u202f"
"""French typography: the thin no-break space before % and between thousands."""
MINUS = "\u2212"

TEMPLATES = {
    "synthetic": "synthetic.html",
    "detailed": "detailed.html",
    "multisite": "multisite.html",
    "overview": "overview.html",
    "trophies": "trophies.html",
}


def number(value: float | int | None, digits: int = 1) -> str:
    """``1 234,5`` (French separators); a dash when there is no value."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.{digits}f}"
    text = text.replace(",", NARROW_NBSP).replace(".", ",")
    return text.replace("-", MINUS)


def compact(value: float | int | None, digits: int = 1) -> str:
    """Like ``number`` but without trailing zeros: ``6``, ``8,4``."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if float(value).is_integer():
        return number(int(value), 0)
    return number(value, digits)


def percent(value: float | None, digits: int = 1) -> str:
    """``85,0 %`` from 85.0 (values are already 0..100)."""
    return "—" if value is None else f"{number(value, digits)}{NARROW_NBSP}%"


def signed(value: float | None, digits: int = 1) -> str:
    """``+5,0`` or ``−3,2``."""
    if value is None:
        return "—"
    return ("+" if value > 0 else "") + number(value, digits)


def long_date(value: date | datetime | None) -> str:
    """``2 décembre 2026``."""
    if value is None:
        return "—"
    months: list[str] = texts()["months"]["names"]
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {months[value.month - 1]} {value.year}"


def clock(value: datetime | None, seconds: bool = True) -> str:
    """``09:05:12`` (or ``09:05``)."""
    if value is None:
        return "—"
    return value.strftime("%H:%M:%S" if seconds else "%H:%M")


def short_datetime(value: datetime | None) -> str:
    """``02/12/2026 09:05``."""
    return "—" if value is None else value.strftime("%d/%m/%Y %H:%M")


def inline_svg(svg: str) -> Markup:
    """An SVG made by ``charts`` or ``timeline_strip`` (trusted markup), placed inline."""
    return Markup(svg)  # noqa: S704 - built from numbers and escaped text, never raw input


@cache
def environment() -> Environment:
    """The reports' Jinja2 environment: French filters and the texts as ``T``."""
    env = Environment(
        loader=PackageLoader("prober.results.reports", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        number=number,
        compact=compact,
        percent=percent,
        signed=signed,
        long_date=long_date,
        clock=clock,
        short_datetime=short_datetime,
        inline_svg=inline_svg,
    )
    env.globals["T"] = texts()
    return env


def render_html(kind: str, context: dict[str, Any]) -> str:
    """The report ``kind`` as a standalone HTML page."""
    return environment().get_template(TEMPLATES[kind]).render(kind=kind, **context)


def write_pdf(html: str, path: Path, *, base_url: Path) -> int:
    """Print ``html`` to a PDF at ``path``; relative links resolve from ``base_url``.

    Returns the number of pages.
    """
    with warnings.catch_warnings():
        # Raised at import when the system lacks libharfbuzz-subset, which this version of
        # WeasyPrint only recommends (fonts are then embedded whole).
        warnings.filterwarnings("ignore", "HarfBuzz-Subset", DeprecationWarning)
        from weasyprint import HTML  # type: ignore[import-untyped]  # noqa: PLC0415

    # WeasyPrint logs every CSS property it ignores at WARNING; reports need none of them.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    document = HTML(string=html, base_url=str(base_url.resolve()) + "/").render()
    document.write_pdf(path)
    return len(document.pages)
