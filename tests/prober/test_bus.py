"""The event bus against a real Mosquitto on loopback: every event arrives, in order per probe,
whatever the broker does; without a broker, in-process subscribers get everything."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select

from config.settings import MqttSettings
from prober.errors import ProberError
from prober.project.database import Database
from prober.runtime.bus import EventBus, control_topic
from storage import outbox
from storage.models import Event, OutboxMessage
from storage.outbox import ProbePlace
from tests.support.mosquitto import Mosquitto

PREFIX = "prober"
WAIT_S = 60.0  # generous failure bound when waiting for messages; never a measure of speed
START = datetime(2027, 3, 2, 8, 0, tzinfo=UTC)
BURST = 1000  # events announced at once before the broker is stopped


async def until(condition: Callable[[], bool], what: str, *, timeout_s: float = WAIT_S) -> None:
    """Polls ``condition`` until it holds; fails after ``timeout_s`` (a bound, not a measure)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout_s} s, still not: {what}")
        await asyncio.sleep(0.02)


def broker_settings(broker: Mosquitto) -> MqttSettings:
    return MqttSettings(host=broker.host, port=broker.port, topic_prefix=PREFIX)


def fast_bus(settings: MqttSettings, database: Database, **options: Any) -> EventBus:
    """A bus that retries often, so that the tests do not wait for its 30 s backoff cap."""
    return EventBus(settings, database, reconnect_max_s=1.0, **options)


def announce(session: Session, probe_id: uuid.UUID, number: int) -> uuid.UUID:
    """Store event ``number`` of a probe and put it in the outbox, in the caller's transaction."""
    event = Event(
        probe_id=probe_id,
        kind="call.progress",
        source="test",
        source_at=START + timedelta(seconds=number),
        payload={"n": number},
    )
    session.add(event)
    session.flush()
    outbox.enqueue_event(
        session,
        prefix=PREFIX,
        event_id=event.id,
        probe_id=probe_id,
        kind=event.kind,
        source=event.source,
        source_at=event.source_at,
        received_at=event.received_at,
        payload=event.payload,
    )
    return event.id


def interleaved(probe_ids: Iterable[uuid.UUID]) -> Iterable[uuid.UUID]:
    """Probes in an irregular but reproducible order: 0, 1, 1, 2, 2, 2, 3, 4, 4, 5, 5, 5, 0..."""
    probes = list(probe_ids)
    for index in itertools.count():
        yield from [probes[index % len(probes)]] * (1 + index % 3)


@dataclass
class Announced:
    """What was put in the outbox, in order."""

    events: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)  # (event, probe)

    def per_probe(self) -> dict[uuid.UUID, list[uuid.UUID]]:
        order: dict[uuid.UUID, list[uuid.UUID]] = {}
        for event_id, probe_id in self.events:
            order.setdefault(probe_id, []).append(event_id)
        return order


async def produce(
    database: Database,
    bus: EventBus,
    announced: Announced,
    probes: Iterable[uuid.UUID],
    count: int,
    *,
    per_transaction: int = 1,
) -> None:
    """Announce ``count`` events, a few per transaction, waking the bus after each commit."""
    probe_order = iter(probes)
    for _ in range(0, count, per_transaction):
        batch = [next(probe_order) for _ in range(per_transaction)]
        first = len(announced.events)

        def work(
            session: Session, batch: list[uuid.UUID] = batch, first: int = first
        ) -> list[uuid.UUID]:
            return [announce(session, p, first + i) for i, p in enumerate(batch)]

        event_ids = await database.run(work)
        announced.events.extend(zip(event_ids, batch, strict=True))
        bus.wake()


class Recorder:
    """An MQTT subscriber with a persistent session (clean_session=False, QoS 1): the broker
    keeps what is published while it is disconnected, even across a broker restart."""

    def __init__(self, broker: Mosquitto, topic: str = f"{PREFIX}/#") -> None:
        self.broker = broker
        self.topic = topic
        self.identifier = f"recorder-{uuid.uuid4().hex[:8]}"
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        while True:
            client = aiomqtt.Client(
                self.broker.host,
                self.broker.port,
                identifier=self.identifier,
                clean_session=False,
            )
            try:
                async with client:
                    await client.subscribe(self.topic, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        self.received.append((message.topic.value, json.loads(message.payload)))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.05)

    def ids(self) -> set[uuid.UUID]:
        return {uuid.UUID(payload["id"]) for _, payload in self.received}

    def first_arrivals(self) -> list[tuple[str, dict[str, Any]]]:
        """What was received, each event id kept at its first arrival only."""
        seen: set[str] = set()
        firsts = []
        for topic, payload in self.received:
            if payload["id"] not in seen:
                seen.add(payload["id"])
                firsts.append((topic, payload))
        return firsts


