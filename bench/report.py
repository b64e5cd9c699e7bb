"""Benchmark: score a synthetic wave of 35,000 structures × 5 probes and write its reports.

Goal (issue 6): scoring everything and producing all synthetic reports (CSV + JSON) under 60 s
and under 2 GB peak memory, on one core.

A fresh database (SQLite by default, or a ``bench_report`` database on the PostgreSQL server of
``--database-url``) gets a finished wave: structures of every kind with log-normal populations
across every département, 3 calls and 2 emails each (some calls off hours, some retried, a few
of our own failures), every attempt with the raw events behind it (Twilio's status callbacks,
machine detection, greeting, menu key, transfer, hold, recording; email composed, sent, replies
with their ``Reply`` rows), its measurement computed from them by the real code
(``measure_call``, ``email_measurement``), recordings and a few auditors' reviews. Generation is
written with bulk inserts and is not part of the goal. Then, timed: ``score_wave`` +
``store_scoring``, ``load_results`` (comparisons), the synthetic CSV and the results JSON.

    python bench/report.py [--structures 35000] [--probes 5] [--seed 1]
                           [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                           [--out DIR]

Run it with ``taskset -c 0`` to stay on one core (it also pins itself to one core).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import random
import resource
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, text, update
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from channels.email.compose import new_reply_token, plus_address
from channels.phone.measure import measure_call
from channels.phone.speech import classify_speech
from config.criteria import load_criteria
from config.settings import Settings, load_settings
from config.territory import TERRITORIES
from prober.probes.email import email_measurement
from prober.project.starter import write_starter_files
from prober.results.published import load_results
from prober.results.reports.exports import write_results_json, write_synthetic_csv
from prober.results.scoring.compare import population_band
from prober.results.scoring.wave import score_wave, store_scoring
from scheduler.waves import WaveSpec, define_wave
from storage.db import make_engine, normalise_database_url, upgrade
from storage.mail import StructureHours
from storage.models import (
    Attempt,
    ContactPoint,
    Event,
    Persona,
    Probe,
    Recording,
    Reply,
    Review,
    Scenario,
    Structure,
    Wave,
)

WAVE = "bench-2025-t1"
STARTS_ON = date(2025, 1, 6)
ENDS_ON = date(2025, 3, 28)
AS_OF = datetime(2025, 4, 11, 8, 0, tzinfo=UTC)  # two weeks after the wave: replies are in
SUBJECT = "Demande de copie intégrale d'acte de naissance"
BATCH = 1_000  # structures generated and inserted at once
GOAL_S = 60.0
GOAL_MIB = 2_048.0

# kind, share, log-normal population (median, sigma), label
KINDS: list[tuple[str, float, float, float, str]] = [
    ("mairie", 0.74, 1_500, 1.3, "Mairie de"),
    ("epci", 0.07, 30_000, 0.9, "Communauté de communes de"),
    ("france_services", 0.05, 8_000, 0.8, "France services de"),
    ("hopital", 0.04, 80_000, 1.0, "Centre hospitalier de"),
    ("caf", 0.03, 350_000, 0.7, "CAF de"),
    ("cpam", 0.03, 350_000, 0.7, "CPAM de"),
    ("departement", 0.02, 500_000, 0.6, "Conseil départemental de"),
    ("prefecture", 0.02, 500_000, 0.6, "Préfecture de"),
]
HOURS = [
    "Mo-Fr 08:30-12:00,13:30-17:30",
    "Mo-Fr 08:30-12:00,13:30-17:00; Sa 09:00-12:00",
    "Mo,Tu,Th,Fr 09:00-12:00,14:00-17:00; We 09:00-12:00",
    "Mo-Fr 08:00-18:00",
    "Tu,Th 09:00-12:00; Sa 09:00-11:30",
    "Mo-Th 07:30-12:00,13:00-16:00; Fr 07:30-11:30",
]
OVERSEAS_COMS = {"975", "977", "978", "986", "987", "988"}
REVIEWED = {
    "phone": (
        "phone.greeting_names_structure",
        "phone.courtesy",
        "phone.personalisation",
        "phone.answer_quality",
    ),
    "email": (
        "email.greeting_names_structure",
        "email.courtesy",
        "email.personalisation",
        "email.answer_quality",
    ),
}


@dataclass(frozen=True, slots=True)
class Ev:
    """A raw event as prober stores it (and as ``measure_call`` reads it)."""

    kind: str
    source: str
    source_at: datetime
    received_at: datetime
    clock: str
    dedup_key: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Place:
    """A generated structure, as the probes need it."""

    id: int
    name: str
    timezone: ZoneInfo
    holiday_subdivision: str | None
    opening_hours: str
    phone_id: int
    email_id: int
    email: str
    quality: float
    """Latent 0..1: how well this structure answers (scores spread realistically)."""


@dataclass
class Batch:
    """Rows waiting for their bulk insert, in foreign-key order."""

    structures: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    probes: list[dict[str, Any]]
    attempts: list[dict[str, Any]]
    replies: list[dict[str, Any]]
    events: list[dict[str, Any]]
    recordings: list[dict[str, Any]]
    reviews: list[dict[str, Any]]

    @classmethod
    def empty(cls) -> Batch:
        return cls([], [], [], [], [], [], [], [])

    def insert(self, engine: Engine) -> None:
        with engine.begin() as connection:
            for table, rows in (
                (Structure, self.structures),
                (ContactPoint, self.contacts),
                (Probe, self.probes),
                (Attempt, self.attempts),
                (Reply, self.replies),
                (Event, self.events),
                (Recording, self.recordings),
                (Review, self.reviews),
            ):
                for start in range(0, len(rows), 5_000):
                    connection.execute(insert(table), rows[start : start + 5_000])


@dataclass
class Counts:
    """What was generated."""

    structures: int = 0
    probes: int = 0
    attempts: int = 0
    events: int = 0
    replies: int = 0
    recordings: int = 0
    reviews: int = 0


class Generator:
    """A seeded synthetic wave: every row shaped like the real ones."""

    def __init__(
        self,
        rng: random.Random,
        *,
        phone_per_structure: int,
        email_per_structure: int,
        phone_scenarios: dict[str, dict[str, Any]],
        email_scenarios: list[str],
        personas: list[tuple[str, str]],
        wave_id: int,
    ) -> None:
        self.rng = rng
        self.phone_per_structure = phone_per_structure
        self.email_per_structure = email_per_structure
        self.phone_scenarios = phone_scenarios
        self.email_scenarios = email_scenarios
        self.personas = personas
        self.wave_id = wave_id
        self.days = [
            STARTS_ON + timedelta(days=n)
            for n in range((ENDS_ON - STARTS_ON).days + 1)
            if (STARTS_ON + timedelta(days=n)).weekday() < 5
        ]
        codes = sorted(TERRITORIES)
        weights = [
            0.1 if code in OVERSEAS_COMS else 0.6 if code.startswith("97") else 1.0
            for code in codes
        ]
        self.departements = codes
        self.departement_weights = weights
        self.zones: dict[str, ZoneInfo] = {}
        self.attempt_id = 0
        self.reply_id = 0
        self.recording_id = 0
        self.counts = Counts()
        self.now = AS_OF

    # -- helpers -------------------------------------------------------------------------

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def hex(self, digits: int) -> str:
        return f"{self.rng.getrandbits(digits * 4):0{digits}x}"

    def lognormal(self, median: float, sigma: float) -> float:
        return self.rng.lognormvariate(math.log(median), sigma)

    def instant(self, place: Place, day: date, hour: float) -> datetime:
        minutes = int(hour * 60)
        local = datetime(
            day.year,
            day.month,
            day.day,
            minutes // 60,
            minutes % 60,
            self.rng.randrange(60),
            tzinfo=place.timezone,
        )
        return local.astimezone(UTC)

    def later(self, at: datetime, low: float, high: float) -> datetime:
        return at + timedelta(seconds=self.rng.uniform(low, high))

    # -- structures ----------------------------------------------------------------------

    def structure(self, batch: Batch, number: int) -> Place:
        rng = self.rng
        kind, _, median, sigma, label = rng.choices(KINDS, weights=[k[1] for k in KINDS])[0]
        population: int | None = max(20, min(2_200_000, int(self.lognormal(median, sigma))))
        if kind in ("hopital", "caf", "cpam") and rng.random() < 0.05:
            population = None
        code = rng.choices(self.departements, weights=self.departement_weights)[0]
        territory = TERRITORIES[code]
        zone = self.zones.setdefault(territory.timezone, ZoneInfo(territory.timezone))
        name = f"{label} Bench-{number}"
        hours = rng.choice(HOURS)
        band = population_band(population, [2_000, 10_000, 50_000])
        structure_id = number + 1
        batch.structures.append(
            {
                "id": structure_id,
                "official_id": f"{21_000_000_000_000 + number}",
                "name": name,
                "kind": kind,
                "departement": code,
                "region": territory.region,
                "peer_group": f"{kind}:{band}",
                "population": population,
                "timezone": territory.timezone,
                "holiday_subdivision": territory.holiday_subdivision,
                "opening_hours": hours,
                "opening_hours_note": "",
                "source": "bench/report.py",
                "created_at": self.now,
                "updated_at": self.now,
            }
        )
        email = f"accueil@bench-{number}.exemple.fr"
        phone = f"+33{rng.randrange(1, 6)}{number:08d}"
        for offset, (kind_, value) in enumerate((("phone", phone), ("email", email))):
            batch.contacts.append(
                {
                    "id": 2 * number + 1 + offset,
                    "structure_id": structure_id,
                    "kind": kind_,
                    "value": value,
                    "label": "accueil",
                    "position": 0,
                }
            )
        self.counts.structures += 1
        return Place(
            id=structure_id,
            name=name,
            timezone=zone,
            holiday_subdivision=territory.holiday_subdivision,
            opening_hours=hours,
            phone_id=2 * number + 1,
            email_id=2 * number + 2,
            email=email,
            quality=rng.betavariate(4.0, 1.6),
        )

    def probes_of(self, batch: Batch, place: Place) -> None:
        rng = self.rng
        off_hours_slot = 0 if rng.random() < 0.3 else -1
        for index in range(self.phone_per_structure):
            scenario = rng.choice(sorted(self.phone_scenarios))
            self.probe(batch, place, "phone", index, scenario, off_hours=index == off_hours_slot)
        for index in range(self.email_per_structure):
            scenario = rng.choice(self.email_scenarios)
            self.probe(batch, place, "email", index, scenario, off_hours=False)

    def probe(
        self,
        batch: Batch,
        place: Place,
        channel: str,
        index: int,
        scenario: str,
        *,
        off_hours: bool,
    ) -> None:
        rng = self.rng
        probe_id = self.uuid()
        persona, mailbox = rng.choice(self.personas)
        day = rng.choice(self.days)
        hour = rng.choice((7.0, 18.5, 19.0)) if off_hours else rng.uniform(9.0, 16.5)
        scheduled = self.instant(place, day, hour)
        row: dict[str, Any] = {
            "id": probe_id,
            "wave_id": self.wave_id,
            "structure_id": place.id,
            "channel": channel,
            "scenario_id": scenario,
            "persona_id": persona,
            "contact_point_id": place.phone_id if channel == "phone" else place.email_id,
            "slot_index": index,
            "slot_kind": "off_hours" if off_hours else "open",
            "scheduled_at": scheduled,
            "state": "done",
            "attempt_count": 0,
            "lease_until": None,
            "claimed_by": None,
            "updated_at": scheduled,
        }
        batch.probes.append(row)
        self.counts.probes += 1
        if rng.random() < 0.004:  # the structure left the panel before its turn
            row["state"] = "cancelled"
            return
        if channel == "phone":
            self.calls(batch, place, row, scenario, off_hours=off_hours)
        else:
            self.emails(batch, place, row, scenario, mailbox)

    def attempt(
        self, batch: Batch, probe: dict[str, Any], number: int, started: datetime
    ) -> dict[str, Any]:
        self.attempt_id += 1
        self.counts.attempts += 1
        row: dict[str, Any] = {
            "id": self.attempt_id,
            "probe_id": probe["id"],
            "number": number,
            "external_id": None,
            "reference": None,
            "started_at": started,
            "ended_at": None,
            "outcome": None,
            "measurement": {},
        }
        batch.attempts.append(row)
        probe["attempt_count"] = number
        return row

    def store_events(
        self, batch: Batch, probe: dict[str, Any], attempt_id: int, evs: list[Ev]
    ) -> None:
        for ev in evs:
            batch.events.append(
                {
                    "id": self.uuid(),
                    "probe_id": probe["id"],
                    "attempt_id": attempt_id,
                    "kind": ev.kind,
                    "source": ev.source,
                    "dedup_key": ev.dedup_key,
                    "source_at": ev.source_at,
                    "clock": ev.clock,
                    "received_at": ev.received_at,
                    "payload": ev.payload,
                }
            )
        self.counts.events += len(evs)

    # -- phone ---------------------------------------------------------------------------

    def calls(
        self, batch: Batch, place: Place, probe: dict[str, Any], scenario: str, *, off_hours: bool
    ) -> None:
        rng = self.rng
        started: datetime = probe["scheduled_at"] + timedelta(seconds=rng.uniform(0, 90))
        definition = self.phone_scenarios[scenario]
        for number in (1, 2, 3):
            attempt = self.attempt(batch, probe, number, started)
            evs, recording = self.call(place, attempt, definition, off_hours=off_hours)
            self.store_events(batch, probe, attempt["id"], evs)
            measurement = measure_call(
                evs, time_limit_s=int(definition.get("max_call_seconds", 300))
            ).to_json()
            final = evs[-1] if recording is None else evs[-2]
            attempt["outcome"] = measurement["outcome"] or final.kind.removeprefix("call.")
            attempt["ended_at"] = final.source_at
            attempt["measurement"] = measurement
            attempt["external_id"] = evs[0].payload["call_sid"]
            if recording is not None:
                self.recording(batch, probe, attempt, recording)
            probe["state"] = "done"
            if attempt["outcome"] == "failed":  # our own failure: tried again at once
                probe["state"] = "failed"
                started = started + timedelta(minutes=rng.uniform(1, 3))
                if rng.random() < 0.2:
                    break
            elif attempt["outcome"] in ("busy", "no-answer") and rng.random() < 0.65:
                # Busy and unanswered lines are tried again in another slot, another day.
                started = started + timedelta(days=rng.randint(1, 6), hours=rng.uniform(-2, 2))
            else:
                break
        if (
            probe["state"] == "done"
            and probe["slot_kind"] == "open"
            and attempt["outcome"] == "answered"
            and rng.random() < 0.08
        ):
            self.review(batch, probe, "phone", place.quality)

    def call(
        self, place: Place, attempt: dict[str, Any], definition: dict[str, Any], *, off_hours: bool
    ) -> tuple[list[Ev], Ev | None]:
        """One call's raw events, as the webhooks store them; and its recording event, if any."""
        rng = self.rng
        q = place.quality
        sid = "CA" + self.hex(32)
        evs: list[Ev] = []

        def status(status: str, at: datetime, sequence: int, **extra: Any) -> None:
            kind = "call.answered" if status == "in-progress" else f"call.{status}"
            payload = {"call_sid": sid, "status": status, "sequence": sequence, **extra}
            source_at = at.replace(microsecond=0)  # Twilio's Timestamp: whole seconds
            evs.append(
                Ev(
                    kind,
                    "twilio",
                    source_at,
                    self.later(at, 0.05, 0.4),
                    "source",
                    f"twilio:{sid}:status:{status}",
                    payload,
                )
            )

        def step(kind: str, key: str, at: datetime, /, **payload: Any) -> None:
            dedup = key if key.startswith("twilio:") else f"twilio:{sid}:{key}"
            evs.append(Ev(kind, "twilio", at, at, "receipt", dedup, {"call_sid": sid, **payload}))

        placed: datetime = attempt["started_at"]
        evs.append(
            Ev(
                "call.placed",
                "prober",
                placed,
                placed,
                "receipt",
                f"attempt:{attempt['id']}:placed",
                {"call_sid": sid, "status": "queued", "reconciled": False},
            )
        )
        initiated = self.later(placed, 0.3, 1.0)
        status("initiated", initiated, 0)
        r = rng.random()
        if r < 0.015:  # our side, or the network: never reached the line
            status(
                "failed",
                self.later(initiated, 0.5, 3),
                1,
                call_duration_s=0,
                sip_response_code=rng.choice((404, 480, 503)),
            )
            return evs, None
        if off_hours:
            fate = "answered" if r < 0.7 else "no-answer"
            who = "machine" if rng.random() < 0.93 else "human"
        else:
            p_answer = 0.55 + 0.4 * q
            fate = (
                "answered"
                if r < p_answer
                else "busy"
                if r < p_answer + (1 - p_answer) * 0.35
                else "no-answer"
            )
            u = rng.random()
            p_human = 0.25 + 0.5 * q
            who = (
                "human"
                if u < p_human
                else "ivr"
                if u < p_human + 0.22
                else "unknown"
                if u < p_human + 0.25
                else "machine"
            )
        if fate == "busy":
            status(
                "busy", self.later(initiated, 1.5, 5), 1, call_duration_s=0, sip_response_code=486
            )
            return evs, None
        ringing = self.later(initiated, 1.0, 4.0)
        status("ringing", ringing, 1)
        max_ring = int(definition.get("max_ring_seconds", 60))
        if fate == "no-answer":
            status(
                "no-answer",
                ringing + timedelta(seconds=max_ring + rng.uniform(0, 1)),
                2,
                call_duration_s=0,
                sip_response_code=487,
            )
            return evs, None

        mean_rings = 1.0 + 3.5 * (1 - q) if who != "machine" else 4.0
        rings = min(int(max_ring / 5), 1 + int(rng.expovariate(1 / mean_rings)))
        answered = ringing + timedelta(seconds=(rings - 1) * 5 + rng.uniform(0.5, 4.5))
        status("in-progress", answered, 2)
        step("call.script_started", "script", self.later(answered, 0.2, 0.6))
        amd = {
            "human": "human",
            "unknown": "unknown",
            "machine": "machine_end_beep",
            "ivr": rng.choice(("human", "machine_start")),
        }[who]
        step(
            "call.amd",
            "amd",
            self.later(answered, 2.5, 4.0),
            answered_by=amd,
            detection_ms=rng.randrange(2_000, 4_000),
        )
        greeting_at = self.later(answered, 4.0, 9.0)
        transfer = bool(definition.get("transfer_to"))
        end: datetime

        def heard(phase: str, at: datetime, speech: str, decision: str, **extra: Any) -> None:
            payload = {
                "phase": phase,
                "speech": speech,
                "confidence": f"{rng.uniform(0.7, 0.97):.2f}",
                "heard": classify_speech(speech).value,
                "decision": decision,
                **extra,
            }
            step("call.heard", f"heard:{phase}", at, **payload)

        def hold(requested: datetime, via: str) -> datetime:
            """From the transfer request to the end of the call."""
            v = rng.random()
            if via == "request" and v < 0.35:  # the person asked answers at once
                spoke = self.later(requested, 0.6, 2.0)
                step("call.speech_started", "speech:transfer", spoke, phase="transfer", words="oui")
                heard("transfer", self.later(spoke, 1.0, 3.0), "Oui, je vous écoute.", "close")
                return self.later(spoke, 8, 25)
            held = requested + timedelta(seconds=min(280.0, self.lognormal(35 + 60 * (1 - q), 0.8)))
            if v < 0.8:
                step(
                    "call.speech_started",
                    "speech:transfer",
                    held,
                    phase="transfer",
                    words="service",
                )
                at = self.later(held, 1.5, 3.5)
                heard(
                    "transfer",
                    at,
                    "Service état civil, bonjour.",
                    "ask" if via == "menu" else "close",
                )
                if via == "menu":
                    heard(
                        "answer",
                        self.later(at, 10, 20),
                        "Vous pouvez faire la demande en ligne sur service-public.fr.",
                        "close",
                    )
                return self.later(at, 15, 30)
            if v < 0.9:
                step("call.speech_started", "speech:transfer", held, phase="transfer", words="vous")
                heard(
                    "transfer",
                    self.later(held, 2, 4),
                    "Vous êtes sur la messagerie du service état civil, laissez un message.",
                    "hang_up_voicemail",
                )
                return self.later(held, 5, 8)
            return held  # the line drops while on hold

        if who == "machine":
            gives = rng.random() < 0.35 + 0.5 * q
            speech = (
                f"Vous êtes bien à {place.name}. Nos bureaux sont ouverts du lundi au vendredi de"
                " 8 h 30 à 12 h et de 13 h 30 à 17 h. Laissez un message après le bip."
                if gives
                else f"Bonjour, vous êtes sur la messagerie de {place.name}, laissez un message."
            )
            heard("greeting", greeting_at, speech, "hang_up_voicemail")
            end = self.later(greeting_at, 0.5, 2)
        elif who == "ivr":
            heard(
                "greeting",
                greeting_at,
                f"Bienvenue à {place.name}. Pour l'état civil, tapez 1. Pour l'urbanisme, tapez 2.",
                "key_in",
                key="1",
            )
            keyed = answered + timedelta(seconds=min(120.0, self.lognormal(18 + 20 * (1 - q), 0.5)))
            keyed = max(keyed, self.later(greeting_at, 1, 3))
            step("call.keyed", "keyed", keyed, digits="1")
            step("call.transfer_requested", "transfer", keyed, via="menu")
            end = hold(keyed, "menu")
        else:
            silent = who == "unknown"
            speech = "" if silent else f"{place.name}, bonjour."
            heard("greeting", greeting_at, speech, "ask_transfer" if transfer else "ask")
            if transfer:
                asked = self.later(greeting_at, 6, 9)
                step("call.transfer_requested", "transfer", asked, via="request")
                end = hold(asked, "request") if not silent else self.later(asked, 20, 40)
            elif silent:
                end = self.later(greeting_at, 15, 20)
            else:
                at = self.later(greeting_at, 8, 14)
                heard(
                    "answer", at, "Nous sommes ouverts du lundi au vendredi de 9 h à 17 h.", "close"
                )
                end = self.later(at, 5, 10)
        duration = int((end - answered).total_seconds())
        record = bool(definition.get("record"))
        recording_sid = "RE" + self.hex(32) if record else None
        extra: dict[str, Any] = {"call_duration_s": duration, "answered_by": amd}
        if recording_sid is not None:
            extra["recording_sid"] = recording_sid
        status("completed", end, 3, **extra)
        if recording_sid is None:
            return evs, None
        recorded = self.later(end, 2, 6)
        step(
            "call.recording",
            f"twilio:{recording_sid}:recording:completed",
            recorded,
            recording_sid=recording_sid,
            status="completed",
            url=f"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/{recording_sid}",
            source="OutboundAPI",
            channels=1,
            duration_s=duration,
            started_at=answered.replace(microsecond=0).isoformat(),
        )
        return evs, evs[-1]

    def recording(
        self, batch: Batch, probe: dict[str, Any], attempt: dict[str, Any], event: Ev
    ) -> None:
        self.recording_id += 1
        self.counts.recordings += 1
        sid = event.payload["recording_sid"]
        duration = event.payload["duration_s"]
        batch.recordings.append(
            {
                "id": self.recording_id,
                "probe_id": probe["id"],
                "attempt_id": attempt["id"],
                "external_id": sid,
                "duration_seconds": float(duration),
                "content_type": "audio/wav",
                "media_path": f"recordings/{probe['id']}/{sid}.wav",
                "sha256": self.hex(64),
                "size_bytes": 16_044 * duration,
                "status": "stored",
                "created_at": event.received_at,
            }
        )

    def review(self, batch: Batch, probe: dict[str, Any], channel: str, q: float) -> None:
        at = AS_OF - timedelta(days=self.rng.uniform(1, 10))
        for criterion in REVIEWED[channel]:
            self.counts.reviews += 1
            batch.reviews.append(
                {
                    "probe_id": probe["id"],
                    "criterion_id": criterion,
                    "reviewer": "auditrice-1",
                    "verdict": "passed" if self.rng.random() < 0.45 + 0.5 * q else "failed",
                    "comment": "",
                    "created_at": at,
                }
            )

    # -- email ---------------------------------------------------------------------------

    def emails(
        self, batch: Batch, place: Place, probe: dict[str, Any], scenario: str, mailbox: str
    ) -> None:
        rng = self.rng
        started: datetime = probe["scheduled_at"] + timedelta(seconds=rng.uniform(0, 60))
        attempt = self.attempt(batch, probe, 1, started)
        r = rng.random()
        if r < 0.003:  # the SMTP server refused for now: put back, sent later
            self.unsent(batch, probe, place, attempt, mailbox, "email.not_sent", "not_sent")
            started = started + timedelta(days=rng.randint(1, 3))
            attempt = self.attempt(batch, probe, 2, started)
        elif r < 0.005:  # a crash during DATA: maybe sent, never sent again
            self.unsent(batch, probe, place, attempt, mailbox, "email.uncertain", "uncertain")
            probe["state"] = "failed"
            return
        self.email(batch, probe, place, attempt, mailbox)

    def composed(
        self, probe: dict[str, Any], place: Place, attempt: dict[str, Any], mailbox: str
    ) -> Ev:
        token = new_reply_token()
        message_id = f"<{token}.{self.hex(12)}@probes.example.org>"
        attempt["reference"], attempt["external_id"] = token, message_id
        at: datetime = attempt["started_at"]
        return Ev(
            "email.composed",
            "prober",
            at,
            at,
            "receipt",
            f"attempt:{attempt['id']}:composed",
            {
                "message_id": message_id,
                "token": token,
                "to": place.email,
                "from": plus_address(mailbox, token),
                "subject": f"{SUBJECT} (réf. {token.upper()})",
                "raw_path": f"replies/{probe['id']}/sent-{attempt['number']}.eml",
            },
        )

    def unsent(
        self,
        batch: Batch,
        probe: dict[str, Any],
        place: Place,
        attempt: dict[str, Any],
        mailbox: str,
        kind: str,
        outcome: str,
    ) -> None:
        composed = self.composed(probe, place, attempt, mailbox)
        at = self.later(composed.source_at, 1, 30)
        payload: dict[str, Any] = (
            {"error": "451 4.3.0 Try again later", "code": 451}
            if outcome == "not_sent"
            else {
                "reconciled": True,
                "why": "the SMTP transaction may have completed; not sent again",
            }
        )
        evs = [
            composed,
            Ev(kind, "smtp", at, at, "receipt", f"attempt:{attempt['id']}:{kind}", payload),
        ]
        self.store_events(batch, probe, attempt["id"], evs)
        attempt["outcome"], attempt["ended_at"] = outcome, at
        attempt["measurement"] = {"outcome": outcome, **payload}

    def email(
        self,
        batch: Batch,
        probe: dict[str, Any],
        place: Place,
        attempt: dict[str, Any],
        mailbox: str,
    ) -> None:
        rng = self.rng
        q = place.quality
        composed = self.composed(probe, place, attempt, mailbox)
        sent_at = self.later(composed.source_at, 0.3, 3)
        evs = [
            composed,
            Ev(
                "email.sent",
                "smtp",
                sent_at,
                self.later(sent_at, 0.01, 0.2),
                "receipt",
                f"attempt:{attempt['id']}:sent",
                {"smtp_reply": f"250 2.0.0 Ok: queued as {self.hex(10).upper()}"},
            ),
        ]
        arrivals: list[tuple[str, datetime, str]] = []
        if rng.random() < 0.02 + 0.06 * (1 - q):
            arrivals.append(("bounce", self.later(sent_at, 5, 120), "returned_message"))
        else:
            if rng.random() < 0.25:
                arrivals.append(("auto_ack", self.later(sent_at, 20, 300), "in_reply_to"))
            if rng.random() < 0.04:
                arrivals.append(("out_of_office", self.later(sent_at, 2, 60), "in_reply_to"))
            if rng.random() < 0.3 + 0.6 * q:
                hours = min(45 * 24.0, self.lognormal(6 + 60 * (1 - q), 1.3))
                method = rng.choices(
                    ("in_reply_to", "references", "address_token", "subject_token"),
                    weights=(70, 15, 10, 5),
                )[0]
                arrivals.append(("human_reply", sent_at + timedelta(hours=hours), method))
        replies: list[Reply] = []
        for classification, received, method in sorted(arrivals, key=lambda a: a[1]):
            if received > AS_OF:
                continue  # not arrived yet when the wave is scored
            replies.append(
                self.reply(batch, probe, attempt, place, classification, received, method)
            )
            reply = replies[-1]
            evs.append(
                Ev(
                    f"email.{classification}",
                    "imap",
                    received,
                    self.later(received, 0.3, 8),
                    "source",
                    f"mail:{reply.sha256}",
                    {"reply_id": reply.id, "match": method, "reason": reply.reason},
                )
            )
        self.store_events(batch, probe, attempt["id"], evs)
        structure = StructureHours(
            timezone=place.timezone.key,
            holiday_subdivision=place.holiday_subdivision,
            opening_hours=place.opening_hours,
        )
        measurement = email_measurement(sent_at, replies, structure)
        attempt["outcome"], attempt["measurement"] = measurement["outcome"], measurement
        if measurement["first_human_reply"] and rng.random() < 0.05:
            self.review(batch, probe, "email", q)

    def reply(
        self,
        batch: Batch,
        probe: dict[str, Any],
        attempt: dict[str, Any],
        place: Place,
        classification: str,
        received: datetime,
        method: str,
    ) -> Reply:
        self.reply_id += 1
        self.counts.replies += 1
        received = received.replace(microsecond=0)  # IMAP INTERNALDATE: whole seconds
        digest = hashlib.sha256(f"{self.reply_id}:{self.hex(16)}".encode()).hexdigest()
        bounce = classification == "bounce"
        reason = {
            "bounce": "delivery status notification (failed)",
            "auto_ack": "Auto-Submitted: auto-replied, acknowledgement wording",
            "out_of_office": "out-of-office wording",
            "human_reply": "no automatic marker",
        }[classification]
        row = dict(
            id=self.reply_id,
            probe_id=probe["id"],
            attempt_id=attempt["id"],
            channel="email",
            message_id=f"<{self.hex(16)}@{'mx.' if bounce else ''}bench.exemple.fr>",
            sha256=digest,
            sender="MAILER-DAEMON@mx.bench.exemple.fr" if bounce else place.email,
            subject=(
                "Undelivered Mail Returned to Sender"
                if bounce
                else f"RE: {SUBJECT} (réf. {attempt['reference'].upper()})"
            ),
            received_at=received,
            header_date=None if bounce else received - timedelta(seconds=self.rng.randrange(1, 40)),
            classification=classification,
            reason=reason,
            match_method=method,
            mailbox="imap://marie.dupont@probes.example.org/INBOX",
            uidvalidity=1_700_000_000,
            imap_uid=self.reply_id,
            moved_at=received + timedelta(seconds=2),
            flagged=False,
            raw_size_bytes=self.rng.randrange(2_000, 60_000),
            raw_path=f"replies/{probe['id']}/{digest[:20]}.eml",
            details={
                "defects": [],
                "to": [attempt["reference"]],
                "in_reply_to": attempt["external_id"],
                "truncated": False,
                "attachments": [],
            },
        )
        if bounce:
            row["details"]["bounce"] = {
                "recipients": [place.email],
                "status": "5.1.1",
                "action": "failed",
                "diagnostic": "smtp; 550 5.1.1 User unknown",
            }
        batch.replies.append(row)
        return Reply(**row)


