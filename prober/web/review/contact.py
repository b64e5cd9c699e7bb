"""Everything a contact's review page shows, read from the store into plain values.

A call: its recording, the timeline of its events, the transcript, the measured figures with
their source. A reply: the message as sent (sanitised), its headers and timing. A letter: its
scan. The auditor's own verdicts (never another auditor's while the review is blind).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from channels.email.message import parse_message
from config.criteria import CriteriaGrid, Criterion
from prober.results.timeline_strip import segments_from, timeline_strip_svg
from prober.web.review.sanitise import inline_images, sanitise_html
from prober.web.review.timeline import CallEvent, Heard, Mark, call_timeline
from storage.call_measurements import measurement_of
from storage.models import Attempt, Event, Probe, Recording, Reply, Review, Structure, Wave
from storage.review_assignments import assignments_of, reached_attempt

MAX_REPLY_BYTES = 10 * 1024 * 1024
SHOWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To")

# Each measured figure of a call: its label and where its value comes from.
CALL_FIGURES: tuple[tuple[str, str, str], ...] = (
    ("rings", "Sonneries", "Twilio : instants de sonnerie et de décroché (à la seconde)"),
    ("ring_s", "Durée de sonnerie (s)", "Twilio : Timestamp des rappels ringing → in-progress"),
    ("answered_by", "Décroché par", "reconnaissance de la parole et détection de répondeur"),
    ("greeting", "Accueil entendu", "reconnaissance de la parole (Twilio Gather)"),
    ("menu_s", "Temps de menu (s)", "horloge de prober : début du script → touche envoyée"),
    ("menu_path", "Touches", "script d'appel de prober"),
    ("transfer_outcome", "Issue du transfert", "reconnaissance de la parole après la demande"),
    ("hold_s", "Attente (s)", "horloge de prober : demande de transfert → premiers mots"),
    ("talk_s", "Durée de l'appel (s)", "Twilio : CallDuration du rappel final"),
)


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured value shown to the auditor, with its source."""

    label: str
    value: str
    source: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """A verdict an auditor (or a lead) gave on one criterion."""

    criterion_id: str
    reviewer: str
    verdict: str
    comment: str
    kind: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReplyView:
    """A reply as the auditor sees it: sanitised HTML or text, headers, timing."""

    reply_id: int
    received_at: datetime
    header_date: datetime | None
    classification: str | None
    sender: str
    subject: str
    html: str | None
    text: str
    headers: list[tuple[str, str]]
    delay: str
    is_scan: bool
    scan_type: str


@dataclass(frozen=True, slots=True)
class ContactView:
    """A contact's review page."""

    probe_id: uuid.UUID
    wave_name: str
    official_id: str
    structure_name: str
    channel: str
    scheduled_at: datetime
    attempt_number: int | None
    outcome: str | None
    recording_id: int | None
    recording_duration_s: float | None
    marks: list[Mark]
    transcript: list[Heard]
    figures: list[Figure]
    replies: list[ReplyView]
    criteria: list[Criterion]
    auditors: list[tuple[str, bool]]
    verdicts: list[Verdict] = field(default_factory=list)
    # What the caller heard, from the recording's analysis (the detailed report's strip).
    strip_svg: str | None = None


def _shown(value: Any) -> str:
    if value is None or value == []:
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, list):
        return " → ".join(str(item) for item in value)
    return str(value)


def call_figures(measurement: dict[str, Any]) -> list[Figure]:
    """The call's measured figures present in ``measurement``, with their source."""
    return [
        Figure(label, _shown(measurement.get(key)), source)
        for key, label, source in CALL_FIGURES
        if key in measurement
    ]


def _delay(sent_at: datetime | None, received_at: datetime) -> str:
    if sent_at is None:
        return "—"
    minutes = int((received_at - sent_at).total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} j"


