"""Recording from the first ring, end to end: prober places each call to its own leg, which
<Dial>s the structure with record="record-from-ringing-dual"; the sandbox renders the recording
as real sound (ringback, French speech, music, announcements, a switchboard's own ringback after
it answered, busy tone, the caller's words and keys), and the rings and hold prober reads from
the audio are compared with the sandbox's ground truth, structure by structure, beside the
figures from Twilio's callbacks (which cannot hear a switchboard's own ringback)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from sandbox import CallTruth, parse_world
from storage.models import CallMeasurement
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

pytestmark = pytest.mark.e2e

TIME_SCALE = 0.5
OWN_LEG = "client:prober"
# Hold from the audio: from the end of the caller's key or request on its channel to the first
# live words; the sandbox's truth is in whole seconds.
HOLD_TOLERANCE_S = 1.0
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
PASS_ON = "Ne quittez pas, je vous passe le service de l'état civil."  # noqa: S105
PLEASE_WAIT = "Votre appel est important pour nous, veuillez patienter."
MUSIC_HOLD = (
    '[numbers."{n}".menu."1"]\nhold = "music"\n'
    f'announcement = "{PLEASE_WAIT}"\nannouncement_every_s = 12\nhold_s = {{hold}}\n'
    'greeting = "État civil, bonjour."'
)
PERSON_PASSES_ON = (
    '[numbers."{n}".transfer]\n'
    f'say = "{PASS_ON}"\nhold = "music"\nhold_s = {{hold}}\n'
    'greeting = "État civil, je vous écoute."'
)
# (scenario, world entry with {n} for the number)
LINES = [
    ("ask", 'rings = 2\ngreeting = "Mairie de Vincennes, bonjour. Que puis-je pour vous ?"'),
    ("ask", 'rings = 1\ngreeting = "Allô, mairie de Sète, bonjour."'),
    ("ask", 'rings = 4\ngreeting = "Hôtel de ville, bonjour. [pause 1] Je vous écoute."'),
    ("ask", 'rings = 6\nmusic_before_greeting_s = 4\ngreeting = "Mairie de Pau, bonjour."'),
    ("ask", 'rings = 7\ngreeting = "Mairie de Brive, bonjour."'),
    ("ask", 'outcome = "no-answer"'),
    ("ask", 'outcome = "busy"'),
    (
        "ask",
        'rings = 5\nanswer = "machine"\nhangup_after_s = 25\n'
        'greeting = "Vous êtes sur la messagerie de la mairie, laissez un message après le bip."',
    ),
    # Switchboards that answer, then play their own ringback before anyone speaks.
    ("ask", 'rings = 1\nringback_after_answer = 3\ngreeting = "Mairie de Dax, bonjour."'),
    ("ask", 'rings = 0\nringback_after_answer = 2\ngreeting = "Accueil de la mairie, bonjour."'),
    ("ask", 'rings = 3\nringback_after_answer = 1\ngreeting = "Mairie d\'Agen, bonjour."'),
    ("ask", 'rings = 2\nringback_after_answer = 4\ngreeting = "Mairie de Laval, bonjour."'),
    (
        "transfer",
        'rings = 0\nringback_after_answer = 3\nanswer = "ivr"\n'
        f'greeting = "{MENU.format(town="Auch")}"\n' + MUSIC_HOLD.replace("{hold}", "30"),
    ),
    (
        "transfer",
        'rings = 1\nringback_after_answer = 2\ngreeting = "Mairie, bonjour."\n'
        + PERSON_PASSES_ON.replace("{hold}", "25"),
    ),
    # Menus and transfers with hold music and announcements.
    (
        "transfer",
        f'rings = 1\nanswer = "ivr"\ngreeting = "{MENU.format(town="Lyon")}"\n'
        + MUSIC_HOLD.replace("{hold}", "35"),
    ),
    (
        "transfer",
        f'rings = 3\nanswer = "ivr"\nmusic_before_greeting_s = 10\n'
        f'greeting = "{MENU.format(town="Nantes")}"\n' + MUSIC_HOLD.replace("{hold}", "20"),
    ),
    (
        "transfer",
        'rings = 4\ngreeting = "Mairie, bonjour."\n' + PERSON_PASSES_ON.replace("{hold}", "40"),
    ),
    (
        "transfer",
        'rings = 2\ngreeting = "Mairie de Rennes, bonjour."\n'
        + PERSON_PASSES_ON.replace("{hold}", "15"),
    ),
    (
        "transfer",
        f'rings = 2\nanswer = "ivr"\ngreeting = "{MENU.format(town="Tours")}"\n'
        '[numbers."{n}".menu."1"]\n'
        f'say = "{PASS_ON}"\nhold = "music"\nhold_s = 50\n'
        'announcement = "Tous nos conseillers sont occupés, veuillez patienter."\n'
        'announcement_every_s = 15\ngreeting = "État civil, bonjour."',
    ),
    (
        "transfer",
        f'rings = 1\nanswer = "ivr"\ngreeting = "{MENU.format(town="Brest")}"\n'
        '[numbers."{n}".menu."1"]\nhold = "music"\nhold_s = 12\ngreeting = "État civil, bonjour."',
    ),
    ("transfer", 'rings = 2\ngreeting = "Mairie de Niort, bonjour."'),
    (
        "transfer",
        'rings = 5\ngreeting = "Mairie, bonjour."\n' + PERSON_PASSES_ON.replace("{hold}", "30"),
    ),
]


def world_and_targets() -> tuple[str, list[Target]]:
    entries, targets = [], []
    for index, (scenario, body) in enumerate(LINES):
        number = f"+3314277{index:04d}"
        head, _, tables = body.replace("{n}", number).partition("[numbers.")
        entry = f'[numbers."{number}"]\n{head.rstrip()}\n'
        if tables:
            entry += "[numbers." + tables + "\n"
        entries.append(entry)
        targets.append(Target(number, scenario))
    return "\n".join(entries), targets


WORLD, TARGETS = world_and_targets()


async def test_rings_and_hold_from_the_audio_equal_the_ground_truth(
    engine: Engine, tmp_path: Path
) -> None:
    assert len(TARGETS) >= 20
    probe_ids = seed_probes(engine, TARGETS, SCENARIOS)
    with running_sandbox(parse_world(WORLD), time_scale=TIME_SCALE, calls_per_second=4) as sandbox:
        async with running_prober(
            engine, sandbox.base_url, tmp_path / "rec", time_scale=TIME_SCALE, own_leg=OWN_LEG
        ) as prober:
            placed = await asyncio.gather(*(prober.probes.place(probe) for probe in probe_ids))
            assert all(call is not None for call in placed)

            def all_analysed() -> bool:
                attempts = attempts_of(engine, probe_ids)
                recordings = [r for r in recordings_of(engine, probe_ids) if r.status == "stored"]
                return (
                    len(attempts) == len(TARGETS)
                    and all(a.ended_at is not None for a in attempts)
                    and len(sandbox.truth.entries) == len(TARGETS)
                    and len(recordings) == sum(1 for t in sandbox.truth.entries if t.recording_sid)
                    and prober.probes.recordings_analysed == len(recordings)
                )

            await wait_until(all_analysed, timeout_s=400, what="every recording analysed")
        dialled = [call for call in sandbox.store.newest_first() if call.parent_call_sid]
    assert len(dialled) == len(TARGETS)  # each structure dialled once, from an own leg
    rows, mismatches = compare(engine, probe_ids, sandbox.truth.entries)
    heading = (
        "number        status    rings: truth (after answer) callbacks audio"
        " | hold: truth audio  music  transfer at: truth prober"
    )
    print("\n" + "\n".join([heading, *rows]))  # noqa: T201 (both figures, shown with -s)
    missed = [row for row in rows if "after" in row]
    assert missed, "the world has switchboards that ring after answering"
    with Session(engine) as session:
        flagged = session.exec(
            select(CallMeasurement).where(col(CallMeasurement.check) == "disagreement")
        ).all()
    assert len(flagged) >= 4  # the switchboards whose own ringback the callbacks missed
    assert not mismatches, f"{len(mismatches)} of {len(TARGETS)} differ:\n" + "\n".join(mismatches)


def compare(
    engine: Engine, probe_ids: list[uuid.UUID], entries: list[CallTruth]
) -> tuple[list[str], list[str]]:
    """One printed row per structure (truth, callbacks, audio) and every audio mismatch."""
    truth_by_parent = {entry.parent_call_sid: entry for entry in entries}
    rows, mismatches = [], []
    with Session(engine) as session:
        for attempt in attempts_of(engine, probe_ids):
            truth = truth_by_parent[attempt.external_id]
            audio = session.exec(
                select(CallMeasurement).where(
                    col(CallMeasurement.attempt_id) == attempt.id,
                    col(CallMeasurement.source) == "audio",
                )
            ).first()
            heard = truth.rings + truth.rings_after_answer
            callbacks_rings = attempt.measurement.get("rings_callbacks")
            audio_rings = None if audio is None else audio.rings
            audio_hold = None if audio is None else audio.hold_s
            hold_counts = truth.transfer_outcome in ("human", "voicemail")
            after = f" ({truth.rings_after_answer} after)" if truth.rings_after_answer else ""
            rows.append(
                f"{truth.to}  {truth.status:9} {heard:2d}{after:12} {callbacks_rings!s:>9}"
                f"  {audio_rings!s:>5} | {truth.hold_s if hold_counts else '-'!s:>10}"
                f"  {'-' if audio_hold is None else f'{audio_hold:.1f}':>10}"
                f"  {(truth.audio or {}).get('music_style', ''):8}"
                f" {(truth.audio or {}).get('transfer_at_s')!s:>5}"
                f" {None if audio is None else audio.details.get('transfer_at_s')!s:>6}"
            )
            problems = []
            if truth.status == "busy":
                if audio is None or not audio.busy:
                    problems.append("busy not heard")
            elif audio_rings != heard:
                problems.append(f"rings {audio_rings} (truth {heard})")
            if hold_counts and truth.hold_s is not None:
                if audio_hold is None or abs(audio_hold - truth.hold_s) > HOLD_TOLERANCE_S:
                    problems.append(f"hold {audio_hold} (truth {truth.hold_s})")
            # The callbacks miss a switchboard's own ringback: more than a ring apart, the
            # call goes to an auditor with both figures and the timeline.
            apart = None if audio_rings is None else abs(audio_rings - (callbacks_rings or 0))
            if audio is not None and apart is not None and apart > 1:
                if audio.check != "disagreement" or not audio.details.get("segments"):
                    problems.append(f"not flagged for an auditor ({audio.check})")
                elif audio.details["callbacks"]["rings"] != callbacks_rings:
                    problems.append("the flag does not carry the callbacks' rings")
            if problems:
                mismatches.append(f"{truth.to}: " + "; ".join(problems))
    return rows, mismatches
