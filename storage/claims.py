"""Queries of the dispatcher: claiming due probes under a lease, giving them back, running waves.

A claim moves a probe from ``planned`` to ``dispatching``, naming the daemon (``claimed_by``) and
how long the claim holds (``lease_until``); ``storage.attempts.start_attempt`` then moves it to
``in_progress``. A claim whose lease ran out before any attempt started goes back to ``planned``
(:func:`release_expired`), so a daemon that died between claiming and calling loses nothing.

A structure is never contacted twice at once: a probe is not claimed while another probe of its
structure is ``dispatching`` or ``in_progress``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Select,
    Table,
    case,
    exists,
    func,
    select,
    update,
)
from sqlmodel import Session

from storage.errors import ConflictError, NotFoundError
from storage.models import Probe, ProbeState, Structure, Wave, WaveStatus
from storage.types import utcnow
from storage.waves import get_wave

_PROBE: Table = Probe.__table__  # type: ignore[attr-defined]
_WAVE: Table = Wave.__table__  # type: ignore[attr-defined]
_STRUCTURE: Table = Structure.__table__  # type: ignore[attr-defined]

_ACTIVE = (ProbeState.PLANNED, ProbeState.DISPATCHING, ProbeState.IN_PROGRESS)
# Rows read per page while looking for due probes of distinct structures.
_PAGE = 500
# Active probes left under which settling one takes its wave's row lock to see whether the wave
# is done: above the number of transactions settling probes at once (8 storage workers per
# daemon, prober.project.database), so the last of them always check one after the other.
_FEW_LEFT = 256
# On PostgreSQL, how many candidate structures per wanted claim: spares for those another
# daemon holds locked at that moment.
_SPARE_FACTOR = 3

_WAVE_TRANSITIONS: dict[WaveStatus, frozenset[WaveStatus]] = {
    WaveStatus.RUNNING: frozenset({WaveStatus.PLANNED, WaveStatus.PAUSED}),
    WaveStatus.PAUSED: frozenset({WaveStatus.RUNNING}),
    WaveStatus.DONE: frozenset({WaveStatus.RUNNING}),
    WaveStatus.CANCELLED: frozenset({WaveStatus.PLANNED, WaveStatus.RUNNING, WaveStatus.PAUSED}),
}


@dataclass(frozen=True, slots=True)
class ClaimedProbe:
    """A probe this daemon holds for dispatch, with what deciding how to carry it out needs."""

    probe_id: uuid.UUID
    wave_id: int
    wave_name: str
    structure_id: int
    channel: str
    slot_kind: str
    scheduled_at: datetime
    attempt_count: int


@dataclass(frozen=True, slots=True)
class ProbeCalendar:
    """When a probe may be carried out: its structure's opening hours, time zone and holiday
    region, and the closing margin its wave was planned with (None if the wave does not say)."""

    opening_hours: str | None
    timezone: str
    holiday_subdivision: str | None
    closing_margin_minutes: int | None


@dataclass(frozen=True, slots=True)
class WaveProgress:
    """How far a wave has gone: probes per state, and per channel and state."""

    total: int
    by_state: dict[str, int]
    by_channel: dict[str, dict[str, int]]
    status: str


def claim_due(
    session: Session,
    *,
    now: datetime,
    daemon_id: str,
    limit: int,
    lease: timedelta,
    channels: Collection[str],
) -> list[ClaimedProbe]:
    """Claim up to ``limit`` due probes of running waves on ``channels``, oldest first.

    Due means ``planned`` with ``scheduled_at <= now``. At most one probe per structure is
    claimed, and none of a structure that has a probe ``dispatching`` or ``in_progress``.
    Claimed probes become ``dispatching``, held by ``daemon_id`` until ``now + lease``.

    PostgreSQL (several daemons on one database): the structures of the oldest due probes are
    locked with ``SELECT ... FOR UPDATE SKIP LOCKED``, in due order; their due probes are read
    again with the "nothing of this structure in flight" test, and the chosen probes locked the
    same way. Every claim of a structure's probe happens under that structure's row lock, held
    to the commit, and the second read, a new statement under READ COMMITTED, sees every claim
    committed before the lock was taken; so two daemons never claim the same probe, nor two
    probes of one structure. Locking the probe rows too skips a probe whose attempt someone is
    starting by hand (``start_attempt`` locks it). A daemon skips what another holds instead of
    waiting: it may claim fewer than ``limit`` while another claims, and gets the rest on its
    next round.

    SQLite (one daemon): the database's write lock is taken first (``BEGIN IMMEDIATE``), so the
    read and the claim form one serialised step.
    """
    if limit <= 0 or not channels:
        return []
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    if not postgres:
        _take_write_lock(connection)
    due = _due_query(now, channels)
    wanted = limit * _SPARE_FACTOR if postgres else limit
    rows = _first_per_structure(connection, due, wanted)
    if postgres and rows:
        structures = _lock_rows(_STRUCTURE, connection, [row.structure_id for row in rows], limit)
        rows = _first_per_structure(
            connection, due.where(_PROBE.c.structure_id.in_(structures)), limit
        )
        probes = set(_lock_rows(_PROBE, connection, [row.id for row in rows], limit))
        rows = [row for row in rows if row.id in probes]
    if not rows:
        return []
    updated = set(
        connection.execute(
            update(_PROBE)
            .where(_PROBE.c.id.in_([row.id for row in rows]), _PROBE.c.state == ProbeState.PLANNED)
            .values(
                state=ProbeState.DISPATCHING,
                claimed_by=daemon_id,
                lease_until=now + lease,
                updated_at=utcnow(),
            )
            .returning(_PROBE.c.id)
        ).scalars()
    )
    return [
        ClaimedProbe(
            probe_id=row.id,
            wave_id=row.wave_id,
            wave_name=row.wave_name,
            structure_id=row.structure_id,
            channel=row.channel,
            slot_kind=row.slot_kind,
            scheduled_at=row.scheduled_at,
            attempt_count=row.attempt_count,
        )
        for row in rows
        if row.id in updated
    ]


def _take_write_lock(connection: Connection) -> None:
    """Start the SQLite transaction with the write lock held, unless one is open already."""
    if not connection.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _due_query(now: datetime, channels: Collection[str]) -> Select[Any]:
    busy = _PROBE.alias("busy")
    # A letter printed and awaiting its posting stays in progress for days: it holds nothing.
    structure_busy = exists().where(
        busy.c.structure_id == _PROBE.c.structure_id,
        busy.c.state.in_((ProbeState.DISPATCHING, ProbeState.IN_PROGRESS)),
        busy.c.channel != "letter",
    )
    return (
        select(
            _PROBE.c.id,
            _PROBE.c.wave_id,
            _WAVE.c.name.label("wave_name"),
            _PROBE.c.structure_id,
            _PROBE.c.channel,
            _PROBE.c.slot_kind,
            _PROBE.c.scheduled_at,
            _PROBE.c.attempt_count,
        )
        .select_from(_PROBE.join(_WAVE, _WAVE.c.id == _PROBE.c.wave_id))
        .where(
            _PROBE.c.state == ProbeState.PLANNED,
            _PROBE.c.scheduled_at <= now,
            _PROBE.c.channel.in_(list(channels)),
            _WAVE.c.status == WaveStatus.RUNNING,
            ~structure_busy,
        )
        .order_by(_PROBE.c.scheduled_at, _PROBE.c.id)
    )


def _first_per_structure(connection: Connection, query: Select[Any], count: int) -> list[Row[Any]]:
    """The first row of each structure, in the query's order, for up to ``count`` structures."""
    chosen: dict[int, Row[Any]] = {}
    offset = 0
    while len(chosen) < count:
        page = connection.execute(query.limit(_PAGE).offset(offset)).all()
        for row in page:
            chosen.setdefault(row.structure_id, row)
            if len(chosen) == count:
                break
        if len(page) < _PAGE:
            break
        offset += _PAGE
    return list(chosen.values())


