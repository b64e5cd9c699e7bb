"""What waves cost: prices Twilio gives after each call, `prober wave cost`, budgets.

Ground truth is the sandbox's own prices (what its Call resources say each call cost).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from config.settings import AlertSettings, CostSettings, Settings, TwilioSettings, WorkspaceSettings
from prober.project import Project
from prober.runtime.daemon import Daemon, DaemonOptions
from sandbox import parse_world
from sandbox.mail.dovecot import free_port
from scheduler.costs import Destination, destination_of
from storage.models import (
    Alert,
    Attempt,
    OutboxMessage,
    Probe,
    ProbeState,
    Structure,
    Wave,
    WaveStatus,
)
from tests.support.cli import Run
from tests.support.phone_scene import (
    ACCOUNT,
    Sandbox,
    StartSandbox,
    Target,
    phone_scenario,
    seed_probes,
    wait_until,
)

TIME_SCALE = 0.05
# Every number answers and talks 75 s (2 billed minutes), but one that is busy (free).
WORLD = """
[default]
rings = 2
answer = "human"
greeting = "Mairie, bonjour."
hangup_after_s = 75

[numbers."+33142700003"]
outcome = "busy"
"""
NUMBERS = (
    "+33142700001",  # Paris, landline
    "+33142700002",
    "+33142700003",  # busy
    "+33612345678",  # mobile
    "+262262401010",  # La Réunion, landline
    "+590590891111",  # Guadeloupe
)


def test_numbers_are_classed_by_the_french_numbering_plan() -> None:
    assert destination_of("+33142700001") == Destination.LANDLINE
    assert destination_of("+33972000001") == Destination.LANDLINE
    assert destination_of("+33612345678") == Destination.MOBILE
    assert destination_of("+33712345678") == Destination.MOBILE
    assert destination_of("+262262401010") == Destination.OVERSEAS
    assert destination_of("+269639123456") == Destination.OTHER  # Comoros, not Mayotte
    assert destination_of("+262639401234") == Destination.OVERSEAS  # Mayotte mobile
    assert destination_of("+262639123456") == Destination.OVERSEAS  # unallocated, still +262
    assert destination_of("+596596123456") == Destination.OVERSEAS
    assert destination_of("+3212345678") == Destination.OTHER


def _settings(sandbox_url: str, tmp_path: Path, **costs: object) -> Settings:
    return Settings(
        twilio=TwilioSettings(
            account_sid=ACCOUNT.sid,
            auth_token=SecretStr(ACCOUNT.auth_token),
            api_base_url=sandbox_url,
            pricing_base_url=sandbox_url,
            webhook_base_url=f"http://127.0.0.1:{free_port()}",
            calls_per_second=50,
            time_scale=TIME_SCALE,
        ),
        costs=CostSettings(price_poll_s=0.2, **costs),
        alerts=AlertSettings(check_interval_s=0.2),
        workspace=WorkspaceSettings(port=free_port()),
        recordings_dir=tmp_path / "recordings",
    )


def _seed(engine: Engine, numbers: Sequence[str], *, budget: Decimal | None = None) -> str:
    scenarios = {"ask": phone_scenario("ask", max_ring_seconds=60, max_call_seconds=240)}
    seed_probes(engine, [Target(number, "ask") for number in numbers], scenarios)
    with Session(engine) as session:
        session.execute(update(Wave).values(status=WaveStatus.RUNNING, budget=budget))
        session.execute(update(Structure).values(opening_hours="24/7"))
        session.commit()
        return session.exec(select(Wave.name)).one()


@asynccontextmanager
async def _daemon(engine: Engine, settings: Settings, **options: object) -> AsyncIterator[None]:
    settings = settings.model_copy(
        update={"web": settings.web.model_copy(update={"port": _web_port(settings)})}
    )
    stop = asyncio.Event()
    daemon = Daemon(
        Project(settings=settings, engine=engine),
        DaemonOptions(watch_mail=False, tick_s=0.05, drain_s=30, **options),  # type: ignore[arg-type]
    )
    task = asyncio.create_task(daemon.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 120)


def _web_port(settings: Settings) -> int:
    return int(settings.twilio.webhook_base_url.rsplit(":", 1)[1])


def _attempts(engine: Engine) -> list[Attempt]:
    with Session(engine) as session:
        return list(session.exec(select(Attempt)))


def _states(engine: Engine) -> set[str]:
    with Session(engine) as session:
        return set(session.exec(select(Probe.state)))


async def test_a_wave_costs_to_the_cent_what_the_sandbox_charged_for_its_calls(
    phone_sandbox: StartSandbox, engine: Engine, database_url: str, tmp_path: Path, prober_cli: Run
) -> None:
    wave = _seed(engine, NUMBERS)
    with phone_sandbox(parse_world(WORLD), time_scale=TIME_SCALE) as sandbox:
        # Twilio sets a call's price some time after it ends.
        sandbox.store.price_delay_s = 1.0
        settings = _settings(sandbox.base_url, tmp_path)
        _cli_environment(prober_cli, sandbox, settings)
        before = json.loads((await prober_cli.in_thread("wave", "cost", wave, "--json")).stdout)
        async with _daemon(engine, settings):
            await wait_until(
                lambda: _states(engine) <= {ProbeState.DONE, ProbeState.FAILED},
                timeout_s=120,
                what="every call ended",
            )
            ended = [a for a in _attempts(engine) if a.external_id]
            # Right after the end, Twilio has not priced the calls yet.
            await wait_until(
                lambda: all(a.price is not None for a in _attempts(engine) if a.external_id),
                timeout_s=60,
                what="every call's price stored",
            )
        charged = sandbox.store.total_price()
        durations = {call.to: call.duration_s for call in sandbox.store.newest_first()}
        after = await prober_cli.in_thread("wave", "cost", wave)
        after_json = json.loads((await prober_cli.in_thread("wave", "cost", wave, "--json")).stdout)

    assert len(ended) == len(NUMBERS)
    # Each started minute at the destination's rate; the busy line is free.
    rates = dict(zip(NUMBERS, ("0.0230", "0.0230", "0", "0.1350", "0.0600", "0.0650"), strict=True))
    expected = sum((Decimal(rates[n]) * -(-(durations[n] or 0) // 60) for n in NUMBERS), Decimal(0))
    assert expected > 0
    assert charged == expected
    assert Decimal(after_json["spent"]["twilio"]) == charged.quantize(Decimal("0.01"))
    assert after_json["spent"]["calls_priced"] == len(NUMBERS)
    assert f"{charged.quantize(Decimal('0.01'))} USD" in after.stdout
    # Before launch: every destination type, priced from the Pricing API.
    calls = before["estimate"]["calls"]
    assert calls["landline"]["calls"] == 3
    assert calls["mobile"]["calls"] == 1
    assert calls["overseas"]["calls"] == 2
    assert Decimal(before["estimate"]["total"]) > 0
    # Once the wave ran, its structures' past calls drive the next estimate: nothing left here.
    assert after_json["estimate"]["total"] == "0.00"


def _cli_environment(cli: Run, sandbox: Sandbox, settings: Settings) -> None:
    monkeypatch = cli._monkeypatch
    monkeypatch.setenv("PROBER_TWILIO__ACCOUNT_SID", ACCOUNT.sid)
    monkeypatch.setenv("PROBER_TWILIO__AUTH_TOKEN", ACCOUNT.auth_token)
    monkeypatch.setenv("PROBER_TWILIO__API_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("PROBER_TWILIO__PRICING_BASE_URL", sandbox.base_url)


async def test_wave_start_refuses_a_wave_estimated_over_its_budget(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path, prober_cli: Run
) -> None:
    wave = _seed(engine, NUMBERS)
    with Session(engine) as session:
        session.execute(update(Wave).values(status=WaveStatus.PLANNED))
        session.commit()
    with phone_sandbox(parse_world(WORLD), time_scale=TIME_SCALE) as sandbox:
        _cli_environment(prober_cli, sandbox, _settings(sandbox.base_url, tmp_path))
        estimate = json.loads((await prober_cli.in_thread("wave", "cost", wave, "--json")).stdout)
        total = Decimal(estimate["estimate"]["total"])
        below = str(total - Decimal("0.01"))
        assert (await prober_cli.in_thread("wave", "budget", wave, below)).exit_code == 0
        refused = await prober_cli.in_thread("wave", "start", wave)
        assert refused.exit_code != 0
        assert "over its budget" in refused.stderr
        assert f"prober wave budget {wave}" in refused.stderr
        with Session(engine) as session:
            assert session.exec(select(Wave.status)).one() == WaveStatus.PLANNED
        assert (await prober_cli.in_thread("wave", "budget", wave, str(total))).exit_code == 0
        started = await prober_cli.in_thread("wave", "start", wave)
    assert started.exit_code == 0, started.stderr
    with Session(engine) as session:
        assert session.exec(select(Wave.status)).one() == WaveStatus.RUNNING


async def test_the_daemon_pauses_a_wave_whose_spending_reaches_its_budget(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path, prober_cli: Run
) -> None:
    numbers = [f"+331427000{index:02d}" for index in range(10, 16)]
    # A landline minute costs 0.023: the budget is reached by the first call.
    wave = _seed(engine, numbers, budget=Decimal("0.02"))
    # The first call is due now, the others tomorrow: the wave has probes left when the first
    # call's price reaches the budget.
    with Session(engine) as session:
        session.execute(
            update(Probe)
            .where(col(Probe.id).in_(select(Probe.id).offset(1)))
            .values(scheduled_at=datetime.now(UTC) + timedelta(days=1))
        )
        session.commit()
    with phone_sandbox(parse_world(WORLD), time_scale=TIME_SCALE) as sandbox:
        settings = _settings(sandbox.base_url, tmp_path)
        async with _daemon(engine, settings):
            await wait_until(
                lambda: _wave_status(engine) == WaveStatus.PAUSED,
                timeout_s=120,
                what="the wave paused",
            )
            await wait_until(lambda: bool(_alerts(engine)), timeout_s=30, what="the alert")
        charged = sandbox.store.total_price()
    with Session(engine) as session:
        states = list(session.exec(select(Probe.state)))
        messages = list(
            session.exec(
                select(OutboxMessage).where(
                    col(OutboxMessage.topic).contains("/alerts/budget_reached/")
                )
            )
        )
    assert charged >= Decimal("0.02")
    assert sorted(states) == [ProbeState.DONE] + [ProbeState.PLANNED] * 5
    [alert] = _alerts(engine)
    assert alert.subject == wave
    assert "budget" in alert.message
    assert [m.topic for m in messages] == [f"prober/alerts/budget_reached/{wave}"]
    assert messages[0].payload["state"] == "raised"
    # Resuming it needs a higher budget first.
    refused = await prober_cli.in_thread("wave", "resume", wave)
    assert refused.exit_code != 0
    assert "raise it first" in refused.stderr
    assert (await prober_cli.in_thread("wave", "budget", wave, "10")).exit_code == 0
    resumed = await prober_cli.in_thread("wave", "resume", wave)
    assert resumed.exit_code == 0, resumed.stderr
    assert _wave_status(engine) == WaveStatus.RUNNING


def _wave_status(engine: Engine) -> str:
    with Session(engine) as session:
        return session.exec(select(Wave.status)).one()


def _alerts(engine: Engine) -> list[Alert]:
    with Session(engine) as session:
        return list(session.exec(select(Alert).where(col(Alert.rule) == "budget_reached")))
