"""Letter probes: print the due letters, record their posting and the answers that come back.

Nobody can post a letter for prober: operations staff print the PDFs it writes, post them and
say so (`prober letter posted`), then record each answer the persona receives
(`prober letter received`). Each step is an event on the letter's attempt, dated by what the
operator declares (the source instant), and the letter is timed like an email: first
acknowledgement and first reply, in days and in working days (French public holidays).

Printing starts the probe's one attempt; printing again later gives the same letter (same
reference) rather than a second one, and a letter is declared posted once: a structure never
gets two letters for the same probe.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from channels.email.compose import new_reply_token, reference_text, token_of_reference
from channels.letter import (
    LetterError,
    LetterTemplates,
    ProbeLetter,
    compose_letter,
    render_letter_pdf,
)
from config.settings import Settings
from prober.errors import ProberError
from prober.probes.email import remeasure_email_attempt
from prober.probes.events import EventLog
from prober.project.files import write_atomically
from storage import attempts, mail
from storage.errors import ConflictError, NotFoundError
from storage.letters import letter_attempt, letter_event, letters_due, letters_printed_not_posted
from storage.models import Attempt, Probe, ProbeState, Reply
from storage.types import utcnow

RECEIVED_KINDS = {"reply": "human_reply", "acknowledgement": "auto_ack"}
"""What an operator says came back → the reply classification scoring reads."""
NOON = time(12, 0)


class LetterProbeError(ProberError):
    """A letter cannot be printed, posted or answered as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class PrintedLetter:
    """A letter written to disk, ready to post."""

    probe_id: uuid.UUID
    reference: str
    official_id: str
    structure_name: str
    recipient: tuple[str, ...]
    pdf: Path


@dataclass(frozen=True, slots=True)
class LetterProblem:
    """A due letter that could not be printed (it stays planned)."""

    probe_id: uuid.UUID
    reason: str


def instant(text: str, timezone: str = "Europe/Paris") -> datetime:
    """An operator's date (``2026-12-03``: noon there) or date-time (ISO; local if naive)."""
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), NOON, ZoneInfo(timezone))
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise LetterProbeError(
            f"{text!r} is not a date (2026-12-03) or a date-time (2026-12-03T09:30+01:00)"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=ZoneInfo(timezone))


