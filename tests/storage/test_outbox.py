"""The outbox: messages written with the facts they announce, read back oldest first, marked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from storage import outbox
from storage.attempts import record_event
from storage.db import session_scope
from storage.errors import NotFoundError
from storage.models import Event, OutboxMessage
from storage.outbox import ProbePlace

SOURCE_AT = datetime(2027, 3, 2, 8, 15, 3, 250000, tzinfo=UTC)
RECEIVED_AT = datetime(2027, 3, 2, 8, 15, 4, tzinfo=UTC)


def test_an_event_of_a_probe_goes_to_its_wave_structure_and_channel(
    engine: Engine, event_probes: dict[uuid.UUID, ProbePlace]
) -> None:
    probe_id, place = next((p, pl) for p, pl in event_probes.items() if pl.channel == "phone")
    event_id = uuid.uuid4()
    with session_scope(engine) as session:
        outbox.enqueue_event(
            session,
            prefix="prober",
            event_id=event_id,
            probe_id=probe_id,
            kind="call.answered",
            source="twilio",
            source_at=SOURCE_AT,
            received_at=RECEIVED_AT,
            payload={"rings": 3},
        )
    with session_scope(engine) as session:
        [message] = outbox.pending(session, limit=10)
    assert message.topic == f"prober/2027-pre/{place.structure}/phone/call.answered"
    assert message.event_id == event_id
    assert message.payload == {
        "id": str(event_id),
        "kind": "call.answered",
        "probe": str(probe_id),
        "wave": "2027-pre",
        "structure": place.structure,
        "channel": "phone",
        "source": "twilio",
        "source_at": "2027-03-02T08:15:03.250000+00:00",
        "received_at": "2027-03-02T08:15:04+00:00",
        "payload": {"rings": 3},
    }
    assert (message.published_at, message.attempts) == (None, 0)


def test_an_event_of_no_probe_is_a_system_event(engine: Engine) -> None:
    event_id = uuid.uuid4()
    with session_scope(engine) as session:
        assert (
            outbox.event_topic(session, prefix="acme/prober", probe_id=None, kind="daemon.started")
            == "acme/prober/system/daemon.started"
        )
        outbox.enqueue_event(
            session,
            prefix="acme/prober",
            event_id=event_id,
            probe_id=None,
            kind="daemon.started",
            source="prober",
            source_at=SOURCE_AT,
            received_at=SOURCE_AT,
            payload={},
        )
    with session_scope(engine) as session:
        [message] = outbox.pending(session, limit=10)
    assert message.topic == "acme/prober/system/daemon.started"
    assert message.payload["probe"] is None
    assert message.payload["wave"] is None


def test_an_unknown_probe_has_no_topic(engine: Engine) -> None:
    missing = uuid.uuid4()
    with session_scope(engine) as session, pytest.raises(NotFoundError, match=str(missing)):
        outbox.event_topic(session, prefix="prober", probe_id=missing, kind="call.answered")


def test_names_never_add_topic_levels_or_wildcards() -> None:
    place = ProbePlace(wave="2027/pré+#", structure="210", channel="phone")
    topic = place.topic("prober", "call.answered")
    assert topic == "prober/2027%2Fpré%2B%23/210/phone/call.answered"
    assert outbox.unquote_level(topic.split("/")[1]) == "2027/pré+#"
    assert outbox.unquote_level(outbox.topic_level("100%")) == "100%"
    assert outbox.wave_topic(prefix="prober", wave="a/b", kind="progress") == (
        "prober/a%2Fb/progress"
    )


@pytest.mark.parametrize(
    ("topic", "problem"),
    [("", "empty"), ("prober/+/x", "wildcard"), ("prober/#", "wildcard"), ("a" * 501, "longer")],
)
def test_a_topic_no_broker_takes_is_refused_when_enqueued(
    engine: Engine, topic: str, problem: str
) -> None:
    with session_scope(engine) as session, pytest.raises(ValueError, match=problem):
        outbox.enqueue(session, topic=topic, payload={})


def test_the_message_is_written_in_the_transaction_of_its_fact(
    engine: Engine, event_probes: dict[uuid.UUID, ProbePlace]
) -> None:
    probe_id = next(iter(event_probes))
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        record_event(
            session,
            publish_prefix="prober",
            kind="call.ringing",
            source="twilio",
            source_at=SOURCE_AT,
            received_at=RECEIVED_AT,
            dedup_key="CA1:ringing",
            payload={},
            probe_id=probe_id,
        )
        outbox.enqueue(session, topic="prober/x", payload={})
        raise RuntimeError("the transaction fails after both writes")
    with session_scope(engine) as session:
        assert outbox.count_pending(session) == 0
        assert session.exec(select(Event)).all() == []


def test_pending_messages_come_oldest_first_and_leave_once_marked(engine: Engine) -> None:
    with session_scope(engine) as session:
        for number in range(5):
            outbox.enqueue(session, topic=f"prober/t/{number}", payload={"n": number})
    with session_scope(engine) as session:
        first = outbox.pending(session, limit=3)
        assert [m.payload["n"] for m in first] == [0, 1, 2]
        assert outbox.count_pending(session) == 5
    published_at = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)
    with session_scope(engine) as session:
        outbox.mark_published(session, [m.id for m in first if m.id is not None], published_at)
        outbox.note_failed_attempt(session, [m.id for m in first[:1] if m.id is not None])
    with session_scope(engine) as session:
        assert [m.payload["n"] for m in outbox.pending(session, limit=10)] == [3, 4]
        assert outbox.count_pending(session) == 2
        marked = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
    assert [(m.published_at, m.attempts) for m in marked[:3]] == [
        (published_at, 2),
        (published_at, 1),
        (published_at, 1),
    ]
    with session_scope(engine) as session:
        # Marking again (a duplicate acknowledgement) changes nothing.
        outbox.mark_published(session, [m.id for m in first if m.id is not None], RECEIVED_AT)
        outbox.mark_published(session, [], RECEIVED_AT)
        again = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
    assert [m.published_at for m in again[:3]] == [published_at] * 3


def test_published_messages_are_purged_after_a_while_pending_ones_never(engine: Engine) -> None:
    with session_scope(engine) as session:
        for number in range(4):
            outbox.enqueue(session, topic=f"prober/t/{number}", payload={"n": number})
    with session_scope(engine) as session:
        ids = [m.id for m in outbox.pending(session, limit=4) if m.id is not None]
        outbox.mark_published(session, ids[:1], datetime(2027, 3, 1, tzinfo=UTC))
        outbox.mark_published(session, ids[1:2], datetime(2027, 3, 9, tzinfo=UTC))
    with session_scope(engine) as session:
        assert outbox.purge_published(session, before=datetime(2027, 3, 8, tzinfo=UTC)) == 1
    with session_scope(engine) as session:
        left = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
        assert [m.payload["n"] for m in left] == [1, 2, 3]
        assert outbox.count_pending(session) == 2
