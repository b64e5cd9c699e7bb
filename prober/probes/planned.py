"""Exports of planned probes, as JSON or CSV, for operators and other systems."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlmodel import Session

from config.cells import SafeDictWriter
from storage.models import Wave
from storage.waves import iter_probes

PROBE_COLUMNS = (
    "probe_id",
    "wave",
    "structure_official_id",
    "structure_name",
    "channel",
    "slot_kind",
    "scenario",
    "persona",
    "state",
    "scheduled_at",
    "scheduled_at_utc",
    "timezone",
)
"""Columns of a probe export, documented in docs/waves.md."""


def probe_records(session: Session, wave: Wave) -> Iterator[dict[str, Any]]:
    """One record per probe, by scheduled instant; ``scheduled_at`` is local with its offset."""
    zones: dict[str, ZoneInfo] = {}
    for probe, structure in iter_probes(session, wave):
        zone = zones.setdefault(structure.timezone, ZoneInfo(structure.timezone))
        yield {
            "probe_id": str(probe.id),
            "wave": wave.name,
            "structure_official_id": structure.official_id,
            "structure_name": structure.name,
            "channel": probe.channel,
            "slot_kind": probe.slot_kind,
            "scenario": probe.scenario_id,
            "persona": probe.persona_id,
            "state": probe.state,
            "scheduled_at": probe.scheduled_at.astimezone(zone).isoformat(),
            "scheduled_at_utc": probe.scheduled_at.isoformat(),
            "timezone": structure.timezone,
        }


def write_probes_json(session: Session, wave: Wave, out: TextIO) -> int:
    """Write a JSON array of the wave's probes; returns how many."""
    count = 0
    out.write("[")
    for record in probe_records(session, wave):
        out.write(",\n  " if count else "\n  ")
        out.write(json.dumps(record, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_probes_csv(session: Session, wave: Wave, out: TextIO) -> int:
    """Write the wave's probes as CSV with a header row; returns how many.

    Text that a spreadsheet would run as a formula is prefixed with ``'`` (``config.cells``).
    """
    writer = SafeDictWriter(out, PROBE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for record in probe_records(session, wave):
        writer.writerow(record)
        count += 1
    return count
