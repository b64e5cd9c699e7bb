"""Queries for the email channel: probe tokens, replies, the mailbox cursor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.errors import ConflictError, NotFoundError
from storage.models import Attempt, ContactPoint, Event, MailboxCursor, Probe, Reply, Structure
from storage.types import utcnow


@dataclass(frozen=True, slots=True)
class AttemptRef:
    """An attempt found from a reply: its id, its probe, and the Message-ID we sent."""

    attempt_id: int
    probe_id: uuid.UUID
    message_id: str | None


def set_reference(session: Session, attempt_id: int, *, token: str, message_id: str) -> None:
    """Remember the token and Message-ID of an email attempt (before it is sent)."""
    session.execute(
        update(Attempt)
        .where(col(Attempt.id) == attempt_id)
        .values(reference=token, external_id=message_id)
    )


def _ref(attempt: Attempt | None) -> AttemptRef | None:
    if attempt is None or attempt.id is None:
        return None
    return AttemptRef(attempt.id, attempt.probe_id, attempt.external_id)


def attempt_by_message_id(session: Session, message_id: str) -> AttemptRef | None:
    """The attempt that sent ``message_id`` (angle brackets included)."""
    return _ref(session.exec(select(Attempt).where(col(Attempt.external_id) == message_id)).first())


def attempt_by_reference(session: Session, token: str) -> AttemptRef | None:
    """The attempt whose reply token is ``token``."""
    return _ref(session.exec(select(Attempt).where(col(Attempt.reference) == token)).first())


def get_cursor(session: Session, mailbox: str) -> MailboxCursor | None:
    """How far the watcher read ``mailbox``, if it ever did."""
    return session.exec(select(MailboxCursor).where(col(MailboxCursor.mailbox) == mailbox)).first()


def advance_cursor(session: Session, mailbox: str, *, uidvalidity: int, last_uid: int) -> None:
    """Record that every message up to ``last_uid`` (in ``uidvalidity``) was processed."""
    cursor = get_cursor(session, mailbox)
    if cursor is None:
        cursor = MailboxCursor(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=last_uid)
    else:
        if cursor.uidvalidity == uidvalidity and last_uid < cursor.last_uid:
            return
        cursor.uidvalidity, cursor.last_uid, cursor.updated_at = uidvalidity, last_uid, utcnow()
    session.add(cursor)


def reply_with_digest(session: Session, sha256: str) -> Reply | None:
    """The stored reply with these exact bytes, if any (a message is processed once)."""
    return session.exec(select(Reply).where(col(Reply.sha256) == sha256)).first()


def add_reply(session: Session, reply: Reply) -> Reply:
    """Store a reply (raises ConflictError if the same bytes were stored already)."""
    if reply_with_digest(session, reply.sha256) is not None:
        raise ConflictError(f"reply {reply.sha256[:12]} is already stored")
    session.add(reply)
    session.flush()
    return reply


def replies_to_move(session: Session, mailbox: str, uidvalidity: int) -> list[Reply]:
    """Matched replies still in ``mailbox`` (moved to the processed folder after storing)."""
    return list(
        session.exec(
            select(Reply).where(
                col(Reply.mailbox) == mailbox,
                col(Reply.uidvalidity) == uidvalidity,
                col(Reply.attempt_id).is_not(None),
                col(Reply.moved_at).is_(None),
                col(Reply.imap_uid).is_not(None),
            )
        )
    )


def mark_moved(session: Session, reply_id: int) -> None:
    """The reply's message was moved out of the watched mailbox."""
    session.execute(update(Reply).where(col(Reply.id) == reply_id).values(moved_at=utcnow()))


def unmatched_replies(session: Session) -> list[Reply]:
    """Replies no probe was found for, oldest first."""
    return list(
        session.exec(
            select(Reply).where(col(Reply.attempt_id).is_(None)).order_by(col(Reply.received_at))
        )
    )


def assign_reply(session: Session, reply_id: int, probe_id: uuid.UUID) -> Reply:
    """Attach an unmatched reply to the latest attempt of ``probe_id`` (manual match)."""
    reply = session.get(Reply, reply_id)
    if reply is None:
        raise NotFoundError(f"no reply {reply_id}: `prober replies unmatched` lists them")
    if reply.attempt_id is not None:
        raise ConflictError(f"reply {reply_id} is already matched to probe {reply.probe_id}")
    attempt = session.exec(
        select(Attempt)
        .where(col(Attempt.probe_id) == probe_id)
        .order_by(col(Attempt.number).desc())
    ).first()
    if attempt is None:
        raise NotFoundError(f"probe {probe_id} has no attempt: it was never sent")
    reply.attempt_id, reply.probe_id, reply.match_method = attempt.id, probe_id, "manual"
    session.add(reply)
    return reply