def _lock_rows(table: Table, connection: Connection, ids: Sequence[Any], limit: int) -> list[Any]:
    """Lock up to ``limit`` rows of ``table`` by id, in the order given, skipping rows held."""
    if not ids:
        return []
    order = case({row_id: rank for rank, row_id in enumerate(ids)}, value=table.c.id)
    return list(
        connection.execute(
            select(table.c.id)
            .where(table.c.id.in_(ids))
            .order_by(order)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )


def release_expired(session: Session, *, now: datetime) -> int:
    """Give back claims whose lease ran out before an attempt started; how many.

    A started attempt moved its probe to ``in_progress``: only probes still ``dispatching`` are
    released. On PostgreSQL the update waits for a ``start_attempt`` holding the row, then sees
    the probe in progress and leaves it.
    """
    result = session.connection().execute(
        update(_PROBE)
        .where(_PROBE.c.state == ProbeState.DISPATCHING, _PROBE.c.lease_until <= now)
        .values(_unclaimed(state=ProbeState.PLANNED))
    )
    return result.rowcount


def release(session: Session, probe_id: uuid.UUID, *, claimed_by: str | None = None) -> bool:
    """Give a claimed probe back to ``planned``, as it was; False if it is not ``dispatching``
    (an attempt started) or, with ``claimed_by``, is held by another daemon."""
    query = update(_PROBE).where(_PROBE.c.id == probe_id, _PROBE.c.state == ProbeState.DISPATCHING)
    if claimed_by is not None:
        query = query.where(_PROBE.c.claimed_by == claimed_by)
    if session.connection().execute(query.values(_unclaimed(state=ProbeState.PLANNED))).rowcount:
        return True
    _probe_state(session, probe_id)
    return False


def reschedule(session: Session, probe_id: uuid.UUID, *, at: datetime) -> None:
    """Plan a probe (planned or claimed) for ``at``, dropping any claim."""
    result = session.connection().execute(
        update(_PROBE)
        .where(
            _PROBE.c.id == probe_id,
            _PROBE.c.state.in_((ProbeState.PLANNED, ProbeState.DISPATCHING)),
        )
        .values(_unclaimed(state=ProbeState.PLANNED, scheduled_at=at))
    )
    if not result.rowcount:
        state = _probe_state(session, probe_id)
        raise ConflictError(
            f"probe {probe_id} is {state}: only a planned or claimed probe can be rescheduled"
        )


def _unclaimed(**values: Any) -> dict[str, Any]:
    return {"claimed_by": None, "lease_until": None, "updated_at": utcnow(), **values}


def _probe_state(session: Session, probe_id: uuid.UUID) -> str:
    state = (
        session.connection()
        .execute(select(_PROBE.c.state).where(_PROBE.c.id == probe_id))
        .scalar_one_or_none()
    )
    if state is None:
        raise NotFoundError(f"no probe {probe_id}")
    return str(state)


def probe_calendars(
    session: Session, probes: Iterable[ClaimedProbe]
) -> dict[uuid.UUID, ProbeCalendar]:
    """The calendar of each probe, by probe id."""
    probes = list(probes)
    if not probes:
        return {}
    structures = {
        row.id: row
        for row in session.connection().execute(
            select(
                _STRUCTURE.c.id,
                _STRUCTURE.c.opening_hours,
                _STRUCTURE.c.timezone,
                _STRUCTURE.c.holiday_subdivision,
            ).where(_STRUCTURE.c.id.in_({p.structure_id for p in probes}))
        )
    }
    margins = {
        wave_id: margin
        for wave_id, margin in session.connection().execute(
            select(_WAVE.c.id, _WAVE.c.parameters["closing_margin_minutes"]).where(
                _WAVE.c.id.in_({p.wave_id for p in probes})
            )
        )
    }
    calendars = {}
    for probe in probes:
        structure = structures[probe.structure_id]
        margin = margins.get(probe.wave_id)
        calendars[probe.probe_id] = ProbeCalendar(
            opening_hours=structure.opening_hours,
            timezone=structure.timezone,
            holiday_subdivision=structure.holiday_subdivision,
            closing_margin_minutes=None if margin is None else int(margin),
        )
    return calendars


def set_wave_status(session: Session, wave_name: str, status: WaveStatus) -> Wave:
    """Run, pause, resume, finish or cancel a wave; :class:`ConflictError` for a move its
    status does not allow. Setting the status it has already changes nothing."""
    wave = get_wave(session, wave_name)
    if wave.status == status:
        return wave
    allowed = _WAVE_TRANSITIONS.get(status, frozenset())
    if wave.status not in allowed:
        if wave.status == WaveStatus.DRAFT and status == WaveStatus.RUNNING:
            hint = f"plan it first with `prober wave plan {wave_name}`"
        elif allowed:
            hint = "only a wave that is " + " or ".join(sorted(allowed)) + f" can become {status}"
        else:
            hint = f"{status} is set by creating or planning a wave, not by hand"
        raise ConflictError(f"wave {wave_name!r} is {wave.status}: {hint}")
    wave.status = status
    session.add(wave)
    session.flush()
    return wave


def wave_progress(session: Session, wave_name: str) -> WaveProgress:
    """How many probes of the wave are in each state, overall and per channel."""
    wave = get_wave(session, wave_name)
    by_state: dict[str, int] = {}
    by_channel: dict[str, dict[str, int]] = {}
    rows = session.connection().execute(
        select(_PROBE.c.channel, _PROBE.c.state, func.count())
        .where(_PROBE.c.wave_id == wave.id)
        .group_by(_PROBE.c.channel, _PROBE.c.state)
        .order_by(_PROBE.c.channel, _PROBE.c.state)
    )
    for channel, state, count in rows:
        by_state[state] = by_state.get(state, 0) + count
        by_channel.setdefault(channel, {})[state] = count
    return WaveProgress(
        total=sum(by_state.values()),
        by_state=dict(sorted(by_state.items())),
        by_channel=by_channel,
        status=wave.status,
    )


def finish_wave_if_done(session: Session, wave_id: int) -> bool:
    """Mark a running wave ``done`` when none of its probes is planned, claimed or in progress;
    True when this call did.

    Call it in the transaction that settled a probe, after settling it. The wave's row is locked
    first (``FOR UPDATE`` on PostgreSQL; SQLite's one writer at a time does the same), so that
    two daemons settling a wave's last two probes at once check one after the other: under READ
    COMMITTED the second check, a new statement after the first transaction committed, sees
    both probes settled and closes the wave. Without the lock each saw the other's probe still
    in progress and the wave waited for the dispatcher's periodic check.

    The lock is taken only when few probes are left (``_FEW_LEFT``, more than the transactions
    that can settle probes at once: each daemon's storage workers): while a national wave has
    thousands to go, every settling transaction of every daemon would otherwise queue on that
    one row.
    """
    left = session.connection().execute(
        select(_PROBE.c.id)
        .where(_PROBE.c.wave_id == wave_id, _PROBE.c.state.in_(_ACTIVE))
        .limit(_FEW_LEFT + 1)
    )
    if len(left.all()) > _FEW_LEFT:
        return False
    wave = session.get(Wave, wave_id, with_for_update=True, populate_existing=True)
    if wave is None:
        raise NotFoundError(f"no wave with id {wave_id}")
    if wave.status != WaveStatus.RUNNING:
        return False
    active = (
        session.connection()
        .execute(
            select(_PROBE.c.id)
            .where(_PROBE.c.wave_id == wave_id, _PROBE.c.state.in_(_ACTIVE))
            .limit(1)
        )
        .first()
    )
    if active is not None:
        return False
    wave.status = WaveStatus.DONE
    session.add(wave)
    session.flush()
    return True


def finish_done_waves(session: Session) -> list[str]:
    """Apply :func:`finish_wave_if_done` to every running wave; the names of those finished."""
    running = (
        session.connection()
        .execute(
            select(_WAVE.c.id, _WAVE.c.name)
            .where(_WAVE.c.status == WaveStatus.RUNNING)
            .order_by(_WAVE.c.id)
        )
        .all()
    )
    return [name for wave_id, name in running if finish_wave_if_done(session, wave_id)]
