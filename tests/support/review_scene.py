"""What the review tests add to the served workspace: a playable recording with the events of
its call, a reply holding a script and remote images, and contacts assigned to auditors."""

from __future__ import annotations

import math
import struct
import uuid
import wave
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from storage import attempts
from storage.db import session_scope
from storage.models import Attempt, Event, Probe, Recording, Reply, Review, Structure

SAMPLE_RATE_HZ = 8000
RECORDING_S = 20
KEYED_AT_S = 8.0
REMOTE_HOST = "tracker.remote.example"

HOSTILE_REPLY = f"""From: Mairie <contact@mairie.example>
To: marie@probes.example
Subject: =?utf-8?q?R=C3=A9ponse_=C3=A0_votre_demande?=
Date: Tue, 05 May 2026 10:00:00 +0200
Message-ID: <reponse-1@mairie.example>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><head><script>window.pwned = "head";</script>
<link rel="stylesheet" href="http://{REMOTE_HOST}/style.css"></head>
<body onload="window.pwned='onload'">
<p>Madame, nous avons bien reçu votre demande d'acte de naissance.</p>
<img src="http://{REMOTE_HOST}/pixel.gif" alt="suivi">
<img src="https://{REMOTE_HOST}/logo.png" alt="logo">
<p style="background:url(http://{REMOTE_HOST}/bg.png)">Cordialement, l'état civil.</p>
<form action="http://{REMOTE_HOST}/login"><input name="mdp" type="password"></form>
<iframe src="http://{REMOTE_HOST}/frame"></iframe>
<script>window.pwned = "body"; new Image().src = "http://{REMOTE_HOST}/beacon";</script>
</body></html>
"""


def write_wav(path: Path, seconds: int = RECORDING_S) -> None:
    """A mono 16-bit WAV: a tone whose loudness rises and falls every few seconds."""
    frames = bytearray()
    for n in range(seconds * SAMPLE_RATE_HZ):
        t = n / SAMPLE_RATE_HZ
        loudness = 0.2 + 0.7 * abs(math.sin(t / 2))
        frames += struct.pack("<h", int(32767 * loudness * math.sin(2 * math.pi * 440 * t)))
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SAMPLE_RATE_HZ)
        writer.writeframes(bytes(frames))


@dataclass(frozen=True)
class RecordedCall:
    """An answered call with a playable recording: its probe and structure."""

    probe_id: uuid.UUID
    official_id: str
    name: str


def playable_call(engine: Engine) -> RecordedCall:
    """The first recorded call made playable: a real WAV, and the greeting, the key pressed and
    the transfer asked in its events (``KEYED_AT_S`` seconds into the recording)."""
    with session_scope(engine) as session:
        recording = session.scalars(select(Recording).order_by(col(Recording.id))).first()
        assert recording is not None and recording.media_path and recording.attempt_id
        path = Path(recording.media_path)
        write_wav(path)
        recording.size_bytes = path.stat().st_size
        recording.duration_seconds = float(RECORDING_S)
        answered = session.scalars(
            select(Event)
            .where(col(Event.attempt_id) == recording.attempt_id)
            .where(col(Event.kind) == "call.answered")
        ).one()
        for kind, after_s, payload in (
            ("call.heard", 2.0, {"phase": "greeting", "speech": "Mairie, bonjour, tapez 1",
                                 "heard": "ivr", "confidence": "0.9"}),
            ("call.keyed", KEYED_AT_S, {"digits": "1", "level": 1}),
            ("call.transfer_requested", KEYED_AT_S + 1, {"via": "menu", "level": 1}),
        ):  # fmt: skip
            at = answered.received_at + timedelta(seconds=after_s)
            attempts.record_event(
                session, publish_prefix="prober", kind=kind, source="prober", source_at=at,
                received_at=at, dedup_key=f"review-test:{recording.attempt_id}:{kind}",
                payload=payload, probe_id=recording.probe_id, attempt_id=recording.attempt_id,
            )  # fmt: skip
        probe = session.get(Probe, recording.probe_id)
        assert probe is not None
        structure = session.get(Structure, probe.structure_id)
        assert structure is not None
        return RecordedCall(probe.id, structure.official_id, structure.name)


def hostile_reply(engine: Engine, replies_dir: Path) -> RecordedCall:
    """A reply holding scripts, a form and remote images, stored for the first email probe
    whose attempt was sent; the attempt marked replied."""
    with session_scope(engine) as session:
        attempt, probe = session.execute(
            select(Attempt, Probe)
            .join(Probe, col(Probe.id) == col(Attempt.probe_id))
            .where(col(Probe.channel) == "email")
            .order_by(col(Probe.id))
        ).first()  # type: ignore[misc]
        raw = HOSTILE_REPLY.replace("\n", "\r\n").encode()
        path = replies_dir / str(probe.id) / "reponse.eml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
        attempt.outcome = "replied"
        session.add(
            Reply(
                probe_id=probe.id, attempt_id=attempt.id, channel="email",
                message_id="reponse-1@mairie.example", sha256=uuid.uuid4().hex * 2,
                sender="contact@mairie.example", subject="Réponse à votre demande",
                received_at=attempt.started_at + timedelta(hours=5), classification="human_reply",
                raw_path=str(path), raw_size_bytes=len(raw),
            )
        )  # fmt: skip
        structure = session.get(Structure, probe.structure_id)
        assert structure is not None
        return RecordedCall(probe.id, structure.official_id, structure.name)


def reviews_of(engine: Engine, probe_id: uuid.UUID) -> list[tuple[str, str, str, str]]:
    """(reviewer, criterion, verdict, kind) of every review of a probe, in order."""
    with Session(engine) as session:
        rows = session.scalars(
            select(Review).where(col(Review.probe_id) == probe_id).order_by(col(Review.id))
        )
        return [(r.reviewer, r.criterion_id, r.verdict, r.kind) for r in rows]
