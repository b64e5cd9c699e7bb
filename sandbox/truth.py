"""The ground-truth log: one JSON line per finished call, saying what really happened."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class CallTruth:
    """What the simulated world did on one call; offsets and durations in simulated seconds."""

    sid: str
    to: str
    from_: str
    behaviour: dict[str, Any]
    started_at: str
    rings: int
    answered_by: str | None
    amd_answered_by: str | None
    answer_offset_s: int | None
    duration_s: int
    status: str
    sip_response_code: int
    ended_by: str
    recording_sid: str | None = None
    menu_choice: str | None = None
    transfer_outcome: str | None = None
    # From the last transfer request (key pressed, request said) to the first words of the
    # party it leads to: what a citizen waits.
    hold_s: int | None = None
    # Every key that chose a menu entry, first-level menu first.
    menu_path: list[str] = field(default_factory=list)
    # Rings a switchboard played itself after answering (the callbacks cannot see them).
    rings_after_answer: int = 0
    # A leg placed by a <Dial> (record_from_ringing): the call that dialled it.
    parent_call_sid: str | None = None
    # The <Dial>'s recording of this leg, as heard: where the recording starts (the leg's
    # offset, seconds), the answer and the transfer request in the recording, and each piece
    # rendered with its real start and end (`sandbox.sound`'s truth).
    audio: dict[str, Any] | None = None
    # Other calls to this number under way when this one was dialled: a structure called twice
    # at once (a second line, or busy, in the real world).
    lines_in_use: int = 0

    def to_json(self) -> dict[str, Any]:
        # Twilio's parameter names put `from` beside `to`; `from` is a Python keyword.
        return {
            ("from" if name == "from_" else name): value for name, value in asdict(self).items()
        }


class TruthLog:
    """Appends `CallTruth` lines to a file; keeps them in memory too when no file is given."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: list[CallTruth] = []

    async def record(self, truth: CallTruth) -> None:
        if self.path is not None:
            line = json.dumps(truth.to_json(), ensure_ascii=False)
            await asyncio.to_thread(_append, self.path, line)
        self.entries.append(truth)


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as log:
        log.write(line + "\n")


def read_truth(path: Path) -> list[dict[str, Any]]:
    """The entries of a truth log file, in the order calls finished."""
    with path.open(encoding="utf-8") as log:
        return [json.loads(line) for line in log if line.strip()]
