"""Opening hours in a subset of OpenStreetMap's ``opening_hours`` syntax.

Supported syntax::

    text      := rule (";" rule)*            ; an empty rule after a trailing ";" is ignored
    rule      := "24/7" | selector times
    selector  := item ("," item)*
    item      := day | day "-" day | "PH"    ; days: Mo Tu We Th Fr Sa Su; "Sa-Mo" wraps
    times     := "off" | "closed" | span ("," span)*
    span      := HH:MM "-" HH:MM             ; end after start, end up to 24:00

Examples: ``Mo-Fr 08:30-12:00,13:30-17:00; Sa 09:00-12:00``, ``24/7; Su off``,
``Mo-Fr 09:00-17:00; PH off``.

As in OSM, a later rule naming a day replaces what earlier rules said about that day. The spans
of one rule are sorted, and overlapping or touching spans are merged. ``24/7`` opens every weekday
all day; it says nothing about public holidays, which only a ``PH`` rule sets.

Everything else OSM allows (month, week or date selectors, ``sunrise``, comments in quotes,
``+``, ``||``, overnight spans, a rule without a day selector or without times) is rejected with
an :class:`OpeningHoursError`.

Times are minutes since midnight: the wave planner compares them for tens of thousands of
structures.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from config.errors import ConfigError

Interval = tuple[int, int]
MINUTES_PER_DAY = 1440
DAY_NAMES = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
FRENCH_DAY_NAMES = ("Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche")

SUPPORTED_SYNTAX = (
    "supported: rules separated by ';', each '24/7' or days (Mo Tu We Th Fr Sa Su, ranges "
    "like Mo-Fr, PH) followed by 'off' or HH:MM-HH:MM spans separated by ','"
)


class OpeningHoursError(ConfigError):
    """Opening hours that are malformed or use syntax outside the supported subset.

    ``field`` names the offending field (``plage_ouverture[1].valeur_heure_fin_1``) when the
    hours come from the Service-Public directory, else None.
    """

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """The weekly hours (Monday=0 .. Sunday=6) and the public-holiday hours, in minutes."""

    weekly: tuple[tuple[Interval, ...], ...]
    public_holidays: tuple[Interval, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.weekly) != len(DAY_NAMES):
            raise ValueError(f"weekly must hold 7 days, got {len(self.weekly)}")
        for intervals in (*self.weekly, self.public_holidays or ()):
            previous_end = -1
            for start, end in intervals:
                if not 0 <= start < end <= MINUTES_PER_DAY or start <= previous_end:
                    raise ValueError(f"intervals must be sorted, disjoint, in 0..1440: {intervals}")
                previous_end = end

    def on_weekday(self, weekday: int) -> tuple[Interval, ...]:
        """The intervals of a weekday, Monday=0 .. Sunday=6 (as ``date.weekday()``)."""
        if not 0 <= weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {weekday}")
        return self.weekly[weekday]

    @property
    def is_never_open(self) -> bool:
        """True when no day, public holidays included, has any opening interval."""
        return not any(self.weekly) and not self.public_holidays

    def to_osm(self) -> str:
        """The canonical OSM text; :func:`parse_opening_hours` reads it back to an equal value."""
        rules: list[str] = []
        if all(day == ((0, MINUTES_PER_DAY),) for day in self.weekly):
            rules.append("24/7")
        else:
            # Runs of consecutive days with the same intervals, then runs sharing intervals.
            runs: list[tuple[int, int, tuple[Interval, ...]]] = []
            for weekday, intervals in enumerate(self.weekly):
                if runs and runs[-1][1] == weekday - 1 and runs[-1][2] == intervals:
                    runs[-1] = (runs[-1][0], weekday, intervals)
                else:
                    runs.append((weekday, weekday, intervals))
            selectors: dict[tuple[Interval, ...], list[str]] = {}
            for first, last, intervals in runs:
                if intervals:
                    selectors.setdefault(intervals, []).append(_day_range(first, last))
            rules.extend(
                f"{','.join(days)} {_format_intervals(intervals)}"
                for intervals, days in selectors.items()
            )
            if not rules:
                rules.append("Mo-Su off")
        if self.public_holidays:
            rules.append(f"PH {_format_intervals(self.public_holidays)}")
        return "; ".join(rules)


def _day_range(first: int, last: int) -> str:
    if first == last:
        return DAY_NAMES[first]
    return f"{DAY_NAMES[first]}-{DAY_NAMES[last]}"


def _format_minutes(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _format_intervals(intervals: Iterable[Interval]) -> str:
    return ",".join(f"{_format_minutes(start)}-{_format_minutes(end)}" for start, end in intervals)


def _merge(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def _days_between(first: int, last: int) -> list[int]:
    """``first`` to ``last`` included, wrapping past Sunday (Sa-Mo is Sa, Su, Mo)."""
    return [(first + offset) % 7 for offset in range((last - first) % 7 + 1)]


_SYMBOL = re.compile(r"\s*(?:(?P<time>\d+(?::\d+)*)|(?P<word>[A-Za-z]+)|(?P<other>\S))")
_TIME = re.compile(r"(\d\d):(\d\d)")
_UNSUPPORTED_WORDS = {
    "sunrise": "sunrise/sunset times",
    "sunset": "sunrise/sunset times",
    "dawn": "dawn/dusk times",
    "dusk": "dawn/dusk times",
    "week": "week selectors",
    "SH": "school holidays",
    "easter": "date selectors",
    "open": "the 'open' modifier",
    "unknown": "the 'unknown' modifier",
}
_MONTHS = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}


class _Rule:
    """Tokens of one rule, consumed left to right."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.symbols: list[str] = []
        for match in _SYMBOL.finditer(text):
            symbol = match.group(match.lastgroup or "other")
            self._check_supported(symbol)
            self.symbols.append(symbol)
        self.position = 0

    def _check_supported(self, symbol: str) -> None:
        what: str | None = None
        if symbol in _MONTHS:
            what = "month selectors"
        elif symbol in _UNSUPPORTED_WORDS:
            what = _UNSUPPORTED_WORDS[symbol]
        elif symbol == '"':
            what = "comments in quotes"
        elif symbol == "+":
            what = "open-ended times"
        elif symbol == "|":
            what = "fallback rules"
        elif symbol in "[]":
            what = "nth-weekday selectors"
        elif symbol == "/":
            what = "'/' outside a whole '24/7' rule"
        if what is not None:
            raise OpeningHoursError(
                f"rule {self.text!r}: unsupported token {symbol!r} ({what}); {SUPPORTED_SYNTAX}"
            )

    def peek(self) -> str | None:
        return self.symbols[self.position] if self.position < len(self.symbols) else None

    def take(self) -> str | None:
        symbol = self.peek()
        self.position += 1
        return symbol

    def fail(self, expected: str, symbol: str | None) -> OpeningHoursError:
        found = f"found {symbol!r}" if symbol is not None else "the rule ends"
        return OpeningHoursError(
            f"rule {self.text!r}: expected {expected}, {found}; {SUPPORTED_SYNTAX}"
        )


