"""Scores as terminal tables (rich), for the command line and the demo."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from prober.results.scoring.compare import group_stats
from prober.results.scoring.model import ChannelScore


def scores_table(scores: Sequence[ChannelScore], title: str) -> Table:
    """Per channel: structures, contacts, pending contacts and the mean score and indices."""

    def mean(values: list[float | None]) -> str:
        stats = group_stats(values)
        return "—" if stats.mean is None else f"{stats.mean:.1f}"

    table = Table(
        "channel", "structures", "contacts", "pending", "mean score", "accessibility",
        "responsiveness", "quality", title=title,
    )  # fmt: skip
    for channel in ("phone", "email", "letter", "web"):
        rows = [row for row in scores if row.channel == channel]
        if rows:
            table.add_row(
                channel,
                str(len(rows)),
                str(sum(row.contacts for row in rows)),
                str(sum(row.pending for row in rows)),
                mean([row.score for row in rows]),
                mean([row.accessibility for row in rows]),
                mean([row.responsiveness for row in rows]),
                mean([row.quality for row in rows]),
            )
    return table
