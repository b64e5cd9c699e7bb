"""Server-side sessions of the workspace: only the SHA-256 of the cookie is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, delete, select

from storage.models import WebSession


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A signed-in browser's session: whose, its CSRF token, when opened and last used."""

    id: int
    account_id: int
    csrf_token: str
    address: str
    created_at: datetime
    last_seen_at: datetime


def _stored(row: WebSession) -> StoredSession:
    assert row.id is not None  # noqa: S101 - a flushed row
    return StoredSession(
        row.id, row.account_id, row.csrf_token, row.address, row.created_at, row.last_seen_at
    )


def open_session(
    session: Session, *, sha256: str, account_id: int, csrf_token: str, address: str, at: datetime
) -> StoredSession:
    """Keep a new session under the digest of its cookie."""
    row = WebSession(
        sha256=sha256,
        account_id=account_id,
        csrf_token=csrf_token,
        address=address[:64],
        created_at=at,
        last_seen_at=at,
    )
    session.add(row)
    session.flush()
    return _stored(row)


def find_session(session: Session, sha256: str) -> StoredSession | None:
    """The session whose cookie has this digest; None if there is none (closed or never)."""
    row = session.exec(select(WebSession).where(col(WebSession.sha256) == sha256)).first()
    return None if row is None else _stored(row)


def touch_session(session: Session, session_id: int, at: datetime) -> None:
    """Note that the session was used at ``at`` (its idle timeout restarts)."""
    row = session.get(WebSession, session_id)
    if row is not None:
        row.last_seen_at = at
        session.add(row)
        session.flush()


def close_session(session: Session, session_id: int) -> None:
    """Forget a session (sign-out, or expired)."""
    session.exec(delete(WebSession).where(col(WebSession.id) == session_id))


def close_sessions_of(session: Session, account_id: int) -> int:
    """Forget every session of an account (disabled, or given another role); how many."""
    rows = session.exec(select(WebSession).where(col(WebSession.account_id) == account_id)).all()
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)


def close_sessions_before(
    session: Session, *, opened_before: datetime, idle_since: datetime
) -> int:
    """Forget every session opened before ``opened_before`` or unused since ``idle_since``."""
    rows = session.exec(
        select(WebSession).where(
            (col(WebSession.created_at) < opened_before)
            | (col(WebSession.last_seen_at) < idle_since)
        )
    ).all()
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)
