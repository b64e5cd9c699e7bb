"""API tokens of the workspace listener: stored as SHA-256 digests, listed, revoked."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from storage.errors import ConflictError, NotFoundError
from storage.models import ApiToken
from storage.types import utcnow


@dataclass(frozen=True, slots=True)
class StoredToken:
    """A token as stored: its name, digest, scopes and dates (never the token itself)."""

    name: str
    sha256: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


def _stored(row: ApiToken) -> StoredToken:
    return StoredToken(row.name, row.sha256, tuple(row.scopes), row.created_at, row.revoked_at)


def add_token(session: Session, *, name: str, sha256: str, scopes: Collection[str]) -> StoredToken:
    """Keep a new token's digest under ``name``; ConflictError if the name is taken."""
    existing = session.exec(select(ApiToken).where(col(ApiToken.name) == name)).first()
    if existing is not None:
        state = "revoked" if existing.revoked_at is not None else "active"
        raise ConflictError(f"a token named {name!r} exists ({state}): choose another name")
    row = ApiToken(name=name, sha256=sha256, scopes=sorted(set(scopes)))
    session.add(row)
    session.flush()
    return _stored(row)


def list_tokens(session: Session) -> list[StoredToken]:
    """Every token, revoked ones included, oldest first."""
    rows = session.exec(select(ApiToken).order_by(col(ApiToken.id)))
    return [_stored(row) for row in rows]


def active_tokens(session: Session) -> list[StoredToken]:
    """The tokens not revoked (what a request's token is compared with)."""
    rows = session.exec(select(ApiToken).where(col(ApiToken.revoked_at).is_(None)))
    return [_stored(row) for row in rows]


def revoke_token(session: Session, name: str) -> StoredToken:
    """Revoke the token named ``name`` from now on (again: no change); NotFoundError if none."""
    row = session.exec(select(ApiToken).where(col(ApiToken.name) == name)).first()
    if row is None:
        raise NotFoundError(f"no token named {name!r}: `prober tokens list` shows them")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.flush()
    return _stored(row)
