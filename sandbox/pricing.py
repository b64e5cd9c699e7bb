"""Twilio's voice prices in the sandbox: the Pricing API (v2) and what each ended call costs.

Shapes follow Twilio's Pricing Voice resource (https://www.twilio.com/docs/voice/pricing):
prices are decimal strings, as Twilio sends them (the OpenAPI description types them as
numbers, its own examples and every client read strings). A call is billed per started minute
of its duration at the rate of the longest destination prefix matching its number; Twilio puts
the charge on the Call resource, as a negative string, some time after the call ends.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import phonenumbers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.errors import ResourceNotFound

PRICE_UNIT = "USD"
# Twilio's call prices carry five decimals ("-0.01750").
PRICE_QUANTUM = Decimal("0.00001")


@dataclass(frozen=True, slots=True)
class PrefixPrice:
    """One line of a country's outbound prices: who it covers and its price per minute."""

    friendly_name: str
    destination_prefixes: tuple[str, ...]
    per_minute: Decimal


@dataclass(frozen=True, slots=True)
class CountryPrices:
    iso_country: str
    country: str
    outbound: tuple[PrefixPrice, ...]


def _line(name: str, per_minute: str, *prefixes: str) -> PrefixPrice:
    return PrefixPrice(f"Programmable Outbound Minute - {name}", prefixes, Decimal(per_minute))


# Metropolitan France and its overseas départements, each its own entry at Twilio (illustrative
# rates of Twilio's published order of magnitude; a world could replace them).
DEFAULT_PRICES: Mapping[str, CountryPrices] = {
    prices.iso_country: prices
    for prices in (
        CountryPrices(
            "FR",
            "France",
            (
                _line("France", "0.0230", "33"),
                _line("France - Mobile", "0.1350", "336", "337"),
            ),
        ),
        CountryPrices(
            "GP",
            "Guadeloupe",
            (
                _line("Guadeloupe", "0.0650", "590"),
                _line("Guadeloupe - Mobile", "0.3100", "590690"),
            ),
        ),
        CountryPrices(
            "MQ",
            "Martinique",
            (
                _line("Martinique", "0.0650", "596"),
                _line("Martinique - Mobile", "0.3100", "596696"),
            ),
        ),
        CountryPrices(
            "GF",
            "French Guiana",
            (
                _line("French Guiana", "0.0700", "594"),
                _line("French Guiana - Mobile", "0.3200", "594694"),
            ),
        ),
        CountryPrices(
            "RE",
            "Reunion",
            (
                _line("Reunion", "0.0600", "262"),
                _line("Reunion - Mobile", "0.2900", "262692", "262693"),
            ),
        ),
        CountryPrices(
            "YT",
            "Mayotte",
            (_line("Mayotte", "0.0900", "262269"), _line("Mayotte - Mobile", "0.3300", "262639")),
        ),
    )
}


class PriceList:
    """The account's outbound voice prices by country, and the price of a call."""

    def __init__(self, countries: Mapping[str, CountryPrices] = DEFAULT_PRICES) -> None:
        self.countries = dict(countries)

    def country_of(self, number: str) -> CountryPrices | None:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(number))
        except phonenumbers.NumberParseException:
            return None
        return self.countries.get(region or "")

    def per_minute(self, number: str) -> tuple[CountryPrices, PrefixPrice] | None:
        """The price line of the longest destination prefix matching ``number``."""
        country = self.country_of(number)
        if country is None:
            return None
        digits = number.lstrip("+")
        best: tuple[int, PrefixPrice] | None = None
        for line in country.outbound:
            for prefix in line.destination_prefixes:
                if digits.startswith(prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), line)
        return None if best is None else (country, best[1])

    def call_price(self, number: str, duration_s: int | None) -> Decimal:
        """What a call lasting ``duration_s`` costs (each started minute), as Twilio writes it:
        negative, five decimals; nothing for a call never answered."""
        found = self.per_minute(number)
        if found is None or not duration_s:
            return Decimal("0").quantize(PRICE_QUANTUM)
        minutes = math.ceil(duration_s / 60)
        return (-(found[1].per_minute * minutes)).quantize(PRICE_QUANTUM)


def _prefix_price_json(line: PrefixPrice) -> dict[str, Any]:
    price = str(line.per_minute)
    return {
        "base_price": price,
        "current_price": price,
        "destination_prefixes": list(line.destination_prefixes),
        "friendly_name": line.friendly_name,
        "origination_prefixes": ["ALL"],
    }


def country_resource(prices: CountryPrices, base_url: str) -> dict[str, Any]:
    return {
        "country": prices.country,
        "inbound_call_prices": [],
        "iso_country": prices.iso_country,
        "outbound_prefix_prices": [_prefix_price_json(line) for line in prices.outbound],
        "price_unit": PRICE_UNIT,
        "url": f"{base_url}/v2/Voice/Countries/{prices.iso_country}",
    }


def number_resource(
    number: str, country: CountryPrices, line: PrefixPrice, base_url: str
) -> dict[str, Any]:
    price = str(line.per_minute)
    return {
        "country": country.country,
        "destination_number": number,
        "inbound_call_price": None,
        "iso_country": country.iso_country,
        "origination_number": None,
        "outbound_call_prices": [
            {"base_price": price, "current_price": price, "origination_prefixes": ["ALL"]}
        ],
        "price_unit": PRICE_UNIT,
        "url": f"{base_url}/v2/Voice/Numbers/{number}",
    }


def pricing_routes(prices: PriceList) -> list[Route]:
    """``GET /v2/Voice/Countries/{IsoCountry}``, ``GET /v2/Voice/Numbers/{DestinationNumber}``."""

    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def fetch_country(request: Request) -> Response:
        iso = str(request.path_params["iso"]).upper()
        country = prices.countries.get(iso)
        if country is None:
            raise ResourceNotFound(request.url.path)
        return JSONResponse(country_resource(country, base_url(request)))

    async def fetch_number(request: Request) -> Response:
        number = str(request.path_params["number"])
        found = prices.per_minute(number)
        if found is None:
            raise ResourceNotFound(request.url.path)
        return JSONResponse(number_resource(number, *found, base_url(request)))

    return [
        Route("/v2/Voice/Countries/{iso}", fetch_country, methods=["GET"]),
        Route("/v2/Voice/Numbers/{number}", fetch_number, methods=["GET"]),
    ]
