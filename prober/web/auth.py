"""Who is signed in on the workspace: sign-in with throttling, server-side sessions, CSRF.

A session is a random cookie (``prober_session``, 256 bits, HttpOnly, SameSite=Lax, Secure over
https) whose SHA-256 only is stored with the account, a CSRF token and two instants: it ends
``session_idle_minutes`` after its last use or ``session_max_hours`` after sign-in, whichever
comes first. Sign-ins are throttled from the audit log: past ``login_failures_per_account``
failures for one login, or ``login_failures_per_address`` from one address, within
``login_window_minutes``, every sign-in is refused until the window has slid by. Forms of
signed-in users carry the session's CSRF token; the sign-in form, before any session, a random
``prober_csrf`` cookie echoed in the form (double submit).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from config.settings import WorkspaceSettings
from prober.errors import ProberError
from prober.project.database import Database
from prober.web.passwords import hash_password, needs_rehash, verify_password
from storage.accounts import find_account, get_account, set_password_hash
from storage.audit import append_audit, count_audit
from storage.models import Role
from storage.types import utcnow
from storage.websessions import (
    close_session,
    close_sessions_before,
    find_session,
    open_session,
    touch_session,
)

SESSION_COOKIE = "prober_session"
CSRF_COOKIE = "prober_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_BYTES = 32
# The last-use instant is written at most this often (not on every request).
TOUCH_EVERY = timedelta(seconds=30)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sign-ins of one login run one at a time (so parallel guesses cannot outrun the count of
# failures); logins share this many locks, whatever their number.
SIGN_IN_LOCKS = 64

_UNSET = object()

SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
SIGN_IN_THROTTLED = "sign_in_throttled"
SIGN_OUT = "sign_out"


class AuthError(ProberError):
    """Base of the workspace's sign-in and permission errors."""


class SignInRefused(AuthError):
    """A sign-in refused: wrong login or password, disabled account, or throttled."""

    def __init__(self, message: str, *, throttled: bool = False) -> None:
        super().__init__(message)
        self.throttled = throttled


class NotSignedIn(AuthError):
    """A request without a live session where one is needed (answer 401 or go sign in)."""


class Forbidden(AuthError):
    """A signed-in user whose role does not open what was asked (answer 403)."""


class CsrfRefused(AuthError):
    """A form or request that changes something without its CSRF token (answer 403)."""


