"""The append-only audit log: account changes, sign-ins, reviews, arbitrations.

Rows are only ever inserted (the database refuses UPDATE and DELETE on the table, see migration
0009); this module offers no way to change one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from storage.models import AuditEntry


@dataclass(frozen=True, slots=True)
class StoredAudit:
    """One line of the log."""

    id: int
    at: datetime
    actor: str
    address: str
    action: str
    target: str
    details: dict[str, Any]


def _stored(row: AuditEntry) -> StoredAudit:
    assert row.id is not None  # noqa: S101 - a flushed row
    return StoredAudit(
        row.id, row.at, row.actor, row.address, row.action, row.target, dict(row.details)
    )


def append_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    address: str = "",
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> StoredAudit:
    """Add one line to the log (in the caller's transaction, with the change it records)."""
    row = AuditEntry(
        actor=actor[:100],
        action=action[:64],
        target=target[:200],
        address=address[:64],
        details=dict(details or {}),
    )
    if at is not None:
        row.at = at
    session.add(row)
    session.flush()
    return _stored(row)


def recent_audit(
    session: Session, *, limit: int = 100, action: str | None = None
) -> list[StoredAudit]:
    """The newest lines first, at most ``limit``, optionally of one action only."""
    query = select(AuditEntry)
    if action is not None:
        query = query.where(col(AuditEntry.action) == action)
    rows = session.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit))
    return [_stored(row) for row in rows]


def count_audit(
    session: Session,
    *,
    action: str,
    since: datetime,
    target: str | None = None,
    address: str | None = None,
) -> int:
    """How many lines of ``action`` since ``since``, for ``target`` and/or from ``address``."""
    query = (
        select(func.count())
        .select_from(AuditEntry)
        .where(col(AuditEntry.action) == action, col(AuditEntry.at) >= since)
    )
    if target is not None:
        query = query.where(col(AuditEntry.target) == target)
    if address is not None:
        query = query.where(col(AuditEntry.address) == address)
    return int(session.exec(query).one())
