"""The exception hierarchy of the storage package."""

from __future__ import annotations


class StorageError(Exception):
    """Base of every storage error."""


class DatabaseUnavailableError(StorageError):
    """The database cannot be reached or opened."""


class SchemaOutdatedError(StorageError):
    """The database schema is older (or newer) than this version of prober expects."""


class NotFoundError(StorageError):
    """A named row (structure, wave...) does not exist."""


class ConflictError(StorageError):
    """The change would contradict what is stored (a wave already planned, a bad transition...)."""


class ClaimLostError(ConflictError):
    """A daemon went to carry out a probe whose claim it no longer holds (released or taken)."""
