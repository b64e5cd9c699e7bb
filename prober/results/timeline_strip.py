"""A call's timeline as a strip: what the caller heard, second by second, as inline SVG.

Ringing (each ring numbered), speech, music, silence, busy and other tones, on one bar with a
time axis; the answer and the transfer request are marked. Built from plain segments, so the
detailed report and the auditors' pages draw the same strip from a stored timeline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

COLOURS = {
    "ringback": "#e6a23c",
    "busy": "#c0392b",
    "speech": "#2e86c1",
    "music": "#8e44ad",
    "silence": "#eceff1",
    "tone": "#7f8c8d",
}
LABELS_FR = {
    "ringback": "sonnerie",
    "busy": "occupé",
    "speech": "parole",
    "music": "musique",
    "silence": "silence",
    "tone": "tonalité",
}
BAR_TOP, BAR_HEIGHT = 18, 22
AXIS_TOP = BAR_TOP + BAR_HEIGHT + 12
LEGEND_TOP = AXIS_TOP + 18


@dataclass(frozen=True, slots=True)
class StripSegment:
    """One stretch of the recording: ``kind`` from ``start_s`` to ``end_s`` (seconds)."""

    kind: str
    start_s: float
    end_s: float


def segments_from(rows: Sequence[Mapping[str, Any]]) -> list[StripSegment]:
    """Segments as stored with a call's audio measurement (``kind``, ``start_s``, ``end_s``)."""
    return [
        StripSegment(str(row["kind"]), float(row["start_s"]), float(row["end_s"]))
        for row in rows
        if row.get("kind") and float(row["end_s"]) > float(row["start_s"])
    ]


def timeline_strip_svg(
    segments: Sequence[StripSegment],
    *,
    duration_s: float | None = None,
    answered_at_s: float | None = None,
    transfer_at_s: float | None = None,
    width_px: int = 640,
    strip_id: str = "strip",
) -> str:
    """The strip as a standalone ``<svg>`` element (inline in HTML and in the PDF).

    Rings are numbered in the order heard; the answer (``décroché``) and the transfer request
    (``transfert``) are marked when given. ``strip_id`` keeps ids unique when several strips
    sit in one page.
    """
    end_s = max([duration_s or 0.0, *(segment.end_s for segment in segments), 1.0])
    scale = (width_px - 2) / end_s

    def x(seconds: float) -> float:
        return round(1 + seconds * scale, 2)

    height = LEGEND_TOP + 14
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(strip_id)}" class="timeline-strip"'
        f' viewBox="0 0 {width_px} {height}" width="{width_px}" height="{height}"'
        ' font-family="DejaVu Sans, sans-serif" font-size="9" role="img"'
        f' aria-label="Chronologie de l\'appel ({end_s:.0f} s)">'
    ]
    ring = 0
    for segment in sorted(segments, key=lambda s: s.start_s):
        colour = COLOURS.get(segment.kind, COLOURS["tone"])
        left, right = x(segment.start_s), x(segment.end_s)
        label = LABELS_FR.get(segment.kind, segment.kind)
        title = f"{label} {segment.start_s:.1f}–{segment.end_s:.1f} s"
        parts.append(
            f'<rect x="{left}" y="{BAR_TOP}" width="{max(right - left, 0.5):.2f}"'
            f' height="{BAR_HEIGHT}" fill="{colour}"><title>{escape(title)}</title></rect>'
        )
        if segment.kind == "ringback":
            ring += 1
            parts.append(
                f'<text x="{(left + right) / 2:.2f}" y="{BAR_TOP - 4}" text-anchor="middle"'
                f' fill="#6d4c00">{ring}</text>'
            )
    for at_s, label in ((answered_at_s, "décroché"), (transfer_at_s, "transfert")):
        if at_s is not None:
            parts.append(
                f'<line x1="{x(at_s)}" x2="{x(at_s)}" y1="{BAR_TOP - 2}"'
                f' y2="{BAR_TOP + BAR_HEIGHT + 2}" stroke="#000" stroke-width="1.2"/>'
                f'<text x="{x(at_s) + 2}" y="{BAR_TOP + BAR_HEIGHT + 10}">{label}</text>'
            )
    parts.append(_axis(end_s, x, width_px))
    parts.append(_legend({segment.kind for segment in segments}))
    parts.append("</svg>")
    return "".join(parts)


def _axis(end_s: float, x: Any, width_px: int) -> str:
    step = _tick_step(end_s, width_px)
    ticks = []
    for index in range(int(end_s // step) + 1):
        at_s = index * step
        ticks.append(
            f'<line x1="{x(at_s)}" x2="{x(at_s)}" y1="{AXIS_TOP}" y2="{AXIS_TOP + 3}"'
            ' stroke="#555"/>'
            f'<text x="{x(at_s)}" y="{AXIS_TOP + 12}" text-anchor="middle" fill="#555">'
            f"{at_s:g} s</text>"
        )
    return (
        f'<line x1="1" x2="{x(end_s)}" y1="{AXIS_TOP}" y2="{AXIS_TOP}" stroke="#555"/>'
        + "".join(ticks)
    )


def _tick_step(end_s: float, width_px: int) -> float:
    """A round tick step (1, 2, 5 × 10^n s) leaving at least 50 px between ticks."""
    wanted = end_s * 50 / width_px
    magnitude = 10 ** math.floor(math.log10(max(wanted, 1e-3)))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= wanted:
            return float(factor * magnitude)
    return float(10 * magnitude)


def _legend(kinds: set[str]) -> str:
    items, at_x = [], 1
    for kind in COLOURS:
        if kind not in kinds:
            continue
        items.append(
            f'<rect x="{at_x}" y="{LEGEND_TOP + 2}" width="9" height="9" fill="{COLOURS[kind]}"'
            ' stroke="#999" stroke-width="0.5"/>'
            f'<text x="{at_x + 12}" y="{LEGEND_TOP + 10}">{LABELS_FR[kind]}</text>'
        )
        at_x += 14 + 7 * len(LABELS_FR[kind]) + 10
    return "".join(items)
