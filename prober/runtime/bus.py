"""The event bus: relays the outbox to MQTT, feeds in-process subscribers, hears control topics.

Messages leave the outbox strictly in ``id`` order, one in flight at a time, at QoS 1, and each
is marked published as soon as the broker acknowledged it (PUBACK): a broker outage delays them,
never loses or reorders them; a reconnection, or a relay killed between a PUBACK and its mark,
may repeat that one message (same event id). Without a broker (``mqtt.host`` empty) the bus only
feeds in-process subscribers. See docs/events.md.

Several daemons may share a database: one relays at a time, holding the ``outbox-relay`` lease
(``storage.leases``) which it renews while it runs and gives up when it stops. The others wait,
trying every ``poll_interval_s``; when the holder dies, one of them takes over once its lease
has run out (``mqtt.relay_lease_seconds``). A relay stops sending as soon as its lease could
have run out without being renewed, so two relays never publish at once while their clocks
agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import ssl
import threading
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from config.settings import MqttSettings
from prober.errors import ProberError
from prober.project.database import Database
from storage import leases, outbox
from storage.models import OutboxMessage
from storage.types import utcnow

logger = logging.getLogger(__name__)

OnControl = Callable[[str, str], Awaitable[None]]
"""What the application does on a control message: called with (wave name, "pause"|"resume")."""

Send = Callable[[str, bytes], Awaitable[None]]

CONTROL_ACTIONS = ("pause", "resume")
PURGE_EVERY_S = 3600.0


def control_topic(prefix: str, wave: str, action: str) -> str:
    """The topic that asks prober to pause or resume a wave, e.g. ``prober/control/w/pause``."""
    return f"{prefix}/control/{outbox.topic_level(wave)}/{action}"


def parse_control_topic(prefix: str, topic: str) -> tuple[str, str] | None:
    """(wave name, action) of a control topic; None for any other topic."""
    head = f"{prefix}/control/"
    if not topic.startswith(head):
        return None
    levels = topic.removeprefix(head).split("/")
    if len(levels) != 2 or not levels[0] or levels[1] not in CONTROL_ACTIONS:
        return None
    return outbox.unquote_level(levels[0]), levels[1]


def _check_prefix(prefix: str) -> None:
    problem = None
    if not prefix:
        problem = "it is empty"
    elif any(character in prefix for character in "+#\0"):
        problem = "it holds an MQTT wildcard (+ or #) or a NUL"
    elif prefix.startswith("/") or prefix.endswith("/"):
        problem = "it starts or ends with '/'"
    if problem is not None:
        raise ProberError(
            f"mqtt.topic_prefix {prefix!r} is unusable: {problem}; "
            "write topic levels separated by '/', e.g. 'prober' or 'acme/prober'"
        )


class _HandshakeClosingSocket(ssl.SSLSocket):
    """A TLS socket that closes itself when its handshake fails: paho-mqtt 2.2 leaves it open
    (client.py, ``_ssl_wrap_socket``) to the garbage collector, with a ResourceWarning."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def tls_context(settings: MqttSettings, base_dir: Path) -> ssl.SSLContext | None:
    """The TLS setup ``[mqtt]`` asks for (None: plain MQTT); relative files are under
    ``base_dir``. Raises ProberError naming the setting whose file cannot be used."""
    if not settings.tls:
        return None

    def path(name: str, value: Path) -> str:
        resolved = value if value.is_absolute() else base_dir / value
        if not resolved.is_file():
            raise ProberError(f"mqtt.{name}: no file {resolved}")
        return str(resolved)

    ca_file = None if settings.ca_file is None else path("ca_file", settings.ca_file)
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except ssl.SSLError as error:
        raise ProberError(
            f"mqtt.ca_file: {ca_file} holds no usable certificate ({error})"
        ) from None
    context.sslsocket_class = _HandshakeClosingSocket
    if settings.cert_file is not None and settings.key_file is not None:
        cert_file = path("cert_file", settings.cert_file)
        key_file = path("key_file", settings.key_file)
        try:
            context.load_cert_chain(cert_file, key_file)
        except ssl.SSLError as error:
            raise ProberError(
                f"mqtt.cert_file / mqtt.key_file: {cert_file} and {key_file} are not a"
                f" certificate and its unencrypted private key ({error})"
            ) from None
    return context


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