def _parse_day(rule: _Rule, symbol: str | None) -> int:
    if symbol not in DAY_NAMES:
        raise rule.fail("a day (Mo Tu We Th Fr Sa Su) or PH", symbol)
    return DAY_NAMES.index(symbol)


def _parse_selector(rule: _Rule) -> tuple[set[int], bool]:
    days: set[int] = set()
    public_holidays = False
    while True:
        symbol = rule.take()
        if symbol == "PH":
            public_holidays = True
            if rule.peek() == "-":
                raise rule.fail("',' or times after PH (PH is not a day of a range)", "-")
        else:
            first = _parse_day(rule, symbol)
            if rule.peek() == "-":
                rule.take()
                last = _parse_day(rule, rule.take())
                days.update(_days_between(first, last))
            else:
                days.add(first)
        if rule.peek() != ",":
            return days, public_holidays
        rule.take()


def _parse_time(rule: _Rule, symbol: str | None, *, is_end: bool) -> int:
    match = _TIME.fullmatch(symbol or "")
    if match is None:
        raise rule.fail("a time HH:MM (two digits each)", symbol)
    hours, minutes = int(match.group(1)), int(match.group(2))
    value = hours * 60 + minutes
    latest = MINUTES_PER_DAY if is_end else MINUTES_PER_DAY - 1
    if minutes > 59 or value > latest:
        limit = "24:00" if is_end else "23:59"
        raise OpeningHoursError(
            f"rule {rule.text!r}: time {symbol!r} is out of range 00:00-{limit}"
        )
    return value


def _parse_times(rule: _Rule) -> tuple[Interval, ...]:
    symbol = rule.peek()
    if symbol is None:
        raise rule.fail("times (HH:MM-HH:MM) or 'off' after the days", None)
    if symbol.lower() in ("off", "closed"):
        rule.take()
        return ()
    intervals: list[Interval] = []
    while True:
        start_text = rule.take()
        start = _parse_time(rule, start_text, is_end=False)
        if (dash := rule.take()) != "-":
            raise rule.fail("'-' between start and end times", dash)
        end_text = rule.take()
        end = _parse_time(rule, end_text, is_end=True)
        if end <= start:
            raise OpeningHoursError(
                f"rule {rule.text!r}: span {start_text}-{end_text} must end after it starts "
                "(overnight spans are not supported; end at 24:00 and start again at 00:00)"
            )
        intervals.append((start, end))
        if rule.peek() != ",":
            return _merge(intervals)
        rule.take()


