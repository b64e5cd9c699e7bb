"""Claiming due probes: only what is due, one probe per structure, leases, and several claimers.

Runs on SQLite and PostgreSQL; the scene comes from tests/support/claims_scene.py.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from storage import attempts
from storage.claims import (
    ClaimedProbe,
    claim_due,
    finish_done_waves,
    finish_wave_if_done,
    release,
    release_expired,
    reschedule,
    set_wave_status,
    wave_progress,
)
from storage.db import make_engine, session_scope, upgrade
from storage.errors import ConflictError, NotFoundError
from storage.models import Probe, ProbeState, WaveStatus
from tests.support.claims_scene import (
    add_probe,
    add_structures,
    add_wave,
    carry_out,
    end_attempt,
    probe_row,
)

T0 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Paris
LEASE = timedelta(minutes=10)


def claim(
    engine: Engine,
    *,
    now: datetime = T0,
    limit: int = 50,
    channels: Sequence[str] = ("phone", "email"),
    daemon_id: str = "d1",
) -> list[ClaimedProbe]:
    with session_scope(engine) as session:
        return claim_due(
            session, now=now, daemon_id=daemon_id, limit=limit, lease=LEASE, channels=channels
        )


# -- claiming ------------------------------------------------------------------------------------


def test_only_due_probes_of_running_waves_on_the_asked_channels_are_claimed(
    engine: Engine,
) -> None:
    running = add_wave(engine, "running")
    paused = add_wave(engine, "paused", status=WaveStatus.PAUSED)
    planned = add_wave(engine, "planned", status=WaveStatus.PLANNED)
    a, b, c, d, e = add_structures(engine, 5)
    due_call = add_probe(engine, running, a, T0 - timedelta(minutes=1))
    add_probe(engine, running, b, T0 + timedelta(seconds=1))  # not due yet
    due_email = add_probe(engine, running, c, T0, channel="email")
    add_probe(engine, paused, d, T0 - timedelta(hours=1))
    add_probe(engine, planned, e, T0 - timedelta(hours=1))

    [claimed] = claim(engine, channels=["phone"])
    assert claimed == ClaimedProbe(
        probe_id=due_call,
        wave_id=running,
        wave_name="running",
        structure_id=a,
        channel="phone",
        slot_kind="open",
        scheduled_at=T0 - timedelta(minutes=1),
        attempt_count=0,
    )
    stored = probe_row(engine, due_call)
    assert (stored.state, stored.claimed_by, stored.lease_until) == (
        ProbeState.DISPATCHING,
        "d1",
        T0 + LEASE,
    )
    assert [p.probe_id for p in claim(engine, channels=["email"])] == [due_email]
    assert claim(engine) == []


def test_oldest_first_up_to_the_limit(engine: Engine) -> None:
    wave = add_wave(engine)
    structures = add_structures(engine, 5)
    probes = [
        add_probe(engine, wave, sid, T0 - timedelta(minutes=minutes))
        for sid, minutes in zip(structures, [3, 50, 7, 20, 1], strict=True)
    ]
    assert [p.probe_id for p in claim(engine, limit=3)] == [probes[1], probes[3], probes[2]]
    assert [p.probe_id for p in claim(engine, limit=3)] == [probes[0], probes[4]]


def test_never_two_probes_of_one_structure_at_once(engine: Engine) -> None:
    wave = add_wave(engine)
    [structure, other] = add_structures(engine, 2)
    first, second, third = (
        add_probe(engine, wave, structure, T0 - timedelta(minutes=m)) for m in (30, 20, 10)
    )
    elsewhere = add_probe(engine, wave, other, T0 - timedelta(minutes=5))

    assert [p.probe_id for p in claim(engine)] == [first, elsewhere]
    assert claim(engine) == []  # `first` is dispatching
    with session_scope(engine) as session:
        attempts.start_attempt(session, first)
    assert claim(engine) == []  # its call is in progress
    with session_scope(engine) as session:
        end_attempt(session, first)
    assert [p.probe_id for p in claim(engine)] == [second]
    with session_scope(engine) as session:
        carry_out(session, second)
    assert [p.probe_id for p in claim(engine)] == [third]


def test_an_email_being_sent_holds_back_a_call_of_its_structure(engine: Engine) -> None:
    wave = add_wave(engine)
    [structure] = add_structures(engine, 1)
    email = add_probe(engine, wave, structure, T0 - timedelta(hours=5), channel="email")
    call = add_probe(engine, wave, structure, T0 - timedelta(minutes=1))
    assert [p.probe_id for p in claim(engine, channels=["phone"])] == [call]
    assert claim(engine, channels=["email"]) == []
    with session_scope(engine) as session:
        carry_out(session, call)
    assert [p.probe_id for p in claim(engine, channels=["email"])] == [email]
    with session_scope(engine) as session:
        attempts.start_attempt(session, email)  # being sent
    assert claim(engine) == []


def test_an_expired_lease_returns_an_unstarted_claim_and_leaves_a_started_one(
    engine: Engine,
) -> None:
    wave = add_wave(engine)
    a, b = add_structures(engine, 2)
    unstarted = add_probe(engine, wave, a, T0)
    started = add_probe(engine, wave, b, T0)
    assert len(claim(engine)) == 2
    with session_scope(engine) as session:
        attempts.start_attempt(session, started)

    with session_scope(engine) as session:
        assert release_expired(session, now=T0 + LEASE - timedelta(seconds=1)) == 0
    with session_scope(engine) as session:
        assert release_expired(session, now=T0 + LEASE) == 1

    back = probe_row(engine, unstarted)
    assert (back.state, back.claimed_by, back.lease_until) == (ProbeState.PLANNED, None, None)
    assert probe_row(engine, started).state == ProbeState.IN_PROGRESS
    [again] = claim(engine, now=T0 + LEASE, daemon_id="d2")
    assert again.probe_id == unstarted
    assert probe_row(engine, unstarted).claimed_by == "d2"


def test_release_and_reschedule(engine: Engine) -> None:
    wave = add_wave(engine)
    a, b = add_structures(engine, 2)
    probe = add_probe(engine, wave, a, T0)
    started = add_probe(engine, wave, b, T0)
    claim(engine)
    with session_scope(engine) as session:
        attempts.start_attempt(session, started)
        assert not release(session, probe, claimed_by="another daemon")
        assert release(session, probe, claimed_by="d1")
        assert not release(session, probe)  # planned already
        assert not release(session, started)  # its attempt started
    assert probe_row(engine, probe).state == ProbeState.PLANNED

    later = T0 + timedelta(days=1)
    claim(engine)
    with session_scope(engine) as session:
        reschedule(session, probe, at=later)
    moved = probe_row(engine, probe)
    assert (moved.state, moved.scheduled_at, moved.claimed_by) == (ProbeState.PLANNED, later, None)
    assert claim(engine) == []
    assert [p.probe_id for p in claim(engine, now=later)] == [probe]

    with session_scope(engine) as session, pytest.raises(ConflictError, match=str(started)):
        reschedule(session, started, at=later)
    unknown = uuid.uuid4()
    with session_scope(engine) as session, pytest.raises(NotFoundError, match=str(unknown)):
        release(session, unknown)


def test_claiming_on_sqlite_takes_the_write_lock_first(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    upgrade(engine)
    add_wave(engine)
    with Session(engine) as session:
        assert (
            claim_due(session, now=T0, daemon_id="d1", limit=5, lease=LEASE, channels=["phone"])
            == []
        )
        other = sqlite3.connect(tmp_path / "lock.db", timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        session.commit()
    other.execute("BEGIN IMMEDIATE")
    other.rollback()
    other.close()
    engine.dispose()


# -- waves ---------------------------------------------------------------------------------------


def test_wave_status_moves_and_refusals_name_the_wave(engine: Engine) -> None:
    add_wave(engine, "spring", status=WaveStatus.PLANNED)
    add_wave(engine, "sketch", status=WaveStatus.DRAFT)
    with session_scope(engine) as session:
        assert set_wave_status(session, "spring", WaveStatus.RUNNING).status == "running"
        assert set_wave_status(session, "spring", WaveStatus.PAUSED).status == "paused"
        assert set_wave_status(session, "spring", WaveStatus.PAUSED).status == "paused"
        assert set_wave_status(session, "spring", WaveStatus.RUNNING).status == "running"
    with session_scope(engine) as session:
        with pytest.raises(ConflictError, match="'sketch' is draft: plan it first"):
            set_wave_status(session, "sketch", WaveStatus.RUNNING)
        with pytest.raises(ConflictError, match="'sketch' is draft: only a wave that is"):
            set_wave_status(session, "sketch", WaveStatus.PAUSED)
        with pytest.raises(ConflictError, match="'spring' is running"):
            set_wave_status(session, "spring", WaveStatus.PLANNED)
        with pytest.raises(NotFoundError, match="'autumn'"):
            set_wave_status(session, "autumn", WaveStatus.PAUSED)
        with pytest.raises(NotFoundError, match="'autumn'"):
            wave_progress(session, "autumn")


def test_a_letter_awaiting_its_posting_holds_back_no_call(engine: Engine) -> None:
    wave = add_wave(engine)
    [structure] = add_structures(engine, 1)
    letter = add_probe(engine, wave, structure, T0 - timedelta(hours=5), channel="letter")
    call = add_probe(engine, wave, structure, T0 - timedelta(minutes=1))
    with session_scope(engine) as session:
        attempts.start_attempt(session, letter)  # printed, not posted yet

    assert [p.probe_id for p in claim(engine, channels=["phone"])] == [call]


def test_progress_and_a_wave_is_done_when_nothing_is_left_to_carry_out(engine: Engine) -> None:
    wave = add_wave(engine)
    a, b = add_structures(engine, 2)
    call = add_probe(engine, wave, a, T0)
    email = add_probe(engine, wave, b, T0, channel="email")
    add_probe(engine, wave, b, T0 + timedelta(days=1), channel="phone")
    claim(engine)
    with session_scope(engine) as session:
        attempts.start_attempt(session, email)
        progress = wave_progress(session, "w")
    assert (progress.total, progress.status) == (3, "running")
    assert progress.by_state == {"dispatching": 1, "in_progress": 1, "planned": 1}
    assert progress.by_channel == {
        "email": {"in_progress": 1},
        "phone": {"dispatching": 1, "planned": 1},
    }
    with session_scope(engine) as session:
        carry_out(session, call)
        assert not finish_wave_if_done(session, wave)
    with session_scope(engine) as session:
        end_attempt(session, email, outcome="sent")
        [late] = session.exec(select(Probe.id).where(col(Probe.state) == ProbeState.PLANNED)).all()
        carry_out(session, late)
    with session_scope(engine) as session:
        assert finish_done_waves(session) == ["w"]
        assert not finish_wave_if_done(session, wave)  # done already
        assert wave_progress(session, "w").status == "done"


# -- several claimers at once --------------------------------------------------------------------


@dataclass
class Span:
    structure_id: int
    probe_id: uuid.UUID
    started: float
    ended: float


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_two_claimers_on_postgresql_claim_each_probe_once_and_one_per_structure(
    engine: Engine, database_url: str
) -> None:
    """Two claimers, each with its own engine, claiming and carrying out until every probe is
    done (SQLite supports one daemon: a second one there starves on the write lock).

    Calls and emails are claimed in turn, as the dispatcher does, each claimer starting with
    another channel: they pick different probes of one structure at the same moment, which
    only the structure lock keeps apart.
    """
    wave = add_wave(engine)
    structures = add_structures(engine, 8)
    total = 200
    for index in range(total):
        channel = ("phone", "email")[index // 8 % 2]
        add_probe(
            engine, wave, structures[index % 8], T0 - timedelta(seconds=index), channel=channel
        )
    spans: list[Span] = []
    claims: dict[str, int] = defaultdict(int)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def claimer(name: str, channels: itertools.cycle[str]) -> None:
        own = make_engine(database_url)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with lock:
                    if len(spans) == total:
                        return
                with session_scope(own) as session:
                    claimed = claim_due(
                        session,
                        now=T0,
                        daemon_id=name,
                        limit=4,
                        lease=LEASE,
                        channels=[next(channels)],
                    )
                    time.sleep(0.005)  # a slow commit: the claimers' transactions overlap
                for probe in claimed:
                    started = time.monotonic()
                    time.sleep(0.001)
                    ended = time.monotonic()
                    with session_scope(own) as session:
                        carry_out(session, probe.probe_id)
                    with lock:
                        claims[name] += 1
                        spans.append(Span(probe.structure_id, probe.probe_id, started, ended))
            raise AssertionError(f"{name} gave up with {len(spans)}/{total} probes done")
        except BaseException as exc:  # reported to the test's thread
            errors.append(exc)
        finally:
            own.dispose()

    threads = [
        threading.Thread(target=claimer, args=("d1", itertools.cycle(["phone", "email"]))),
        threading.Thread(target=claimer, args=("d2", itertools.cycle(["email", "phone"]))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({span.probe_id for span in spans}) == len(spans) == total
    assert set(claims) == {"d1", "d2"}
    by_structure: dict[int, list[Span]] = defaultdict(list)
    for span in spans:
        by_structure[span.structure_id].append(span)
    for structure_spans in by_structure.values():
        structure_spans.sort(key=lambda s: s.started)
        for before, after in itertools.pairwise(structure_spans):
            assert before.ended <= after.started, (before, after)
    with Session(engine) as session:
        probes = session.exec(select(Probe).where(col(Probe.wave_id) == wave)).all()
    assert {(p.state, p.attempt_count) for p in probes} == {(ProbeState.DONE, 1)}
