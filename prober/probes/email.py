"""Email probes end to end: compose and send once, watch the reply mailbox, match, classify, time.

Sending is crash-safe: the attempt, its token, Message-ID and raw message are stored before the
SMTP transaction, and a copy goes to the Sent folder marked ``$ProberSending`` until the server
has accepted the message. After a crash, :meth:`EmailProbes.reconcile` reads that folder: a copy
without the mark was sent; a copy still marked may or may not have left, so it is never sent
again; no copy means the SMTP transaction never began, and the probe may be sent later.

The watcher reads the mailbox from its stored position (UIDVALIDITY + last UID); each message is
stored (raw bytes kept, digest unique) and the position advanced in one transaction, then a
matched message is moved to the processed folder. A message is processed once, however often
the watcher restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from channels.email.classify import Classification
from channels.email.compose import EmailTemplates, ProbeEmail, compose, new_reply_token
from channels.email.imap import SENDING_KEYWORD, FetchedMessage, Mailbox, MailboxError
from channels.email.matching import MatchKey, sender_is_known, token_of_message_id
from channels.email.message import ParsedMessage
from channels.email.smtp import send_email
from channels.errors import PermanentContactError, TransientContactError
from channels.events import ObservedEvent
from config.settings import Settings
from prober.probes.events import AfterAttempt, EventLog
from prober.probes.mail_worker import MessageReader, ReadMessage, UnreadMessage, bracketed
from prober.project.database import Database
from prober.project.files import write_atomically
from scheduler.latency import open_seconds_between, working_days_between
from storage import attempts, mail
from storage.models import Attempt, Probe, ProbeState, Reply
from storage.types import utcnow

logger = logging.getLogger(__name__)

SOURCE = "email"
SENDS_AT_ONCE = 2
ACKNOWLEDGING = ("auto_ack", "human_reply")
UNPARSED = "unparsed"
"""The classification of a message the worker could not read within its limits."""
NOT_COUNTED = ("sender_mismatch", "rejected")
"""Replies from a sender that is not the structure's, not (or not yet) accepted by an auditor."""


@dataclass(frozen=True, slots=True)
class Ingested:
    """What became of one inbound message."""

    reply_id: int
    kind: str
    matched: bool
    new: bool