@asynccontextmanager
async def recording(broker: Mosquitto) -> AsyncIterator[Recorder]:
    recorder = Recorder(broker)
    task = asyncio.create_task(recorder.run())
    try:
        await asyncio.wait_for(recorder.subscribed.wait(), WAIT_S)
        yield recorder
    finally:
        task.cancel()
        await asyncio.wait({task})


def assert_all_delivered_in_order(
    recorder: Recorder, announced: Announced, places: dict[uuid.UUID, ProbePlace]
) -> None:
    expected = {event_id for event_id, _ in announced.events}
    assert recorder.ids() == expected
    firsts = recorder.first_arrivals()
    assert len(firsts) == len(expected)
    arrived: dict[uuid.UUID, list[uuid.UUID]] = {}
    for topic, payload in firsts:
        probe_id = uuid.UUID(payload["probe"])
        assert topic == places[probe_id].topic(PREFIX, "call.progress")
        arrived.setdefault(probe_id, []).append(uuid.UUID(payload["id"]))
    assert arrived == announced.per_probe()


async def outbox_empties(database: Database) -> None:
    deadline = time.monotonic() + WAIT_S
    while (left := await database.run(outbox.count_pending)) != 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"{left} message(s) still in the outbox after {WAIT_S} s")
        await asyncio.sleep(0.05)


async def test_every_event_reaches_a_subscriber_once_after_deduplication_in_order_per_probe(
    engine: Engine, event_probes: dict[uuid.UUID, ProbePlace], mosquitto: Mosquitto
) -> None:
    announced = Announced()

    async def scenario() -> Recorder:
        database = Database(engine)
        try:
            async with (
                recording(mosquitto) as recorder,
                fast_bus(broker_settings(mosquitto), database) as bus,
            ):
                await produce(
                    database, bus, announced, interleaved(event_probes), 300, per_transaction=5
                )
                await until(lambda: len(recorder.ids()) == 300, "all 300 events received")
                await outbox_empties(database)
            return recorder
        finally:
            database.close()

    recorder = await scenario()
    assert_all_delivered_in_order(recorder, announced, event_probes)
    [(topic, message)] = recorder.first_arrivals()[:1]
    assert topic.startswith(f"{PREFIX}/2027-pre/")
    assert set(message) == {
        "id",
        "kind",
        "probe",
        "wave",
        "structure",
        "channel",
        "source",
        "source_at",
        "received_at",
        "payload",
    }


async def test_a_broker_stopped_mid_stream_delays_events_without_losing_or_reordering_them(
    engine: Engine,
    event_probes: dict[uuid.UUID, ProbePlace],
    mosquitto: Mosquitto,
    caplog: pytest.LogCaptureFixture,
) -> None:
    announced = Announced()

    async def scenario() -> tuple[Recorder, int, int, int]:
        database = Database(engine)
        try:
            async with (
                recording(mosquitto) as recorder,
                fast_bus(broker_settings(mosquitto), database) as bus,
            ):
                probes = interleaved(event_probes)
                # A burst, so that the broker stops while the bus publishes at full speed...
                await produce(database, bus, announced, probes, BURST, per_transaction=50)
                stop_producing = asyncio.Event()

                async def producer() -> None:
                    while not stop_producing.is_set():
                        await produce(database, bus, announced, probes, 1)
                        await asyncio.sleep(0.002)

                # ... then a trickle that goes on whatever the broker does.
                producing = asyncio.create_task(producer())
                await until(lambda: len(recorder.ids()) >= 100, "100 events received")
                await asyncio.to_thread(mosquitto.stop)
                received_before_restart = len(recorder.ids())
                stopped_at = len(announced.events)
                await until(lambda: not bus.connected, "the bus noticed the broker is gone")
                await until(
                    lambda: "cannot connect to MQTT broker" in caplog.text,
                    "the bus failed to reconnect at least once",
                )
                # Producers are never held up: events keep being stored while nothing publishes.
                await until(
                    lambda: len(announced.events) >= stopped_at + 100,
                    "100 more events announced while the broker is down",
                )
                waiting = await database.run(outbox.count_pending)
                assert not mosquitto.running
                await asyncio.to_thread(mosquitto.start)
                restarted_at = len(announced.events)
                await until(
                    lambda: len(announced.events) >= restarted_at + 60,
                    "60 more events announced after the restart",
                )
                stop_producing.set()
                await producing
                total = len(announced.events)
                await until(lambda: len(recorder.ids()) == total, f"all {total} events received")
                await outbox_empties(database)
            return recorder, received_before_restart, waiting, total
        finally:
            database.close()

    recorder, received_before_restart, waiting, total = await scenario()
    assert received_before_restart < BURST, "the broker stopped after the burst was published"
    assert waiting >= 100
    assert total >= BURST + 160
    assert_all_delivered_in_order(recorder, announced, event_probes)


