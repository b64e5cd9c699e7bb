"""Workspace passwords: argon2id hashes (argon2-cffi's RFC 9106 defaults), generated passwords."""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 takes any length; a bound keeps a huge form field from costing much
GENERATED_BYTES = 15  # 120 random bits, 20 URL-safe characters

_HASHER = PasswordHasher()


class WeakPasswordError(ValueError):
    """A password too short or too long to be accepted."""


def check_strength(password: str) -> None:
    """WeakPasswordError unless ``password`` is ``MIN_LENGTH``..``MAX_LENGTH`` characters."""
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(
            f"password too short: give at least {MIN_LENGTH} characters"
            " (or leave --password-stdin out to have one generated)"
        )
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"password too long: at most {MAX_LENGTH} characters")


def generate_password() -> str:
    """A fresh random password (120 bits)."""
    return secrets.token_urlsafe(GENERATED_BYTES)


def hash_password(password: str) -> str:
    """The argon2id hash to store for ``password`` (salted; slow on purpose)."""
    return _HASHER.hash(password)


@cache
def _decoy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(GENERATED_BYTES))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``. With no hash (unknown login) a decoy hash is
    checked anyway, so the answer takes as long whether the login exists or not."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(stored_hash or _decoy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with older parameters than today's (rehash at next sign-in)."""
    try:
        return _HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
