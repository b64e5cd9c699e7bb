"""The demo's directory corrections, written to CSV and checked against the sandbox's truth.

What the simulated world really did (the truth logs of calls, mail and sites) says which
directory values are wrong: numbers that do not exist, numbers nobody ever answered, mailboxes
that bounce, sites down, moved or publishing other contacts. ``prober corrections`` must list
exactly those.
"""

from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from prober.project.files import write_atomically
from prober.results.corrections import (
    DESCRIPTIONS,
    MIN_UNANSWERED_ATTEMPTS,
    NUMBER_NOT_IN_SERVICE,
    Correction,
    find_corrections,
    write_corrections_csv,
)
from storage.corrections import wave_observations
from storage.models import Wave

Finding = tuple[str, str]
"""(directory value, problem)."""

# The sandbox's behaviours whose site publishes something other than the directory, or leads
# nowhere: the corrections the demo's wave must propose, and only those.
FINDINGS = {
    "phone_differs": "phone_differs_from_site",
    "hours_differ": "opening_hours_differ_from_site",
    "moved": "website_moved",
    "down": "website_down",
    "server_error": "website_down",
}


@dataclass(frozen=True, slots=True)
class CheckedCorrections:
    """The corrections the demo's wave produced, and how they differ from the truth."""

    path: Path
    corrections: list[Correction]
    missing: list[Finding]
    unexpected: list[Finding]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON-lines truth log; none when the log does not exist."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def expected_findings(
    calls: Iterable[dict[str, Any]], mail: Iterable[dict[str, Any]]
) -> set[Finding]:
    """What the truth logs say is wrong with the directory."""
    expected: set[Finding] = set()
    outcomes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        outcomes[call["to"]].append(call)
    for number, made in outcomes.items():
        if any(
            c["status"] == "failed" and c["sip_response_code"] in NUMBER_NOT_IN_SERVICE
            for c in made
        ):
            expected.add((number, "number_not_in_service"))
        elif len(made) >= MIN_UNANSWERED_ATTEMPTS and all(c["status"] == "no-answer" for c in made):
            expected.add((number, "number_never_answered"))
    expected |= {(m["mailbox"], "address_bounces") for m in mail if m.get("kind") == "bounce"}
    return expected


def site_findings(truths: Iterable[dict[str, Any]], dead_numbers: set[str]) -> set[Finding]:
    """The corrections the sites call for. A number found dead is reported as such (with the
    site's number proposed), not as differing from the site."""
    found: set[Finding] = set()
    for truth in truths:
        problem = FINDINGS.get(truth["behaviour"])
        if problem is None:
            continue
        value = {
            "phone_differs_from_site": truth["directory_phone"],
            "opening_hours_differ_from_site": truth["directory_hours"],
        }.get(problem, truth["url"])
        if problem == "phone_differs_from_site" and value in dead_numbers:
            continue
        found.add((value, problem))
    return found


def check_corrections(engine: Engine, wave: str, folder: Path) -> CheckedCorrections:
    """Write ``folder/corrections.csv`` for ``wave`` and compare it with the truth logs."""
    with Session(engine) as session:
        wave_row = session.exec(select(Wave).where(col(Wave.name) == wave)).one()
        assert wave_row.id is not None  # noqa: S101 - a stored wave
        found = find_corrections(wave_observations(session, wave_row.id))
    buffer = io.StringIO(newline="")
    write_corrections_csv(found, buffer)
    path = folder / "corrections.csv"
    write_atomically(path, buffer.getvalue().encode("utf-8"))
    expected = expected_findings(
        read_jsonl(folder / "truth-calls.jsonl"), read_jsonl(folder / "truth-mail.jsonl")
    )
    dead = {value for value, problem in expected if problem == "number_not_in_service"}
    expected |= site_findings(read_jsonl(folder / "truth-sites.jsonl"), dead)
    got = {(c.directory_value, c.problem) for c in found}
    return CheckedCorrections(path, found, sorted(expected - got), sorted(got - expected))


def summary(checked: CheckedCorrections) -> str:
    """One sentence for the demo's output."""
    counts = Counter(c.problem for c in checked.corrections)
    parts = ", ".join(f"{n} {DESCRIPTIONS[problem]}" for problem, n in sorted(counts.items()))
    verdict = (
        "conformes à la vérité du bac à sable"
        if not checked.missing and not checked.unexpected
        else f"{len(checked.missing)} manquant(s), {len(checked.unexpected)} en trop"
    )
    return (
        f"Corrections de l'annuaire : {len(checked.corrections)} constat(s) ({parts}), "
        f"{verdict} ; {checked.path}."
    )
