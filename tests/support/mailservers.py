"""Real mail servers on loopback for the tests: Dovecot, an SMTP server delivering into it, IMAP.

The fixtures (`dovecot`, `mail_delivery`, `mail_account`, in tests/conftest.py) are built from
these; tests talk to the servers only through SMTP (aiosmtplib) and IMAP (aioimaplib).
"""

from __future__ import annotations

import asyncio
import email
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aioimaplib
import pytest
from aiosmtpd.controller import Controller

from sandbox.mail import (
    Dovecot,
    DovecotDelivery,
    MailSandbox,
    MailServerUnavailable,
    MailTruthLog,
    MailWorld,
    Relay,
    free_port,
)

TEST_DOMAIN = "probes.test"
MAIL_HOSTNAME = "mail.probes.test"  # the delivering SMTP server's name in its greeting
WAIT_S = 30.0  # generous failure timeout when waiting for mail; never a measure of speed


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where an SMTP server listens."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class MailAccount:
    """A Dovecot user: its address (also its IMAP login), password and where to read it."""

    address: str
    password: str
    imap_host: str
    imap_port: int
    maildir: Path


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    """A message read over IMAP: its UID, the server's arrival date, the parsed message."""

    uid: int
    internal_date: str
    message: EmailMessage


def start_dovecot() -> Dovecot:
    """A started throw-away Dovecot; fails the test (never skips) when it cannot run here."""
    dovecot = Dovecot()
    try:
        dovecot.start()
    except MailServerUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    return dovecot


@contextmanager
def delivering_smtp(dovecot: Dovecot, *, catch_all: str | None = None) -> Iterator[SmtpServer]:
    """An aiosmtpd Controller on a free loopback port delivering into `dovecot`'s users.

    `user+tag@domain` reaches `user@domain`; with `catch_all`, so does every unknown address of
    that account's domain (see `DovecotDelivery`).
    """
    port = free_port()
    handler = DovecotDelivery(dovecot, catch_all=catch_all)
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname=MAIL_HOSTNAME)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port)
    finally:
        controller.stop()


def new_account(
    dovecot: Dovecot, local_part: str = "prober", domain: str = TEST_DOMAIN
) -> MailAccount:
    """A fresh Dovecot user `<local_part>-<random>@<domain>`, with an empty INBOX."""
    user = dovecot.add_user(f"{local_part}-{uuid.uuid4().hex[:10]}@{domain}")
    return MailAccount(
        user.address, user.password, dovecot.host, dovecot.port, dovecot.maildir(user.address)
    )


def _check(response: Any, what: str) -> None:
    if response.result != "OK":
        raise AssertionError(f"IMAP {what} answered {response.result}: {response.lines}")


@asynccontextmanager
async def imap_inbox(account: MailAccount) -> AsyncIterator[aioimaplib.IMAP4]:
    """An aioimaplib client logged in as `account`, INBOX selected; logs out afterwards."""
    client = aioimaplib.IMAP4(host=account.imap_host, port=account.imap_port, timeout=10)
    await client.wait_hello_from_server()
    _check(await client.login(account.address, account.password), "LOGIN")
    _check(await client.select("INBOX"), "SELECT")
    try:
        yield client
    finally:
        await log_out(client)


async def log_out(client: aioimaplib.IMAP4) -> None:
    """LOGOUT, then close the socket: aioimaplib leaves that to the server's EOF, which an event
    loop closed right after may never read (then a ResourceWarning fails a later test)."""
    try:
        await client.logout()
    finally:
        client.protocol.transport.close()


_FETCH_LITERAL = re.compile(rb"^\d+ FETCH \(.*\{\d+\}$")
_UID = re.compile(rb"UID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')


async def fetch_messages(client: aioimaplib.IMAP4, uids: str = "1:*") -> list[FetchedMessage]:
    """Every message of the selected mailbox in `uids`, whole (BODY.PEEK[]: \\Seen unchanged)."""
    response = await client.uid("fetch", uids, "(UID INTERNALDATE BODY.PEEK[])")
    _check(response, "UID FETCH")
    fetched: list[FetchedMessage] = []
    lines = response.lines
    for index, line in enumerate(lines):
        if not isinstance(line, bytes) or not _FETCH_LITERAL.match(line):
            continue
        literal = lines[index + 1]
        # Attributes may come before the literal or on the closing line after it.
        attributes = line + b" " + bytes(lines[index + 2] if index + 2 < len(lines) else b"")
        uid, date = _UID.search(attributes), _INTERNALDATE.search(attributes)
        if uid is None or date is None:
            raise AssertionError(f"no UID or INTERNALDATE in {attributes!r}")
        # IMAP sends CRLF; the email package expects \n line ends (else bodies keep their \r).
        raw = bytes(literal).replace(b"\r\n", b"\n")
        message = email.message_from_bytes(raw, policy=policy.default)
        fetched.append(FetchedMessage(int(uid.group(1)), date.group(1).decode(), message))
    return sorted(fetched, key=lambda m: m.uid)


async def wait_for_messages(
    account: MailAccount,
    count: int,
    *,
    timeout_s: float = WAIT_S,
    where: Callable[[EmailMessage], bool] = lambda message: True,
) -> list[FetchedMessage]:
    """Waits with IMAP IDLE until `account`'s INBOX holds `count` messages matching `where`."""
    deadline = time.monotonic() + timeout_s
    async with imap_inbox(account) as client:
        while True:
            messages = [m for m in await fetch_messages(client) if where(m.message)]
            if len(messages) >= count:
                return messages
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                raise AssertionError(
                    f"{account.address} holds {len(messages)} matching message(s) after "
                    f"{timeout_s} s, expected {count}"
                )
            idle = await client.idle_start(timeout=remaining_s)
            try:
                await client.wait_server_push(timeout=remaining_s)
            except TimeoutError:
                pass
            client.idle_done()
            await asyncio.wait_for(idle, 10)


def wait_for_delivered(
    account: MailAccount, count: int, *, timeout_s: float = WAIT_S
) -> list[EmailMessage]:
    """Without an event loop: waits until `account`'s INBOX (its maildir) holds `count` messages."""
    deadline = time.monotonic() + timeout_s
    while True:
        files = [path for folder in ("new", "cur") for path in (account.maildir / folder).glob("*")]
        if len(files) >= count:
            return [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{account.address} holds {len(files)} message(s) after {timeout_s} s, "
                f"expected {count}"
            )
        time.sleep(0.05)


async def until(condition: Callable[[], bool], *, timeout_s: float = WAIT_S) -> None:
    """Polls `condition` until it holds; fails after `timeout_s` (a bound, not a measure)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout_s} s")
        await asyncio.sleep(0.01)


@contextmanager
def running_mail_sandbox(
    world: MailWorld,
    relay: Relay,
    *,
    truth_path: Path | None = None,
    time_scale: float = 0.001,
) -> Iterator[MailSandbox]:
    """A `MailSandbox` served from its own event loop in a thread, for synchronous tests."""
    sandbox = MailSandbox(world, relay, truth=MailTruthLog(truth_path), time_scale=time_scale)
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    async def serve() -> None:
        try:
            async with sandbox:
                ready.set()
                await stop.wait()
        except BaseException as error:
            failure.append(error)
            ready.set()
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(timeout=10)
    if failure:
        raise failure[0]
    try:
        yield sandbox
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()