class EmailProbes:
    """Sends email probes and processes their replies, keeping everything in the database."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        after_attempt: AfterAttempt | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.events = EventLog.of(settings)
        self.replies_dir = settings.resolve(settings.replies_dir)
        # Called in the transaction that settles an attempt (the daemon decides on a retry there).
        self.after_attempt = after_attempt
        self._sending = asyncio.Semaphore(SENDS_AT_ONCE)
        imap = settings.imap
        self.mailbox_key = f"{imap.username}@{imap.host}:{imap.port}/{imap.mailbox}"
        self.reader = MessageReader(
            max_message_bytes=settings.email.max_message_bytes,
            timeout_s=settings.email.parse_timeout_s,
            memory_bytes=settings.email.parse_memory_mb * 2**20,
        )

    # -- sending ---------------------------------------------------------------------------

    async def send(
        self, probe_id: uuid.UUID, *, claimed_by: str | None = None
    ) -> ProbeEmail | None:
        """Compose and send one attempt of an email probe; None when it was not sent.

        ``claimed_by``: the daemon whose claim this carries out; a claim it lost raises
        ``storage.errors.ClaimLostError`` before anything is sent.

        A few at a time: what is under way when the process dies cannot be confirmed afterwards,
        so that is kept small.
        """
        async with self._sending:
            return await self._send(probe_id, claimed_by)

    async def _send(self, probe_id: uuid.UUID, claimed_by: str | None) -> ProbeEmail | None:
        email, attempt_id = await self.database.run(
            lambda s: self._compose(s, probe_id, claimed_by)
        )
        sent_folder = self.settings.imap.sent_folder

        async def mark_under_way() -> None:
            if sent_folder:
                async with Mailbox(self.settings.imap) as mailbox:
                    await mailbox.ensure_folder(sent_folder)
                    await mailbox.append(email.raw, sent_folder, f"\\Seen {SENDING_KEYWORD}")

        try:
            accepted = await send_email(self.settings.smtp, email, before_data=mark_under_way)
        except PermanentContactError as error:
            await self._settle(
                attempt_id,
                probe_id,
                "email.refused",
                "bounced",
                ProbeState.DONE,
                {"error": str(error), "code": error.code, "synchronous": True},
            )
            await self._unmark_sent_copy(email.message_id)
            return None
        except TransientContactError as error:
            if error.maybe_made:
                logger.warning("probe %s: %s; left for reconciliation", probe_id, error)
                return None
            await self._settle(
                attempt_id,
                probe_id,
                "email.not_sent",
                "not_sent",
                ProbeState.PLANNED,
                {"error": str(error), "code": error.code},
            )
            await self._discard_sent_copy(email.message_id)
            return None
        await self._record_sent(attempt_id, probe_id, accepted.accepted_at, accepted.reply)
        await self._unmark_sent_copy(email.message_id)
        return email

    def _compose(
        self, session: Session, probe_id: uuid.UUID, claimed_by: str | None = None
    ) -> tuple[ProbeEmail, int]:
        attempt = attempts.start_attempt(session, probe_id, claimed_by=claimed_by)
        context = attempts.attempt_context(session, probe_id, attempt.number)
        if context.contact is None:
            raise PermanentContactError(f"probe {probe_id} has no email address to write to")
        section = context.scenario.email
        templates = EmailTemplates(
            scenario_id=context.scenario.id,
            subject=section.subject,
            body=section.body,
            html_body=section.html_body,
        )
        email = compose(
            templates,
            token=new_reply_token(),
            persona=context.persona.template_values(),
            structure=context.structure.template_values(),
            recipient=context.contact,
            now=datetime.now(UTC),
            subject_reference=self.settings.email.subject_reference,
        )
        assert attempt.id is not None  # noqa: S101 (flushed)
        # What the structure will receive, kept for auditors beside the replies.
        sent_copy = self.replies_dir / str(probe_id) / f"sent-{attempt.number}.eml"
        write_atomically(sent_copy, email.raw)
        mail.set_reference(session, attempt.id, token=email.token, message_id=email.message_id)
        self.events.attempt_step(
            session,
            probe_id=probe_id,
            attempt_id=attempt.id,
            kind="email.composed",
            step="composed",
            at=email.date,
            payload={
                "message_id": email.message_id,
                "token": email.token,
                "to": email.recipient,
                "from": email.sender,
                "subject": email.subject,
                "raw_path": str(sent_copy),
            },
        )
        return email, attempt.id

    async def _record_sent(
        self, attempt_id: int, probe_id: uuid.UUID, sent_at: datetime, reply: str
    ) -> None:
        def work(session: Session) -> None:
            self.events.attempt_step(
                session,
                probe_id=probe_id,
                attempt_id=attempt_id,
                kind="email.sent",
                step="sent",
                source="smtp",
                at=sent_at,
                received_at=utcnow(),
                payload={"smtp_reply": reply},
            )
            remeasure_email_attempt(session, attempt_id, self.events)
            # The probe is carried out; replies keep being matched to it and re-time it.
            probe = session.get(Probe, probe_id)
            if probe is not None and probe.state == ProbeState.IN_PROGRESS:
                probe.state = ProbeState.DONE
                session.add(probe)
            if self.after_attempt is not None:
                self.after_attempt(session, probe_id, "sent")

        await self.database.run(work)

    async def _settle(
        self,
        attempt_id: int,
        probe_id: uuid.UUID,
        kind: str,
        outcome: str,
        state: ProbeState,
        payload: dict[str, Any],
    ) -> None:
        def work(session: Session) -> None:
            now = utcnow()
            self.events.attempt_step(
                session,
                probe_id=probe_id,
                attempt_id=attempt_id,
                kind=kind,
                step=kind,
                source="smtp",
                at=now,
                payload=payload,
            )
            attempts.finish_attempt(
                session,
                attempt_id,
                outcome=outcome,
                ended_at=now,
                measurement={"outcome": outcome, **payload},
                probe_state=state,
            )
            if self.after_attempt is not None:
                self.after_attempt(session, probe_id, outcome)

        await self.database.run(work)

    async def _sent_copy_uid(self, mailbox: Mailbox, message_id: str) -> int | None:
        await mailbox.select(self.settings.imap.sent_folder)
        uids = await mailbox.search_header("Message-ID", message_id)
        return uids[0] if uids else None

    async def _unmark_sent_copy(self, message_id: str) -> None:
        if not self.settings.imap.sent_folder:
            return
        try:
            async with Mailbox(self.settings.imap) as mailbox:
                uid = await self._sent_copy_uid(mailbox, message_id)
                if uid is not None:
                    await mailbox.set_flags(uid, f"-FLAGS.SILENT ({SENDING_KEYWORD})")
        except MailboxError as error:
            # The send is recorded in the database, which is what reconciliation reads first.
            logger.warning("could not unmark the Sent copy of %s: %s", message_id, error)

    async def _discard_sent_copy(self, message_id: str) -> None:
        if not self.settings.imap.sent_folder:
            return
        async with Mailbox(self.settings.imap) as mailbox:
            uid = await self._sent_copy_uid(mailbox, message_id)
            if uid is not None:
                await mailbox.set_flags(uid, "+FLAGS.SILENT (\\Deleted)")
                await mailbox.client.uid("expunge", str(uid))

    async def reconcile(self) -> dict[str, int]:
        """Settle attempts left between composing and a confirmed send (after a crash)."""
        pending = await self.database.run(mail.attempts_sending)
        counts = {"sent": 0, "not_sent": 0, "uncertain": 0}
        if not pending:
            return counts
        sent_folder = self.settings.imap.sent_folder
        async with contextlib.AsyncExitStack() as stack:
            mailbox = (
                await stack.enter_async_context(Mailbox(self.settings.imap))
                if sent_folder
                else None
            )
            for attempt, probe in pending:
                assert attempt.id is not None  # noqa: S101
                message_id = attempt.external_id or ""
                uid = None
                if mailbox is not None:
                    await mailbox.ensure_folder(sent_folder)
                    uid = await self._sent_copy_uid(mailbox, message_id)
                if mailbox is not None and uid is None:
                    await self._settle(
                        attempt.id,
                        probe.id,
                        "email.not_sent",
                        "not_sent",
                        ProbeState.PLANNED,
                        {"reconciled": True},
                    )
                    counts["not_sent"] += 1
                    continue
                flags = set() if mailbox is None or uid is None else await mailbox.flags(uid)
                if mailbox is None or SENDING_KEYWORD in flags:
                    await self._settle(
                        attempt.id,
                        probe.id,
                        "email.uncertain",
                        "uncertain",
                        ProbeState.FAILED,
                        {
                            "reconciled": True,
                            "why": "the SMTP transaction may have completed; not sent again",
                        },
                    )
                    counts["uncertain"] += 1
                    continue
                fetched = (
                    None
                    if uid is None
                    else await mailbox.fetch(
                        uid, max_message_bytes=self.settings.email.max_message_bytes
                    )
                )
                sent_at = (fetched.internal_date if fetched else None) or utcnow()
                await self._record_sent(attempt.id, probe.id, sent_at, "reconciled from Sent")
                counts["sent"] += 1
        return counts

    # -- the reply mailbox -----------------------------------------------------------------

    def close(self) -> None:
        """Stop the worker process that reads replies (started again when needed)."""
        self.reader.close()

    async def watch(self, stop: asyncio.Event, *, max_backoff_s: float = 300.0) -> None:
        """Process the reply mailbox until ``stop`` is set, reconnecting with backoff."""
        try:
            await self._watch(stop, max_backoff_s)
        finally:
            self.close()

    async def _watch(self, stop: asyncio.Event, max_backoff_s: float) -> None:
        backoff_s = 1.0
        while not stop.is_set():
            try:
                await self._watch_once(stop)
                backoff_s = 1.0
            except (MailboxError, OSError, TimeoutError) as error:
                logger.warning("reply mailbox: %s; reconnecting in %.0f s", error, backoff_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff_s)
                backoff_s = min(max_backoff_s, backoff_s * 2)

    async def _watch_once(self, stop: asyncio.Event) -> None:
        imap = self.settings.imap
        async with Mailbox(imap) as mailbox:
            await mailbox.ensure_folder(imap.processed_folder)
            state = await mailbox.select(imap.mailbox)
            cursor = await self.database.run(lambda s: mail.get_cursor(s, self.mailbox_key))
            last_uid = 0
            if cursor is not None and cursor.uidvalidity == state.uidvalidity:
                last_uid = cursor.last_uid
            elif cursor is not None:
                logger.warning("%s: UIDVALIDITY changed; reading it again", self.mailbox_key)
            await self._move_processed(mailbox, state.uidvalidity)
            while not stop.is_set():
                # The server announces mail that arrives while we work in the answers to our
                # own commands, not again in IDLE: read until a search finds nothing new.
                caught_up = False
                while not caught_up:
                    caught_up = True
                    async for batch in mailbox.batches_after(
                        last_uid, max_message_bytes=self.settings.email.max_message_bytes
                    ):
                        caught_up = False
                        matched: list[tuple[int, int]] = []
                        for message in batch:
                            ingested = await self.ingest(message)
                            last_uid = message.uid
                            if ingested.matched:
                                matched.append((message.uid, ingested.reply_id))
                        if matched:
                            folder = imap.processed_folder
                            await mailbox.move_many([uid for uid, _ in matched], folder)
                            await self.database.run(_mark_moved(*(reply for _, reply in matched)))
                        if stop.is_set():
                            return
                news = asyncio.ensure_future(mailbox.wait_for_news(imap.poll_interval_s))
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait({news, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if not news.done():
                    news.cancel()
                    with contextlib.suppress(asyncio.CancelledError, MailboxError):
                        await news
                    return
                news.result()

    async def _move_processed(self, mailbox: Mailbox, uidvalidity: int) -> None:
        """Move matched messages a previous run stored but could not move (crash, error)."""
        replies = await self.database.run(
            lambda s: mail.replies_to_move(s, self.mailbox_key, uidvalidity)
        )
        for reply in replies:
            assert reply.imap_uid is not None and reply.id is not None  # noqa: S101
            with contextlib.suppress(MailboxError):
                await mailbox.move(reply.imap_uid, self.settings.imap.processed_folder)
            await self.database.run(_mark_moved(reply.id))

    async def ingest(self, message: FetchedMessage) -> Ingested:
        """Store, match and classify one inbound message, and advance the mailbox position.

        The message is read in a worker process (:mod:`prober.probes.mail_worker`); one it
        cannot read within its limits is stored raw as ``unparsed``, unmatched, with the reason.
        """
        received_now = utcnow()
        digest = hashlib.sha256(message.raw).hexdigest()
        stored = await self.database.run(lambda s: self._already_stored(s, digest, message))
        if stored is not None:
            return stored
        reading = await self.reader.read(message.raw)
        fields = _reply_fields(reading, message)

        def work(session: Session) -> Ingested:
            existing = self._already_stored(session, digest, message)
            if existing is not None:
                return existing
            found, method = _resolve(session, fields.keys)
            sender_check = None
            if found is not None and not _sender_is_known(session, found, method, fields):
                sender_check = "sender_mismatch"
            folder = str(found.probe_id) if found else "unmatched"
            path = self.replies_dir / folder / f"{digest[:20]}.eml"
            write_atomically(path, message.raw)
            received_at = message.internal_date or received_now
            reply = mail.add_reply(
                session,
                Reply(
                    probe_id=None if found is None else found.probe_id,
                    attempt_id=None if found is None else found.attempt_id,
                    channel="email",
                    message_id=(bracketed(fields.message_id) or "")[:998] or None,
                    sha256=digest,
                    sender=fields.sender[:998],
                    subject=fields.subject[:998],
                    received_at=received_at,
                    header_date=fields.header_date,
                    classification=fields.kind,
                    reason=fields.reason[:500],
                    match_method=method,
                    mailbox=self.mailbox_key,
                    uidvalidity=message.uidvalidity,
                    imap_uid=message.uid,
                    flagged=fields.flagged,
                    raw_size_bytes=message.size,
                    raw_path=str(path),
                    details=fields.details,
                    sender_check=sender_check,
                ),
            )
            self.events.record(
                session,
                ObservedEvent(
                    kind=f"email.{fields.kind}",
                    source="imap",
                    source_at=received_at,
                    received_at=received_now,
                    clock="source" if message.internal_date else "receipt",
                    dedup_key=f"mail:{digest}",
                    payload={
                        "reply_id": reply.id,
                        "match": method,
                        "reason": fields.reason,
                        **({"sender_check": sender_check} if sender_check else {}),
                    },
                ),
                probe_id=None if found is None else found.probe_id,
                attempt_id=None if found is None else found.attempt_id,
            )
            mail.advance_cursor(
                session, self.mailbox_key, uidvalidity=message.uidvalidity, last_uid=message.uid
            )
            if found is not None:
                remeasure_email_attempt(session, found.attempt_id, self.events)
            assert reply.id is not None  # noqa: S101
            return Ingested(reply.id, fields.kind, found is not None, True)

        return await self.database.run(work)

    def _already_stored(
        self, session: Session, digest: str, message: FetchedMessage
    ) -> Ingested | None:
        """The message stored before (same bytes): the position advanced, nothing read again."""
        existing = mail.reply_with_digest(session, digest)
        if existing is None:
            return None
        mail.advance_cursor(
            session, self.mailbox_key, uidvalidity=message.uidvalidity, last_uid=message.uid
        )
        assert existing.id is not None  # noqa: S101
        return Ingested(
            existing.id, existing.classification or "", existing.attempt_id is not None, False
        )


@dataclass(frozen=True, slots=True)
class _ReplyFields:
    """What is stored of an inbound message, read or not."""

    keys: tuple[MatchKey, ...]
    message_id: str | None
    sender: str
    subject: str
    header_date: datetime | None
    kind: str
    reason: str
    flagged: bool
    details: dict[str, Any]


def _reply_fields(reading: ReadMessage | UnreadMessage, message: FetchedMessage) -> _ReplyFields:
    truncated = (
        {"truncated": True, "size": message.size, "kept_bytes": len(message.raw)}
        if message.truncated
        else {}
    )
    if isinstance(reading, UnreadMessage):
        return _ReplyFields(
            keys=(),
            message_id=reading.message_id,
            sender=reading.sender,
            subject=reading.subject,
            header_date=None,
            kind=UNPARSED,
            reason=reading.reason,
            flagged=True,
            details={"unparsed": reading.reason, **truncated},
        )
    parsed, verdict = reading.parsed, reading.verdict
    return _ReplyFields(
        keys=reading.keys,
        message_id=parsed.message_id,
        sender=parsed.from_address or "",
        subject=parsed.subject or "",
        header_date=parsed.date,
        kind=str(verdict.kind),
        reason=verdict.reason,
        flagged=bool(parsed.defects) or message.truncated,
        details={**_details(parsed, verdict), **truncated},
    )


def _sender_is_known(
    session: Session, found: mail.AttemptRef, method: str | None, fields: _ReplyFields
) -> bool:
    """Whether the reply comes from the structure's address or domain.

    A delivery report quoting the exact Message-ID we sent is taken as it comes: mail servers
    write them, seldom under the structure's domain (a hosted MX, our own relay), and the id
    travelled only with our email.
    """
    if fields.kind == "bounce" and method in ("in_reply_to", "references", "returned_message"):
        return True
    return sender_is_known(fields.sender, mail.structure_email_addresses(session, found.probe_id))


def remeasure_email_attempt(session: Session, attempt_id: int, events: EventLog) -> None:
    """Recompute an email (or letter) attempt's measurement from its sent event and replies.

    A letter's sent event is its declared posting (``letter.sent``): a structure may answer a
    letter by email quoting its reference, and the reply is matched and timed the same way.
    """
    sent = mail.first_event(session, attempt_id, "email.sent") or mail.first_event(
        session, attempt_id, "letter.sent"
    )
    attempt_row = session.get(Attempt, attempt_id)
    if attempt_row is None:
        return
    if (
        sent is None
        and attempt_row.outcome == "uncertain"
        and any(
            reply.sender_check not in NOT_COUNTED
            for reply in mail.replies_of_attempt(session, attempt_id)
        )
    ):
        # A send we could not confirm after a crash: a reply to it proves it left.
        composed = mail.first_event(session, attempt_id, "email.composed")
        if composed is not None:
            events.attempt_step(
                session,
                probe_id=attempt_row.probe_id,
                attempt_id=attempt_id,
                kind="email.sent",
                step="sent",
                source="reply",
                at=composed.source_at,
                received_at=utcnow(),
                payload={"inferred": "a reply matched this email; sent at most this late"},
            )
            sent = mail.first_event(session, attempt_id, "email.sent")
            probe = session.get(Probe, attempt_row.probe_id)
            if probe is not None and probe.state == ProbeState.FAILED:
                probe.state = ProbeState.DONE
                session.add(probe)
    structure = mail.structure_of_probe(session, attempt_row.probe_id)
    replies = mail.replies_of_attempt(session, attempt_id)
    measurement = email_measurement(None if sent is None else sent.source_at, replies, structure)
    mail.update_attempt_measurement(
        session, attempt_id, measurement, outcome=measurement["outcome"]
    )
    if measurement["outcome"] in ("replied", "bounced"):
        probe = session.get(Probe, attempt_row.probe_id)
        if probe is not None and probe.state == ProbeState.IN_PROGRESS:
            probe.state = ProbeState.DONE
            session.add(probe)


def _mark_moved(*reply_ids: int) -> Callable[[Session], None]:
    def work(session: Session) -> None:
        for reply_id in reply_ids:
            mail.mark_moved(session, reply_id)

    return work


def _resolve(
    session: Session, keys: Sequence[MatchKey]
) -> tuple[mail.AttemptRef | None, str | None]:
    for key in keys:
        found = None
        if key.message_id is not None:
            found = mail.attempt_by_message_id(session, key.message_id)
            if found is None and key.method == "references":
                # A client may have rewritten the id's case or domain: its token still names us.
                token = token_of_message_id(key.message_id)
                found = None if token is None else mail.attempt_by_reference(session, token)
        elif key.token is not None:
            found = mail.attempt_by_reference(session, key.token)
        if found is not None:
            return found, key.method
    return None, None


def _details(parsed: ParsedMessage, verdict: Classification) -> dict[str, Any]:
    details: dict[str, Any] = {
        "defects": list(parsed.defects),
        "to": list(parsed.to),
        "in_reply_to": parsed.in_reply_to,
        "truncated": parsed.truncated,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in parsed.attachments
        ],
    }
    if verdict.bounce is not None:
        details["bounce"] = {
            "recipients": list(verdict.bounce.recipients),
            "status": verdict.bounce.status,
            "action": verdict.bounce.action,
            "diagnostic": verdict.bounce.diagnostic,
        }
    return details


def email_measurement(
    sent_at: datetime | None, replies: list[Reply], structure: mail.StructureHours
) -> dict[str, Any]:
    """An email attempt's measurement (its JSON, as stored): first acknowledgement and first
    human reply, timed in the structure's working days and open hours."""
    timezone = structure.timezone
    subdivision = structure.holiday_subdivision
    hours = structure.opening_hours

    def timing(reply: Reply | None) -> dict[str, Any] | None:
        if reply is None:
            return None
        figure: dict[str, Any] = {"reply_id": reply.id, "at": reply.received_at.isoformat()}
        if sent_at is not None:
            # INTERNALDATE has whole seconds: a reply within the second may seem to precede us.
            figure["elapsed_s"] = round(max(0.0, (reply.received_at - sent_at).total_seconds()), 3)
            if reply.header_date is not None:
                # The sender's own clock (its Date: header), kept beside our server's arrival time.
                figure["header_elapsed_s"] = round((reply.header_date - sent_at).total_seconds(), 3)
            figure["working_days"] = working_days_between(
                sent_at, reply.received_at, timezone=timezone, subdivision=subdivision
            )
            figure["open_s"] = open_seconds_between(
                sent_at,
                reply.received_at,
                opening_hours=hours,
                timezone=timezone,
                subdivision=subdivision,
            )
        return figure

    def first(*kinds: str) -> Reply | None:
        return next((r for r in replies if r.classification in kinds), None)

    to_review = sum(1 for r in replies if r.sender_check == "sender_mismatch")
    replies = [r for r in replies if r.sender_check not in NOT_COUNTED]
    human, ack = first("human_reply"), first("auto_ack")
    away = first("out_of_office")
    # A delay notice ("still trying") is not a bounce: the email may yet be delivered.
    bounce = next((r for r in replies if r.classification == "bounce" and not _delay(r)), None)
    delayed = next((r for r in replies if r.classification == "bounce" and _delay(r)), None)
    if human is not None:
        outcome = "replied"
    elif bounce is not None:
        outcome = "bounced"
    elif ack is not None:
        outcome = "acknowledged"
    elif away is not None:
        outcome = "out_of_office"
    else:
        outcome = "sent" if sent_at is not None else "composed"
    return {
        "outcome": outcome,
        "sent_at": None if sent_at is None else sent_at.isoformat(),
        "first_acknowledgement": timing(first(*ACKNOWLEDGING)),
        "first_automatic_acknowledgement": timing(ack),
        "first_human_reply": timing(human),
        "out_of_office": timing(away),
        "bounce": timing(bounce),
        "delivery_delayed": timing(delayed),
        "replies": len(replies),
        **({"replies_to_review": to_review} if to_review else {}),
    }


def _delay(reply: Reply) -> bool:
    """A delivery status notification that reports a delay, not a failure."""
    report = (reply.details or {}).get("bounce") or {}
    return report.get("action") == "delayed" or str(report.get("status") or "").startswith("4.")
