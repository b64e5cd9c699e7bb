"""The event type every channel produces: one observed fact, dated by its source."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ObservedEvent:
    """A fact seen on a channel.

    ``source_at`` is the instant the source gave (Twilio's ``Timestamp``, a mail's date) or, when
    the source dates nothing, the instant we received it; ``clock`` says which (``"source"`` or
    ``"receipt"``). ``dedup_key`` is the same for every delivery of the same fact, so a retried
    or repeated callback is stored once.
    """

    kind: str
    source: str
    source_at: datetime
    received_at: datetime
    dedup_key: str | None
    clock: str = "source"
    payload: dict[str, Any] = field(default_factory=dict)
