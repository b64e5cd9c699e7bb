"""Several daemons on one database: a claim lost to another daemon is refused when the attempt
would start, a wave closes in the transaction that settles its last probe whoever settles it,
and the relay lease is held by one daemon at a time."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from storage import attempts, leases
from storage.claims import claim_due, finish_wave_if_done, release_expired
from storage.db import make_engine, session_scope
from storage.errors import ClaimLostError, ConflictError
from storage.models import ProbeState, Wave, WaveStatus
from tests.storage.test_dispatch import LEASE, T0, claim
from tests.support.claims_scene import add_probe, add_structures, add_wave, end_attempt, probe_row
from tests.support.pg_locks import commit_once_blocked

# -- a claim lost to another daemon ----------------------------------------------------------


def test_a_claim_lost_to_another_daemon_is_refused_at_start_attempt(engine: Engine) -> None:
    wave = add_wave(engine)
    [structure] = add_structures(engine, 1)
    probe = add_probe(engine, wave, structure, T0)
    [mine] = claim(engine, daemon_id="slow")
    # "slow" stalls past its lease: the claim is given back, and "quick" claims the probe.
    with session_scope(engine) as session:
        assert release_expired(session, now=T0 + LEASE) == 1
    [theirs] = claim(engine, now=T0 + LEASE, daemon_id="quick")
    assert mine.probe_id == theirs.probe_id == probe

    with (
        session_scope(engine) as session,
        pytest.raises(ClaimLostError, match="held by quick: daemon slow lost its claim"),
    ):
        attempts.start_attempt(session, probe, claimed_by="slow")
    assert (probe_row(engine, probe).state, probe_row(engine, probe).attempt_count) == (
        ProbeState.DISPATCHING,
        0,
    )
    with session_scope(engine) as session:
        attempts.start_attempt(session, probe, claimed_by="quick")
    row = probe_row(engine, probe)
    assert (row.state, row.attempt_count, row.claimed_by) == (ProbeState.IN_PROGRESS, 1, "quick")


def test_a_claim_released_and_not_yet_taken_again_is_refused_too(engine: Engine) -> None:
    wave = add_wave(engine)
    [structure] = add_structures(engine, 1)
    probe = add_probe(engine, wave, structure, T0)
    claim(engine, daemon_id="slow")
    with session_scope(engine) as session:
        release_expired(session, now=T0 + LEASE)
    with (
        session_scope(engine) as session,
        pytest.raises(ClaimLostError, match="is planned, not claimed"),
    ):
        attempts.start_attempt(session, probe, claimed_by="slow")
    # Without a claim to check (`prober phone call` by hand), a planned probe may be attempted.
    with session_scope(engine) as session:
        attempts.start_attempt(session, probe)
    assert probe_row(engine, probe).state == ProbeState.IN_PROGRESS


def test_a_claim_lost_is_a_conflict_for_callers_that_catch_those(engine: Engine) -> None:
    assert issubclass(ClaimLostError, ConflictError)


# -- a wave closes when its last probe settles -------------------------------------------------


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_two_daemons_settling_a_waves_last_probes_at_once_close_it(
    engine: Engine, database_url: str
) -> None:
    """Daemon A and daemon B each settle one of the wave's last two probes in transactions that
    overlap; each checks the wave after its own update. Whatever the order, the wave is done
    when both have committed (before the wave's row lock, each saw the other's probe in
    progress and the wave stayed running until the dispatcher's check a minute later)."""
    wave = add_wave(engine)
    structures = add_structures(engine, 2)
    probes = [add_probe(engine, wave, structure, T0) for structure in structures]
    with session_scope(engine) as session:
        claimed = claim_due(
            session, now=T0, daemon_id="a", limit=2, lease=LEASE, channels=["phone"]
        )
        assert len(claimed) == 2
        for probe in probes:
            attempts.start_attempt(session, probe, claimed_by="a")

    engine_b = make_engine(database_url)
    try:
        with Session(engine) as a, Session(engine_b) as b:
            end_attempt(a, probes[0])
            end_attempt(b, probes[1])  # both probes settled, neither transaction committed
            assert not finish_wave_if_done(a, wave)  # A sees B's probe still in progress
            b_pid = b.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            closed: list[bool] = []
            checking = threading.Thread(target=lambda: closed.append(finish_wave_if_done(b, wave)))
            checking.start()
            # A commits only once B's check has ended or waits for a lock (A's, on the wave).
            commit_once_blocked(engine, a, checking, b_pid, "B's check")
            b.commit()
        assert closed == [True]
        with Session(engine) as session:
            stored = session.get(Wave, wave)
            assert stored is not None and stored.status == WaveStatus.DONE
    finally:
        engine_b.dispose()


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_settling_a_probe_of_a_wave_with_many_left_does_not_queue_on_the_waves_row(
    engine: Engine, database_url: str
) -> None:
    """With hundreds of probes to go, settling one does not wait for the wave's row, which
    another daemon's transaction holds: a national wave's settles would all queue on it."""
    wave = add_wave(engine)
    structures = add_structures(engine, 300)
    for structure in structures:
        add_probe(engine, wave, structure, T0)
    engine_b = make_engine(database_url)
    try:
        with Session(engine) as a, Session(engine_b) as b:
            a.get(Wave, wave, with_for_update=True)  # A holds the wave's row
            b.connection().exec_driver_sql("SET lock_timeout = '5s'")
            assert not finish_wave_if_done(b, wave)  # no lock wait, no timeout
            a.rollback()
    finally:
        engine_b.dispose()


# -- the relay lease ----------------------------------------------------------------------------


def test_one_holder_at_a_time_until_its_lease_runs_out_or_is_given_up(engine: Engine) -> None:
    length = timedelta(seconds=10)
    name = leases.OUTBOX_RELAY

    def take(holder: str, seconds: float) -> bool:
        with session_scope(engine) as session:
            now = T0 + timedelta(seconds=seconds)
            return leases.take(session, name, holder=holder, now=now, length=length) is not None

    def holder(seconds: float) -> str | None:
        with session_scope(engine) as session:
            held = leases.current(session, name, now=T0 + timedelta(seconds=seconds))
            return None if held is None else held.holder

    assert holder(0) is None
    assert take("a", 0)
    assert not take("b", 1)
    assert take("a", 5)  # renewed: until 15 s
    assert not take("b", 12)
    assert holder(12) == "a"
    assert holder(15) is None  # a stopped renewing (died)
    assert take("b", 15)
    assert not take("a", 16)  # a, back, waits its turn
    with session_scope(engine) as session:
        assert not leases.give_up(session, name, holder="a")
        assert leases.give_up(session, name, holder="b")
    assert holder(17) is None
    assert take("a", 17)
    with session_scope(engine) as session:
        held = leases.current(session, name, now=T0 + timedelta(seconds=18))
    assert held is not None
    assert (held.acquired_at, held.expires_at) == (
        T0 + timedelta(seconds=17),
        T0 + timedelta(seconds=27),
    )


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_daemons_racing_for_the_lease_on_postgresql_get_it_once(
    engine: Engine, database_url: str
) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(4)

    def race(holder: str) -> None:
        own = make_engine(database_url)
        try:
            barrier.wait(timeout=30)
            with session_scope(own) as session:
                taken = leases.take(
                    session, leases.OUTBOX_RELAY, holder=holder, now=T0, length=LEASE
                )
            if taken is not None:
                winners.append(holder)
        finally:
            own.dispose()

    threads = [threading.Thread(target=race, args=(f"d{index}",)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(winners) == 1