async def test_a_bus_started_while_the_broker_is_down_keeps_events_for_later(
    engine: Engine,
    event_probes: dict[uuid.UUID, ProbePlace],
    mosquitto: Mosquitto,
    caplog: pytest.LogCaptureFixture,
) -> None:
    announced = Announced()
    mosquitto.stop()

    async def while_down(database: Database) -> int:
        async with fast_bus(broker_settings(mosquitto), database, flush_timeout_s=1.0) as bus:
            await produce(database, bus, announced, interleaved(event_probes), 30)
            await until(
                lambda: "cannot connect to MQTT broker" in caplog.text, "a reconnection warning"
            )
        # The bus stopped without publishing: the events wait in the outbox.
        left: int = await database.run(outbox.count_pending)
        return left

    async def once_up(database: Database) -> Recorder:
        await asyncio.to_thread(mosquitto.start)
        async with recording(mosquitto) as recorder, fast_bus(broker_settings(mosquitto), database):
            await until(lambda: len(recorder.ids()) == 30, "the 30 kept events received")
            await outbox_empties(database)
        return recorder

    async def scenario() -> tuple[int, Recorder]:
        database = Database(engine)
        try:
            return await while_down(database), await once_up(database)
        finally:
            database.close()

    left, recorder = await scenario()
    assert left == 30
    assert f"{mosquitto.host}:{mosquitto.port}" in caplog.text
    assert "check mqtt.host and mqtt.port" in caplog.text
    assert "stopped with 30 message(s) still in the outbox" in caplog.text
    assert_all_delivered_in_order(recorder, announced, event_probes)


async def test_leaving_the_bus_publishes_what_is_pending_first(
    engine: Engine, event_probes: dict[uuid.UUID, ProbePlace], mosquitto: Mosquitto
) -> None:
    announced = Announced()

    async def scenario() -> tuple[Recorder, int]:
        database = Database(engine)
        try:
            async with recording(mosquitto) as recorder:
                async with fast_bus(broker_settings(mosquitto), database) as bus:
                    await produce(database, bus, announced, interleaved(event_probes), 20)
                left: int = await database.run(outbox.count_pending)
                await until(lambda: len(recorder.ids()) == 20, "the 20 events received")
            return recorder, left
        finally:
            database.close()

    recorder, left = await scenario()
    assert left == 0
    assert_all_delivered_in_order(recorder, announced, event_probes)


async def test_without_a_broker_in_process_subscribers_get_everything(
    engine: Engine, event_probes: dict[uuid.UUID, ProbePlace]
) -> None:
    announced = Announced()

    async def scenario() -> tuple[list[dict[str, Any]], int]:
        database = Database(engine)
        try:
            async with EventBus(MqttSettings(host=""), database) as bus:
                subscription = bus.subscribe()
                await produce(
                    database, bus, announced, interleaved(event_probes), 120, per_transaction=4
                )
                received = [await asyncio.wait_for(anext(subscription), WAIT_S) for _ in range(120)]
                await outbox_empties(database)
            # Iteration ends with the bus.
            rest = [message async for message in subscription]
            assert rest == []
            return received, await database.run(outbox.count_pending)
        finally:
            database.close()

    received, left = await scenario()
    assert left == 0
    assert [uuid.UUID(m["id"]) for m in received] == [e for e, _ in announced.events]
    assert {m["wave"] for m in received} == {"2027-pre"}


async def test_a_slow_subscriber_loses_its_oldest_messages_and_holds_up_nothing(
    engine: Engine, event_probes: dict[uuid.UUID, ProbePlace], caplog: pytest.LogCaptureFixture
) -> None:
    announced = Announced()

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        database = Database(engine)
        try:
            async with EventBus(MqttSettings(host=""), database) as bus:
                slow = bus.subscribe(queue_size=10)
                fast = bus.subscribe()
                await produce(
                    database, bus, announced, interleaved(event_probes), 50, per_transaction=5
                )
                everything = [await asyncio.wait_for(anext(fast), WAIT_S) for _ in range(50)]
                await outbox_empties(database)
            return everything, [message async for message in slow]
        finally:
            database.close()

    everything, late = await scenario()
    assert len(everything) == 50
    assert late == everything[-10:]
    assert "an in-process subscriber is 10 message(s) behind" in caplog.text


