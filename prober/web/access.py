"""Who may use the workspace listener: bearer tokens with scopes, compared in constant time.

A token is ``secrets.token_urlsafe(32)`` (256 random bits), shown once by ``prober tokens add``;
only its SHA-256 is stored (storage/tokens.py). Answers follow RFC 6750: 401 with
``WWW-Authenticate: Bearer`` without a token or with an unknown or revoked one, 403 with
``error="insufficient_scope"`` for a token lacking the scope a route needs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal

from starlette.requests import Request

from prober.errors import ProberError
from prober.project.database import Database
from storage.tokens import active_tokens

# Every scope a token may carry, and what it opens.
SCOPES: dict[str, str] = {"results:read": "the results API (/api): scores, verdicts, evidence ids"}
TOKEN_BYTES = 32
REALM = "prober"
DenialCode = Literal["missing_token", "invalid_token", "insufficient_scope"]


def new_token() -> str:
    """A fresh token: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """What is stored of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AccessDenied(ProberError):
    """A request without the right token: its status, stable code, message and challenge."""

    def __init__(self, status: int, code: DenialCode, detail: str, challenge: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.challenge = challenge


class TokenCheck:
    """Checks a request's ``Authorization: Bearer`` token against the stored, active ones."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def require(self, request: Request, scope: str) -> str:
        """The name of the request's token if it is active and has ``scope``; AccessDenied."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AccessDenied(
                401,
                "missing_token",
                "this API needs a token (Authorization: Bearer <token>, prober tokens add)"
                " or a workspace session (sign in at /connexion)",
                f'Bearer realm="{REALM}"',
            )
        digest = token_digest(token)
        found = None
        # Every active token is compared, in constant time each: how long the check takes
        # says nothing of which stored digest came close.
        for stored in await self.database.run(active_tokens):
            if hmac.compare_digest(stored.sha256, digest):
                found = stored
        if found is None:
            raise AccessDenied(
                401,
                "invalid_token",
                "unknown or revoked token",
                f'Bearer realm="{REALM}", error="invalid_token"',
            )
        if scope not in found.scopes:
            raise AccessDenied(
                403,
                "insufficient_scope",
                f"token {found.name!r} lacks the scope {scope!r}",
                f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"',
            )
        return found.name