class Subscription:
    """An in-process consumer's messages, as an async iterator of JSON objects (fresh dicts).

    The queue is bounded: when the consumer falls behind, its oldest message is dropped (and
    logged), so that it never holds up publishing. Iteration ends when the bus stops.
    """

    def __init__(self, queue_size: int) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=queue_size)
        self._closed = False
        self.dropped = 0

    def offer(self, data: bytes) -> None:
        """Queue a message, dropping the oldest one when the consumer is behind."""
        if self._closed:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning(
                    "event bus: an in-process subscriber is %d message(s) behind; dropped its "
                    "oldest (%d dropped so far): it must read faster or use a larger queue",
                    self._queue.maxsize,
                    self.dropped,
                    extra={"bus_dropped": self.dropped},
                )
        self._queue.put_nowait(data)

    def close(self) -> None:
        """End the iteration once what is queued has been read."""
        self._closed = True
        if self._queue.empty():
            self._queue.put_nowait(None)  # wakes a reader waiting for a message

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        data = await self._queue.get()
        if data is None:
            raise StopAsyncIteration
        message: dict[str, Any] = json.loads(data)
        return message


class EventBus:
    """Publishes the outbox while ``async with EventBus(settings.mqtt, database) as bus:`` runs.

    On exit it keeps publishing for up to ``flush_timeout_s`` while connected, then stops; what
    is left stays in the outbox for the next start.
    """

    def __init__(
        self,
        settings: MqttSettings,
        database: Database,
        *,
        on_control: OnControl | None = None,
        base_dir: Path = Path(),
        poll_interval_s: float = 1.0,
        flush_timeout_s: float = 3.0,
        publish_timeout_s: float = 10.0,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        batch_size: int = 100,
        subscriber_queue_size: int = 1000,
    ) -> None:
        _check_prefix(settings.topic_prefix)
        self.tls = tls_context(settings, base_dir)
        self.settings = settings
        self.database = database
        self.on_control = on_control
        self.prefix = settings.topic_prefix
        self.poll_interval_s = poll_interval_s
        self.flush_timeout_s = flush_timeout_s
        self.publish_timeout_s = publish_timeout_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.batch_size = batch_size
        self.subscriber_queue_size = subscriber_queue_size
        self.client_id = f"prober-{uuid.uuid4().hex[:12]}"
        # Who holds the relay lease: this bus, on this host, in this process.
        self.relay_id = f"{socket.gethostname()}-{os.getpid()}-{self.client_id}"
        self.lease_length = timedelta(seconds=settings.relay_lease_seconds)
        # Monotonic instants: renew the lease after the first, stop sending at the second.
        self._renew_at: float | None = None
        self._send_until: float | None = None
        self.connected = False
        self._wakeup = asyncio.Event()
        self._closing = asyncio.Event()
        self._closed = False
        self._subscriptions: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._control_calls: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._tasks: asyncio.TaskGroup | None = None
        self._relay_task: asyncio.Task[None] | None = None
        self._control_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._purged_at: float | None = None

    @property
    def relaying(self) -> bool:
        """Whether this bus holds the relay lease (as far as it knows)."""
        return self._send_until is not None and time.monotonic() < self._send_until

    @property
    def broker(self) -> str | None:
        """``host:port`` of the broker, or None for an in-process bus."""
        return f"{self.settings.host}:{self.settings.port}" if self.settings.host else None

    # -- lifetime ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        self._relay_task = self._tasks.create_task(self._relay(), name="event bus: publisher")
        if self.on_control is not None and self.broker is not None:
            self._control_task = self._tasks.create_task(
                self._dispatch_control(), name="event bus: control"
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._tasks is not None  # noqa: S101 (entered)
        self._closing.set()
        self._wakeup.set()
        try:
            await self._stop_relay()
        finally:
            if self._control_task is not None:
                self._control_task.cancel()
            self._closed = True
            for subscription in list(self._subscriptions):
                subscription.close()
            await self._tasks.__aexit__(exc_type, exc, traceback)

    async def _stop_relay(self) -> None:
        task = self._relay_task
        assert task is not None  # noqa: S101 (entered)
        _, running = await asyncio.wait({task}, timeout=self.flush_timeout_s)
        if running:
            task.cancel()
            await asyncio.wait({task})
        try:
            await self._give_up_lease()
            left = await self.database.run(outbox.count_pending)
        except SQLAlchemyError:
            return
        if left:
            logger.warning(
                "event bus: stopped with %d message(s) still in the outbox; "
                "they are published at the next start",
                left,
                extra={"bus_pending": left},
            )

    # -- for the application ----------------------------------------------------------------

    def wake(self) -> None:
        """Say that the outbox holds something new (it is also polled every second).

        Call it once the transaction that enqueued has committed; any thread may call it.
        """
        if self._loop is None or threading.get_ident() == self._loop_thread:
            self._wakeup.set()
        else:
            self._loop.call_soon_threadsafe(self._wakeup.set)

    def subscribe(self, *, queue_size: int | None = None) -> Subscription:
        """Every message published from now on (its JSON object), for an in-process consumer.

        Subscribing registers at once: nothing published after this call is missed, unless the
        consumer falls ``queue_size`` messages behind (then its oldest are dropped).
        """
        subscription = Subscription(queue_size or self.subscriber_queue_size)
        if self._closed:
            subscription.close()
        else:
            self._subscriptions.add(subscription)
        return subscription

    # -- publishing -------------------------------------------------------------------------

    async def _relay(self) -> None:
        if self.broker is None:
            await self._relay_in_process()
        else:
            await self._relay_to_broker()

    async def _relay_in_process(self) -> None:
        delay_s = self.reconnect_min_s
        while True:
            try:
                await self._publish_until_closed(send=None)
                return
            except SQLAlchemyError as error:
                logger.warning(
                    "event bus: cannot read the outbox (%s); retrying in %.1f s", error, delay_s
                )
            if await self._closing_within(delay_s):
                return
            delay_s = min(self.reconnect_max_s, delay_s * 2)

    async def _relay_to_broker(self) -> None:
        delay_s = self.reconnect_min_s
        while True:
            was_connected = False
            failure = ""
            try:
                await self._connected_session()
                return
            except* (aiomqtt.MqttError, OSError) as group:
                was_connected = self.connected
                failure = self._explain_broker_failure(group.exceptions[0])
            except* SQLAlchemyError as group:
                failure = f"cannot use the outbox ({group.exceptions[0]})"
            finally:
                self.connected = False
            if was_connected:
                delay_s = self.reconnect_min_s
            logger.warning(
                "event bus: %s; messages wait in the outbox; reconnecting in %.1f s",
                failure,
                delay_s,
                extra={"bus_broker": self.broker, "bus_retry_s": delay_s},
            )
            if await self._closing_within(delay_s):
                return
            delay_s = min(self.reconnect_max_s, delay_s * 2)

    def _explain_broker_failure(self, error: BaseException) -> str:
        broker = f"MQTT broker {self.broker}"
        # aiomqtt raises its own error `from None`: the TLS error is only its context.
        tls_error = next(
            (e for e in (error, error.__cause__, error.__context__) if isinstance(e, ssl.SSLError)),
            None,
        )
        if tls_error is not None:
            return (
                f"the TLS handshake with {broker} failed ({tls_error}): check mqtt.ca_file, that"
                " mqtt.host is a name its certificate holds, and mqtt.cert_file / key_file if it"
                " asks for a client certificate"
            )
        if isinstance(error, MqttConnectError):
            return (
                f"{broker} refused the connection ({error}): check mqtt.username and the "
                "password (PROBER_MQTT__PASSWORD)"
            )
        why = str(error) or type(error).__name__
        if error.__cause__ is not None:
            why = f"{why}: {error.__cause__}"
        if self.connected:
            return f"lost the connection to {broker} ({why})"
        return f"cannot connect to {broker} ({why}): is it running? check mqtt.host and mqtt.port"

    async def _connected_session(self) -> None:
        settings = self.settings
        password = None if settings.password is None else settings.password.get_secret_value()
        client = aiomqtt.Client(
            settings.host,
            settings.port,
            username=settings.username or None,
            password=password,
            identifier=self.client_id,
            timeout=self.publish_timeout_s,
            logger=logging.getLogger("prober.runtime.bus.mqtt"),
            tls_context=self.tls,
        )

        async def send(topic: str, data: bytes) -> None:
            await client.publish(topic, data, qos=1, timeout=self.publish_timeout_s)

        async with client:
            self.connected = True
            waiting = await self.database.run(outbox.count_pending)
            logger.info(
                "event bus: connected to MQTT broker %s%s as %s; %d message(s) to publish",
                self.broker,
                " over TLS" if self.tls is not None else "",
                self.client_id,
                waiting,
                extra={"bus_broker": self.broker, "bus_pending": waiting},
            )
            # The listener also notices a lost connection (aiomqtt ends its message iteration)
            # and so cancels a publish waiting for its PUBACK.
            async with asyncio.TaskGroup() as tasks:
                listener = tasks.create_task(self._listen(client), name="event bus: listener")
                await self._publish_until_closed(send=send)
                listener.cancel()

    async def _listen(self, client: aiomqtt.Client) -> None:
        if self.on_control is not None:
            await client.subscribe(f"{self.prefix}/control/+/+", qos=1)
        async for message in client.messages:
            command = parse_control_topic(self.prefix, message.topic.value)
            if command is None:
                logger.warning(
                    "event bus: ignored %s: control topics are %s/control/<wave>/pause or /resume",
                    message.topic.value,
                    self.prefix,
                )
                continue
            self._control_calls.put_nowait(command)

    async def _dispatch_control(self) -> None:
        assert self.on_control is not None  # noqa: S101 (started only with a callback)
        while True:
            wave, action = await self._control_calls.get()
            logger.info("event bus: %s of wave %s requested over MQTT", action, wave)
            try:
                await self.on_control(wave, action)
            except Exception:
                logger.exception("event bus: the %s of wave %s failed", action, wave)

    async def _hold_lease(self) -> bool:
        """Take or renew the relay lease when due; whether this bus may send now."""
        now = time.monotonic()
        if self._renew_at is not None and now < self._renew_at:
            return self.relaying
        holder, length = self.relay_id, self.lease_length
        until = await self.database.run(
            lambda s: leases.take(
                s, leases.OUTBOX_RELAY, holder=holder, now=utcnow(), length=length
            )
        )
        if until is None:
            if self._send_until is not None:
                logger.warning("event bus: another daemon took the relay lease; relaying stops")
            self._renew_at = self._send_until = None
            return False
        if self._send_until is None:
            logger.info(
                "event bus: this daemon relays the outbox (lease %s)",
                self.relay_id,
                extra={"bus_relay": self.relay_id},
            )
        # Measured from before the request: the lease as written lasts at least this long.
        self._renew_at = now + length.total_seconds() / 3
        self._send_until = now + length.total_seconds() * 2 / 3
        return True

    async def _give_up_lease(self) -> None:
        if self._send_until is None:
            return
        self._renew_at = self._send_until = None
        holder = self.relay_id
        await self.database.run(lambda s: leases.give_up(s, leases.OUTBOX_RELAY, holder=holder))

    async def _wait_for_lease(self) -> bool:
        """Wait while another daemon relays; True once this bus holds the lease, False when
        closing (what is left is the holder's, or the next start's)."""
        while not await self._hold_lease():
            if await self._closing_within(self.poll_interval_s):
                return False
        return True

    async def _publish_until_closed(self, *, send: Send | None) -> None:
        """Publish pending messages as they come; return once closing finds none left."""
        while True:
            self._wakeup.clear()
            if not await self._wait_for_lease():
                return
            rows = await self.database.run(lambda s: outbox.pending(s, limit=self.batch_size))
            if rows:
                await self._publish(rows, send)
                continue
            if self._closing.is_set():
                return
            await self._purge_if_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.poll_interval_s)

    async def _purge_if_due(self) -> None:
        """Once an hour, when idle: forget messages published ``keep_published_days`` ago."""
        now = time.monotonic()
        if self._purged_at is not None and now - self._purged_at < PURGE_EVERY_S:
            return
        self._purged_at = now
        before = utcnow() - timedelta(days=self.settings.keep_published_days)
        purged = await self.database.run(lambda s: outbox.purge_published(s, before=before))
        if purged:
            logger.info("event bus: %d published message(s) older than %s purged", purged, before)

    async def _publish(self, rows: list[OutboxMessage], send: Send | None) -> None:
        """Send ``rows`` in order, one acknowledged before the next, while this bus holds the
        lease; mark each as soon as the broker acknowledged it (in-process: all at the end)."""
        done: list[int] = []
        marked = 0
        try:
            for row in rows:
                assert row.id is not None  # noqa: S101 (a stored row)
                if not await self._hold_lease():
                    return
                data = _encode(row.payload)
                if send is not None:
                    try:
                        await send(row.topic, data)
                    except ValueError as error:  # paho: a topic or payload no broker takes
                        logger.error(
                            "event bus: outbox message %d (topic %r) can never be published: "
                            "%s; skipped and marked so that it does not hold up the others",
                            row.id,
                            row.topic,
                            error,
                        )
                        done.append(row.id)
                        continue
                done.append(row.id)
                if send is not None:
                    await self._mark(done[marked:], [])
                    marked = len(done)
                for subscription in list(self._subscriptions):
                    subscription.offer(data)
        finally:
            failed = [row.id for row in rows[len(done) : len(done) + 1] if row.id is not None]
            if not self.relaying:
                failed = []  # stopped for the lease, not for a failed send
            await self._mark(done[marked:], failed)

    async def _mark(self, done: list[int], failed: list[int]) -> None:
        if not done and not failed:
            return
        at = utcnow()

        def settle(session: Session) -> None:
            outbox.mark_published(session, done, at)
            outbox.note_failed_attempt(session, failed)

        await self.database.run(settle)

    async def _closing_within(self, delay_s: float) -> bool:
        """Wait ``delay_s``; True as soon as the bus is closing."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), delay_s)
        return self._closing.is_set()