async def test_control_topics_call_the_application(
    engine: Engine, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[tuple[str, str]] = []

    def commands() -> list[tuple[str, str]]:
        return [call for call in calls if not call[0].startswith("knock-")]

    async def on_control(wave: str, action: str) -> None:
        calls.append((wave, action))

    async def scenario() -> None:
        database = Database(engine)
        try:
            async with (
                fast_bus(broker_settings(mosquitto), database, on_control=on_control),
                aiomqtt.Client(mosquitto.host, mosquitto.port) as operator,
            ):
                # The bus subscribes once connected: knock until it answers.
                for knock in itertools.count():
                    if calls:
                        break
                    await operator.publish(control_topic(PREFIX, f"knock-{knock}", "pause"), qos=1)
                    await asyncio.sleep(0.1)
                await operator.publish(f"{PREFIX}/control/2027-pre/pause", b"", qos=1)
                await operator.publish(f"{PREFIX}/control/2027-pre/stop", b"", qos=1)
                await operator.publish(control_topic(PREFIX, "a/b+", "resume"), qos=1)
                await until(lambda: len(commands()) == 2, "two control calls")
        finally:
            database.close()

    await scenario()
    assert commands() == [("2027-pre", "pause"), ("a/b+", "resume")]
    assert f"ignored {PREFIX}/control/2027-pre/stop" in caplog.text


@pytest.mark.services  # its own broker, with passwords
async def test_the_bus_logs_in_with_the_configured_credentials(
    engine: Engine,
    event_probes: dict[uuid.UUID, ProbePlace],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = Mosquitto(tmp_path / "private-broker", users={"prober": "s3cret"})
    broker.start()
    announced = Announced()

    def settings(password: str) -> MqttSettings:
        return MqttSettings(
            host=broker.host, port=broker.port, username="prober", password=SecretStr(password)
        )

    async def scenario() -> tuple[int, int]:
        database = Database(engine)
        try:
            async with fast_bus(settings("wrong"), database) as bus:
                await produce(database, bus, announced, interleaved(event_probes), 5)
                await until(lambda: "refused the connection" in caplog.text, "a refusal logged")
            refused_left: int = await database.run(outbox.count_pending)
            async with fast_bus(settings("s3cret"), database):
                await outbox_empties(database)
            return refused_left, await database.run(outbox.count_pending)
        finally:
            database.close()

    try:
        refused_left, left = await scenario()
    finally:
        broker.stop()
    assert (refused_left, left) == (5, 0)
    assert "check mqtt.username and the password (PROBER_MQTT__PASSWORD)" in caplog.text
    assert "s3cret" not in caplog.text


def test_a_topic_prefix_with_wildcards_is_refused(engine: Engine) -> None:
    database = Database(engine)
    try:
        with pytest.raises(ProberError, match=r"mqtt.topic_prefix 'prober/\+'"):
            EventBus(MqttSettings(topic_prefix="prober/+"), database)
    finally:
        database.close()


async def test_the_bus_purges_messages_published_long_ago(engine: Engine) -> None:
    now = datetime.now(UTC)
    with Session(engine) as session:
        for number in range(3):
            outbox.enqueue(session, topic=f"prober/system/t{number}", payload={"n": number})
        session.commit()
        old, recent, _ = outbox.pending(session, limit=3)
        assert old.id is not None and recent.id is not None
        outbox.mark_published(session, [old.id], now - timedelta(days=8))
        outbox.mark_published(session, [recent.id], now - timedelta(days=6))
        session.commit()

    async def scenario() -> list[int]:
        database = Database(engine)
        try:
            async with EventBus(MqttSettings(host="", keep_published_days=7), database):
                # The pending message is published first, then the idle bus purges.
                deadline = time.monotonic() + WAIT_S
                while time.monotonic() < deadline:
                    rows = await database.run(
                        lambda s: [m.payload["n"] for m in s.exec(select(OutboxMessage))]
                    )
                    if rows == [1, 2]:
                        break
                    await asyncio.sleep(0.05)
                return sorted(rows)
        finally:
            database.close()

    assert await scenario() == [1, 2]
