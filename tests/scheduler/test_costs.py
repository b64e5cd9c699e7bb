"""The estimate of a wave's cost, item by item, from made-up prices and past calls."""

from __future__ import annotations

from decimal import Decimal

from config.settings import CostSettings
from scheduler.costs import CostPolicy, Destination, PlannedCall, estimate
from storage.costs import PastCalls

RATES = {"+33142700001": Decimal("0.02"), "+33612345678": Decimal("0.10")}
COSTS = CostSettings(
    amd_per_call=Decimal("0.01"),
    recording_per_minute=Decimal("0.002"),
    recording_storage_per_minute_month=Decimal("0.001"),
    recording_storage_months=3,
    email_per_message=Decimal("0.001"),
    letter_postage=Decimal("1.50"),
    time_limit_share=0.5,
)


def test_a_structure_without_past_calls_is_expected_to_use_a_share_of_the_time_limit() -> None:
    # 300 s × 0.5 = 2.5 minutes: 3 billed minutes, answered for sure.
    result = estimate(
        [PlannedCall(1, "+33142700001", 300, record=True)],
        per_minute=RATES.get,
        history={},
        policy=CostPolicy(costs=COSTS, machine_detection=True, record_from_ringing=False),
        emails=10,
        letters=2,
    )
    line = result.by_destination[Destination.LANDLINE]
    assert (line.calls, line.minutes, line.cost) == (1, Decimal(3), Decimal("0.06"))
    assert result.machine_detection == Decimal("0.01")
    assert result.recording == Decimal("0.006")
    assert result.recording_storage == Decimal("0.009")
    assert result.second_leg == 0
    assert result.email_cost == Decimal("0.010")
    assert result.letter_cost == Decimal("3.00")
    # 0.06 + 0.01 + 0.006 + 0.009 + 0.01 + 3.00 = 3.095, rounded half up.
    assert result.total == Decimal("3.10")


def test_past_calls_give_the_minutes_and_the_chance_of_an_answer() -> None:
    # 4 past calls, 2 answered, 6 billed minutes in all: 1.5 minutes and half a detection each.
    history = {7: PastCalls(calls=4, answered=2, billed_minutes=6)}
    result = estimate(
        [PlannedCall(7, "+33612345678", 300, record=False)] * 2,
        per_minute=RATES.get,
        history=history,
        policy=CostPolicy(costs=COSTS, machine_detection=True, record_from_ringing=False),
        emails=0,
        letters=0,
    )
    line = result.by_destination[Destination.MOBILE]
    assert (line.calls, line.minutes, line.cost) == (2, Decimal(3), Decimal("0.30"))
    assert result.machine_detection == Decimal("0.01")
    assert result.recording == 0
    assert result.calls_with_history == 2


def test_recording_from_the_first_ring_adds_a_second_leg_and_the_rings() -> None:
    history = {1: PastCalls(calls=1, answered=1, billed_minutes=2)}
    calls = [PlannedCall(1, "+33142700001", 300, record=True)]
    result = estimate(
        calls,
        per_minute=RATES.get,
        history=history,
        policy=CostPolicy(costs=COSTS, machine_detection=False, record_from_ringing=True),
        emails=0,
        letters=0,
    )
    # The second leg: 2 minutes and 1 for the rings, at the same rate; 3 minutes recorded.
    assert result.second_leg == Decimal("0.06")
    assert result.recording == Decimal("0.006")
    assert result.machine_detection == 0


def test_a_number_without_a_price_is_listed_not_guessed() -> None:
    result = estimate(
        [PlannedCall(1, "+590590891111", 300, record=True)],
        per_minute=RATES.get,
        history={},
        policy=CostPolicy(costs=COSTS, machine_detection=True, record_from_ringing=False),
        emails=0,
        letters=0,
    )
    assert result.unpriced_numbers == ["+590590891111"]
    assert result.by_destination[Destination.OVERSEAS].calls == 1
    assert result.total == 0
