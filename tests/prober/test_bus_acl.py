"""The example broker ACL (docs/examples/mosquitto-acl.conf) on a real Mosquitto: only the
control user may pause a wave; dashboards read the events."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import aiomqtt
from pydantic import SecretStr
from sqlalchemy import Engine

from config.settings import MqttSettings
from prober.project.database import Database
from prober.runtime.bus import EventBus, control_topic
from storage import attempts
from storage.db import session_scope
from storage.types import utcnow
from tests.support.mosquitto import Mosquitto

ACL = Path(__file__).parents[2] / "docs" / "examples" / "mosquitto-acl.conf"
USERS = {"prober": "prober-pw", "ops-control": "ops-pw", "dashboard": "dashboard-pw"}
WAIT_S = 30.0  # a failure bound, never a measure of speed


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {WAIT_S} s, still not: {what}")
        await asyncio.sleep(0.02)


def _client(broker: Mosquitto, user: str) -> aiomqtt.Client:
    # MQTT 5: the broker answers a refused publish with a reason code instead of dropping it.
    return aiomqtt.Client(
        broker.host,
        broker.port,
        username=user,
        password=USERS[user],
        protocol=aiomqtt.ProtocolVersion.V5,
    )


async def _publish_as_intruder(broker: Mosquitto) -> None:
    """A dashboard tries to pause a wave. The broker answers PUBACK "not authorized" (so it has
    dealt with it before anything published next), after which paho drops the connection."""
    with contextlib.suppress(aiomqtt.MqttError):
        async with _client(broker, "dashboard") as intruder:
            await intruder.publish("prober/control/from-dashboard/pause", b"", qos=1)


async def test_only_the_control_user_pauses_a_wave_and_dashboards_read_events(
    engine: Engine, event_probes: dict[object, object], tmp_path: Path
) -> None:
    broker = Mosquitto(tmp_path / "mosquitto", users=USERS)
    broker.config_path.write_text(broker.config_path.read_text() + f"acl_file {ACL}\n")
    broker.start()
    settings = MqttSettings(
        host=broker.host, port=broker.port, username="prober", password=SecretStr("prober-pw")
    )
    controls: list[tuple[str, str]] = []

    async def on_control(wave: str, action: str) -> None:
        controls.append((wave, action))

    async def scene() -> tuple[list[tuple[str, str]], dict[str, object]]:
        with closing(Database(engine)) as database:
            async with (
                EventBus(settings, database, on_control=on_control, reconnect_max_s=1.0) as bus,
                _client(broker, "ops-control") as ops,
                _client(broker, "dashboard") as dashboard,
            ):
                await dashboard.subscribe("prober/#", qos=1)
                # The bus subscribes once connected: the operator knocks until it answers.
                for knock in itertools.count():
                    if controls:
                        break
                    await ops.publish(control_topic("prober", f"knock-{knock}", "pause"), qos=1)
                    await asyncio.sleep(0.1)
                await _publish_as_intruder(broker)
                await ops.publish("prober/control/from-ops/pause", b"", qos=1)
                await _until(lambda: ("from-ops", "pause") in controls, "the operator's pause")
                seen = [call for call in controls if not call[0].startswith("knock-")]
                with session_scope(engine) as session:
                    attempts.record_event(
                        session,
                        publish_prefix="prober",
                        kind="call.ringing",
                        source="test",
                        source_at=utcnow(),
                        received_at=utcnow(),
                        dedup_key="acl-test",
                        payload={},
                        probe_id=next(iter(event_probes)),  # type: ignore[arg-type]
                    )
                bus.wake()
                async with asyncio.timeout(WAIT_S):
                    async for message in dashboard.messages:
                        if "/control/" not in message.topic.value:
                            assert isinstance(message.payload, bytes)
                            event: dict[str, object] = json.loads(message.payload)
                            return seen, event
        raise AssertionError("the dashboard's subscription ended without an event")

    try:
        seen, event = await scene()
    finally:
        broker.stop()
    assert seen == [("from-ops", "pause")]
    assert event["kind"] == "call.ringing"