def client_address(request: Request) -> str:
    """The address the request came from (uvicorn applies trusted X-Forwarded-For)."""
    return request.client.host if request.client is not None else ""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class User:
    """The signed-in person behind a request."""

    account_id: int
    login: str
    role: Role
    structure_id: int | None
    structure_official_id: str | None
    organisation: str
    session_id: int
    csrf_token: str
    address: str

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles

    def audit(
        self,
        session: Session,
        action: str,
        target: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Add a line to the audit log in ``session``'s transaction (with the change it records)."""
        append_audit(
            session,
            actor=self.login,
            action=action,
            target=target,
            address=self.address,
            details=details,
        )


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A fresh session: the user and the cookie value to set (shown to no one else)."""

    user: User
    cookie: str


class Auth:
    """Sign-in, sessions and CSRF checks of the workspace, over ``database``."""

    def __init__(self, database: Database, settings: WorkspaceSettings) -> None:
        self.database = database
        self.settings = settings
        self.idle = timedelta(minutes=settings.session_idle_minutes)
        self.lifetime = timedelta(hours=settings.session_max_hours)
        self.window = timedelta(minutes=settings.login_window_minutes)
        self._sign_in_locks = [asyncio.Lock() for _ in range(SIGN_IN_LOCKS)]

    # -- Sign-in and sign-out -------------------------------------------------------------

    async def sign_in(self, login: str, password: str, address: str) -> SignedIn:
        """A new session for ``login`` if the password is right and no throttle applies;
        SignInRefused otherwise. Every outcome is written in the audit log."""
        login = login.strip()[:100]
        lock = self._sign_in_locks[int(_digest(login)[:8], 16) % SIGN_IN_LOCKS]
        async with lock:
            return await self._sign_in(login, password, address)

    async def _sign_in(self, login: str, password: str, address: str) -> SignedIn:
        now = utcnow()

        def look(session: Session) -> tuple[bool, str | None]:
            since = now - self.window
            throttled = (
                count_audit(session, action=SIGN_IN_FAILED, since=since, target=login)
                >= self.settings.login_failures_per_account
                or count_audit(session, action=SIGN_IN_FAILED, since=since, address=address)
                >= self.settings.login_failures_per_address
            )
            if throttled:
                append_audit(
                    session, actor=login, action=SIGN_IN_THROTTLED, target=login, address=address
                )
            account = find_account(session, login)
            return throttled, None if account is None else account.password_hash

        throttled, stored_hash = await self.database.run(look)
        if throttled:
            raise SignInRefused(
                "trop de tentatives de connexion échouées : réessayez dans"
                f" {self.settings.login_window_minutes} minutes",
                throttled=True,
            )
        matches = await asyncio.to_thread(verify_password, stored_hash, password)
        rehash = None
        if matches and stored_hash is not None and needs_rehash(stored_hash):
            rehash = await asyncio.to_thread(hash_password, password)
        cookie = secrets.token_urlsafe(SESSION_BYTES)
        csrf = secrets.token_urlsafe(SESSION_BYTES)

        def record(session: Session) -> User | None:
            account = find_account(session, login)
            if not matches or account is None or not account.active:
                reason = "disabled" if matches and account is not None else "bad_credentials"
                append_audit(
                    session,
                    actor=login,
                    action=SIGN_IN_FAILED,
                    target=login,
                    address=address,
                    details={"reason": reason},
                )
                return None
            if rehash is not None:
                set_password_hash(session, login, rehash)
            # Sessions left to expire are forgotten here, the one place they pile up from.
            close_sessions_before(
                session, opened_before=now - self.lifetime, idle_since=now - self.idle
            )
            opened = open_session(
                session,
                sha256=_digest(cookie),
                account_id=account.id,
                csrf_token=csrf,
                address=address,
                at=utcnow(),
            )
            append_audit(session, actor=login, action=SIGN_IN, target=login, address=address)
            return User(
                account.id,
                account.login,
                account.role,
                account.structure_id,
                account.structure_official_id,
                account.organisation,
                opened.id,
                csrf,
                address,
            )

        user = await self.database.run(record)
        if user is None:
            raise SignInRefused("identifiant ou mot de passe incorrect")
        return SignedIn(user, cookie)

    async def sign_out(self, user: User) -> None:
        """Close ``user``'s session, in the audit log."""

        def close(session: Session) -> None:
            close_session(session, user.session_id)
            user.audit(session, SIGN_OUT, user.login)

        await self.database.run(close)

    # -- The user behind a request --------------------------------------------------------

    async def user_of(self, request: Request) -> User | None:
        """The user whose live session the request's cookie opens; None otherwise. An expired
        session is closed. Kept on the request: asking twice reads the database once."""
        kept = getattr(request.state, "user", _UNSET)
        if kept is not _UNSET:
            assert kept is None or isinstance(kept, User)  # noqa: S101 - only user_of sets it
            return kept
        user = await self._load(request)
        request.state.user = user
        return user

    async def _load(self, request: Request) -> User | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie or len(cookie) > 200:
            return None
        now = utcnow()
        address = client_address(request)

        def load(session: Session) -> User | None:
            found = find_session(session, _digest(cookie))
            if found is None:
                return None
            if now - found.created_at > self.lifetime or now - found.last_seen_at > self.idle:
                close_session(session, found.id)
                return None
            account = get_account(session, found.account_id)
            if account is None or not account.active:
                close_session(session, found.id)
                return None
            if now - found.last_seen_at > TOUCH_EVERY:
                touch_session(session, found.id, now)
            return User(
                account.id,
                account.login,
                account.role,
                account.structure_id,
                account.structure_official_id,
                account.organisation,
                found.id,
                found.csrf_token,
                address,
            )

        return await self.database.run(load)

    async def require(self, request: Request, *roles: Role) -> User:
        """The request's user if signed in with one of ``roles`` (any role when none given);
        NotSignedIn or Forbidden otherwise. Unsafe methods must carry the CSRF token."""
        user = await self.user_of(request)
        if user is None:
            raise NotSignedIn("connexion requise")
        if roles and user.role not in roles:
            raise Forbidden(f"cette page n'est pas ouverte au rôle {user.role.value!r}")
        if request.method in UNSAFE_METHODS:
            await self.check_csrf(request, user.csrf_token)
        return user

    async def check_csrf(self, request: Request, expected: str) -> None:
        """CsrfRefused unless the request's form field ``csrf_token`` (or ``X-CSRF-Token``
        header) equals ``expected``. The form read is kept: the handler reads it again freely."""
        given = request.headers.get(CSRF_HEADER)
        if given is None:
            content_type = request.headers.get("content-type", "")
            if content_type.startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")
            ):
                form = await request.form(max_files=0, max_fields=200)
                value = form.get(CSRF_FIELD)
                given = value if isinstance(value, str) else None
        if not expected or not given or not hmac.compare_digest(given, expected):
            raise CsrfRefused("jeton CSRF absent ou invalide : rechargez la page et recommencez")


# -- Cookies ----------------------------------------------------------------------------------


def secure_request(request: Request) -> bool:
    """Whether the page was asked for over https (cookies are then marked Secure)."""
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        httponly=True,
        secure=secure_request(request),
        samesite="lax",
        path="/",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, secure=secure_request(request), samesite="lax", path="/"
    )


def anonymous_csrf(request: Request) -> str:
    """The sign-in form's CSRF token: the visitor's ``prober_csrf`` cookie, or a new one."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if not (20 <= len(token) <= 100) or not token.replace("-", "").replace("_", "").isalnum():
        token = secrets.token_urlsafe(SESSION_BYTES)
    return token


def set_csrf_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        token,
        httponly=True,
        secure=secure_request(request),
        samesite="lax",
        path="/",
    )
