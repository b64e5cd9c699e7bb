"""Leases: a named role (relaying the outbox) that one daemon at a time holds, until a deadline.

A lease is a row of ``relay_lease``. Taking or renewing it is one conditional ``UPDATE`` (the
holder is us, nobody, or a holder whose deadline passed), atomic on PostgreSQL and SQLite alike:
of two daemons trying at once, one gets it. The holder renews it well before its deadline; a
daemon that dies stops renewing, and another takes the lease once the deadline is past.

Deadlines are written and compared with the daemons' own clocks: they must agree to well under
a lease's length (NTP; see docs/deployment.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, case, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from storage.models import RelayLease

_LEASE: Table = RelayLease.__table__  # type: ignore[attr-defined]

OUTBOX_RELAY = "outbox-relay"


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """Who holds a lease, since and until when."""

    holder: str
    acquired_at: datetime
    expires_at: datetime


def take(
    session: Session, name: str, *, holder: str, now: datetime, length: timedelta
) -> datetime | None:
    """Take or renew lease ``name`` for ``holder`` until ``now + length``; that deadline, or
    None while another holder's lease runs."""
    connection = session.connection()
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(insert(_LEASE).values(name=name).on_conflict_do_nothing())
    until = now + length
    taken = connection.execute(
        update(_LEASE)
        .where(
            _LEASE.c.name == name,
            or_(
                _LEASE.c.holder == holder,
                _LEASE.c.holder.is_(None),
                _LEASE.c.expires_at <= now,
            ),
        )
        .values(
            holder=holder,
            expires_at=until,
            acquired_at=case((_LEASE.c.holder == holder, _LEASE.c.acquired_at), else_=now),
        )
    ).rowcount
    return until if taken else None


def give_up(session: Session, name: str, *, holder: str) -> bool:
    """Release lease ``name`` if ``holder`` holds it (another daemon may take it at once)."""
    released = (
        session.connection()
        .execute(
            update(_LEASE)
            .where(_LEASE.c.name == name, _LEASE.c.holder == holder)
            .values(holder=None, expires_at=None, acquired_at=None)
        )
        .rowcount
    )
    return bool(released)


def current(session: Session, name: str, *, now: datetime) -> LeaseHolder | None:
    """Who holds lease ``name`` at ``now``; None when nobody does (never taken, given up or
    run out)."""
    row = (
        session.connection()
        .execute(
            select(_LEASE.c.holder, _LEASE.c.acquired_at, _LEASE.c.expires_at).where(
                _LEASE.c.name == name
            )
        )
        .first()
    )
    if row is None or row.holder is None or row.expires_at is None or row.expires_at <= now:
        return None
    return LeaseHolder(holder=row.holder, acquired_at=row.acquired_at, expires_at=row.expires_at)
