"""The reply mailbox over IMAP (aioimaplib): new messages by UID, IDLE or polling, moves, Sent.

aioimaplib does not raise on ``NO``/``BAD`` answers and returns fetched literals as raw lines;
this module checks every answer and turns it into typed results or ``MailboxError``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import aioimaplib

from channels.errors import ChannelError
from config.settings import ImapSettings

logger = logging.getLogger(__name__)

_FETCH_START = re.compile(rb"^(\d+) FETCH \((.*)\{(\d+)\}$")
_UID = re.compile(rb"UID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_STATUS_ITEM = re.compile(rb"(UIDVALIDITY|UIDNEXT|MESSAGES) (\d+)")
# Servers drop idle connections after 30 min at most (RFC 9051); renew well before.
IDLE_RENEW_S = 25 * 60
SENDING_KEYWORD = "$ProberSending"


class MailboxError(ChannelError):
    """The IMAP server refused a command or the connection failed; says which and why."""


@dataclass(frozen=True, slots=True)
class MailboxState:
    """Where a mailbox stands: UIDs are only comparable within one ``uidvalidity``."""

    uidvalidity: int
    uidnext: int


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    """One message as the server holds it: its UID, arrival instant, size and raw bytes."""

    uid: int
    uidvalidity: int
    internal_date: datetime | None
    size: int
    raw: bytes

    @property
    def truncated(self) -> bool:
        """Only the start of a message over the size limit was fetched (``raw`` is shorter)."""
        return len(self.raw) < self.size


def parse_internal_date(value: bytes | str) -> datetime | None:
    """IMAP INTERNALDATE ("23-Nov-2026 06:56:08 +0000") as an aware instant."""
    text = value.decode("ascii") if isinstance(value, bytes) else value
    try:
        return datetime.strptime(text.strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None


def parse_fetch(lines: list[Any], uidvalidity: int) -> list[FetchedMessage]:
    """The messages of a ``UID FETCH (UID INTERNALDATE RFC822.SIZE BODY.PEEK[]<0.N>)`` answer."""
    messages: list[FetchedMessage] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        match = _FETCH_START.match(bytes(line)) if isinstance(line, bytes | bytearray) else None
        if match is None or index + 1 >= len(lines):
            index += 1
            continue
        literal = bytes(lines[index + 1])
        # Attributes may come before the literal or on the closing line after it.
        closing = bytes(lines[index + 2]) if index + 2 < len(lines) else b""
        attributes = match.group(2) + b" " + closing
        uid = _UID.search(attributes)
        date = _INTERNALDATE.search(attributes)
        size = _SIZE.search(attributes)
        if uid is not None:
            messages.append(
                FetchedMessage(
                    uid=int(uid.group(1)),
                    uidvalidity=uidvalidity,
                    internal_date=None if date is None else parse_internal_date(date.group(1)),
                    size=int(size.group(1)) if size else len(literal),
                    raw=literal,
                )
            )
        index += 2
    return messages


class Mailbox:
    """``async with Mailbox(settings) as mailbox``: one logged-in IMAP connection."""

    def __init__(self, settings: ImapSettings, *, timeout_s: float = 30.0) -> None:
        if settings.security == "starttls":
            raise MailboxError(
                "imap.security = starttls is not supported by the IMAP client (aioimaplib):"
                " use tls (port 993), or plain on a trusted network"
            )
        self.settings = settings
        self.timeout_s = timeout_s
        self._client: aioimaplib.IMAP4 | None = None
        self.selected: str | None = None
        self.uidvalidity = 0
        self._delimiter: str | None = None

    async def __aenter__(self) -> Self:
        settings = self.settings
        if settings.security == "tls":
            self._client = aioimaplib.IMAP4_SSL(
                host=settings.host, port=settings.port, timeout=self.timeout_s
            )
        else:
            self._client = aioimaplib.IMAP4(
                host=settings.host, port=settings.port, timeout=self.timeout_s
            )
        try:
            await asyncio.wait_for(self._client.wait_hello_from_server(), self.timeout_s)
        except (OSError, TimeoutError) as error:
            raise MailboxError(
                f"cannot reach the IMAP server {settings.host}:{settings.port}: {error!r}"
            ) from None
        password = "" if settings.password is None else settings.password.get_secret_value()
        try:
            answer = await asyncio.wait_for(
                self._client.login(settings.username, password), self.timeout_s
            )
        except TimeoutError:
            raise MailboxError(
                f"the IMAP server {settings.host}:{settings.port} did not answer the login"
            ) from None
        if answer.result != "OK":
            raise MailboxError(
                f"the IMAP server refused the login of {settings.username!r}: check"
                " imap.username and PROBER_IMAP__PASSWORD"
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._client is None:
            return
        try:
            if self._client.has_pending_idle():
                self._client.idle_done()
            await asyncio.wait_for(self._client.logout(), 5)
        except (OSError, TimeoutError, aioimaplib.Abort, aioimaplib.CommandTimeout):
            logger.debug("IMAP logout failed; the connection is dropped anyway")
        finally:
            # Cancelled or failed logouts leave the socket open: close it in every case.
            protocol = getattr(self._client, "protocol", None)
            transport = getattr(protocol, "transport", None)
            if transport is not None:
                transport.close()

    @property
    def client(self) -> aioimaplib.IMAP4:
        if self._client is None:
            raise RuntimeError("use `async with Mailbox(...)` first")
        return self._client

    async def _ok(self, what: str, answer: Any) -> list[Any]:
        if answer.result != "OK":
            detail = b" ".join(
                bytes(line) for line in answer.lines if isinstance(line, bytes | bytearray)
            )
            raise MailboxError(
                f"IMAP {what} failed: {answer.result} {detail.decode(errors='replace')}"
            )
        return list(answer.lines)

    async def folder(self, path: str) -> str:
        """The server's name for ``path``: "/" becomes its hierarchy delimiter ("." often)."""
        if "/" not in path:
            return path
        if self._delimiter is None:
            lines = await self._ok("LIST", await self.client.list('""', '""'))
            self._delimiter = "/"
            for line in lines:
                text = bytes(line) if isinstance(line, bytes | bytearray) else b""
                if m := re.search(rb'\) "(.)"', text):
                    self._delimiter = m.group(1).decode()
        return path.replace("/", self._delimiter)

    async def ensure_folder(self, folder: str) -> None:
        """Create ``folder`` if it does not exist (an existing one is fine)."""
        name = await self.folder(folder)
        answer = await self.client.create(_quoted(name))
        if answer.result not in ("OK", "NO"):  # NO: [ALREADYEXISTS]
            await self._ok(f"CREATE {name}", answer)

    async def select(self, folder: str) -> MailboxState:
        """Open ``folder``; its UIDVALIDITY and UIDNEXT."""
        name = await self.folder(folder)
        lines = await self._ok(f"SELECT {name}", await self.client.select(_quoted(name)))
        validity = uidnext = 0
        for line in lines:
            text = bytes(line) if isinstance(line, bytes | bytearray) else b""
            if m := re.search(rb"UIDVALIDITY (\d+)", text):
                validity = int(m.group(1))
            if m := re.search(rb"UIDNEXT (\d+)", text):
                uidnext = int(m.group(1))
        self.selected, self.uidvalidity = folder, validity
        return MailboxState(validity, uidnext)

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid`` in the selected folder, ascending."""
        answer = await self.client.uid_search(f"UID {last_uid + 1}:*", charset=None)
        lines = await self._ok("UID SEARCH", answer)
        uids: list[int] = []
        for line in lines:
            text = bytes(line) if isinstance(line, bytes | bytearray) else b""
            if text.startswith(b"SEARCH") or (text and text.split()[0].isdigit()):
                uids += [int(x) for x in re.findall(rb"\d+", text)]
        # "UID n:*" always returns the highest UID even when it is below n.
        return sorted(uid for uid in set(uids) if uid > last_uid)

    async def search_header(self, name: str, value: str) -> list[int]:
        """UIDs in the selected folder whose header ``name`` contains ``value``."""
        answer = await self.client.uid_search("HEADER", name, _quoted(value), charset=None)
        lines = await self._ok("UID SEARCH HEADER", answer)
        uids: list[int] = []
        for line in lines:
            text = bytes(line) if isinstance(line, bytes | bytearray) else b""
            if text and (text.startswith(b"SEARCH") or text.split()[0].isdigit()):
                uids += [int(x) for x in re.findall(rb"\d+", text)]
        return sorted(set(uids))

    async def fetch(self, uid: int, *, max_message_bytes: int | None) -> FetchedMessage | None:
        """One message by UID (None if it is gone), without marking it seen; only its first
        ``max_message_bytes`` (headers first) when it is larger."""
        messages = await self.fetch_many([uid], max_message_bytes=max_message_bytes)
        return next((message for message in messages if message.uid == uid), None)

    async def flags(self, uid: int) -> set[str]:
        """The flags and keywords of one message."""
        lines = await self._ok(
            "UID FETCH FLAGS", await self.client.uid("fetch", str(uid), "(FLAGS)")
        )
        for line in lines:
            text = bytes(line) if isinstance(line, bytes | bytearray) else b""
            if m := re.search(rb"FLAGS \(([^)]*)\)", text):
                return set(m.group(1).decode().split())
        return set()

    async def move(self, uid: int | str, folder: str) -> None:
        """Move a message (or a UID set) to ``folder`` (MOVE, or COPY + delete + EXPUNGE)."""
        folder = await self.folder(folder)
        if self.client.has_capability("MOVE"):
            await self._ok("UID MOVE", await self.client.uid("move", str(uid), _quoted(folder)))
            return
        await self._ok("UID COPY", await self.client.uid("copy", str(uid), _quoted(folder)))
        await self._ok(
            "UID STORE", await self.client.uid("store", str(uid), "+FLAGS.SILENT (\\Deleted)")
        )
        await self._ok("UID EXPUNGE", await self.client.uid("expunge", str(uid)))

    async def append(self, raw: bytes, folder: str, flags: str) -> None:
        """Store a message in ``folder`` with ``flags`` (e.g. "\\Seen $ProberSending")."""
        folder = await self.folder(folder)
        await self._ok(
            f"APPEND {folder}",
            await self.client.append(raw, mailbox=_quoted(folder), flags=f"({flags})"),
        )

    async def set_flags(self, uid: int, change: str) -> None:
        """``+FLAGS (...)`` or ``-FLAGS (...)`` on one message of the selected folder."""
        await self._ok("UID STORE", await self.client.uid("store", str(uid), change))

    @property
    def can_idle(self) -> bool:
        return bool(self.client.has_capability("IDLE"))

    async def wait_for_news(self, timeout_s: float) -> None:
        """Return when the server says something changed (IDLE), or after ``timeout_s``."""
        if not self.can_idle:
            await asyncio.sleep(timeout_s)
            await self._ok("NOOP", await self.client.noop())
            return
        idle = await asyncio.wait_for(self.client.idle_start(timeout=timeout_s), self.timeout_s)
        try:
            await self.client.wait_server_push(timeout=timeout_s)
        except TimeoutError:
            pass
        finally:
            if self.client.has_pending_idle():
                self.client.idle_done()
            await asyncio.wait_for(idle, self.timeout_s)

    async def fetch_many(
        self, uids: list[int], *, max_message_bytes: int | None
    ) -> list[FetchedMessage]:
        """Several messages in one round trip, in UID order (those gone are left out).

        A message over ``max_message_bytes`` comes as its first that many bytes (a partial
        FETCH, RFC 9051 6.4.5): its headers and the start of its body, never the whole;
        ``truncated`` says so.
        """
        if not uids:
            return []
        part = "BODY.PEEK[]" if max_message_bytes is None else f"BODY.PEEK[]<0.{max_message_bytes}>"
        answer = await self.client.uid(
            "fetch", ",".join(map(str, uids)), f"(UID INTERNALDATE RFC822.SIZE {part})"
        )
        lines = await self._ok("UID FETCH", answer)
        return sorted(parse_fetch(lines, self.uidvalidity), key=lambda message: message.uid)

    async def move_many(self, uids: list[int], folder: str) -> None:
        """Move several messages to ``folder`` in one command."""
        if uids:
            await self.move(",".join(map(str, uids)), folder)

    async def batches_after(
        self, last_uid: int, *, max_message_bytes: int | None, batch: int = 20
    ) -> AsyncIterator[list[FetchedMessage]]:
        """The messages above ``last_uid`` in UID order, fetched ``batch`` at a time (each cut
        to ``max_message_bytes``, see :meth:`fetch_many`)."""
        uids = await self.uids_after(last_uid)
        for start in range(0, len(uids), batch):
            yield await self.fetch_many(
                uids[start : start + batch], max_message_bytes=max_message_bytes
            )


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
