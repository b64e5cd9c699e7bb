"""The sandbox's single account and the HTTP Basic check Twilio applies to every API request."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass

from sandbox.errors import AuthenticationFailed, SandboxConfigError

ACCOUNT_SID_PATTERN = re.compile(r"^AC[0-9a-fA-F]{32}$")


@dataclass(frozen=True, slots=True)
class Account:
    """The account the sandbox serves: its SID and auth token."""

    sid: str
    auth_token: str

    def __post_init__(self) -> None:
        if not ACCOUNT_SID_PATTERN.match(self.sid):
            raise SandboxConfigError(
                f"account SID {self.sid!r} is not 'AC' followed by 32 hexadecimal digits"
            )
        if not self.auth_token:
            raise SandboxConfigError("the auth token must not be empty")


def check_basic_auth(authorization: str | None, account: Account) -> None:
    """Raise `AuthenticationFailed` unless the header carries `account.sid:account.auth_token`."""
    if authorization is None:
        raise AuthenticationFailed()
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise AuthenticationFailed()
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationFailed() from None
    username, _, password = decoded.partition(":")
    expected = f"{account.sid}:{account.auth_token}".encode()
    if not hmac.compare_digest(f"{username}:{password}".encode(), expected):
        raise AuthenticationFailed()