def replies_of_attempt(session: Session, attempt_id: int) -> list[Reply]:
    """The replies matched to an attempt, in order of arrival."""
    return list(
        session.exec(
            select(Reply)
            .where(col(Reply.attempt_id) == attempt_id)
            .order_by(col(Reply.received_at), col(Reply.id))
        )
    )


def attempts_sending(session: Session) -> list[tuple[Attempt, Probe]]:
    """Email attempts composed but never confirmed sent or refused (to reconcile at start-up)."""
    settled = select(Event.attempt_id).where(
        col(Event.kind).in_(("email.sent", "email.refused", "email.not_sent", "email.uncertain"))
    )
    composed = select(Event.attempt_id).where(col(Event.kind) == "email.composed")
    rows = session.exec(
        select(Attempt, Probe)
        .join(Probe, col(Probe.id) == col(Attempt.probe_id))
        .where(
            col(Probe.channel) == "email",
            col(Attempt.id).in_(composed),
            col(Attempt.id).not_in(settled),
        )
    )
    return list(rows)


def first_event(session: Session, attempt_id: int, kind: str) -> Event | None:
    """The attempt's first event of ``kind``."""
    return session.exec(
        select(Event)
        .where(col(Event.attempt_id) == attempt_id, col(Event.kind) == kind)
        .order_by(col(Event.source_at))
    ).first()


def update_attempt_measurement(
    session: Session, attempt_id: int, measurement: dict[str, Any], *, outcome: str | None
) -> None:
    """Replace an email attempt's derived measurement (and outcome, when given)."""
    values: dict[str, Any] = {"measurement": measurement}
    if outcome is not None:
        values["outcome"] = outcome
    session.execute(update(Attempt).where(col(Attempt.id) == attempt_id).values(**values))


def settle_attempt(
    session: Session, attempt_id: int, *, outcome: str, ended_at: datetime | None
) -> None:
    """Set an attempt's outcome (and end) without touching its measurement."""
    session.execute(
        update(Attempt)
        .where(col(Attempt.id) == attempt_id)
        .values(outcome=outcome, ended_at=ended_at)
    )


@dataclass(frozen=True, slots=True)
class StructureHours:
    """When a structure works: what replies are timed against (working days, open hours)."""

    timezone: str
    holiday_subdivision: str | None
    opening_hours: str | None


def structure_of_probe(session: Session, probe_id: uuid.UUID) -> StructureHours:
    """The probed structure's time zone, holiday subdivision and opening hours."""
    row = session.exec(
        select(Structure.timezone, Structure.holiday_subdivision, Structure.opening_hours)
        .join(Probe, col(Probe.structure_id) == col(Structure.id))
        .where(col(Probe.id) == probe_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no probe {probe_id}")
    timezone, subdivision, opening_hours = row
    return StructureHours(
        timezone=timezone, holiday_subdivision=subdivision, opening_hours=opening_hours
    )


SENDER_VERDICTS = ("confirmed", "rejected")


def structure_email_addresses(session: Session, probe_id: uuid.UUID) -> list[str]:
    """The email addresses of the structure a probe is about (its own contact points)."""
    return list(
        session.exec(
            select(ContactPoint.value)
            .join(Probe, col(Probe.structure_id) == col(ContactPoint.structure_id))
            .where(col(Probe.id) == probe_id, col(ContactPoint.kind) == "email")
        )
    )


def replies_with_sender_check(session: Session, *, pending_only: bool = True) -> list[Reply]:
    """Matched replies from a sender that is not the structure's (those still to review, or all
    that were ever flagged), oldest first."""
    checks = ("sender_mismatch",) if pending_only else ("sender_mismatch", *SENDER_VERDICTS)
    return list(
        session.exec(
            select(Reply)
            .where(col(Reply.sender_check).in_(checks))
            .order_by(col(Reply.received_at), col(Reply.id))
        )
    )


def review_sender(session: Session, reply_id: int, verdict: str, *, by: str) -> Reply:
    """An auditor's word on a flagged reply: ``confirmed`` (it counts) or ``rejected``."""
    if verdict not in SENDER_VERDICTS:
        raise ValueError(f"verdict {verdict!r}: expected one of {', '.join(SENDER_VERDICTS)}")
    reply = session.get(Reply, reply_id)
    if reply is None:
        raise NotFoundError(f"no reply {reply_id}: `prober replies flagged` lists those to review")
    if reply.sender_check is None:
        raise ConflictError(
            f"reply {reply_id} comes from the structure's own address or domain: nothing to review"
        )
    reply.sender_check = verdict
    reply.sender_checked_by, reply.sender_checked_at = by, utcnow()
    session.add(reply)
    return reply
