"""Report charts as static SVG, drawn with matplotlib's object API (no pyplot state)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

PEERS_COLOUR = "#9db4d3"
OWN_COLOUR = "#c0392b"
THRESHOLD_COLOUR = "#333333"

_STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "svg.fonttype": "none",  # text stays text: selectable in the PDF, small files
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def distribution_svg(
    peer_values: Sequence[float],
    own_values: Sequence[float],
    *,
    title: str,
    axis: str,
    peers_label: str,
    own_label: str,
    count_label: str,
    threshold: float | None = None,
    threshold_label: str = "",
    chart_id: str = "chart",
) -> str | None:
    """Peers' values as a histogram, the structure's own as red marks; None with no data.

    ``chart_id`` salts the SVG's internal ids so several charts can sit inline in one page.
    """
    if not peer_values and not own_values:
        return None
    style: Any = {**_STYLE, "svg.hashsalt": chart_id}
    with rc_context(style):
        figure = Figure(figsize=(6.2, 2.4), layout="constrained")
        axes = figure.add_subplot()
        everything = [*peer_values, *own_values, *([] if threshold is None else [threshold])]
        low, high = min(everything), max(everything)
        if high - low < 1:  # one value, or values too close for bins: widen the axis around them
            low, high = low - 1, high + 1
        bins = max(1, min(20, int(high - low) + 1))
        if peer_values:
            axes.hist(
                peer_values,
                bins=bins,
                range=(low - 0.5, high + 0.5),
                color=PEERS_COLOUR,
                edgecolor="white",
                label=peers_label,
            )
        for number, value in enumerate(own_values):
            axes.axvline(
                value, color=OWN_COLOUR, linewidth=2, label=own_label if number == 0 else None
            )
        if threshold is not None:
            axes.axvline(
                threshold,
                color=THRESHOLD_COLOUR,
                linestyle="--",
                linewidth=1,
                label=threshold_label,
            )
        axes.set_title(title, loc="left", fontsize=9.5, fontweight="bold")
        axes.set_xlabel(axis)
        axes.set_ylabel(count_label)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(loc="upper right", frameon=False, fontsize=7.5)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]
