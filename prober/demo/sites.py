"""The demo's websites: which behaviour each structure's site has, the hours its pages publish,
and how the stored site checks and corrections compare with the web sandbox's truth.

Pure helpers (no sandbox import): ``prober.demo.run`` starts the sandbox's sites with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from config.opening_hours import FRENCH_DAY_NAMES, parse_opening_hours

# Given in turn to the structures that publish a website: everyday sites and what goes wrong
# with them (the sandbox's other behaviours, bombs and traps, are in `prober site check`'s tests).
SITE_BEHAVIOURS = (
    "ok",
    "phone_differs",
    "upgrade",
    "hours_differ",
    "moved",
    "no_statement",
    "down",
    "ok",
    "server_error",
    "contact_hidden",
    "http_only",
    "obfuscated_email",
    "expired_certificate",
)
# How far a measured load time may fall below the sandbox's floor (clock resolution).
LOAD_TOLERANCE_S = 0.05


def _clock(minutes: int) -> str:
    return f"{minutes // 60}h{minutes % 60:02d}"


def french_hours(opening_hours: str | None) -> tuple[tuple[str, str], ...]:
    """The directory's hours as a town hall's site writes them: ``("Lundi au vendredi",
    "8h30 – 12h00 et 13h30 – 17h30")``, consecutive days with the same hours together."""
    if not opening_hours:
        return ()
    weekly = parse_opening_hours(opening_hours).weekly
    lines: list[tuple[str, str]] = []
    day = 0
    while day < len(weekly):
        last = day
        while last + 1 < len(weekly) and weekly[last + 1] == weekly[day]:
            last += 1
        if weekly[day]:
            names = FRENCH_DAY_NAMES[day]
            if last > day:
                names += f" au {FRENCH_DAY_NAMES[last].lower()}"
            times = " et ".join(f"{_clock(start)} – {_clock(end)}" for start, end in weekly[day])
            lines.append((names, times))
        day = last + 1
    return tuple(lines)


def check_differences(stored: Mapping[str, Any], truth: Mapping[str, Any]) -> list[str]:
    """How a stored ``site.checked`` payload differs from the sandbox's truth for that site;
    empty when it does not (``load_s`` must reach the truth's floor, or be null with it)."""
    expected: Mapping[str, Any] = truth["expected"]
    differences = [
        f"{key} {stored.get(key)!r} (vérité {value!r})"
        for key, value in expected.items()
        if key != "load_s" and stored.get(key) != value
    ]
    if stored.get("outcome") != truth["outcome"]:
        differences.append(f"issue {stored.get('outcome')} (vérité {truth['outcome']})")
    floor, load = truth["min_load_s"], stored.get("load_s")
    if (floor is None) != (load is None) or (
        floor is not None and load is not None and load < floor - LOAD_TOLERANCE_S
    ):
        differences.append(f"load_s {load} (vérité ≥ {floor})")
    return differences
