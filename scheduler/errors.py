"""The exception hierarchy of the scheduler package."""

from __future__ import annotations


class SchedulerError(Exception):
    """Base of every scheduler error."""


class WaveDefinitionError(SchedulerError):
    """A wave cannot be created or planned as asked; the message says what to change.

    ``field`` names the part of the wave at fault (``name``, ``end``, ``channels``, ``panel``,
    ``scenarios``, ``personas``, ``quotas``), or is ``None`` for the wave as a whole; ``reason``
    is the message without it, for a caller that names the field its own way (a CLI option).
    """

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.field = field
        self.reason = reason
        super().__init__(reason if field is None else f"{field}: {reason}")
