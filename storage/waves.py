"""Queries on waves and their probes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Table, delete, func, type_coerce
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage.bulk import analyze, bulk_insert
from storage.errors import ConflictError, NotFoundError
from storage.models import Probe, ProbeState, Structure, Wave, WaveStatus
from storage.types import UTCDateTime, utcnow
from storage.wave_parameters import WaveParameters

_CHUNK = 2_000
_PROBE: Table = Probe.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ProbeRow:
    """A planned probe to insert: its id is stable for a given wave, structure, channel and slot."""

    id: uuid.UUID
    structure_id: int
    channel: str
    scenario_id: str
    persona_id: str
    contact_point_id: int | None
    slot_index: int
    slot_kind: str
    scheduled_at: datetime


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    """Per channel and slot kind: how many probes, to how many structures, over what span."""

    channel: str
    slot_kind: str
    probes: int
    structures: int
    first_at: datetime | None
    last_at: datetime | None
    states: dict[str, int]


def create_wave(
    session: Session,
    *,
    name: str,
    starts_on: date,
    ends_on: date,
    channels: Sequence[str],
    panel: dict[str, list[str]],
    parameters: WaveParameters | None = None,
) -> Wave:
    """Record a new wave; :class:`ConflictError` if the name is taken.

    ``parameters`` is what planning needs (none for a wave that is never planned).
    """
    if session.exec(select(Wave).where(col(Wave.name) == name)).one_or_none() is not None:
        raise ConflictError(
            f"a wave named {name!r} exists already: choose another name or see `prober wave show`"
        )
    wave = Wave(
        name=name,
        starts_on=starts_on,
        ends_on=ends_on,
        channels=list(channels),
        panel=panel,
        parameters={} if parameters is None else parameters.model_dump(mode="json"),
    )
    session.add(wave)
    session.flush()
    return wave


def get_wave(session: Session, name: str) -> Wave:
    """The wave called ``name``; :class:`NotFoundError` if there is none."""
    wave = session.exec(select(Wave).where(col(Wave.name) == name)).one_or_none()
    if wave is None:
        raise NotFoundError(f"no wave named {name!r}: create it with `prober wave create`")
    return wave


def set_panel(session: Session, name: str, panel: dict[str, list[str]]) -> Wave:
    """Give wave ``name`` another panel (before it is planned again)."""
    wave = get_wave(session, name)
    wave.panel = panel
    session.add(wave)
    session.flush()
    return wave


def list_waves(session: Session) -> list[Wave]:
    """Every wave, newest first."""
    return list(session.exec(select(Wave).order_by(col(Wave.created_at).desc())).all())


def replace_plan(session: Session, wave: Wave, probes: Sequence[ProbeRow], *, seed: int) -> None:
    """Store a wave's plan, replacing a previous one as long as none of its probes has started."""
    if wave.id is None:
        raise ValueError("the wave must be stored before it is planned")
    started = session.exec(
        select(func.count())
        .select_from(Probe)
        .where(col(Probe.wave_id) == wave.id, col(Probe.state) != ProbeState.PLANNED)
    ).one()
    if started:
        raise ConflictError(
            f"wave {wave.name!r} has {started} probe(s) already dispatched: "
            "its plan can no longer be replaced"
        )
    session.execute(delete(Probe).where(col(Probe.wave_id) == wave.id))
    now = utcnow()
    rows = [
        {
            "id": p.id,
            "wave_id": wave.id,
            "structure_id": p.structure_id,
            "channel": p.channel,
            "scenario_id": p.scenario_id,
            "persona_id": p.persona_id,
            "contact_point_id": p.contact_point_id,
            "slot_index": p.slot_index,
            "slot_kind": p.slot_kind,
            "scheduled_at": p.scheduled_at,
            "state": ProbeState.PLANNED,
            "attempt_count": 0,
            "updated_at": now,
        }
        for p in probes
    ]
    connection = session.connection()
    for start in range(0, len(rows), _CHUNK):
        bulk_insert(connection, _PROBE, rows[start : start + _CHUNK])
    analyze(connection, _PROBE)
    wave.status = WaveStatus.PLANNED
    wave.plan_seed = seed
    wave.planned_at = now
    session.add(wave)
    session.flush()


def summarise(session: Session, wave: Wave) -> list[ChannelSummary]:
    """Counts per channel and slot kind, with the span of scheduled instants."""
    group = (col(Probe.channel), col(Probe.slot_kind))
    states: dict[tuple[str, str], dict[str, int]] = {}
    for channel, slot_kind, state, count in session.exec(
        select(Probe.channel, Probe.slot_kind, Probe.state, func.count())
        .where(col(Probe.wave_id) == wave.id)
        .group_by(*group, col(Probe.state))
    ):
        states.setdefault((channel, slot_kind), {})[state] = count
    # Aggregates bypass the column type: coerce them back so SQLite's text becomes an instant.
    rows = session.execute(
        sa_select(
            col(Probe.channel),
            col(Probe.slot_kind),
            func.count(),
            func.count(func.distinct(Probe.structure_id)),
            type_coerce(func.min(Probe.scheduled_at), UTCDateTime()),
            type_coerce(func.max(Probe.scheduled_at), UTCDateTime()),
        )
        .where(col(Probe.wave_id) == wave.id)
        .group_by(*group)
        .order_by(*group)
    )
    return [
        ChannelSummary(
            channel=channel,
            slot_kind=slot_kind,
            probes=count,
            structures=structures,
            first_at=first_at,
            last_at=last_at,
            states=states.get((channel, slot_kind), {}),
        )
        for channel, slot_kind, count, structures, first_at, last_at in rows
    ]


def iter_probes(session: Session, wave: Wave) -> Iterator[tuple[Probe, Structure]]:
    """Every probe of the wave with its structure, by scheduled instant."""
    query = (
        select(Probe, Structure)
        .join(Structure, col(Structure.id) == col(Probe.structure_id))
        .where(col(Probe.wave_id) == wave.id)
        .order_by(col(Probe.scheduled_at), col(Probe.id))
        .execution_options(yield_per=_CHUNK)
    )
    yield from session.exec(query)
