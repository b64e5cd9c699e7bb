"""An SMTP server that delivers into a Dovecot's mailboxes: prober's own domain's MX, simulated.

The aiosmtpd handler accepts mail for the Dovecot's users only (`550 5.1.1` at RCPT for anyone
else) and delivers each message with dovecot-lda, adding `Return-Path` and `Delivered-To` as
Postfix's `pipe` (flags `R`, `D`) would: dovecot-lda adds neither.
"""

from __future__ import annotations

import secrets

from aiosmtpd.smtp import SMTP, Envelope, Session

from sandbox.mail.dovecot import Dovecot
from sandbox.mail.errors import DeliveryFailed


def trace_headers(mail_from: str, recipient: str) -> bytes:
    """`Return-Path` and `Delivered-To` as a delivering MTA prepends them (RFC 5321 §4.4)."""
    return f"Return-Path: <{mail_from}>\r\nDelivered-To: {recipient}\r\n".encode()


def envelope_sender(envelope: Envelope) -> str:
    """MAIL FROM's address, "" for the null sender (aiosmtpd gives that one as "<>")."""
    mail_from = envelope.mail_from or ""
    return "" if mail_from == "<>" else mail_from


class DovecotDelivery:
    """aiosmtpd handler: each accepted recipient gets the message in its Dovecot INBOX.

    A recipient is a Dovecot user, or `user+anything@domain` (sub-addressing with
    `recipient_delimiter`, "" to turn it off), or any other address of `catch_all`'s domain
    when `catch_all` (a user's address) is set. `Delivered-To` keeps the address as sent to.
    """

    def __init__(
        self, dovecot: Dovecot, *, recipient_delimiter: str = "+", catch_all: str | None = None
    ) -> None:
        self.dovecot = dovecot
        self.recipient_delimiter = recipient_delimiter
        self.catch_all = catch_all.lower() if catch_all else None

    def user_for(self, address: str) -> str | None:
        """The Dovecot user that receives mail sent to `address`, if any."""
        address = address.lower()
        if self.dovecot.has_user(address):
            return address
        local, _, domain = address.rpartition("@")
        if self.recipient_delimiter and self.recipient_delimiter in local:
            base = f"{local.split(self.recipient_delimiter, 1)[0]}@{domain}"
            if self.dovecot.has_user(base):
                return base
        if self.catch_all and self.catch_all.rpartition("@")[2] == domain:
            return self.catch_all
        return None

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.user_for(address) is None:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""  # bytes: decode_data=False, the default
        if isinstance(content, str):
            content = content.encode()
        mail_from = envelope_sender(envelope)
        for recipient in envelope.rcpt_tos:
            user = self.user_for(recipient) or recipient  # users are never removed
            message = trace_headers(mail_from, recipient) + content
            try:
                await self.dovecot.deliver(
                    user, message, envelope_sender=mail_from, original_recipient=recipient
                )
            except DeliveryFailed as failure:
                # Recipients already served get it again if the client retries: fine on loopback.
                if failure.permanent:
                    return f"550 5.1.1 <{recipient}>: {failure}"
                return f"451 4.3.0 <{recipient}>: {failure}"
        return f"250 2.0.0 Ok: queued as {secrets.token_hex(5).upper()}"
