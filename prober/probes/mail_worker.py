"""Replies read in a worker process bounded in time and memory, so no message stalls the daemon.

Reading a message (MIME structure, charsets, HTML to text, classification, match keys) is
CPU-bound and its cost depends on what the sender wrote. The daemon's event loop must keep
answering webhooks and dispatching probes meanwhile, so a :class:`MessageReader` hands each
message to one worker process: one that takes more than ``timeout_s``, or needs more than
``memory_bytes`` of address space above the worker's own, gets an :class:`UnreadMessage` with
the reason; the worker is then killed and another started. The caller stores such a message raw,
as ``unparsed``, and moves on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import re
import resource
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from channels.email.classify import Classification, ReplyKind, classify
from channels.email.matching import MatchKey, match_keys
from channels.email.message import ParsedMessage, decode_header_text, parse_message

logger = logging.getLogger(__name__)

WORKER_START_TIMEOUT_S = 60.0
_HEAD_BYTES = 64 * 1024
_MESSAGE_ID_FIELD = re.compile(rb"^Message-ID:[ \t]*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ReadMessage:
    """A message read: its parsed values, what it is, and the clues to the probe it answers."""

    parsed: ParsedMessage
    verdict: Classification
    keys: tuple[MatchKey, ...]


@dataclass(frozen=True, slots=True)
class UnreadMessage:
    """A message the worker could not read within its limits; ``reason`` says which."""

    reason: str
    subject: str
    sender: str
    message_id: str | None


def read_message(raw: bytes, max_size: int) -> ReadMessage:
    """Parse, classify and list the match keys of one raw message (in the worker)."""
    parsed = parse_message(raw, max_size=max_size)
    verdict = classify(parsed)
    keys = match_keys(
        in_reply_to=bracketed(parsed.in_reply_to),
        references=" ".join(bracketed(m) or "" for m in parsed.references),
        recipients=recipients(parsed),
        subject=parsed.subject,
        returned_message_ids=returned_ids(raw, parsed) if verdict.kind == ReplyKind.BOUNCE else [],
    )
    return ReadMessage(parsed, verdict, tuple(keys))


def bracketed(message_id: str | None) -> str | None:
    """A Message-ID as it is written in headers and as we store ours: ``<local@domain>``."""
    return None if not message_id else f"<{message_id.strip('<>')}>"


def recipients(parsed: ParsedMessage) -> list[str]:
    """Every address the message was delivered to, as far as its headers say."""
    headers = parsed.headers
    return [
        *parsed.to,
        *parsed.cc,
        *headers.get_all("Delivered-To"),
        *headers.get_all("X-Original-To"),
        *headers.get_all("Envelope-To"),
    ]


def returned_ids(raw: bytes, parsed: ParsedMessage) -> list[str]:
    """Message-IDs of the original a bounce returns (its attached headers), not its own."""
    own = bracketed(parsed.message_id)
    found = [m.group(1).decode("ascii", "replace") for m in _MESSAGE_ID_FIELD.finditer(raw)]
    return [message_id for message_id in found if message_id != own]


def unread(raw: bytes, reason: str) -> UnreadMessage:
    """What an operator needs to recognise an unread message: From, Subject, Message-ID, read
    naively from the first header lines (one linear pass over at most 64 KiB)."""
    head = raw[:_HEAD_BYTES].replace(b"\r\n", b"\n").partition(b"\n\n")[0]
    text = re.sub(r"\n[ \t]+", " ", head.decode("utf-8", "replace"))
    fields: dict[str, str] = {}
    for line in text.split("\n"):
        name, colon, value = line.partition(":")
        if colon and name.lower() in ("from", "subject", "message-id"):
            fields.setdefault(name.lower(), value.strip())
    found = re.search(r"[^\s<>\"]+@[^\s<>\"]+", fields.get("from", ""))
    message_id = re.search(r"<[^<>\s]+>", fields.get("message-id", ""))
    return UnreadMessage(
        reason=reason,
        subject=decode_header_text(fields.get("subject", ""))[:998],
        sender="" if found is None else found.group(0)[:998],
        message_id=None if message_id is None else message_id.group(0),
    )


def _limit_memory(headroom_bytes: int) -> None:
    """Worker initializer: its address space may grow by ``headroom_bytes`` from here."""

    with open("/proc/self/statm", encoding="ascii") as statm:
        current = int(statm.read().split()[0]) * resource.getpagesize()
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = current + headroom_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _ready() -> bool:
    return True


class MessageReader:
    """``async with MessageReader(...) as reader``: ``await reader.read(raw)`` in a worker."""

    def __init__(self, *, max_message_bytes: int, timeout_s: float, memory_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._one_at_a_time = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def read(self, raw: bytes) -> ReadMessage | UnreadMessage:
        """The message read, or why it could not be within the limits (never raises for it)."""
        async with self._one_at_a_time:
            try:
                pool = await self._started()
                loop = asyncio.get_running_loop()
                work = loop.run_in_executor(pool, read_message, raw, self.max_message_bytes)
                return await asyncio.wait_for(work, self.timeout_s)
            except TimeoutError:
                self._stop_worker()
                reason = f"reading took more than {self.timeout_s:g} s (email.parse_timeout_s)"
            except MemoryError:
                self._stop_worker()
                reason = (
                    f"reading needed more than {self.memory_bytes // 2**20} MiB"
                    " (email.parse_memory_mb)"
                )
            except BrokenProcessPool:
                self._stop_worker()
                reason = (
                    "the worker reading it died (out of memory? email.parse_memory_mb ="
                    f" {self.memory_bytes // 2**20})"
                )
            except Exception as error:  # a bug in a reader: keep the message, say what broke
                reason = f"reading failed: {error!r}"[:400]
        logger.warning("message of %d bytes stored unread: %s", len(raw), reason)
        return unread(raw, reason)

    def close(self) -> None:
        """Stop the worker (an unfinished read is abandoned)."""
        self._stop_worker()

    async def _started(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the daemon has threads (database, DNS), and a forked child would
            # inherit their locks in whatever state they were.
            pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_limit_memory,
                initargs=(self.memory_bytes,),
            )
            self._pool = pool
            # The worker's start (a new interpreter, imports) is not the message's time.
            started = asyncio.get_running_loop().run_in_executor(pool, _ready)
            try:
                await asyncio.wait_for(started, WORKER_START_TIMEOUT_S)
            except (TimeoutError, BrokenProcessPool) as error:
                self._stop_worker()
                raise BrokenProcessPool(f"the worker did not start: {error!r}") from None
            except BaseException:
                self._stop_worker()
                raise
        return self._pool

    def _stop_worker(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # No public way to stop a pool's worker in the middle of a task: kill it.
        for process in list(pool._processes.values()):
            process.kill()
        pool.shutdown(wait=True, cancel_futures=True)
