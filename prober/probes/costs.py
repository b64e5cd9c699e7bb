"""Costs end to end: a wave's estimate (its plan, Twilio's prices, past calls), what it has
spent (the prices Twilio gave its calls), and the daemon's price sweep and budget guard."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from channels.errors import ChannelError
from channels.phone.pricing import CountryRates, decimal_price
from channels.phone.twilio_client import TwilioPhone
from config.settings import CostSettings, Settings
from prober.errors import ProberError
from prober.project.database import Database
from scheduler.costs import CostEstimate, CostPolicy, PlannedCall, estimate, region_of
from storage import claims
from storage.alerts import Finding
from storage.costs import (
    PastCalls,
    WaveSpending,
    budgeted_waves,
    past_calls,
    planned_contacts,
    store_price,
    unpriced_calls,
    wave_spending,
)
from storage.models import Wave, WaveStatus
from storage.wave_parameters import wave_catalogue
from storage.waves import get_wave

logger = logging.getLogger(__name__)

DEFAULT_TIME_LIMIT_S = 300


class CostError(ProberError):
    """A wave's cost cannot be worked out (prices unavailable, another currency...)."""


@dataclass(frozen=True, slots=True)
class CostInputs:
    """What a wave's estimate is computed from, read from the database."""

    calls: list[PlannedCall]
    emails: int
    letters: int
    history: dict[int, PastCalls]


@dataclass(frozen=True, slots=True)
class WaveCost:
    """A wave's estimate, what it has spent, and its budget (None: none)."""

    wave: str
    estimate: CostEstimate
    spending: WaveSpending
    spent: Decimal
    budget: Decimal | None

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.estimate.total > self.budget


def spent_total(spending: WaveSpending, costs: CostSettings) -> Decimal:
    """What a wave has spent: Twilio's prices, emails and letters at the settings' prices."""
    return (
        spending.twilio
        + spending.emails_sent * costs.email_per_message
        + spending.letters_sent * costs.letter_postage
    )


def cost_inputs(session: Session, wave: Wave) -> CostInputs:
    """The wave's probes still to be carried out, the scenarios' limits, the past calls."""
    if wave.id is None:
        raise CostError(f"wave {wave.name!r} is not stored")
    scenarios = wave_catalogue(wave).scenarios
    calls = []
    emails = letters = 0
    for contact in planned_contacts(session, wave.id):
        if contact.channel == "email":
            emails += 1
        elif contact.channel == "letter":
            letters += 1
        elif contact.channel == "phone" and contact.contact:
            script = scenarios.get(contact.scenario_id, {}).get("phone") or {}
            calls.append(
                PlannedCall(
                    structure_id=contact.structure_id,
                    number=contact.contact,
                    time_limit_s=int(script.get("max_call_seconds", DEFAULT_TIME_LIMIT_S)),
                    record=bool(script.get("record", True)),
                )
            )
    history = past_calls(session, {call.structure_id for call in calls})
    return CostInputs(calls, emails, letters, history)


def regions_of(numbers: Iterable[str]) -> set[str]:
    """The ISO countries (Twilio's pricing entries) the numbers belong to."""
    return {region for number in numbers if (region := region_of(number)) is not None}


async def fetch_rates(
    phone: TwilioPhone, numbers: Iterable[str], currency: str
) -> Callable[[str], Decimal | None]:
    """Each number's per-minute price, from one Pricing API request per country."""
    numbers = list(numbers)
    countries: dict[str, CountryRates] = {}
    for region in sorted(regions_of(numbers)):
        try:
            rates = await phone.voice_prices(region)
        except ChannelError as error:
            raise CostError(f"the prices of calls to {region} are unavailable: {error}") from None
        if rates.price_unit and rates.price_unit != currency.upper():
            raise CostError(
                f"Twilio prices calls to {region} in {rates.price_unit}, the settings say"
                f" costs.currency = {currency!r}: set costs.currency = {rates.price_unit!r}"
                " (and the other [costs] amounts in it)"
            )
        countries[region] = rates

    def per_minute(number: str) -> Decimal | None:
        rates = countries.get(region_of(number) or "")
        return None if rates is None else rates.per_minute(number)

    return per_minute


async def wave_cost(
    settings: Settings, database: Database, name: str, phone: TwilioPhone | None
) -> WaveCost:
    """Estimate what is left of the wave and read what it has spent."""

    def load(session: Session) -> tuple[Wave, CostInputs, WaveSpending]:
        wave = get_wave(session, name)
        return wave, cost_inputs(session, wave), wave_spending(session, wave.id or 0)

    wave, inputs, spending = await database.run(load)
    if inputs.calls and phone is None:
        raise CostError(
            f"wave {name!r} has calls to price and Twilio is not configured: set"
            " twilio.account_sid and PROBER_TWILIO__AUTH_TOKEN"
        )

    def no_rate(number: str) -> Decimal | None:
        return None

    per_minute: Callable[[str], Decimal | None] = no_rate
    if phone is not None and inputs.calls:
        per_minute = await fetch_rates(
            phone, (c.number for c in inputs.calls), settings.costs.currency
        )
    policy = CostPolicy(
        costs=settings.costs,
        machine_detection=settings.twilio.machine_detection,
        record_from_ringing=settings.twilio.record_from_ringing,
    )
    result = estimate(
        inputs.calls,
        per_minute=per_minute,
        history=inputs.history,
        policy=policy,
        emails=inputs.emails,
        letters=inputs.letters,
    )
    return WaveCost(
        wave=wave.name,
        estimate=result,
        spending=spending,
        spent=spent_total(spending, settings.costs),
        budget=wave.budget,
    )


async def sweep_prices(
    settings: Settings, database: Database, phone: TwilioPhone, *, now: datetime
) -> int:
    """Ask Twilio the price of ended calls that have none yet; store those it gives."""
    wait = timedelta(hours=settings.costs.price_wait_hours)
    pending = await database.run(lambda s: unpriced_calls(s, now=now, wait=wait))
    stored = 0
    for call in pending:
        try:
            resource = await phone.fetch_call(call.call_sid)
            price = decimal_price(resource["price"], what=f"the price of {call.call_sid}")
        except ChannelError as error:
            logger.warning("price of call %s: %s", call.call_sid, error)
            continue
        except Exception as error:
            logger.warning("price of call %s unavailable now: %r", call.call_sid, error)
            continue
        if price is None:
            continue
        unit = resource.get("price_unit")
        await database.run(
            _price_store(call.attempt_id, price, None if unit is None else str(unit), now)
        )
        stored += 1
    return stored


def _price_store(
    attempt_id: int, price: Decimal, unit: str | None, now: datetime
) -> Callable[[Session], None]:
    def store(session: Session) -> None:
        store_price(session, attempt_id, price, unit, at=now)

    return store


def budget_findings(session: Session, costs: CostSettings) -> dict[str, Finding]:
    """Running waves whose spending reached their budget: paused here, and reported."""
    findings = {}
    for wave in budgeted_waves(session, statuses=(WaveStatus.RUNNING, WaveStatus.PAUSED)):
        if wave.id is None or wave.budget is None:
            continue
        spent = spent_total(wave_spending(session, wave.id), costs)
        if spent < wave.budget:
            continue
        if wave.status == WaveStatus.RUNNING:
            claims.set_wave_status(session, wave.name, WaveStatus.PAUSED)
            logger.warning(
                "wave %s paused: spent %s of its budget %s", wave.name, spent, wave.budget
            )
        findings[wave.name] = Finding(
            "",
            {"spent": str(spent), "budget": str(wave.budget), "currency": costs.currency},
            wave_id=wave.id,
        )
    return findings
