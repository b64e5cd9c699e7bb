"""Phone probes end to end over real HTTP: prober calls the sandbox's structures and what it
stores is compared with the sandbox's ground truth."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

from sqlalchemy import Engine

from sandbox import CallTruth, parse_world
from tests.support.phone_scene import (
    StartSandbox,
    Target,
    attempts_of,
    phone_scenario,
    recordings_of,
    running_prober,
    seed_probes,
    wait_until,
)

TIME_SCALE = 0.2
MENU = "Bonjour et bienvenue à la mairie. Tapez 1 pour l'état civil, 2 pour l'urbanisme."
TAX_MENU = "Bienvenue. Pour les impôts, tapez 1. Pour la cantine, tapez 2."
VOICEMAIL = "Vous êtes sur la messagerie de la mairie, laissez votre message après le bip."
SERVICE_VOICEMAIL = "Messagerie du service état civil : laissez un message après le bip."

SCENARIOS = {
    "ask": phone_scenario("ask", max_ring_seconds=30, max_call_seconds=60),
    "transfer": phone_scenario(
        "transfer",
        request="Bonjour, pourriez-vous me passer le service de l'état civil ?",
        transfer_to="service état civil",
        max_ring_seconds=30,
        max_call_seconds=60,
    ),
}

# Every behaviour of a called structure, with the scenario the probe follows there.
WORLD = f"""
[numbers."+33142760001"]
rings = 1
greeting = "Mairie de Vincennes, bonjour."

[numbers."+33142760002"]
rings = 3
greeting = "Accueil, bonjour."

[numbers."+33142760003"]
rings = 4
greeting = "Mairie, bonjour, que puis-je pour vous ?"

[numbers."+33142760004"]
rings = 6
greeting = "Bonjour."

[numbers."+33142760005"]
outcome = "busy"

[numbers."+33142760006"]
outcome = "busy"
rings = 2

[numbers."+33142760007"]
outcome = "no-answer"

[numbers."+33142760008"]
outcome = "failed"

[numbers."+33142760009"]
rings = 2
answer = "machine"
greeting = "{VOICEMAIL}"

[numbers."+33142760010"]
rings = 5
answer = "machine"
greeting = "{VOICEMAIL}"
hangup_after_s = 20

[numbers."+33142760011"]
rings = 1
answer = "ivr"
greeting = "{MENU}"
[numbers."+33142760011".menu."1"]
hold_s = 20
then = "human"
greeting = "Service état civil, bonjour."

[numbers."+33142760012"]
rings = 2
answer = "ivr"
greeting = "{MENU}"
[numbers."+33142760012".menu."1"]
hold_s = 25
then = "voicemail"
greeting = "{SERVICE_VOICEMAIL}"

[numbers."+33142760013"]
rings = 1
answer = "ivr"
greeting = "{MENU}"
[numbers."+33142760013".menu."1"]
hold_s = 15
then = "dropped"

[numbers."+33142760014"]
rings = 1
answer = "ivr"
greeting = "{TAX_MENU}"

[numbers."+33142760015"]
rings = 2
greeting = "Mairie, bonjour."
[numbers."+33142760015".transfer]
hold_s = 30
then = "human"
greeting = "État civil, je vous écoute."

[numbers."+33142760016"]
rings = 3
greeting = "Mairie, bonjour."
[numbers."+33142760016".transfer]
hold_s = 12
then = "voicemail"
greeting = "{SERVICE_VOICEMAIL}"

[numbers."+33142760017"]
rings = 2
greeting = "Mairie, bonjour."
[numbers."+33142760017".transfer]
hold_s = 22
then = "dropped"

[numbers."+33142760018"]
rings = 1
greeting = "Mairie, bonjour."
[numbers."+33142760018".transfer]
hold_s = 200
then = "human"

[numbers."+33142760019"]
rings = 2
answer = "ivr"
greeting = "{MENU}"
[numbers."+33142760019".menu."1"]
hold_s = 0
then = "human"
greeting = "État civil, bonjour."

[numbers."+33142760020"]
rings = 5
greeting = "Mairie de Lyon, bonjour."
hangup_after_s = 4