# -- database -------------------------------------------------------------------------------


@contextmanager
def database(url: str | None, folder: Path) -> Iterator[str]:
    """A fresh database: a SQLite file in ``folder``, or ``bench_report`` on ``url``'s server."""
    if url is None:
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    admin = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    name = "bench_report"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(normalise_database_url(url))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def generate(
    engine: Engine, settings: Settings, *, structures: int, probes: int, seed: int
) -> Counts:
    """The finished synthetic wave, inserted in batches of ``BATCH`` structures."""
    phone = round(probes * 3 / 5)
    with Session(engine, expire_on_commit=False) as session:
        wave = define_wave(
            session,
            settings,
            WaveSpec(
                name=WAVE,
                starts_on=STARTS_ON,
                ends_on=ENDS_ON,
                channels=("phone", "email"),
                panel={},
                calls_per_structure=phone,
                emails_per_structure=probes - phone,
            ),
        )
        session.commit()
        scenarios = list(session.exec(select(Scenario)))
        personas = [(p.id, p.reply_mailbox) for p in session.exec(select(Persona))]
    assert wave.id is not None  # noqa: S101
    generator = Generator(
        random.Random(seed),
        phone_per_structure=phone,
        email_per_structure=probes - phone,
        phone_scenarios={
            s.id: dict(s.definition.get("phone") or {}) for s in scenarios if s.channel == "phone"
        },
        email_scenarios=sorted(s.id for s in scenarios if s.channel == "email"),
        personas=sorted(personas),
        wave_id=wave.id,
    )
    for start in range(0, structures, BATCH):
        batch = Batch.empty()
        for number in range(start, min(structures, start + BATCH)):
            generator.probes_of(batch, generator.structure(batch, number))
        batch.insert(engine)
    with engine.begin() as connection:
        connection.execute(
            update(Wave)
            .where(col(Wave.id) == wave.id)
            .values(status="done", plan_seed=seed, planned_at=datetime(2025, 1, 2, tzinfo=UTC))
        )
    return generator.counts


