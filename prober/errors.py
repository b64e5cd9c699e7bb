"""The application's exception root, and how each package's errors reach the user."""

from __future__ import annotations


class ProberError(Exception):
    """A mistake in what the user asked for, reported as one line without a traceback."""


class UsageError(ProberError):
    """A command-line value is wrong; the message says which and what is expected."""
