"""SQLModel tables: the structures probed, the waves planned over them and every observed fact.

Instants are stored in UTC (``UTCDateTime``) and come back timezone-aware; local times are
derived with the structure's ``timezone``. ``Event`` is append-only: derived figures (rings,
latencies, scores) are recomputed from it, never the other way round.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Numeric, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from config.structures import MAX_LENGTHS
from storage.types import UTCDateTime, json_column_type, utcnow


class Channel(StrEnum):
    """How a probe reaches a structure."""

    PHONE = "phone"
    EMAIL = "email"
    LETTER = "letter"
    WEB = "web"


class ContactKind(StrEnum):
    """What a contact point is."""

    PHONE = "phone"
    EMAIL = "email"
    POSTAL = "postal"
    WEB = "web"


class ProbeState(StrEnum):
    """A probe's life: planned → dispatching → in_progress → done | failed | cancelled."""

    PLANNED = "planned"
    DISPATCHING = "dispatching"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class WaveStatus(StrEnum):
    """Where a wave stands."""

    DRAFT = "draft"
    PLANNED = "planned"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"


class SlotKind(StrEnum):
    """Whether a probe is placed within opening hours or deliberately just outside them."""

    OPEN = "open"
    OFF_HOURS = "off_hours"


def _json(*, default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(json_column_type(), nullable=False))


