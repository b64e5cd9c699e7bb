"""What a wave will cost, estimated before launch from its plan, prices and past calls.

A pure function of its inputs. Per call: the expected billed minutes (the structure's past calls
when it has some, else a share of the scenario's time limit), at the per-minute rate of the
number's prefix; answering-machine detection on answered calls; the recording (per minute) and
its storage; when recording from the first ring, a second leg billed too (its minutes plus one
for the rings). Unanswered calls cost nothing at Twilio, so retries add little. Emails and
letters at the [costs] settings' prices.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

import phonenumbers

from config.settings import CostSettings
from storage.costs import PastCalls

CENT = Decimal("0.01")
# Overseas départements and collectivities numbered outside +33 (French numbering plan).
OVERSEAS_REGIONS = frozenset({"GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF"})


class Destination(StrEnum):
    LANDLINE = "landline"
    MOBILE = "mobile"
    OVERSEAS = "overseas"
    OTHER = "other"


def region_of(number: str) -> str | None:
    """The ISO country of a number (Twilio prices by it); for a number in no known block, the
    main country of its calling code."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(parsed)
    if region is None and parsed.country_code is not None:
        region = phonenumbers.region_code_for_country_code(parsed.country_code)
    return None if region in (None, phonenumbers.UNKNOWN_REGION) else region


def destination_of(number: str) -> Destination:
    """Landline (+33 1-5, 8, 9), mobile (+33 6, 7), overseas départements, or other."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return Destination.OTHER
    region = region_of(number)
    if region in OVERSEAS_REGIONS:
        return Destination.OVERSEAS
    if region != "FR":
        return Destination.OTHER
    # The plan gives 06 and 07 to mobiles, whether a block is allocated yet or not.
    if str(parsed.national_number)[:1] in ("6", "7"):
        return Destination.MOBILE
    return Destination.LANDLINE


@dataclass(frozen=True, slots=True)
class PlannedCall:
    structure_id: int
    number: str
    time_limit_s: int
    record: bool


@dataclass(frozen=True, slots=True)
class CostPolicy:
    """What the calls do that Twilio bills (from the settings)."""

    costs: CostSettings
    machine_detection: bool
    # Recording from the first ring: a second leg, and the rings recorded too.
    record_from_ringing: bool


@dataclass
class DestinationLine:
    calls: int = 0
    minutes: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)


@dataclass
class CostEstimate:
    """An estimate in ``currency``; ``total`` rounded to the cent."""

    currency: str
    by_destination: dict[Destination, DestinationLine] = field(default_factory=dict)
    machine_detection: Decimal = Decimal(0)
    recording: Decimal = Decimal(0)
    recording_storage: Decimal = Decimal(0)
    second_leg: Decimal = Decimal(0)
    emails: int = 0
    email_cost: Decimal = Decimal(0)
    letters: int = 0
    letter_cost: Decimal = Decimal(0)
    # Calls whose number has no price (not estimated: the total is a lower bound then).
    unpriced_numbers: list[str] = field(default_factory=list)
    calls_with_history: int = 0

    @property
    def calls_cost(self) -> Decimal:
        return sum((line.cost for line in self.by_destination.values()), Decimal(0))

    @property
    def total(self) -> Decimal:
        exact = (
            self.calls_cost
            + self.machine_detection
            + self.recording
            + self.recording_storage
            + self.second_leg
            + self.email_cost
            + self.letter_cost
        )
        return exact.quantize(CENT, rounding=ROUND_HALF_UP)


def _expected(call: PlannedCall, past: PastCalls | None, share: float) -> tuple[Decimal, Decimal]:
    """(billed minutes, chance of an answer) expected of one call."""
    if past is not None and past.calls:
        return (
            Decimal(past.billed_minutes) / past.calls,
            Decimal(past.answered) / past.calls,
        )
    return Decimal(math.ceil(call.time_limit_s * share / 60)), Decimal(1)


def estimate(
    calls: Sequence[PlannedCall],
    *,
    per_minute: Callable[[str], Decimal | None],
    history: Mapping[int, PastCalls],
    policy: CostPolicy,
    emails: int,
    letters: int,
) -> CostEstimate:
    """The wave's expected cost; ``per_minute`` gives a number's rate (None: unknown)."""
    costs = policy.costs
    result = CostEstimate(currency=costs.currency)
    lines: dict[Destination, DestinationLine] = defaultdict(DestinationLine)
    for call in calls:
        rate = per_minute(call.number)
        destination = destination_of(call.number)
        line = lines[destination]
        line.calls += 1
        if rate is None:
            result.unpriced_numbers.append(call.number)
            continue
        past = history.get(call.structure_id)
        if past is not None and past.calls:
            result.calls_with_history += 1
        minutes, answered = _expected(call, past, costs.time_limit_share)
        line.minutes += minutes
        line.cost += minutes * rate
        if policy.machine_detection:
            result.machine_detection += answered * costs.amd_per_call
        if call.record:
            recorded = minutes + (1 if policy.record_from_ringing else 0)
            result.recording += recorded * costs.recording_per_minute
            result.recording_storage += (
                recorded * costs.recording_storage_per_minute_month * costs.recording_storage_months
            )
        if policy.record_from_ringing:
            result.second_leg += (minutes + 1) * rate
    result.by_destination = dict(sorted(lines.items()))
    result.emails = emails
    result.email_cost = emails * costs.email_per_message
    result.letters = letters
    result.letter_cost = letters * costs.letter_postage
    return result
