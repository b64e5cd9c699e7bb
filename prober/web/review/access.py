"""What the review pages need of sign-in: who is asking, CSRF tokens, the audit log.

The workspace's sign-in (accounts, sessions, CSRF, audit log) implements :class:`ReviewAccess`;
the review pages know nothing of how.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request

LEAD_ROLES = frozenset({"lead", "admin"})
REVIEW_ROLES = frozenset({"auditor", "lead", "admin"})


@dataclass(frozen=True, slots=True)
class Person:
    """A signed-in person: their login and role."""

    login: str
    role: str

    @property
    def is_lead(self) -> bool:
        """Leads (and admins) see every verdict, arbitrate and read the agreement."""
        return self.role in LEAD_ROLES

    @property
    def reviews(self) -> bool:
        """Whether the role opens the review pages at all."""
        return self.role in REVIEW_ROLES


class ReviewAccess(Protocol):
    """Sign-in as the review pages use it."""

    async def person(self, request: Request) -> Person | None:
        """The signed-in person, or None."""
        ...

    def csrf_token(self, request: Request) -> str:
        """The token every form of this session carries."""
        ...

    def csrf_valid(self, request: Request, token: str) -> bool:
        """Whether a submitted form's token is this session's."""
        ...

    def sign_in_url(self, request: Request) -> str:
        """Where to send someone not signed in (coming back to this page afterwards)."""
        ...

    async def audit(self, request: Request, person: Person, action: str, detail: str) -> None:
        """Append to the audit log: who, when, from where, what."""
        ...