def _reply_view(reply: Reply, sent_at: datetime | None, replies_dir: Path) -> ReplyView:
    raw = b""
    path = Path(reply.raw_path) if reply.raw_path else None
    inside = path is not None and path.resolve().is_relative_to(replies_dir.resolve())
    is_scan = reply.channel == "letter"
    if path is not None and inside and path.is_file() and not is_scan:
        with path.open("rb") as handle:
            raw = handle.read(MAX_REPLY_BYTES + 1)
    parsed = parse_message(raw[:MAX_REPLY_BYTES]) if raw else None
    html = None
    if parsed is not None and parsed.html:
        html = sanitise_html(parsed.html, inline_images(raw[:MAX_REPLY_BYTES]))
    headers = (
        [(name, value) for name in SHOWN_HEADERS for value in parsed.headers.get_all(name)]
        if parsed is not None
        else []
    )
    suffix = path.suffix.lower() if path is not None else ""
    return ReplyView(
        reply_id=reply.id or 0,
        received_at=reply.received_at,
        header_date=reply.header_date,
        classification=reply.classification,
        sender=reply.sender,
        subject=reply.subject,
        html=html,
        text=parsed.text if parsed is not None else "",
        headers=headers,
        delay=_delay(sent_at, reply.received_at),
        is_scan=is_scan and path is not None and inside,
        scan_type="pdf" if suffix == ".pdf" else "image",
    )


def load_contact(
    session: Session,
    probe_id: uuid.UUID,
    grid: CriteriaGrid,
    *,
    viewer: str | None,
    replies_dir: Path,
    time_scale: float,
) -> ContactView | None:
    """The contact's page; verdicts of ``viewer`` only, or of everyone when ``viewer`` is None."""
    row = session.execute(
        select(Probe, Structure, Wave)
        .join(Structure, col(Structure.id) == col(Probe.structure_id))
        .join(Wave, col(Wave.id) == col(Probe.wave_id))
        .where(col(Probe.id) == probe_id)
    ).first()
    if row is None:
        return None
    probe, structure, wave = row
    attempt = (
        reached_attempt(session, probe_id)
        or session.scalars(
            select(Attempt)
            .where(col(Attempt.probe_id) == probe_id)
            .order_by(col(Attempt.number).desc())
        ).first()
    )
    marks: list[Mark] = []
    transcript: list[Heard] = []
    figures: list[Figure] = []
    recording: Recording | None = None
    strip_svg: str | None = None
    replies: list[ReplyView] = []
    if attempt is not None and attempt.id is not None:
        if probe.channel == "phone":
            events = [
                CallEvent(e.kind, e.source, e.source_at, e.received_at, dict(e.payload))
                for e in session.scalars(
                    select(Event)
                    .where(col(Event.probe_id) == probe_id)
                    .where(col(Event.attempt_id) == attempt.id)
                )
            ]
            marks, transcript = call_timeline(events, time_scale=time_scale)
            figures = call_figures(dict(attempt.measurement))
            strip_svg = _strip(session, attempt.id)
            recording = session.scalars(
                select(Recording)
                .where(col(Recording.probe_id) == probe_id)
                .where(col(Recording.attempt_id) == attempt.id)
                .where(col(Recording.status) == "stored")
                .order_by(col(Recording.id))
            ).first()
        else:
            for reply in session.scalars(
                select(Reply)
                .where(col(Reply.probe_id) == probe_id)
                .order_by(col(Reply.received_at))
            ):
                replies.append(_reply_view(reply, attempt.started_at, replies_dir))
    query = select(Review).where(col(Review.probe_id) == probe_id)
    if viewer is not None:
        query = query.where(col(Review.reviewer) == viewer)
    verdicts = [
        Verdict(r.criterion_id, r.reviewer, r.verdict, r.comment, r.kind, r.created_at)
        for r in session.scalars(query.order_by(col(Review.created_at), col(Review.id)))
    ]
    return ContactView(
        probe_id=probe.id,
        wave_name=wave.name,
        official_id=structure.official_id,
        structure_name=structure.name,
        channel=probe.channel,
        scheduled_at=probe.scheduled_at,
        attempt_number=None if attempt is None else attempt.number,
        outcome=None if attempt is None else attempt.outcome,
        recording_id=None if recording is None else recording.id,
        recording_duration_s=None if recording is None else recording.duration_seconds,
        marks=marks,
        transcript=transcript,
        figures=figures,
        replies=replies,
        criteria=[c for c in grid.for_channel(probe.channel) if c.kind == "reviewed"],
        auditors=assignments_of(session, probe_id),
        verdicts=verdicts,
        strip_svg=strip_svg,
    )


def _strip(session: Session, attempt_id: int) -> str | None:
    """The strip of what the caller heard, when the call's recording was analysed."""
    audio = measurement_of(session, attempt_id, "audio")
    if audio is None:
        return None
    details = audio.details
    return timeline_strip_svg(
        segments_from(details.get("segments", [])),
        duration_s=details.get("duration_s"),
        answered_at_s=audio.answered_at_s,
        transfer_at_s=details.get("transfer_at_s"),
        strip_id=f"strip-{attempt_id}",
    )
