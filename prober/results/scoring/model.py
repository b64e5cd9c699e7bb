"""What scoring reads (one contact with a structure) and what it produces (verdicts, scores).

Plain frozen dataclasses: the storage layer fills the inputs, reports and the API read the
outputs through ``to_json``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Verdict = Literal["passed", "failed", "not_applicable", "pending", "to_review"]
"""A criterion on one contact: decided (passed/failed), irrelevant, not yet decidable, or
waiting for an auditor."""

DECIDED: frozenset[Verdict] = frozenset({"passed", "failed"})


@dataclass(frozen=True, slots=True)
class EventRef:
    """A stored event, by id, as evidence."""

    id: str
    kind: str
    source_at: datetime
    phase: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.id,
            "kind": self.kind if self.phase is None else f"{self.kind}:{self.phase}",
            "source_at": self.source_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Contact:
    """One attempt of a probe, with what scoring needs of it."""

    probe_id: uuid.UUID
    structure_id: int
    channel: str
    slot_kind: str
    scenario_id: str
    attempt_id: int
    attempt_number: int
    started_at: datetime
    outcome: str | None
    measurement: dict[str, Any]
    events: tuple[EventRef, ...] = ()
    reviews: dict[str, str] = field(default_factory=dict)
    """Auditors' verdicts by criterion id ("passed" or "failed"), the latest per criterion."""
    recording_ids: tuple[int, ...] = ()
    timezone: str = "Europe/Paris"
    holiday_subdivision: str | None = None


@dataclass(frozen=True, slots=True)
class Measured:
    """A metric's value on one contact, and why it is what it is.

    ``value`` None means nothing was measured; ``absent`` then says what that means for a rule
    (a missing reply once the deadline passed is a failure, a missing transfer is not
    applicable). ``at_least`` is a censored observation: no reply yet, but already that late.
    """

    value: bool | float | None
    absent: Verdict = "not_applicable"
    at_least: float | None = None
    note: str = ""
    evidence: tuple[EventRef, ...] = ()
    replies: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CriterionResult:
    """One criterion on one contact: the verdict and the evidence that decided it."""

    criterion_id: str
    verdict: Verdict
    value: bool | float | None
    note: str
    evidence: tuple[EventRef, ...]
    replies: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion_id,
            "verdict": self.verdict,
            "value": self.value,
            "note": self.note,
            "evidence": [event.to_json() for event in self.evidence],
            "replies": list(self.replies),
        }


@dataclass(frozen=True, slots=True)
class ContactScore:
    """Every criterion of the contact's channel, judged on one contact."""

    contact: Contact
    results: tuple[CriterionResult, ...]
    figures: dict[str, Any]
    """The measured figures reports show (rings, hold, reply latency...)."""

    def to_json(self) -> dict[str, Any]:
        contact = self.contact
        return {
            "probe_id": str(contact.probe_id),
            "attempt_id": contact.attempt_id,
            "attempt": contact.attempt_number,
            "scenario": contact.scenario_id,
            "slot_kind": contact.slot_kind,
            "started_at": contact.started_at.isoformat(),
            "outcome": contact.outcome,
            "figures": self.figures,
            "recordings": list(contact.recording_ids),
            "criteria": [result.to_json() for result in self.results],
        }


@dataclass(frozen=True, slots=True)
class CriterionTally:
    """How one criterion went over a structure's contacts on one channel."""

    passed: int = 0
    failed: int = 0
    not_applicable: int = 0
    pending: int = 0
    to_review: int = 0

    @property
    def decided(self) -> int:
        return self.passed + self.failed

    @property
    def rate(self) -> float | None:
        """Share of decided contacts that passed, 0..1; None when none was decided."""
        return None if self.decided == 0 else self.passed / self.decided

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "not_applicable": self.not_applicable,
            "pending": self.pending,
            "to_review": self.to_review,
            "rate": self.rate,
        }


@dataclass(frozen=True, slots=True)
class ContactFailures:
    """The criteria one contact failed."""

    probe_id: uuid.UUID
    attempt: int
    failed: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "probe_id": str(self.probe_id),
            "attempt": self.attempt,
            "failed": list(self.failed),
        }


@dataclass(frozen=True, slots=True)
class ChannelScore:
    """A structure's results on one channel of one wave.

    Scores and indices are 0..100: the weighted share of decided criteria that passed (each
    contact × criterion counts its weight). None when nothing was decided.
    """

    structure_id: int
    channel: str
    score: float | None
    accessibility: float | None
    responsiveness: float | None
    quality: float | None
    contacts: int
    """Contacts scored (attempts that reached the structure)."""
    probes: int
    excluded: int
    """Attempts that never reached the structure (our own failures), not scored."""
    pending: int
    """Contacts with at least one criterion still pending (a reply may yet come)."""
    criteria: dict[str, CriterionTally]
    figures: dict[str, float | int | None]
    failures: tuple[ContactFailures, ...] = ()
    """Per contact, the criteria it failed (kept with the stored score)."""
    contact_scores: tuple[ContactScore, ...] = ()
    """Every contact with its verdicts and evidence; empty when only the totals were kept."""

    def to_json(self, *, with_contacts: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "structure_id": self.structure_id,
            "channel": self.channel,
            "score": self.score,
            "accessibility": self.accessibility,
            "responsiveness": self.responsiveness,
            "quality": self.quality,
            "contacts": self.contacts,
            "probes": self.probes,
            "excluded": self.excluded,
            "pending": self.pending,
            "criteria": {key: tally.to_json() for key, tally in self.criteria.items()},
            "figures": self.figures,
        }
        if with_contacts:
            data["contacts_detail"] = [score.to_json() for score in self.contact_scores]
        return data
