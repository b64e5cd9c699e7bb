"""Calls-per-second pacing: Twilio queues calls beyond the account's CPS, never refuses them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sandbox.errors import SandboxConfigError


class CallPacer:
    """Hands out start slots at most `calls_per_second` apart, in creation order."""

    def __init__(self, calls_per_second: float) -> None:
        if not calls_per_second > 0:
            raise SandboxConfigError(f"calls per second must be positive, got {calls_per_second}")
        self.calls_per_second = calls_per_second
        self._interval = timedelta(seconds=1 / calls_per_second)
        self._next_free_slot: datetime | None = None

    def reserve(self, created_at: datetime) -> datetime:
        """Return the earliest instant a call created at `created_at` may start dialling."""
        slot = created_at
        if self._next_free_slot is not None and self._next_free_slot > slot:
            slot = self._next_free_slot
        self._next_free_slot = slot + self._interval
        return slot
