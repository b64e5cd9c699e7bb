"""MQTT over TLS: the bus against a real Mosquitto serving a certificate of a throw-away CA."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine

from config.settings import MqttSettings
from prober.errors import ProberError
from prober.project.database import Database
from prober.runtime.bus import EventBus, tls_context
from storage import attempts, outbox
from storage.db import session_scope
from storage.outbox import ProbePlace
from storage.types import utcnow
from tests.support.leaks import no_unclosed_resources
from tests.support.mosquitto import Mosquitto

PREFIX = "prober"
WAIT_S = 30.0  # a failure bound, never a measure of speed


@dataclass(frozen=True)
class Pki:
    """A CA and the certificates it signed, as PEM files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _signed(directory: Path, ca: Path, ca_key: Path, name: str, extensions: str) -> Path:
    """A certificate for a new EC key ``<name>.key``, signed by the CA, valid one day."""
    key, request, cert = (directory / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(request), "-subj", f"/CN={name}",
    )  # fmt: skip
    extfile = directory / f"{name}.ext"
    extfile.write_text(extensions + "\nauthorityKeyIdentifier=keyid\nbasicConstraints=CA:FALSE\n")
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "1", "-out", str(cert), "-extfile", str(extfile),
    )  # fmt: skip
    return cert


def make_pki(directory: Path) -> Pki:
    """A throw-away CA, a server certificate for 127.0.0.1 and a client certificate."""
    directory.mkdir(parents=True)
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(ca_key), "-out", str(ca), "-days", "1", "-subj", "/CN=prober test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
    )  # fmt: skip
    server = _signed(
        directory, ca, ca_key, "server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"
    )
    client = _signed(directory, ca, ca_key, "client", "extendedKeyUsage=clientAuth")
    return Pki(ca, server, directory / "server.key", client, directory / "client.key")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Pki) -> Iterator[Mosquitto]:
    """Mosquitto serving TLS only, with the server certificate, asking every client for a
    certificate of the same CA."""
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.config_path.write_text(
        broker.config_path.read_text()
        + f"cafile {pki.ca}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\n"
        + "require_certificate true\n"
    )
    broker.start()
    yield broker
    broker.stop()


def _announce(engine: Engine, probe_id: uuid.UUID) -> uuid.UUID:
    """Store one event of a probe the way the probes do; its message waits in the outbox."""
    with session_scope(engine) as session:
        attempts.record_event(
            session,
            publish_prefix=PREFIX,
            kind="call.ringing",
            source="test",
            source_at=utcnow(),
            received_at=utcnow(),
            dedup_key=f"test:{uuid.uuid4()}",
            payload={},
            probe_id=probe_id,
        )
    with session_scope(engine) as session:
        [message] = outbox.pending(session, limit=10)
    return uuid.UUID(message.payload["id"])


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {WAIT_S} s, still not: {what}")
        await asyncio.sleep(0.02)


async def test_events_reach_a_tls_broker_that_asks_for_a_client_certificate(
    engine: Engine, event_probes: dict[uuid.UUID, ProbePlace], tls_broker: Mosquitto, pki: Pki
) -> None:
    probe_id = next(iter(event_probes))
    event_id = _announce(engine, probe_id)
    settings = MqttSettings(
        host=tls_broker.host,
        port=tls_broker.port,
        topic_prefix=PREFIX,
        tls=True,
        ca_file=Path(pki.ca.name),  # relative: under the project folder
        cert_file=pki.client_cert,
        key_file=pki.client_key,
    )
    subscriber_tls = ssl.create_default_context(cafile=pki.ca)
    subscriber_tls.load_cert_chain(pki.client_cert, pki.client_key)

    async def scene() -> dict[str, object]:
        async with aiomqtt.Client(
            tls_broker.host, tls_broker.port, tls_context=subscriber_tls
        ) as subscriber:
            await subscriber.subscribe(f"{PREFIX}/#", qos=1)
            with closing(Database(engine)) as database:
                async with EventBus(settings, database, base_dir=pki.ca.parent):
                    async with asyncio.timeout(WAIT_S):
                        async for message in subscriber.messages:
                            assert isinstance(message.payload, bytes)
                            received: dict[str, object] = json.loads(message.payload)
                            return received
        raise AssertionError("the subscription ended without a message")

    received = await scene()
    assert received["id"] == str(event_id)
    assert "New connection from 127.0.0.1" in tls_broker.log_tail(200)


async def test_a_broker_certificate_of_another_ca_is_refused_and_the_message_waits(
    engine: Engine,
    event_probes: dict[uuid.UUID, ProbePlace],
    tls_broker: Mosquitto,
    pki: Pki,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stranger = make_pki(tmp_path / "stranger")
    _announce(engine, next(iter(event_probes)))
    settings = MqttSettings(
        host=tls_broker.host,
        port=tls_broker.port,
        topic_prefix=PREFIX,
        tls=True,
        ca_file=stranger.ca,
        cert_file=pki.client_cert,
        key_file=pki.client_key,
    )

    async def scene() -> int:
        with closing(Database(engine)) as database:
            async with EventBus(settings, database, reconnect_max_s=1.0, flush_timeout_s=0.5):
                await _until(lambda: "TLS handshake" in caplog.text, "a TLS failure logged")
            return await database.run(outbox.count_pending)

    # paho-mqtt 2.2 leaves the socket of a failed handshake open (EventBus closes it).
    with no_unclosed_resources(), caplog.at_level(logging.WARNING, logger="prober.runtime.bus"):
        pending = await scene()
    assert "check mqtt.ca_file" in caplog.text
    assert "certificate verify failed" in caplog.text
    assert pending == 1


def test_tls_files_are_checked_when_the_bus_is_built(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="ca_file set but tls is false: set tls = true"):
        MqttSettings(host="broker", ca_file=Path("ca.crt"))
    with pytest.raises(ValidationError, match="needs both cert_file and key_file"):
        MqttSettings(host="broker", tls=True, cert_file=Path("client.crt"))
    with pytest.raises(ProberError, match=r"mqtt\.ca_file: no file .*missing\.crt"):
        tls_context(MqttSettings(host="broker", tls=True, ca_file=Path("missing.crt")), tmp_path)
    assert tls_context(MqttSettings(host="broker"), tmp_path) is None
