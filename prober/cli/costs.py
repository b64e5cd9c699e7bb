"""``prober wave cost`` and ``wave budget``: what a wave will cost, has spent, may spend."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal, InvalidOperation

from sqlmodel import Session

from channels.phone.twilio_client import TwilioPhone
from config.settings import Settings
from prober.cli.output import console, print_json_lines, safe, table
from prober.errors import UsageError
from prober.probes.costs import WaveCost, spent_total, sweep_prices, wave_cost
from prober.project import Project
from prober.project.database import Database
from storage.costs import wave_spending
from storage.models import Wave
from storage.types import utcnow

CENT = Decimal("0.01")


def twilio_configured(settings: Settings) -> bool:
    return bool(settings.twilio.account_sid and settings.twilio.auth_token is not None)


async def _wave_cost(opened: Project, name: str) -> WaveCost:
    database = Database(opened.engine)
    try:
        async with contextlib.AsyncExitStack() as stack:
            phone = None
            if twilio_configured(opened.settings):
                phone = await stack.enter_async_context(TwilioPhone(opened.settings.twilio))
                # Twilio prices a call some time after it ends: ask for those still unknown.
                await sweep_prices(opened.settings, database, phone, now=utcnow())
            return await wave_cost(opened.settings, database, name, phone)
    finally:
        database.close()


def compute_wave_cost(opened: Project, name: str) -> WaveCost:
    return asyncio.run(_wave_cost(opened, name))


def money(amount: Decimal) -> str:
    return str(amount.quantize(CENT))


def parse_budget(value: str) -> Decimal | None:
    if value.strip().lower() in ("none", "aucun", ""):
        return None
    try:
        amount = Decimal(value.strip().replace(",", "."))
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(CENT):
        raise UsageError(f"budget {value!r}: expected an amount like 250 or 249.90, or none")
    return amount


def cost_record(cost: WaveCost) -> dict[str, object]:
    """The JSON line of ``wave cost --json``."""
    estimate = cost.estimate
    return {
        "wave": cost.wave,
        "currency": estimate.currency,
        "estimate": {
            "total": money(estimate.total),
            "calls": {
                str(destination): {
                    "calls": line.calls,
                    "minutes": str(line.minutes.quantize(CENT)),
                    "cost": money(line.cost),
                }
                for destination, line in estimate.by_destination.items()
            },
            "machine_detection": money(estimate.machine_detection),
            "recording": money(estimate.recording),
            "recording_storage": money(estimate.recording_storage),
            "second_leg": money(estimate.second_leg),
            "emails": estimate.emails,
            "email_cost": money(estimate.email_cost),
            "letters": estimate.letters,
            "letter_cost": money(estimate.letter_cost),
            "unpriced_numbers": estimate.unpriced_numbers,
        },
        "spent": {
            "total": money(cost.spent),
            "twilio": money(cost.spending.twilio),
            "calls_priced": cost.spending.calls_priced,
            "calls_awaiting_price": cost.spending.calls_unpriced,
            "emails_sent": cost.spending.emails_sent,
            "letters_sent": cost.spending.letters_sent,
        },
        "budget": None if cost.budget is None else money(cost.budget),
    }


def print_cost(cost: WaveCost, *, as_json: bool = False) -> None:
    if as_json:
        print_json_lines([cost_record(cost)])
        return
    estimate, unit = cost.estimate, cost.estimate.currency
    console.print(f"wave {safe(cost.wave)}: estimate of the probes still to carry out ({unit})")
    rows: list[tuple[object, ...]] = [
        (str(destination), line.calls, line.minutes.quantize(CENT), money(line.cost))
        for destination, line in estimate.by_destination.items()
    ]
    rows += [
        ("answering-machine detection", "", "", money(estimate.machine_detection)),
        ("recordings", "", "", money(estimate.recording)),
        ("recording storage", "", "", money(estimate.recording_storage)),
        ("second leg (recording from the first ring)", "", "", money(estimate.second_leg)),
        ("emails", estimate.emails, "", money(estimate.email_cost)),
        ("letters (postage)", estimate.letters, "", money(estimate.letter_cost)),
        ("total", "", "", money(estimate.total)),
    ]
    console.print(table("item", "calls / items", "minutes", "cost", rows=rows))
    if estimate.unpriced_numbers:
        console.print(
            f"{len(estimate.unpriced_numbers)} call(s) to numbers Twilio gives no price for"
            f" (e.g. {safe(estimate.unpriced_numbers[0])}): not counted"
        )
    spending = cost.spending
    console.print(
        f"spent: {money(cost.spent)} {unit}, of which Twilio's prices of"
        f" {spending.calls_priced} call(s): {money(spending.twilio)} {unit}"
        + (
            f" ({spending.calls_unpriced} call(s) awaiting their price)"
            if spending.calls_unpriced
            else ""
        )
        + f"; {spending.emails_sent} email(s), {spending.letters_sent} letter(s)"
    )
    if cost.budget is not None:
        left = cost.budget - cost.spent
        verdict = "within" if estimate.total <= left else "OVER"
        console.print(
            f"budget: {money(cost.budget)} {unit}, {money(left)} left; the estimate is {verdict}"
        )


def check_budget_left(session: Session, wave: Wave, settings: Settings) -> None:
    """Refuse to resume a wave that has spent its budget (the daemon would pause it again)."""
    if wave.budget is None or wave.id is None:
        return
    spent = spent_total(wave_spending(session, wave.id), settings.costs)
    if spent >= wave.budget:
        unit = settings.costs.currency
        raise UsageError(
            f"wave {wave.name!r} has spent {money(spent)} {unit} of its budget of"
            f" {money(wave.budget)} {unit}: raise it first with"
            f" `prober wave budget {wave.name} AMOUNT`"
        )


def check_budget(cost: WaveCost) -> None:
    """Refuse a start whose estimate (plus what is spent) exceeds the wave's budget."""
    if cost.budget is None:
        return
    needed = cost.spent + cost.estimate.total
    if needed > cost.budget:
        unit = cost.estimate.currency
        raise UsageError(
            f"wave {cost.wave!r} is estimated at {money(cost.estimate.total)} {unit} (spent"
            f" {money(cost.spent)}), over its budget of {money(cost.budget)} {unit}: raise it"
            f" with `prober wave budget {cost.wave} AMOUNT` or plan fewer probes"
            f" (`prober wave cost {cost.wave}` details the estimate)"
        )
