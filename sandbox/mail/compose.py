"""The messages a structure's mailbox sends back: human replies, automatic replies, bounces.

Pure functions of the probe as received, the mailbox's behaviour and the simulated instant.
Automatic replies follow RFC 3834 (to the envelope sender, from the null sender,
`Auto-Submitted: auto-replied`); a bounce is an RFC 3464 delivery status notification.
"""

from __future__ import annotations

import email
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, getaddresses
from enum import StrEnum

from sandbox.mail import wording
from sandbox.mail.world import MailBehaviourKind, MailboxBehaviour


class SentKind(StrEnum):
    """What a message the sandbox sent is, in the ground truth."""

    HUMAN_REPLY = "human_reply"
    AUTO_ACK = "auto_ack"
    OUT_OF_OFFICE = "out_of_office"
    BOUNCE = "bounce"


@dataclass(frozen=True, slots=True)
class Probe:
    """A probe as one structure's mailbox received it."""

    mailbox: str  # the envelope recipient: the structure's address
    envelope_sender: str  # MAIL FROM ("" for the null sender)
    raw: bytes  # the message as received (DATA)
    message: EmailMessage  # `raw` parsed
    arrived_at: datetime  # simulated instant (aware, UTC)

    @classmethod
    def received(
        cls, mailbox: str, envelope_sender: str, raw: bytes, arrived_at: datetime
    ) -> Probe:
        message = email.message_from_bytes(raw, policy=policy.default)
        return cls(mailbox, envelope_sender, raw, message, arrived_at)

    @property
    def message_id(self) -> str | None:
        value = self.message["Message-ID"]
        return str(value).strip() if value else None

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def reply_address(self) -> str:
        """Where a person's reply goes: the Reply-To, else the From, else the envelope sender."""
        message = self.message
        for header in ("Reply-To", "From"):
            addresses = [addr for _, addr in getaddresses([str(message[header] or "")]) if addr]
            if addresses:
                return addresses[0]
        return self.envelope_sender


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to send: its envelope and content."""

    kind: SentKind
    message: Message
    envelope_sender: str  # "" is the null sender
    recipient: str

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def from_address(self) -> str:
        return getaddresses([str(self.message["From"])])[0][1]

    def as_bytes(self) -> bytes:
        return self.message.as_bytes(policy=policy.SMTP)


def human_reply(
    probe: Probe, mailbox: MailboxBehaviour, at: datetime, *, from_address: str
) -> Outgoing:
    """A person's reply to the probe's Reply-To, threaded unless the behaviour strips it."""
    kind = mailbox.behaviour
    message = _new_message(from_address, mailbox.name, probe.reply_address, at)
    if kind is MailBehaviourKind.STRIP_THREADING:
        message["Subject"] = _untagged_subject(probe.subject)
    else:
        message["Subject"] = wording.REPLY_PREFIX + probe.subject
    threaded = kind in (MailBehaviourKind.REPLY, MailBehaviourKind.ACK_THEN_REPLY)
    if threaded:
        _thread(message, probe)
    signature = mailbox.name or wording.DEFAULT_SIGNATURE
    message.set_content(mailbox.body or wording.HUMAN_REPLY_BODY.format(signature=signature))
    return Outgoing(SentKind.HUMAN_REPLY, message, from_address, probe.reply_address)


def acknowledgement(probe: Probe, mailbox: MailboxBehaviour, at: datetime) -> Outgoing:
    """An automatic "Accusé de réception", to the envelope sender (RFC 3834 §4)."""
    message = _automatic(probe, mailbox, at)
    message["Subject"] = wording.ACK_SUBJECT.format(subject=probe.subject)
    signature = mailbox.name or wording.DEFAULT_SIGNATURE
    date = probe.arrived_at.strftime("%d/%m/%Y à %H:%M")
    message.set_content(wording.ACK_BODY.format(date=date, signature=signature))
    return Outgoing(SentKind.AUTO_ACK, message, "", probe.envelope_sender)


def out_of_office(probe: Probe, mailbox: MailboxBehaviour, at: datetime) -> Outgoing:
    """An automatic absence notice, to the envelope sender (RFC 3834 §4)."""
    message = _automatic(probe, mailbox, at)
    message["Subject"] = wording.OUT_OF_OFFICE_SUBJECT
    signature = mailbox.name or wording.DEFAULT_SIGNATURE
    message.set_content(wording.OUT_OF_OFFICE_BODY.format(signature=signature))
    return Outgoing(SentKind.OUT_OF_OFFICE, message, "", probe.envelope_sender)


def bounce(probe: Probe, at: datetime, *, hostname: str) -> Outgoing:
    """An RFC 3464 DSN: the mailbox does not exist (5.1.1), the probe's headers returned."""
    diagnostic = wording.BOUNCE_DIAGNOSTIC.format(recipient=probe.mailbox)
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = formataddr((wording.BOUNCE_FROM_NAME, f"MAILER-DAEMON@{hostname}"))
    report["To"] = probe.envelope_sender
    report["Subject"] = wording.BOUNCE_SUBJECT
    report["Date"] = format_datetime(at)
    report["Message-ID"] = f"<{uuid.uuid4().hex}@{hostname}>"
    report["Auto-Submitted"] = "auto-replied"
    text = wording.BOUNCE_BODY.format(
        hostname=hostname, recipient=probe.mailbox, diagnostic=diagnostic
    )
    report.attach(MIMEText(text, "plain", "us-ascii"))

    status = Message()
    status.set_type("message/delivery-status")
    per_message = Message()
    per_message["Reporting-MTA"] = f"dns; {hostname}"
    per_message["Arrival-Date"] = format_datetime(probe.arrived_at)
    per_recipient = Message()
    per_recipient["Final-Recipient"] = f"rfc822; {probe.mailbox}"
    per_recipient["Original-Recipient"] = f"rfc822; {probe.mailbox}"
    per_recipient["Action"] = "failed"
    per_recipient["Status"] = "5.1.1"
    per_recipient["Diagnostic-Code"] = f"smtp; {diagnostic}"
    per_recipient["Last-Attempt-Date"] = format_datetime(at)
    status.set_payload([per_message, per_recipient])
    report.attach(status)

    headers = Message()
    headers.set_type("text/rfc822-headers")
    header_text = probe.raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    headers.set_payload(header_text.decode("utf-8", errors="replace").replace("\r\n", "\n") + "\n")
    headers["Content-Transfer-Encoding"] = "7bit" if header_text.isascii() else "8bit"
    report.attach(headers)
    return Outgoing(SentKind.BOUNCE, report, "", probe.envelope_sender)


def _new_message(from_address: str, name: str | None, to: str, at: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((name, from_address)) if name else from_address
    message["To"] = to
    message["Date"] = format_datetime(at)
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{from_address.rpartition('@')[2]}>"
    return message


def _automatic(probe: Probe, mailbox: MailboxBehaviour, at: datetime) -> EmailMessage:
    message = _new_message(probe.mailbox, mailbox.name, probe.envelope_sender, at)
    message["Auto-Submitted"] = "auto-replied"
    _thread(message, probe)
    return message


def _thread(message: EmailMessage, probe: Probe) -> None:
    """In-Reply-To and References pointing at the probe (RFC 5322 §3.6.4)."""
    message_id = probe.message_id
    if message_id is None:
        return
    earlier = str(probe.message["References"] or "").split()
    message["In-Reply-To"] = message_id
    message["References"] = " ".join([*earlier, message_id])


_TAG = re.compile(r"\s*\[[^\]]*\]\s*")


def _untagged_subject(subject: str) -> str:
    """The subject a person retypes: bracketed tags (where probes carry their token) dropped."""
    bare = " ".join(_TAG.sub(" ", subject).split())
    return wording.REPLY_PREFIX + bare if bare else wording.NEW_SUBJECT