def parse_opening_hours(text: str) -> OpeningHours:
    """Parse OSM ``opening_hours`` text in the subset described in this module's docstring."""
    if not text.strip():
        raise OpeningHoursError("opening hours are empty; " + SUPPORTED_SYNTAX)
    weekly: list[tuple[Interval, ...]] = [()] * len(DAY_NAMES)
    public_holidays: tuple[Interval, ...] | None = None
    rule_texts = [part.strip() for part in text.split(";")]
    while rule_texts and not rule_texts[-1]:
        rule_texts.pop()
    if not rule_texts:
        raise OpeningHoursError(f"opening hours {text!r} hold no rule; {SUPPORTED_SYNTAX}")
    for rule_text in rule_texts:
        if not rule_text:
            raise OpeningHoursError(f"opening hours {text!r} hold an empty rule between ';'")
        if rule_text == "24/7":
            weekly = [((0, MINUTES_PER_DAY),)] * len(DAY_NAMES)
            continue
        rule = _Rule(rule_text)
        if rule.peek() is not None and _TIME.fullmatch(rule.peek() or ""):
            raise rule.fail("days (e.g. Mo-Fr) before the times", rule.peek())
        days, names_public_holidays = _parse_selector(rule)
        intervals = _parse_times(rule)
        if (extra := rule.peek()) is not None:
            raise rule.fail("the end of the rule (separate rules with ';')", extra)
        for day in days:
            weekly[day] = intervals
        if names_public_holidays:
            public_holidays = intervals or None
    return OpeningHours(tuple(weekly), public_holidays)


_ANNUAIRE_TIME = re.compile(r"(\d\d):(\d\d)(?::(\d\d))?")


def _annuaire_time(item: dict[str, str], index: int, field: str, *, is_end: bool) -> int | None:
    value = item.get(field, "")
    if not isinstance(value, str):
        raise OpeningHoursError(f"expected a time HH:MM:SS, got {value!r}", field=_at(index, field))
    value = value.strip()
    if not value:
        return None
    match = _ANNUAIRE_TIME.fullmatch(value)
    minutes = int(match.group(1)) * 60 + int(match.group(2)) if match else -1
    if match is None or int(match.group(2)) > 59 or minutes > MINUTES_PER_DAY:
        raise OpeningHoursError(
            f"expected a time HH:MM:SS between 00:00:00 and 24:00:00, got {value!r}",
            field=_at(index, field),
        )
    # The directory writes a closing time of midnight as 00:00:00.
    if is_end and minutes == 0:
        return MINUTES_PER_DAY
    return minutes


def _annuaire_day(item: dict[str, str], index: int, field: str) -> int | None:
    value = item.get(field, "")
    if not isinstance(value, str):
        value = repr(value)
    name = value.strip().capitalize()
    if not name:
        return None
    if name not in FRENCH_DAY_NAMES:
        raise OpeningHoursError(
            f"expected a French day name ({', '.join(FRENCH_DAY_NAMES)}), got {value!r}",
            field=_at(index, field),
        )
    return FRENCH_DAY_NAMES.index(name)


def _at(index: int, field: str) -> str:
    return f"plage_ouverture[{index}].{field}"


def opening_hours_from_annuaire(plages: list[dict[str, str]]) -> tuple[str, str]:
    """Convert the directory's ``plage_ouverture`` list to (canonical OSM text, note).

    Each item adds its hours to its days (items are statements of when the counter is open, not
    overrides). The note joins the items' non-empty ``commentaire`` with " / ". Both strings are
    empty when the list is empty; the text is empty when no item gives any hours.
    """
    weekly: list[list[Interval]] = [[] for _ in DAY_NAMES]
    notes: list[str] = []
    for index, item in enumerate(plages):
        if not isinstance(item, dict):
            raise OpeningHoursError(
                f"expected an object with nom_jour_debut, ..., got {item!r}",
                field=f"plage_ouverture[{index}]",
            )
        first = _annuaire_day(item, index, "nom_jour_debut")
        if first is None:
            raise OpeningHoursError(
                "expected a French day name, got ''", field=_at(index, "nom_jour_debut")
            )
        last = _annuaire_day(item, index, "nom_jour_fin")
        days = _days_between(first, first if last is None else last)
        for slot in (1, 2):
            start = _annuaire_time(item, index, f"valeur_heure_debut_{slot}", is_end=False)
            end = _annuaire_time(item, index, f"valeur_heure_fin_{slot}", is_end=True)
            if start is None and end is None:
                continue
            if start is None or end is None:
                missing = (
                    f"valeur_heure_debut_{slot}" if start is None else f"valeur_heure_fin_{slot}"
                )
                raise OpeningHoursError(
                    "expected both a start and an end time for this slot, this one is empty",
                    field=_at(index, missing),
                )
            if start == MINUTES_PER_DAY or end <= start:
                raise OpeningHoursError(
                    f"expected an end time after the start time "
                    f"{item.get(f'valeur_heure_debut_{slot}')!r}, got "
                    f"{item.get(f'valeur_heure_fin_{slot}')!r}",
                    field=_at(index, f"valeur_heure_fin_{slot}"),
                )
            for day in days:
                weekly[day].append((start, end))
        comment = item.get("commentaire", "")
        if isinstance(comment, str) and comment.strip():
            notes.append(comment.strip())
    note = " / ".join(notes)
    if not any(weekly):
        return "", note
    hours = OpeningHours(tuple(_merge(intervals) for intervals in weekly), None)
    return hours.to_osm(), note