[numbers."+33142760021"]
rings = 2
greeting = "Hôtel de ville, bonjour."
"""

TARGETS = [
    Target("+33142760001", "ask"),
    Target("+33142760002", "ask"),
    Target("+33142760003", "ask"),
    Target("+33142760004", "ask"),
    Target("+33142760005", "ask"),
    Target("+33142760006", "ask"),
    Target("+33142760007", "ask"),
    Target("+33142760008", "ask"),
    Target("+33142760009", "ask"),
    Target("+33142760010", "transfer"),
    Target("+33142760011", "transfer"),
    Target("+33142760012", "transfer"),
    Target("+33142760013", "transfer"),
    Target("+33142760014", "transfer"),
    Target("+33142760015", "transfer"),
    Target("+33142760016", "transfer"),
    Target("+33142760017", "transfer"),
    Target("+33142760018", "transfer"),
    Target("+33142760019", "transfer"),
    Target("+33142760020", "ask"),
    Target("+33142760021", "ask"),
    Target("+33155550000", "ask"),  # not in the world file: the default structure
]


async def test_what_prober_measures_matches_the_ground_truth(
    phone_sandbox: StartSandbox, engine: Engine, tmp_path: Path
) -> None:
    probe_ids = seed_probes(engine, TARGETS, SCENARIOS)
    truth = await _call_every_structure(phone_sandbox, engine, probe_ids, tmp_path)
    _compare_with_truth(engine, probe_ids, truth)


async def _call_every_structure(
    phone_sandbox: StartSandbox, engine: Engine, probe_ids: list[uuid.UUID], tmp_path: Path
) -> list[CallTruth]:
    world = parse_world(WORLD)
    with phone_sandbox(world, time_scale=TIME_SCALE) as sandbox:
        async with running_prober(
            engine, sandbox.base_url, tmp_path / "recordings", time_scale=TIME_SCALE
        ) as prober:
            placed = await asyncio.gather(*(prober.probes.place(probe) for probe in probe_ids))
            assert all(call is not None for call in placed)

            def all_measured() -> bool:
                attempts = attempts_of(engine, probe_ids)
                recorded = [r for r in recordings_of(engine, probe_ids) if r.status == "stored"]
                answered = [a for a in attempts if a.outcome == "answered"]
                return (
                    len(attempts) == len(TARGETS)
                    and all(a.ended_at is not None for a in attempts)
                    and len(recorded) == len(answered)
                    and len(sandbox.truth.entries) == len(TARGETS)
                )

            await wait_until(all_measured, timeout_s=120, what="every call measured")
    return sandbox.truth.entries


def _compare_with_truth(
    engine: Engine, probe_ids: list[uuid.UUID], entries: list[CallTruth]
) -> None:
    truth_by_sid = {entry.sid: entry for entry in entries}
    attempts = attempts_of(engine, probe_ids)
    by_number = {TARGETS[probe_ids.index(a.probe_id)].number: a for a in attempts}
    assert len(by_number) == len(TARGETS)

    ring_mismatches = []
    behaviours_seen = set()
    for number, attempt in by_number.items():
        assert attempt.external_id in truth_by_sid, number
        truth = truth_by_sid[attempt.external_id or ""]
        measured = attempt.measurement
        expected_outcome = "answered" if truth.status == "completed" else truth.status
        assert measured["outcome"] == expected_outcome, (number, measured, truth)
        assert attempt.outcome == expected_outcome
        assert measured["answered_by"] == truth.answered_by, (number, measured, truth)
        if measured["rings"] != (truth.rings if measured["rings"] is not None else None):
            ring_mismatches.append((number, measured["rings"], truth.rings))
        assert abs((measured["rings"] or 0) - truth.rings) <= 1, (number, measured, truth)
        assert measured["transfer_outcome"] == truth.transfer_outcome, (number, measured, truth)
        if truth.hold_s is None:
            assert measured["hold_s"] is None, (number, measured)
        else:
            assert abs(measured["hold_s"] - truth.hold_s) <= 1.0, (number, measured, truth)
        if truth.status == "completed":
            assert measured["talk_s"] == truth.duration_s
            assert measured["recording_sid"] == truth.recording_sid
        behaviours_seen.add((expected_outcome, truth.answered_by, truth.transfer_outcome))
    # At most 5% of the calls may be a ring off (none is, in practice); all are within one.
    assert len(ring_mismatches) <= len(TARGETS) // 20, ring_mismatches
    assert {
        ("answered", "human", None),
        ("answered", "machine", None),
        ("answered", "ivr", "human"),
        ("answered", "ivr", "voicemail"),
        ("answered", "ivr", "dropped"),
        ("answered", "ivr", None),
        ("answered", "human", "human"),
        ("answered", "human", "voicemail"),
        ("answered", "human", "dropped"),
        ("answered", "human", "abandoned"),
        ("busy", None, None),
        ("no-answer", None, None),
        ("failed", None, None),
    } <= behaviours_seen

    # Recordings: downloaded, kept under the probe, identical to what the sandbox recorded.
    recordings = recordings_of(engine, probe_ids)
    assert {r.external_id for r in recordings} == {
        t.recording_sid for t in truth_by_sid.values() if t.recording_sid
    }
    for recording in recordings:
        assert recording.media_path is not None
        media = Path(recording.media_path).read_bytes()
        assert media.startswith(b"RIFF")
        assert recording.sha256 == hashlib.sha256(media).hexdigest()
        assert recording.size_bytes == len(media)
        assert Path(recording.media_path).parent.name == str(recording.probe_id)
