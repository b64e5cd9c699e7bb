"""Workspace accounts: created, found by login, listed, disabled, given another role.

Only an argon2 hash of each password is stored (hashed by prober/web/passwords.py); this module
never sees a password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from storage.errors import ConflictError, NotFoundError
from storage.models import Account, Role, Structure
from storage.types import utcnow


@dataclass(frozen=True, slots=True)
class StoredAccount:
    """An account as stored, with its structure's official id (role ``structure``)."""

    id: int
    login: str
    role: Role
    password_hash: str
    structure_id: int | None
    structure_official_id: str | None
    organisation: str
    created_at: datetime
    disabled_at: datetime | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


def _stored(session: Session, row: Account) -> StoredAccount:
    assert row.id is not None  # noqa: S101 - a flushed row
    official_id = None
    if row.structure_id is not None:
        structure = session.get(Structure, row.structure_id)
        official_id = None if structure is None else structure.official_id
    return StoredAccount(
        row.id,
        row.login,
        Role(row.role),
        row.password_hash,
        row.structure_id,
        official_id,
        row.organisation,
        row.created_at,
        row.disabled_at,
    )


def _row(session: Session, login: str) -> Account:
    row = session.exec(select(Account).where(col(Account.login) == login)).first()
    if row is None:
        raise NotFoundError(f"no account {login!r}: `prober users list` shows them")
    return row


def _structure_id(session: Session, role: Role, official_id: str | None) -> int | None:
    if role is Role.STRUCTURE and official_id is None:
        raise ConflictError("a structure account needs --structure OFFICIAL_ID")
    if role is not Role.STRUCTURE and official_id is not None:
        raise ConflictError(f"--structure is for structure accounts, not {role.value!r} ones")
    if official_id is None:
        return None
    structure = session.exec(
        select(Structure).where(col(Structure.official_id) == official_id)
    ).first()
    if structure is None:
        raise NotFoundError(
            f"no structure {official_id!r}: import it first (`prober structures import`)"
        )
    return structure.id


def add_account(
    session: Session,
    *,
    login: str,
    role: Role,
    password_hash: str,
    structure: str | None = None,
    organisation: str = "",
) -> StoredAccount:
    """A new account; ConflictError if the login is taken or the structure does not fit the role."""
    if session.exec(select(Account).where(col(Account.login) == login)).first() is not None:
        raise ConflictError(f"an account {login!r} exists: choose another login")
    row = Account(
        login=login,
        role=role.value,
        password_hash=password_hash,
        structure_id=_structure_id(session, role, structure),
        organisation=organisation,
    )
    session.add(row)
    session.flush()
    return _stored(session, row)


def find_account(session: Session, login: str) -> StoredAccount | None:
    """The account named ``login``, disabled or not; None if there is none."""
    row = session.exec(select(Account).where(col(Account.login) == login)).first()
    return None if row is None else _stored(session, row)


def get_account(session: Session, account_id: int) -> StoredAccount | None:
    """The account with id ``account_id``; None if there is none."""
    row = session.get(Account, account_id)
    return None if row is None else _stored(session, row)


def list_accounts(session: Session) -> list[StoredAccount]:
    """Every account, disabled ones included, oldest first."""
    return [
        _stored(session, row) for row in session.exec(select(Account).order_by(col(Account.id)))
    ]


def disable_account(session: Session, login: str) -> StoredAccount:
    """Refuse ``login`` from now on (again: no change); its sessions are closed by the caller."""
    row = _row(session, login)
    if row.disabled_at is None:
        row.disabled_at = utcnow()
        session.add(row)
        session.flush()
    return _stored(session, row)


def set_role(
    session: Session, login: str, role: Role, *, structure: str | None = None
) -> StoredAccount:
    """Give ``login`` another role (and structure, for ``structure``)."""
    row = _row(session, login)
    row.structure_id = _structure_id(session, role, structure)
    row.role = role.value
    session.add(row)
    session.flush()
    return _stored(session, row)


def set_password_hash(session: Session, login: str, password_hash: str) -> StoredAccount:
    """Replace ``login``'s password hash (a rehash with newer parameters, or a new password)."""
    row = _row(session, login)
    row.password_hash = password_hash
    session.add(row)
    session.flush()
    return _stored(session, row)