# -- the goal part --------------------------------------------------------------------------


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def size(path: Path) -> str:
    return f"{path.stat().st_size / 1_048_576:.1f} MiB"


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", type=int, default=35_000)
    parser.add_argument("--probes", type=int, default=5, help="probes per structure (3/5 calls)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: a SQLite file)")
    parser.add_argument("--out", type=Path, help="keep the reports here (default: thrown away)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_starter_files(root)
        settings = load_settings(root / "prober.toml")
        grid = load_criteria(root / "criteria.toml")
        out = args.out or root / "reports"
        out.mkdir(parents=True, exist_ok=True)
        with database(args.database_url, root) as url:
            engine = make_engine(url)
            upgrade(engine)
            started = time.perf_counter()
            counts = generate(
                engine, settings, structures=args.structures, probes=args.probes, seed=args.seed
            )
            generated = time.perf_counter() - started
            backend = engine.dialect.name
            print(
                f"generated ({backend}): {counts.structures} structures, {counts.probes} probes,"
                f" {counts.attempts} attempts, {counts.events} events, {counts.replies} replies,"
                f" {counts.recordings} recordings, {counts.reviews} reviews"
                f" in {generated:.1f} s (not part of the goal); peak memory so far"
                f" {peak_mib():.0f} MiB"
            )

            timings: dict[str, float] = {}
            started = time.perf_counter()
            with Session(engine, expire_on_commit=False) as session:
                wave = session.exec(select(Wave).where(col(Wave.name) == WAVE)).one()
                scoring = score_wave(session, wave, grid, as_of=AS_OF)
                timings["score_wave"] = time.perf_counter() - started
                store_scoring(session, wave, scoring)
                session.commit()
            scored = len(scoring.scores)
            contacts = sum(score.contacts for score in scoring.scores)
            del scoring
            timings["store_scoring"] = time.perf_counter() - started - timings["score_wave"]
            print(
                f"scored: {scored} structure × channel scores from {contacts} contacts:"
                f" score_wave {timings['score_wave']:.1f} s, store_scoring"
                f" {timings['store_scoring']:.1f} s"
            )

            started = time.perf_counter()
            with Session(engine, expire_on_commit=False) as session:
                results = load_results(session, WAVE, grid, settings.scoring)
            timings["load_results"] = time.perf_counter() - started
            print(
                f"results loaded with comparisons: {len(results.scores)} scores,"
                f" {len(results.comparisons.peer_groups)} peer groups × channel"
                f" in {timings['load_results']:.1f} s"
            )

            csv_path, json_path = out / "synthetic.csv", out / "results.json"
            started = time.perf_counter()
            write_synthetic_csv(results, csv_path)
            timings["synthetic CSV"] = time.perf_counter() - started
            started = time.perf_counter()
            write_results_json(results, json_path)
            timings["results JSON"] = time.perf_counter() - started
            print(
                f"synthetic CSV: {size(csv_path)} in {timings['synthetic CSV']:.1f} s;"
                f" results JSON: {size(json_path)} in {timings['results JSON']:.1f} s"
            )
            engine.dispose()

    total = sum(timings.values())
    peak = peak_mib()
    print(
        f"goal: scoring + reports {total:.1f} s (< {GOAL_S:.0f} s) {'✓' if total < GOAL_S else '✗'}"
    )
    print(
        f"goal: peak memory {peak:.0f} MiB (< {GOAL_MIB:.0f} MiB) {'✓' if peak < GOAL_MIB else '✗'}"
    )


if __name__ == "__main__":
    main()
