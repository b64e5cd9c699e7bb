"""Sending a composed probe email (or a plain notice: enrolment, publication) with aiosmtplib,
and telling what the server's answer means."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

import aiosmtplib

from channels.email.compose import ProbeEmail
from channels.errors import PermanentContactError, TransientContactError
from config.settings import SmtpSettings


@dataclass(frozen=True, slots=True)
class SmtpAccepted:
    """The server took the message: when (our clock, after DATA) and what it said."""

    accepted_at: datetime
    reply: str


async def send_email(
    settings: SmtpSettings,
    email: ProbeEmail,
    *,
    timeout_s: float = 60.0,
    before_data: Callable[[], Awaitable[None]] | None = None,
) -> SmtpAccepted:
    """Send ``email`` once; never retried here.

    The envelope (MAIL FROM, RCPT TO) is settled first; ``before_data`` then runs (the caller
    marks the send as under way), and only then is the message itself transmitted, so the time
    during which it may or may not have left is as short as SMTP allows.

    Raises PermanentContactError when the recipient is refused for good (5xx: a synchronous
    bounce), TransientContactError otherwise; its ``maybe_made`` is True when the connection
    was lost after the message may have been accepted.
    """
    password = None if settings.password is None else settings.password.get_secret_value()
    started_data = False
    try:
        async with aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
            timeout=timeout_s,
        ) as client:
            if settings.username:
                await client.login(settings.username, password or "")
            await client.mail(email.sender)
            try:
                await client.rcpt(email.recipient)
            except aiosmtplib.SMTPRecipientRefused as refused_one:
                raise aiosmtplib.SMTPRecipientsRefused([refused_one]) from None
            if before_data is not None:
                await before_data()
            started_data = True
            response = await client.data(email.raw)
    except aiosmtplib.SMTPRecipientsRefused as error:
        refusal = error.recipients[0] if error.recipients else None
        code = None if refusal is None else refusal.code
        text = "" if refusal is None else refusal.message
        if code is not None and 500 <= code < 600:
            raise PermanentContactError(
                f"{email.recipient} refused by the mail server: {code} {text}", code=code
            ) from None
        raise TransientContactError(
            f"{email.recipient} deferred: {code} {text}", code=code
        ) from None
    except aiosmtplib.SMTPResponseException as error:
        if 500 <= error.code < 600 and isinstance(error, aiosmtplib.SMTPDataError):
            raise PermanentContactError(
                f"the mail server rejected the message: {error.code} {error.message}",
                code=error.code,
            ) from None
        if isinstance(error, aiosmtplib.SMTPAuthenticationError):
            raise TransientContactError(
                f"SMTP login refused ({error.code}): check smtp.username and PROBER_SMTP__PASSWORD",
                code=error.code,
            ) from None
        raise TransientContactError(
            f"the mail server answered {error.code} {error.message}", code=error.code
        ) from None
    except aiosmtplib.SMTPConnectError as error:
        raise TransientContactError(
            f"cannot reach the mail server {settings.host}:{settings.port}: {error}"
        ) from None
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as error:
        raise TransientContactError(
            f"the connection to the mail server was lost: {error}", maybe_made=started_data
        ) from None
    return SmtpAccepted(accepted_at=datetime.now(UTC), reply=response.message)


async def send_notice(
    settings: SmtpSettings, message: EmailMessage, *, timeout_s: float = 60.0
) -> None:
    """Send a service email (not a probe) through the same server and credentials.

    PermanentContactError when the server refuses the recipient for good, TransientContactError
    for anything else that kept it from being sent.
    """
    password = None if settings.password is None else settings.password.get_secret_value()
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.host,
            port=settings.port,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
            username=settings.username or None,
            password=password if settings.username else None,
            timeout=timeout_s,
        )
    except aiosmtplib.SMTPRecipientsRefused as error:
        refusal = error.recipients[0] if error.recipients else None
        code = None if refusal is None else refusal.code
        said = "" if refusal is None else refusal.message
        if code is not None and 500 <= code < 600:
            raise PermanentContactError(
                f"{message['To']} refused by the mail server: {code} {said}",
                code=code,
            ) from None
        raise TransientContactError(f"{message['To']} deferred: {code}", code=code) from None
    except aiosmtplib.SMTPException as error:
        raise TransientContactError(
            f"cannot send through {settings.host}:{settings.port}: {error}"
        ) from None
    except OSError as error:
        raise TransientContactError(
            f"cannot reach the mail server {settings.host}:{settings.port}: {error}"
        ) from None
