"""The sandbox's Pricing API (voice) and the price it puts on ended calls, read through the
official client and checked against Twilio's Pricing v2 OpenAPI description."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from openapi_core import OpenAPI
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from sandbox.calls import CallInstructions, CallOptions, CallStatus
from tests.sandbox.conftest import RecordedExchanges, RunningSandbox, sandbox_client
from tests.support.openapi_conformance import PRICING_SERVER, check_exchange, load_pricing_spec


@pytest.fixture(scope="module")
def pricing_spec() -> OpenAPI:
    return load_pricing_spec()


@pytest.fixture
def priced(
    sandbox: RunningSandbox, pricing_spec: OpenAPI
) -> Iterator[tuple[Client, RecordedExchanges]]:
    recorded = RecordedExchanges()
    client, http_client = sandbox_client(sandbox, recorded)
    client.pricing.base_url = sandbox.base_url
    yield client, recorded
    assert http_client.session is not None
    http_client.session.close()
    for response in recorded.responses:
        check_exchange(pricing_spec, response, server=PRICING_SERVER)


def test_a_country_lists_its_prices_per_destination_prefix(
    priced: tuple[Client, RecordedExchanges],
) -> None:
    client, recorded = priced
    france = client.pricing.v2.voice.countries("FR").fetch()
    assert france.iso_country == "FR"
    assert france.price_unit == "USD"
    by_prefix = {
        prefix: line["current_price"]
        for line in france.outbound_prefix_prices or []
        for prefix in line["destination_prefixes"]
    }
    assert by_prefix == {"33": "0.0230", "336": "0.1350", "337": "0.1350"}
    assert recorded.responses[-1].status_code == 200


def test_a_number_gets_the_price_of_its_longest_prefix(
    priced: tuple[Client, RecordedExchanges],
) -> None:
    client, _ = priced
    mobile = client.pricing.v2.voice.numbers("+33612345678").fetch()
    reunion = client.pricing.v2.voice.numbers("+262692123456").fetch()
    assert mobile.iso_country == "FR"
    assert mobile.outbound_call_prices == [
        {"base_price": "0.1350", "current_price": "0.1350", "origination_prefixes": ["ALL"]}
    ]
    assert reunion.iso_country == "RE"
    assert reunion.outbound_call_prices[0]["current_price"] == "0.2900"


def test_an_unknown_country_is_a_404(priced: tuple[Client, RecordedExchanges]) -> None:
    client, recorded = priced
    with pytest.raises(TwilioRestException) as raised:
        client.pricing.v2.voice.countries("ZZ").fetch()
    assert raised.value.status == 404
    assert recorded.responses[-1].json()["code"] == 20404


def _ended_call(
    sandbox: RunningSandbox, to: str, duration_s: int | None, status: CallStatus
) -> str:
    call = sandbox.store.create(
        to=to,
        from_="+33970000001",
        instructions=CallInstructions(url="http://127.0.0.1:9/voice"),
        options=CallOptions(),
    )
    sandbox.store.advance(call.sid, status, at=sandbox.store.now(), duration_s=duration_s)
    return call.sid


def test_a_call_is_priced_per_started_minute_some_time_after_it_ends(
    sandbox: RunningSandbox, twilio: Client
) -> None:
    sandbox.store.price_delay_s = 3600.0
    later = _ended_call(sandbox, "+33142700001", 61, CallStatus.COMPLETED)
    assert twilio.calls(later).fetch().price is None  # not yet: Twilio prices calls later
    sandbox.store.price_delay_s = 0.0
    landline = _ended_call(sandbox, "+33142700001", 61, CallStatus.COMPLETED)
    mobile = _ended_call(sandbox, "+33612345678", 60, CallStatus.COMPLETED)
    busy = _ended_call(sandbox, "+33142700002", None, CallStatus.BUSY)
    assert twilio.calls(landline).fetch().price == "-0.04600"
    assert twilio.calls(mobile).fetch().price == "-0.13500"
    assert twilio.calls(busy).fetch().price == "0.00000"
    assert twilio.calls(mobile).fetch().price_unit == "USD"
    # Ground truth counts every ended call, shown or not.
    assert sandbox.store.total_price() == Decimal("0.04600") * 2 + Decimal("0.13500")
