"""Real switchboards end to end: prober calls 44 structures that behave as French lines do
(pauses, music first, hold cues and music, announcements, second-level menus, noisy recognition)
and what it measures is compared with the sandbox's ground truth, call for call."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sandbox import CallTruth, parse_world
from tests.support.phone_scene import (
    Target,
    attempts_of,
    phone_scenario,
    recordings_of,
    running_prober,
    running_sandbox,
    seed_probes,
    wait_until,
)

# The sandbox serves the simulated Twilio on loopback: the end-to-end lane.
pytestmark = pytest.mark.e2e

TIME_SCALE = 0.5
HOLD_TOLERANCE_S = 2.0
CALLS_PER_SECOND = 2.0
SCENARIOS = {
    "ask": phone_scenario("ask", max_ring_seconds=40, max_call_seconds=120),
    "transfer": phone_scenario(
        "transfer",
        request="Bonjour, pourriez-vous me passer le service de l'état civil ?",
        transfer_to="service état civil",
        max_ring_seconds=40,
        max_call_seconds=120,
    ),
}
MENU = (
    "Mairie de {town}, bonjour. [pause 1.5] Pour l'état civil, tapez 1. [pause 1] "
    "Pour l'urbanisme, tapez 2."
)
SUBMENU = (
    "Vous êtes au service de l'état civil. [pause 1.5] Pour un acte de naissance, tapez 1. "
    "Pour parler à un agent de l'état civil, tapez 2."
)
PASS_ON = "Ne quittez pas, je vous passe le service de l'état civil."  # noqa: S105
PLEASE_WAIT = "Votre appel est important pour nous, veuillez patienter."
VOICEMAIL = (
    "Bonjour, vous êtes bien à la mairie. [pause 1] Nos bureaux sont fermés. "
    "Laissez votre message après le bip."
)
SERVICE_VOICEMAIL = "Messagerie de l'état civil, laissez un message après le bip."


@dataclass(frozen=True)
class Line:
    """One kind of switchboard: its world entry (with {n} for the number) and the scenario."""

    scenario: str
    world: str


LINES = [
    # A person, whose greeting pauses before the question.
    Line(
        "ask",
        'rings = 2\ngreeting = "Mairie de Vincennes, bonjour. [pause 1.5] Que puis-je pour vous ?"',
    ),
    # A menu announced after a pause; the entry passes the call on, hold music, announcements.
    Line(
        "transfer",
        f'rings = 1\nanswer = "ivr"\ngreeting = "{MENU.format(town="Lyon")}"\n'
        '[numbers."{n}".menu."1"]\nsay = "Je vous mets en relation."\nhold = "music"\n'
        f'announcement = "{PLEASE_WAIT}"\nannouncement_every_s = 10\nhold_s = 35\n'
        'greeting = "État civil, bonjour."',
    ),
    # Music first, longer than a listening, then the menu; a silent hold.
    Line(
        "transfer",
        f'rings = 3\nanswer = "ivr"\nmusic_before_greeting_s = 10\n'
        f'greeting = "{MENU.format(town="Nantes")}"\n'
        '[numbers."{n}".menu."1"]\nhold_s = 15\ngreeting = "Bonjour, état civil."',
    ),
    # A person who passes the call on: cue words, then music with announcements.
    Line(
        "transfer",
        'rings = 4\ngreeting = "Mairie, bonjour."\n[numbers."{n}".transfer]\n'
        f'say = "{PASS_ON}"\nhold = "music"\nannouncement = "{PLEASE_WAIT}"\n'
        'announcement_every_s = 12\nhold_s = 40\ngreeting = "État civil, je vous écoute."',
    ),
    # The same, ending on the service's voicemail.
    Line(
        "transfer",
        'rings = 2\ngreeting = "Accueil de la mairie, bonjour."\n[numbers."{n}".transfer]\n'
        f'say = "Veuillez patienter, je vous passe le service."\nhold_s = 20\n'
        f'then = "voicemail"\ngreeting = "{SERVICE_VOICEMAIL}"',
    ),
    # Passed on, then the line goes dead on hold music.
    Line(
        "transfer",
        'rings = 1\ngreeting = "Mairie, bonjour."\n[numbers."{n}".transfer]\n'
        f'say = "{PASS_ON}"\nhold = "music"\nhold_s = 25\nthen = "dropped"',
    ),
    # A menu whose entry leads to a second-level menu.
    Line(
        "transfer",
        f'rings = 2\nanswer = "ivr"\ngreeting = "{MENU.format(town="Lille")}"\n'
        '[numbers."{n}".menu."1"]\nsay = "Je vous mets en relation."\nhold_s = 6\n'
        f'then = "menu"\ngreeting = "{SUBMENU}"\n'
        '[numbers."{n}".menu."1".menu."2"]\nhold = "music"\nhold_s = 20\n'
        'greeting = "État civil, bonjour, que puis-je pour vous ?"',
    ),
    # A person who passes the call to a menu.
    Line(
        "transfer",
        'rings = 3\ngreeting = "Mairie, bonjour."\n[numbers."{n}".transfer]\n'
        'say = "Je vous passe le standard, ne quittez pas."\nhold_s = 8\nthen = "menu"\n'
        'greeting = "Standard. [pause 1] Pour l\'état civil, tapez 1."\n'
        '[numbers."{n}".transfer.menu."1"]\nhold = "music"\nhold_s = 18\n'
        'greeting = "Bonjour, état civil."',
    ),
    # A person who answers the request instead of passing it on.
    Line("transfer", 'rings = 2\ngreeting = "Mairie de Rennes, bonjour."'),
    # A voicemail whose announcement pauses.
    Line("ask", f'rings = 5\nanswer = "machine"\ngreeting = "{VOICEMAIL}"\nhangup_after_s = 30'),
    # Held past the call's limit.
    Line(
        "transfer",
        'rings = 1\ngreeting = "Mairie, bonjour."\n[numbers."{n}".transfer]\n'
        f'say = "{PASS_ON}"\nhold = "music"\nannouncement = "{PLEASE_WAIT}"\nhold_s = 300',
    ),
    # Announcements over silence only.
    Line(
        "transfer",
        f'rings = 2\nanswer = "ivr"\ngreeting = "{MENU.format(town="Metz")}"\n'
        '[numbers."{n}".menu."1"]\n'
        f'announcement = "{PLEASE_WAIT}"\nannouncement_every_s = 8\n'
        'hold_s = 30\ngreeting = "État civil, bonjour."',
    ),
    # No hold at all behind the menu.
    Line(
        "transfer",
        f'rings = 1\nanswer = "ivr"\ngreeting = "{MENU.format(town="Brest")}"\n'
        '[numbers."{n}".menu."1"]\nhold_s = 0\ngreeting = "État civil, bonjour."',
    ),
    # A menu entry that ends on a voicemail after music.
    Line(
        "transfer",
        f'rings = 3\nanswer = "ivr"\ngreeting = "{MENU.format(town="Caen")}"\n'
        '[numbers."{n}".menu."1"]\nsay = "Je vous mets en relation."\nhold = "music"\n'
        f'hold_s = 25\nthen = "voicemail"\ngreeting = "{SERVICE_VOICEMAIL}"',
    ),
    # A person answering after music.
    Line(
        "ask",
        'rings = 6\nmusic_before_greeting_s = 4\ngreeting = "Mairie de Pau, bonjour."',
    ),
    Line("ask", 'outcome = "busy"\nrings = 2'),
    Line("ask", 'outcome = "no-answer"'),
    Line("ask", 'outcome = "failed"'),
    # A person who answers at the first ring, and one at the fourth.
    Line("ask", 'rings = 1\ngreeting = "Allô, mairie de Sète, bonjour."'),
    Line("transfer", 'rings = 4\ngreeting = "Hôtel de ville, bonjour. [pause 1] Je vous écoute."'),
    # A second-level menu behind music and a voicemail at its end.
    Line(
        "transfer",
        f'rings = 1\nanswer = "ivr"\nmusic_before_greeting_s = 5\n'
        f'greeting = "{MENU.format(town="Nîmes")}"\n'
        '[numbers."{n}".menu."1"]\nhold_s = 5\nthen = "menu"\n'
        f'greeting = "{SUBMENU}"\n'
        '[numbers."{n}".menu."1".menu."2"]\nhold = "music"\nhold_s = 15\n'
        f'then = "voicemail"\ngreeting = "{SERVICE_VOICEMAIL}"',
    ),
    # A menu whose music hold carries a cue before the person.
    Line(
        "transfer",
        f'rings = 2\nanswer = "ivr"\ngreeting = "{MENU.format(town="Tours")}"\n'
        '[numbers."{n}".menu."1"]\n'
        f'say = "{PASS_ON}"\nhold = "music"\nhold_s = 50\n'
        f'announcement = "Tous nos conseillers sont occupés, veuillez patienter."\n'
        'announcement_every_s = 15\ngreeting = "État civil, bonjour."',
    ),
]


def world_and_targets() -> tuple[str, list[Target]]:
    """Every line twice, on a clean and on a noisy recogniser: 44 structures."""
    entries: list[str] = []
    targets: list[Target] = []
    for index, line in enumerate(LINES):
        for noisy in (False, True):
            number = f"+3314276{(2 * index + noisy):04d}"
            body = line.world.replace("{n}", number)
            head, _, tables = body.partition("[numbers.")
            recognition = '\nrecognition = "noisy"' if noisy and "outcome" not in head else ""
            entry = f'[numbers."{number}"]\n{head.rstrip()}{recognition}\n'
            if tables:
                entry += "[numbers." + tables + "\n"
            entries.append(entry)
            targets.append(Target(number, line.scenario))
    return "\n".join(entries), targets


WORLD, TARGETS = world_and_targets()


async def test_prober_measures_real_switchboards_as_the_citizen_lived_them(
    engine: Engine, tmp_path: Path
) -> None:
    assert len(TARGETS) >= 40
    probe_ids = seed_probes(engine, TARGETS, SCENARIOS)
    truth, calls_per_number = await _call_everyone(engine, probe_ids, tmp_path)
    mismatches = compare(engine, probe_ids, truth)
    assert all(count == 1 for count in calls_per_number.values()), calls_per_number
    assert not mismatches, f"{len(mismatches)} of {len(TARGETS)} calls differ:\n" + "\n".join(
        mismatches
    )


async def _call_everyone(
    engine: Engine, probe_ids: list[uuid.UUID], tmp_path: Path
) -> tuple[list[CallTruth], Counter[str]]:
    # Two new calls a second, as a real account allows: about thirty under way at once.
    with running_sandbox(
        parse_world(WORLD), time_scale=TIME_SCALE, calls_per_second=CALLS_PER_SECOND
    ) as sandbox:
        async with running_prober(
            engine, sandbox.base_url, tmp_path / "recordings", time_scale=TIME_SCALE
        ) as prober:
            placed = await asyncio.gather(*(prober.probes.place(probe) for probe in probe_ids))
            assert all(call is not None for call in placed)

            def all_measured() -> bool:
                attempts = attempts_of(engine, probe_ids)
                answered = [a for a in attempts if a.outcome == "answered"]
                stored = [r for r in recordings_of(engine, probe_ids) if r.status == "stored"]
                return (
                    len(attempts) == len(TARGETS)
                    and all(a.ended_at is not None for a in attempts)
                    and len(stored) >= len(answered)
                    and len(sandbox.truth.entries) == len(TARGETS)
                )

            await wait_until(all_measured, timeout_s=300, what="every call measured")
        calls = Counter(call.to for call in sandbox.store.newest_first())
    return sandbox.truth.entries, calls


def compare(engine: Engine, probe_ids: list[uuid.UUID], entries: list[CallTruth]) -> list[str]:
    """Every difference between what prober measured and what the citizen lived."""
    truth_by_sid = {entry.sid: entry for entry in entries}
    mismatches: list[str] = []
    for attempt in attempts_of(engine, probe_ids):
        target = TARGETS[probe_ids.index(attempt.probe_id)]
        truth = truth_by_sid[attempt.external_id or ""]
        measured = attempt.measurement
        expected = {
            "outcome": "answered" if truth.status == "completed" else truth.status,
            "answered_by": truth.answered_by,
            "rings": truth.rings if truth.status in ("completed", "no-answer", "busy") else None,
            # A person who answers the request themselves did not transfer it.
            "transfer_outcome": truth.transfer_outcome,
        }
        got = {name: measured.get(name) for name in expected}
        if got["transfer_outcome"] == "not_transferred" and expected["transfer_outcome"] is None:
            got["transfer_outcome"] = None
        if got["rings"] == 0 and expected["rings"] == 0:
            got["rings"] = expected["rings"]
        problems = [
            f"{name} {got[name]!r} (truth {expected[name]!r})"
            for name in expected
            if got[name] != expected[name]
        ]
        if truth.hold_s is not None and truth.transfer_outcome in ("human", "voicemail"):
            hold_s = measured.get("hold_s")
            if hold_s is None or abs(hold_s - truth.hold_s) > HOLD_TOLERANCE_S:
                problems.append(f"hold_s {hold_s!r} (truth {truth.hold_s})")
        if problems:
            mismatches.append(f"{target.number} {target.scenario_id}: " + "; ".join(problems))
    return sorted(mismatches)
