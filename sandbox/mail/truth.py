"""The mail ground truth: one JSON line per message a mailbox sent, or per probe left unanswered."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


class Outcome(StrEnum):
    """What became of a message the sandbox sent, at its relay."""

    RELAYED = "relayed"  # the relay accepted it (2xx after DATA)
    REFUSED = "refused"  # the relay answered 4xx/5xx: the reply address does not receive mail
    UNREACHABLE = "unreachable"  # nobody listened at the relay, or the session broke
    CANCELLED = "cancelled"  # the sandbox stopped before the message was due


# Kinds of lines besides the sent messages' (`SentKind`).
NO_REPLY = "no_reply"  # the mailbox took the probe and will never answer
REJECTED = "rejected"  # the mailbox refused the probe at RCPT (550 5.1.1): no DATA, no DSN


@dataclass(frozen=True, slots=True)
class MailTruth:
    """One message a structure's mailbox sent, or a probe it will not answer.

    Instants are simulated, ISO 8601 in UTC; `sent_at` is also the message's `Date:`.
    """

    kind: str  # human_reply, auto_ack, out_of_office, bounce, no_reply, rejected
    mailbox: str  # the structure's address the probe was sent to
    behaviour: dict[str, Any]  # the mailbox's behaviour from the world
    probe_message_id: str | None  # None when rejected before DATA
    probe_envelope_sender: str
    probe_arrived_at: str
    message_id: str | None = None
    from_: str | None = None  # address in the message's From
    to: str | None = None  # the envelope recipient of the message
    sent_at: str | None = None
    outcome: str | None = None  # an `Outcome` for sent messages
    relay_response: str | None = None  # the relay's answer, or why it could not be reached

    def to_json(self) -> dict[str, Any]:
        return {
            ("from" if name == "from_" else name): value for name, value in asdict(self).items()
        }


class MailTruthLog:
    """Appends `MailTruth` lines to a file; keeps them in memory too when no file is given."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: list[MailTruth] = []
        self._lock = threading.Lock()

    def record(self, truth: MailTruth) -> None:
        # One short line: appended synchronously, also from a cancelled task at shutdown.
        with self._lock:
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as log:
                    log.write(json.dumps(truth.to_json(), ensure_ascii=False) + "\n")
            self.entries.append(truth)


def read_mail_truth(path: Path) -> list[dict[str, Any]]:
    """The entries of a mail truth log file, in the order they were written."""
    with path.open(encoding="utf-8") as log:
        return [json.loads(line) for line in log if line.strip()]
