"""Twilio's voice prices as prober reads them (Pricing API v2, and the price on a Call).

Twilio sends prices as decimal strings; a call's ``price`` is negative (a charge) and stays
empty until some time after the call ends. A number's per-minute rate is the one of the
longest destination prefix matching it in its country's list (Twilio's own rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from channels.errors import PermanentContactError


@dataclass(frozen=True, slots=True)
class PrefixRate:
    """Outbound minutes to numbers starting with one of ``prefixes`` (digits, no ``+``)."""

    name: str
    prefixes: tuple[str, ...]
    per_minute: Decimal


@dataclass(frozen=True, slots=True)
class CountryRates:
    """A country's outbound voice prices, in ``price_unit``."""

    iso_country: str
    price_unit: str
    rates: tuple[PrefixRate, ...]

    def per_minute(self, number: str) -> Decimal | None:
        """The rate of the longest prefix matching ``number`` (E.164), None if none does."""
        digits = number.lstrip("+")
        best: tuple[int, Decimal] | None = None
        for rate in self.rates:
            for prefix in rate.prefixes:
                if digits.startswith(prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), rate.per_minute)
        return None if best is None else best[1]


def decimal_price(value: object, *, what: str) -> Decimal | None:
    """A price Twilio sent (a string, maybe a number), None when empty; refused if not a number."""
    if value is None or value == "":
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise PermanentContactError(
            f"Twilio sent {what} {str(value)[:40]!r}: not a price"
        ) from None
    if not price.is_finite():
        raise PermanentContactError(f"Twilio sent {what} {str(value)[:40]!r}: not a price")
    return price


def country_rates(
    iso_country: str, price_unit: str | None, lines: Iterable[Mapping[str, Any]] | None
) -> CountryRates:
    """A Pricing Voice Country resource's outbound prices, typed."""
    rates = []
    for line in lines or ():
        price = decimal_price(line.get("current_price"), what=f"a {iso_country} price")
        prefixes = tuple(str(p) for p in line.get("destination_prefixes") or ())
        if price is not None and prefixes:
            rates.append(PrefixRate(str(line.get("friendly_name", "")), prefixes, price))
    return CountryRates(iso_country, (price_unit or "").upper(), tuple(rates))
