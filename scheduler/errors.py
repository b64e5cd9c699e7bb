"""The exception hierarchy of the scheduler package."""

from __future__ import annotations


class SchedulerError(Exception):
    """Base of every scheduler error."""


class WaveDefinitionError(SchedulerError):
    """A wave cannot be created or planned as asked; the message says what to change."""
