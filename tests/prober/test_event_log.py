"""Every fact prober stores is announced: each event has its message in the outbox."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

import prober
from storage import attempts, mail
from storage.models import Event, OutboxMessage, ProbeState, Reply
from storage.types import utcnow
from tests.support.cli import Run
from tests.support.email_scene import MailTarget, seed_email_probes

PROBER = Path(prober.__file__).parent


def _unconfirmed_email_and_a_stray_reply(engine: Engine) -> tuple[uuid.UUID, int]:
    """An email whose send a crash left uncertain, and an unmatched reply that answers it."""
    (probe_id,) = seed_email_probes(engine, "marie@prober.test", [MailTarget("mairie@x.test")])
    composed_at = utcnow() - timedelta(hours=2)
    with Session(engine) as session:
        attempt = attempts.start_attempt(session, probe_id)
        assert attempt.id is not None
        attempts.record_event(
            session,
            publish_prefix="prober",
            kind="email.composed",
            source="prober",
            source_at=composed_at,
            received_at=composed_at,
            clock="receipt",
            dedup_key=f"attempt:{attempt.id}:composed",
            payload={},
            probe_id=probe_id,
            attempt_id=attempt.id,
        )
        attempts.finish_attempt(
            session,
            attempt.id,
            outcome="uncertain",
            ended_at=composed_at,
            measurement={"outcome": "uncertain"},
            probe_state=ProbeState.FAILED,
        )
        reply = mail.add_reply(
            session,
            Reply(
                channel="email",
                sha256="0" * 64,
                sender="secretariat@x.test",
                subject="Votre demande",
                received_at=utcnow(),
                classification="human_reply",
            ),
        )
        assert reply.id is not None
        session.commit()
        return probe_id, reply.id


def test_replies_assign_announces_the_send_it_infers(prober_cli: Run, engine: Engine) -> None:
    probe_id, reply_id = _unconfirmed_email_and_a_stray_reply(engine)

    assigned = prober_cli("replies", "assign", str(reply_id), str(probe_id))

    assert assigned.exit_code == 0, assigned.stderr
    with Session(engine) as session:
        sent = session.exec(
            select(Event).where(col(Event.probe_id) == probe_id, col(Event.kind) == "email.sent")
        ).one()
        assert sent.source == "reply"
        message = session.exec(
            select(OutboxMessage).where(col(OutboxMessage.event_id) == sent.id)
        ).one()
        assert message.topic.endswith("/email/email.sent")
        assert message.payload["id"] == str(sent.id)
        assert message.payload["probe"] == str(probe_id)
        announced = {m.event_id for m in session.exec(select(OutboxMessage))}
        assert {e.id for e in session.exec(select(Event))} <= announced


def test_only_the_event_log_writes_events() -> None:
    """The probes write through EventLog, which always announces: no other call site in prober."""
    writers = sorted(
        str(path.relative_to(PROBER))
        for path in PROBER.rglob("*.py")
        if re.search(r"\brecord_event\(", path.read_text(encoding="utf-8"))
    )
    assert writers == ["probes/events.py"]