class Structure(SQLModel, table=True):
    """A public body that citizens contact: town hall, EPCI, département, hospital, CPAM..."""

    id: int | None = Field(default=None, primary_key=True)
    official_id: str = Field(max_length=MAX_LENGTHS["official_id"], unique=True, index=True)
    name: str = Field(max_length=MAX_LENGTHS["name"])
    kind: str = Field(max_length=MAX_LENGTHS["kind"], index=True)
    departement: str = Field(max_length=3, index=True)
    region: str = Field(max_length=64)
    peer_group: str = Field(default="", max_length=128, index=True)
    population: int | None = None
    timezone: str = Field(max_length=64)
    holiday_subdivision: str | None = Field(default=None, max_length=8)
    opening_hours: str | None = Field(default=None, max_length=MAX_LENGTHS["opening_hours"])
    opening_hours_note: str = Field(default="", max_length=MAX_LENGTHS["opening_hours_note"])
    source: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ContactPoint(SQLModel, table=True):
    """One way to reach a structure: a phone number, a mailbox, a postal address, a website."""

    __table_args__ = (UniqueConstraint("structure_id", "kind", "value"),)

    id: int | None = Field(default=None, primary_key=True)
    structure_id: int = Field(foreign_key="structure.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)
    value: str = Field(max_length=MAX_LENGTHS["contact_value"])
    label: str = Field(default="", max_length=MAX_LENGTHS["contact_label"])
    position: int = 0


class Persona(SQLModel, table=True):
    """The mystery citizen a probe speaks as."""

    id: str = Field(primary_key=True, max_length=64)
    display_name: str = Field(max_length=200)
    caller_id: str = Field(max_length=32)
    reply_mailbox: str = Field(max_length=320)
    postal_address: str = Field(default="", max_length=500)


class Scenario(SQLModel, table=True):
    """What the mystery citizen does on one channel; ``definition`` is the validated file."""

    id: str = Field(primary_key=True, max_length=64)
    channel: str = Field(max_length=16)
    title: str = Field(max_length=300)
    source_path: str = Field(default="", max_length=1000)
    definition: dict[str, Any] = _json(default=dict)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Wave(SQLModel, table=True):
    """A probe campaign over a panel of structures, within a date window."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True, index=True)
    starts_on: date
    ends_on: date
    channels: list[str] = _json(default=list)
    status: str = Field(default=WaveStatus.DRAFT, max_length=16)
    panel: dict[str, list[str]] = _json(default=dict)
    parameters: dict[str, Any] = _json(default=dict)
    plan_seed: int | None = None
    # What the wave may spend, in [costs] currency: `wave start` refuses a wave estimated above
    # it, the daemon pauses a running wave whose spending reaches it.
    budget: Decimal | None = Field(default=None, sa_type=Numeric(14, 2))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    planned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Probe(SQLModel, table=True):
    """One planned contact: wave × structure × channel × scenario × persona, at a set instant."""

    __table_args__ = (
        Index("ix_probe_due", "state", "scheduled_at"),
        Index("ix_probe_wave_structure", "wave_id", "structure_id"),
    )

    id: uuid.UUID = Field(primary_key=True)
    wave_id: int = Field(foreign_key="wave.id", ondelete="CASCADE")
    structure_id: int = Field(foreign_key="structure.id", index=True)
    channel: str = Field(max_length=16)
    scenario_id: str = Field(foreign_key="scenario.id", max_length=64)
    persona_id: str = Field(foreign_key="persona.id", max_length=64)
    contact_point_id: int | None = Field(default=None, foreign_key="contactpoint.id")
    slot_index: int = 0
    slot_kind: str = Field(default=SlotKind.OPEN, max_length=16)
    scheduled_at: datetime = Field(sa_type=UTCDateTime)
    state: str = Field(default=ProbeState.PLANNED, max_length=16)
    attempt_count: int = 0
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The daemon that claimed the probe for dispatch (with ``lease_until``), if any.
    claimed_by: str | None = Field(default=None, max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Attempt(SQLModel, table=True):
    """One try at carrying out a probe (a call placed, an email sent)."""

    __table_args__ = (UniqueConstraint("probe_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    probe_id: uuid.UUID = Field(foreign_key="probe.id", index=True, ondelete="CASCADE")
    number: int
    external_id: str | None = Field(default=None, max_length=255, index=True)
    # The attempt's reply token (email: in the plus-address, Message-ID and subject).
    reference: str | None = Field(default=None, max_length=16, index=True)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, max_length=64)
    # What the attempt measured (rings, who answered, hold...), derived from its events and
    # recomputable from them at any time.
    measurement: dict[str, Any] = _json(default=dict)
    # What Twilio charged for the call, as it gives it (negative: a charge), once it gives it.
    price: Decimal | None = Field(default=None, sa_type=Numeric(14, 5))
    price_unit: str | None = Field(default=None, max_length=8)
    priced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Event(SQLModel, table=True):
    """An observed fact, append-only, with the instant its source gave and when we received it."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    probe_id: uuid.UUID | None = Field(default=None, foreign_key="probe.id", index=True)
    attempt_id: int | None = Field(default=None, foreign_key="attempt.id")
    kind: str = Field(max_length=64, index=True)
    source: str = Field(max_length=32)
    dedup_key: str | None = Field(default=None, max_length=255, unique=True)
    source_at: datetime = Field(sa_type=UTCDateTime)
    # "source" when source_at is the source's own instant, "receipt" when it dates nothing.
    clock: str = Field(default="source", max_length=16)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    payload: dict[str, Any] = _json(default=dict)


class Reply(SQLModel, table=True):
    """A message received in answer to an email or letter probe (or not yet matched to one).

    ``received_at`` is when our mailbox got it (IMAP INTERNALDATE); ``header_date`` what its
    sender's clock wrote. The raw message is kept in ``raw_path`` whatever its state.
    """

    id: int | None = Field(default=None, primary_key=True)
    probe_id: uuid.UUID | None = Field(default=None, foreign_key="probe.id", index=True)
    attempt_id: int | None = Field(default=None, foreign_key="attempt.id", index=True)
    channel: str = Field(max_length=16)
    message_id: str | None = Field(default=None, max_length=998, index=True)
    sha256: str = Field(max_length=64, unique=True)
    sender: str = Field(default="", max_length=998)
    subject: str = Field(default="", max_length=998)
    received_at: datetime = Field(sa_type=UTCDateTime)
    header_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    classification: str | None = Field(default=None, max_length=32)
    reason: str = Field(default="", max_length=500)
    match_method: str | None = Field(default=None, max_length=32)
    mailbox: str = Field(default="", max_length=500)
    uidvalidity: int | None = Field(default=None, sa_type=BigInteger)
    imap_uid: int | None = Field(default=None, sa_type=BigInteger)
    moved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    flagged: bool = False
    raw_size_bytes: int = 0
    raw_path: str | None = Field(default=None, max_length=1000)
    details: dict[str, Any] = _json(default=dict)
    # None: the sender is the structure's. "sender_mismatch": matched, but from another address
    # or domain; it does not count until an auditor says "confirmed" (or "rejected").
    sender_check: str | None = Field(default=None, max_length=16, index=True)
    sender_checked_by: str | None = Field(default=None, max_length=200)
    sender_checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MailboxCursor(SQLModel, table=True):
    """How far the reply watcher has read a mailbox: UIDs are valid within one UIDVALIDITY."""

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = Field(max_length=500, unique=True)
    uidvalidity: int = Field(sa_type=BigInteger)
    last_uid: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Recording(SQLModel, table=True):
    """An audio recording of a call, kept for auditors."""

    id: int | None = Field(default=None, primary_key=True)
    probe_id: uuid.UUID = Field(foreign_key="probe.id", index=True)
    attempt_id: int | None = Field(default=None, foreign_key="attempt.id")
    external_id: str = Field(max_length=64, unique=True)
    duration_seconds: float | None = None
    content_type: str = Field(default="audio/wav", max_length=64)
    media_path: str | None = Field(default=None, max_length=1000)
    sha256: str | None = Field(default=None, max_length=64)
    size_bytes: int | None = None
    status: str = Field(default="announced", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CallMeasurement(SQLModel, table=True):
    """A call's figures from one witness: Twilio's callbacks, or the recording's audio.

    Both are kept side by side; which one reports and scoring use is a setting
    (``measure.prefer``). An audio row whose figures disagree with the callbacks' is flagged
    (``check = "disagreement"``) until an auditor says ``confirmed`` or ``rejected``.
    """

    __table_args__ = (UniqueConstraint("attempt_id", "source"),)

    id: int | None = Field(default=None, primary_key=True)
    attempt_id: int = Field(foreign_key="attempt.id", index=True, ondelete="CASCADE")
    # "callbacks" or "audio"
    source: str = Field(max_length=16)
    recording_external_id: str | None = Field(default=None, max_length=64)
    rings: int | None = None
    rings_after_answer: int | None = None
    answered_at_s: float | None = None
    hold_s: float | None = None
    first_words_s: float | None = None
    music_s: float | None = None
    announcement_s: float | None = None
    busy: bool | None = None
    # The timeline (segments) and what the figures were drawn from.
    details: dict[str, Any] = _json(default=dict)
    computed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    check: str | None = Field(default=None, max_length=16, index=True)
    checked_by: str | None = Field(default=None, max_length=200)
    checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Review(SQLModel, table=True):
    """An auditor's verdict on a criterion only a person can judge (courtesy, greeting...).

    ``kind`` is ``review`` (an auditor's) or ``arbitration`` (a lead's, deciding between two
    blind reviews that disagree). ``submission`` is the id of the form that saved it: the same
    form sent twice records one review per criterion.
    """

    __table_args__ = (UniqueConstraint("submission", "criterion_id"),)

    id: int | None = Field(default=None, primary_key=True)
    probe_id: uuid.UUID = Field(foreign_key="probe.id", index=True)
    criterion_id: str = Field(max_length=128)
    reviewer: str = Field(max_length=200)
    verdict: str = Field(max_length=16)
    comment: str = Field(default="", max_length=4000)
    kind: str = Field(default="review", max_length=16)
    submission: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReviewAssignment(SQLModel, table=True):
    """A contact an auditor must review; ``double`` when two auditors review it blind."""

    __table_args__ = (
        UniqueConstraint("probe_id", "auditor"),
        Index("ix_reviewassignment_wave_auditor", "wave_id", "auditor", "reviewed_at"),
        Index("ix_reviewassignment_wave_disputed", "wave_id", "disputed"),
    )

    id: int | None = Field(default=None, primary_key=True)
    wave_id: int = Field(foreign_key="wave.id", ondelete="CASCADE")
    probe_id: uuid.UUID = Field(foreign_key="probe.id", index=True, ondelete="CASCADE")
    auditor: str = Field(max_length=200)
    # The probe's channel, kept here so that the queue counts its progress without a join.
    channel: str = Field(max_length=16)
    double: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # When the auditor's verdicts first covered every reviewed criterion of the contact.
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The two blind auditors' latest verdicts differ on a criterion no lead arbitrated yet.
    disputed: bool = False


class Score(SQLModel, table=True):
    """A structure's score on one channel of one wave, under one criteria grid."""

    __table_args__ = (UniqueConstraint("wave_id", "structure_id", "channel", "grid"),)

    id: int | None = Field(default=None, primary_key=True)
    wave_id: int = Field(foreign_key="wave.id", index=True, ondelete="CASCADE")
    structure_id: int = Field(foreign_key="structure.id", index=True)
    channel: str = Field(max_length=16)
    grid: str = Field(max_length=128)
    score: float | None = None
    accessibility: float | None = None
    responsiveness: float | None = None
    quality: float | None = None
    sample_size: int = 0
    """Contacts scored: attempts that reached the structure."""
    details: dict[str, Any] = _json(default=dict)
    computed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OutboxMessage(SQLModel, table=True):
    """An event waiting to be published on the bus (MQTT): written in the same transaction as
    the fact it announces, published in ``id`` order, marked when the broker acknowledged it."""

    id: int | None = Field(default=None, primary_key=True)
    event_id: uuid.UUID | None = Field(default=None, index=True)
    topic: str = Field(max_length=500)
    payload: dict[str, Any] = _json(default=dict)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    attempts: int = 0


class ApiToken(SQLModel, table=True):
    """A bearer token of the workspace's API: only its SHA-256 is kept, never the token."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    sha256: str = Field(max_length=64, unique=True)
    scopes: list[str] = _json(default=list)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Role(StrEnum):
    """What a workspace account may do."""

    ADMIN = "admin"
    OPERATOR = "operator"
    AUDITOR = "auditor"
    LEAD = "lead"  # arbitrates between auditors
    STRUCTURE = "structure"  # sees its own structure's results, nothing else


class Account(SQLModel, table=True):
    """A person's account on the workspace: a login, an argon2 hash, a role."""

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(max_length=100, unique=True)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=200)
    structure_id: int | None = Field(default=None, foreign_key="structure.id")
    organisation: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebSession(SQLModel, table=True):
    """A signed-in browser: only the SHA-256 of its cookie is kept, with its CSRF token."""

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    csrf_token: str = Field(max_length=64)
    address: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """One line of the append-only audit log: who did what, when, from where."""

    __table_args__ = (Index("ix_auditentry_action_at", "action", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=100)  # a login, or "cli:<os user>" for the command line
    address: str = Field(default="", max_length=64)
    action: str = Field(max_length=64)
    target: str = Field(default="", max_length=200)
    details: dict[str, Any] = _json(default=dict)


class Alert(SQLModel, table=True):
    """A condition an operator must know of (a dead number, a wave over budget...): raised once
    per rule and subject while it holds, cleared when it no longer does."""

    __table_args__ = (
        Index("ix_alert_open", "rule", "subject", "cleared_at"),
        # One open alert per rule and subject, even when several daemons check at once.
        Index(
            "ux_alert_open_subject",
            "rule",
            "subject",
            unique=True,
            sqlite_where=text("cleared_at IS NULL"),
            postgresql_where=text("cleared_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=64)
    # What the alert is about: a number, an address, a structure in a wave, a wave, "twilio"...
    subject: str = Field(max_length=500)
    severity: str = Field(default="warning", max_length=16)
    message: str = Field(max_length=2000)
    details: dict[str, Any] = _json(default=dict)
    wave_id: int | None = Field(default=None, foreign_key="wave.id", ondelete="CASCADE")
    raised_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    cleared_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acked_by: str | None = Field(default=None, max_length=200)
    # When the operators were emailed of its raising and of its clearing.
    raise_emailed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    clear_emailed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Offer(StrEnum):
    """What a participant enrolled for."""

    FREE = "free"  # synthetic results, channel averages, a first comparison with peers
    DETAILED = "detailed"  # the detailed report with evidence and recommendations


class ParticipantStatus(StrEnum):
    """An enrolment's life: pending (address unproven) → confirmed → accepted | refused."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    REFUSED = "refused"


class Participant(SQLModel, table=True):
    """A structure's (or an organisation's) enrolment in the barometer."""

    id: int | None = Field(default=None, primary_key=True)
    # The structure enrolling, None while it is not in the imported directory (an operator
    # imports it before accepting).
    structure_id: int | None = Field(
        default=None, foreign_key="structure.id", index=True, ondelete="SET NULL"
    )
    official_id: str = Field(max_length=MAX_LENGTHS["official_id"], index=True)
    declared_name: str = Field(default="", max_length=MAX_LENGTHS["name"])
    # The organisation's name for a multi-site enrolment, "" for a single structure.
    organisation: str = Field(default="", max_length=200)
    offer: str = Field(max_length=16)
    status: str = Field(default=ParticipantStatus.PENDING, max_length=16, index=True)
    contact_name: str = Field(max_length=200)
    contact_email: str = Field(max_length=320)
    contact_phone: str = Field(default="", max_length=32)
    postal_address: str = Field(default="", max_length=500)
    # Whether the structure took part in no earlier barometer (preferred for free places).
    first_time: bool = True
    terms_accepted_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: str = Field(default="", max_length=100)
    decision_reason: str = Field(default="", max_length=1000)
    account_id: int | None = Field(default=None, foreign_key="account.id", ondelete="SET NULL")


class ParticipantSite(SQLModel, table=True):
    """One site of an enrolment (the enrolling structure itself is its first site)."""

    __table_args__ = (UniqueConstraint("participant_id", "official_id"),)

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", index=True, ondelete="CASCADE")
    official_id: str = Field(max_length=MAX_LENGTHS["official_id"], index=True)
    structure_id: int | None = Field(
        default=None, foreign_key="structure.id", index=True, ondelete="SET NULL"
    )


class ParticipantToken(SQLModel, table=True):
    """A single-use link sent by email (address confirmation, password invitation): only the
    SHA-256 of the token is kept."""

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", index=True, ondelete="CASCADE")
    purpose: str = Field(max_length=16)  # "confirm" | "invite"
    sha256: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WavePublication(SQLModel, table=True):
    """A wave whose results an operator published to the participants."""

    id: int | None = Field(default=None, primary_key=True)
    wave_id: int = Field(foreign_key="wave.id", unique=True, ondelete="CASCADE")
    published_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_by: str = Field(max_length=100)