class LetterDesk:
    """Prints, posts and answers the letter probes of one project."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.clock = clock
        self.letters_dir = settings.resolve(settings.letters_dir)
        self.replies_dir = settings.resolve(settings.replies_dir)
        self.events = EventLog.of(settings)

    # -- printing --------------------------------------------------------------------------

    def due(
        self, session: Session, wave: str, until: datetime, limit: int | None
    ) -> list[uuid.UUID]:
        """The wave's planned letter probes due by ``until``."""
        return letters_due(session, wave, until, limit)

    def already_printed(self, session: Session, wave: str) -> list[tuple[uuid.UUID, int]]:
        """The wave's letters printed but not yet declared posted (to print again)."""
        return letters_printed_not_posted(session, wave)

    def print_new(self, session: Session, probe_id: uuid.UUID, today: date) -> PrintedLetter:
        """Start the probe's attempt and write its letter; `LetterError` leaves nothing behind
        when the caller rolls the session back."""
        probe = session.get(Probe, probe_id, with_for_update=True)
        if probe is None:
            raise LetterProbeError(f"no probe {probe_id}")
        if probe.state != ProbeState.PLANNED or probe.attempt_count:
            # Printed meanwhile (another `letter print`): one letter per probe, ever.
            raise LetterProbeError(
                f"probe {probe_id} was printed already ({probe.state});"
                " `prober letter print --again` prints it again with the same reference"
            )
        attempt = attempts.start_attempt(session, probe_id)
        token = new_reply_token()
        letter, printed = self._write(session, probe_id, attempt.number, today, token)
        assert attempt.id is not None  # noqa: S101 (flushed)
        attempt.reference = token
        attempt.outcome = "composed"
        session.add(attempt)
        self.events.attempt_step(
            session,
            probe_id=probe_id,
            attempt_id=attempt.id,
            kind="letter.composed",
            step="composed",
            at=self.clock(),
            payload={
                "reference": letter.reference,
                "to": list(letter.recipient.lines),
                "from": list(letter.sender.lines),
                "dated": letter.dated.isoformat(),
                "pdf_path": str(printed.pdf),
                "sha256": hashlib.sha256(printed.pdf.read_bytes()).hexdigest(),
            },
        )
        return printed

    def print_again(self, session: Session, probe_id: uuid.UUID, number: int) -> PrintedLetter:
        """The letter of an attempt printed before and not posted: the very file printed then
        (its SHA-256 checked), or, if it was lost, the same letter written again."""
        context = attempts.attempt_context(session, probe_id, number)
        composed = letter_event(session, context.attempt_id, "letter.composed")
        kept = self.letters_dir / str(probe_id) / f"letter-{number}.pdf"
        if (
            composed is not None
            and kept.is_file()
            and hashlib.sha256(kept.read_bytes()).hexdigest() == composed.payload.get("sha256")
        ):
            return PrintedLetter(
                probe_id=probe_id,
                reference=str(composed.payload["reference"]),
                official_id=context.structure.official_id,
                structure_name=context.structure_name,
                recipient=tuple(composed.payload["to"]),
                pdf=kept,
            )
        dated = (
            date.fromisoformat(composed.payload["dated"])
            if composed is not None and "dated" in composed.payload
            else self.clock().date()
        )
        stored = attempts.find_attempt(session, probe_id, number)
        if stored is None or not stored.reference:
            raise LetterProbeError(f"attempt {number} of probe {probe_id} has no reference")
        return self._write(session, probe_id, number, dated, stored.reference)[1]

    def _write(
        self, session: Session, probe_id: uuid.UUID, number: int, dated: date, token: str
    ) -> tuple[ProbeLetter, PrintedLetter]:
        context = attempts.attempt_context(session, probe_id, number)
        if context.contact is None:
            raise LetterError(f"{context.structure_name} has no postal address to write to")
        templates = LetterTemplates(
            scenario_id=context.scenario.id, body=context.scenario.letter.body
        )
        letter = compose_letter(
            templates,
            token=token,
            persona=context.persona.template_values(),
            structure=context.structure.template_values(),
            recipient_address=context.contact,
            dated=dated,
        )
        pdf = render_letter_pdf(letter)
        path = self.letters_dir / str(probe_id) / f"letter-{number}.pdf"
        write_atomically(path, pdf)
        return letter, PrintedLetter(
            probe_id=probe_id,
            reference=letter.reference,
            official_id=context.structure.official_id,
            structure_name=context.structure_name,
            recipient=letter.recipient.lines,
            pdf=path,
        )

    # -- posting ---------------------------------------------------------------------------

    def instant_for(self, session: Session, reference: str, text: str) -> datetime:
        """`instant` of an operator's date, in the time zone of the letter's structure."""
        _, probe = _found(session, reference)
        structure = mail.structure_of_probe(session, probe.id)
        return instant(text, structure.timezone)

    def measurement(self, session: Session, reference: str) -> dict[str, Any]:
        """The letter attempt's current measurement (outcome, first acknowledgement, reply)."""
        attempt, _ = _found(session, reference)
        session.refresh(attempt)
        return dict(attempt.measurement)

    def posted(self, session: Session, reference: str, at: datetime) -> Attempt:
        """Record that the letter printed with ``reference`` was posted at ``at``."""
        attempt, probe = _found(session, reference)
        assert attempt.id is not None  # noqa: S101 (a stored row)
        composed = letter_event(session, attempt.id, "letter.composed")
        if composed is None:
            raise LetterProbeError(f"letter {reference.upper()} was never printed")
        already = letter_event(session, attempt.id, "letter.sent")
        if already is not None:
            raise LetterProbeError(
                f"letter {reference.upper()} was already recorded as posted on"
                f" {already.source_at.isoformat()}; nothing changed"
            )
        if at > self.clock():
            raise LetterProbeError(f"posting date {at.isoformat()} is in the future")
        if at.date() < composed.source_at.date():
            raise LetterProbeError(
                f"posting date {at.isoformat()} is before the letter was printed"
                f" ({composed.source_at.isoformat()})"
            )
        self.events.attempt_step(
            session,
            probe_id=probe.id,
            attempt_id=attempt.id,
            kind="letter.sent",
            step="sent",
            source="operator",
            at=at,
            received_at=self.clock(),
            clock="source",
            payload={"reference": reference_text(token_of_reference(reference))},
        )
        remeasure_email_attempt(session, attempt.id, self.events)
        if probe.state == ProbeState.IN_PROGRESS:
            probe.state = ProbeState.DONE
            probe.updated_at = self.clock()
            session.add(probe)
        return attempt

    # -- answers ---------------------------------------------------------------------------

    def received(
        self,
        session: Session,
        reference: str,
        at: datetime,
        *,
        kind: str,
        scan: Path | None = None,
        sender: str = "",
        note: str = "",
    ) -> Reply:
        """Record an answer to a posted letter: a reply or an acknowledgement, at ``at``."""
        if kind not in RECEIVED_KINDS:
            raise LetterProbeError(f"kind {kind!r}: expected {' or '.join(RECEIVED_KINDS)}")
        attempt, probe = _found(session, reference)
        assert attempt.id is not None  # noqa: S101 (a stored row)
        sent = letter_event(session, attempt.id, "letter.sent")
        if sent is None:
            raise LetterProbeError(
                f"letter {reference.upper()} is not recorded as posted: run"
                f" `prober letter posted {reference.upper()} --on DATE` first"
            )
        if at < sent.source_at:
            raise LetterProbeError(
                f"received {at.isoformat()}, before the letter was posted"
                f" ({sent.source_at.isoformat()})"
            )
        if at > self.clock():
            raise LetterProbeError(f"reception date {at.isoformat()} is in the future")
        content = b""
        if scan is not None:
            try:
                content = scan.read_bytes()
            except OSError as error:
                raise LetterProbeError(f"cannot read the scan {scan}: {error.strerror}") from None
        digest = hashlib.sha256(
            content or f"letter:{attempt.id}:{kind}:{at.isoformat()}:{sender}".encode()
        ).hexdigest()
        raw_path = None
        if scan is not None:
            raw_path = self.replies_dir / str(probe.id) / f"letter-{digest[:20]}{scan.suffix}"
        reply = Reply(
            probe_id=probe.id,
            attempt_id=attempt.id,
            channel="letter",
            sha256=digest,
            sender=sender,
            subject=note,
            received_at=at,
            classification=RECEIVED_KINDS[kind],
            reason="recorded by an operator",
            match_method="reference",
            raw_size_bytes=len(content),
            raw_path=None if raw_path is None else str(raw_path),
        )
        try:
            mail.add_reply(session, reply)
        except ConflictError:
            raise LetterProbeError(
                f"this {kind} to letter {reference.upper()} is already recorded; nothing changed"
            ) from None
        if raw_path is not None:
            write_atomically(raw_path, content)
        remeasure_email_attempt(session, attempt.id, self.events)
        return reply


def _found(session: Session, reference: str) -> tuple[Attempt, Probe]:
    try:
        return letter_attempt(session, reference)
    except NotFoundError as error:
        raise LetterProbeError(str(error)) from None
