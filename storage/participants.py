"""Participants: enrolments of structures (and multi-site organisations), their emailed tokens,
the operators' decisions and the ranking of the free places.

Tokens are stored as their SHA-256 only; this module never sees a token itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, text
from sqlmodel import Session, col, select

from storage.errors import ConflictError, NotFoundError
from storage.models import (
    Account,
    Offer,
    Participant,
    ParticipantSite,
    ParticipantStatus,
    ParticipantToken,
    Probe,
    Structure,
)
from storage.types import utcnow

__all__ = [
    "Enrolment",
    "Offer",
    "ParticipantStatus",
    "RankedParticipant",
    "StoredParticipant",
    "TokenProblem",
    "accepted_structure_ids",
    "add_token",
    "check_token",
    "decide",
    "enrol",
    "find_participant",
    "forget_pending",
    "free_ranking",
    "get_participant",
    "hold_free_places",
    "link_account",
    "list_participants",
    "participant_for_account",
    "participant_offer",
    "participant_sites",
    "use_token",
]


class TokenProblem(ConflictError):
    """A link's token is unknown (mistyped, tampered with), used already or expired."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # "unknown" | "used" | "expired"


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What a structure fills in to enrol."""

    official_id: str
    offer: Offer
    contact_name: str
    contact_email: str
    terms_accepted: bool
    declared_name: str = ""
    organisation: str = ""
    contact_phone: str = ""
    postal_address: str = ""
    sites: tuple[str, ...] = ()  # other sites' official ids, for a multi-site organisation
    new_structure: bool = False  # not in the directory: an operator completes it


@dataclass(frozen=True, slots=True)
class StoredParticipant:
    """An enrolment as stored, with its sites' official ids (its own first)."""

    id: int
    structure_id: int | None
    official_id: str
    name: str  # the directory's name, else the declared one
    organisation: str
    offer: Offer
    status: ParticipantStatus
    contact_name: str
    contact_email: str
    contact_phone: str
    postal_address: str
    first_time: bool
    created_at: datetime
    confirmed_at: datetime | None
    decided_at: datetime | None
    decided_by: str
    decision_reason: str
    account_id: int | None
    sites: tuple[str, ...]
    site_structure_ids: tuple[int, ...]  # the sites found in the directory

    @property
    def in_directory(self) -> bool:
        return self.structure_id is not None


@dataclass(frozen=True, slots=True)
class RankedParticipant:
    """A free-offer participant's place in the queue for the free places."""

    participant: StoredParticipant
    rank: int
    within_places: bool
    explanation: str  # French, shown to operators and to the structure


def _stored(session: Session, row: Participant) -> StoredParticipant:
    assert row.id is not None  # noqa: S101 - a flushed row
    sites = session.exec(
        select(ParticipantSite)
        .where(col(ParticipantSite.participant_id) == row.id)
        .order_by(col(ParticipantSite.id))
    ).all()
    name = row.declared_name
    if row.structure_id is not None:
        structure = session.get(Structure, row.structure_id)
        if structure is not None:
            name = structure.name
    return StoredParticipant(
        id=row.id,
        structure_id=row.structure_id,
        official_id=row.official_id,
        name=name,
        organisation=row.organisation,
        offer=Offer(row.offer),
        status=ParticipantStatus(row.status),
        contact_name=row.contact_name,
        contact_email=row.contact_email,
        contact_phone=row.contact_phone,
        postal_address=row.postal_address,
        first_time=row.first_time,
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        decision_reason=row.decision_reason,
        account_id=row.account_id,
        sites=tuple(site.official_id for site in sites),
        site_structure_ids=tuple(s.structure_id for s in sites if s.structure_id is not None),
    )


def _structure(session: Session, official_id: str) -> Structure | None:
    return session.exec(select(Structure).where(col(Structure.official_id) == official_id)).first()


def _live_enrolment_of(session: Session, official_id: str) -> Participant | None:
    """An enrolment, not refused, that names ``official_id`` among its sites."""
    return session.exec(
        select(Participant)
        .join(ParticipantSite, col(ParticipantSite.participant_id) == col(Participant.id))
        .where(col(ParticipantSite.official_id) == official_id)
        .where(col(Participant.status) != ParticipantStatus.REFUSED.value)
    ).first()


def _lapsed(session: Session, row: Participant) -> bool:
    """A pending enrolment none of whose confirmation links may still be used."""
    if row.status != ParticipantStatus.PENDING.value:
        return False
    live = session.exec(
        select(ParticipantToken)
        .where(col(ParticipantToken.participant_id) == row.id)
        .where(col(ParticipantToken.purpose) == "confirm")
        .where(col(ParticipantToken.used_at).is_(None))
        .where(col(ParticipantToken.expires_at) > utcnow())
    ).first()
    return live is None


def forget_pending(session: Session, participant_id: int) -> None:
    """Drop a pending enrolment whose confirmation email could not be sent."""
    row = session.get(Participant, participant_id)
    if row is not None and row.status == ParticipantStatus.PENDING.value:
        session.execute(
            delete(ParticipantToken).where(col(ParticipantToken.participant_id) == participant_id)
        )
        session.execute(
            delete(ParticipantSite).where(col(ParticipantSite.participant_id) == participant_id)
        )
        session.execute(delete(Participant).where(col(Participant.id) == participant_id))
        session.expunge(row)
        session.flush()


def enrol(session: Session, enrolment: Enrolment) -> StoredParticipant:
    """Store a pending enrolment.

    NotFoundError names an official id missing from the directory (unless ``new_structure``);
    ConflictError when a site already has an enrolment that was not refused.
    """
    if not enrolment.terms_accepted:
        raise ConflictError("the terms were not accepted")
    official_ids = list(dict.fromkeys((enrolment.official_id, *enrolment.sites)))
    structures: dict[str, Structure | None] = {}
    for number, official_id in enumerate(official_ids):
        structure = _structure(session, official_id)
        if structure is None and not (number == 0 and enrolment.new_structure):
            raise NotFoundError(f"no structure {official_id!r} in the directory")
        structures[official_id] = structure
        earlier = _live_enrolment_of(session, official_id)
        if earlier is not None and _lapsed(session, earlier):
            assert earlier.id is not None  # noqa: S101 - stored
            forget_pending(session, earlier.id)  # never confirmed, its link expired: enrol again
            earlier = None
        if earlier is not None:
            raise ConflictError(f"{official_id} is already enrolled (enrolment {earlier.id})")
    main = structures[enrolment.official_id]
    probed_ids = [s.id for s in structures.values() if s is not None]
    first_time = (
        not probed_ids
        or session.exec(select(Probe.id).where(col(Probe.structure_id).in_(probed_ids))).first()
        is None
    )
    row = Participant(
        structure_id=None if main is None else main.id,
        official_id=enrolment.official_id,
        declared_name=enrolment.declared_name,
        organisation=enrolment.organisation,
        offer=enrolment.offer.value,
        contact_name=enrolment.contact_name,
        contact_email=enrolment.contact_email,
        contact_phone=enrolment.contact_phone,
        postal_address=enrolment.postal_address,
        first_time=first_time,
        terms_accepted_at=utcnow(),
    )
    session.add(row)
    session.flush()
    assert row.id is not None  # noqa: S101 - flushed
    for official_id, structure in structures.items():
        session.add(
            ParticipantSite(
                participant_id=row.id,
                official_id=official_id,
                structure_id=None if structure is None else structure.id,
            )
        )
    session.flush()
    return _stored(session, row)


def add_token(
    session: Session, participant_id: int, *, purpose: str, sha256: str, expires_at: datetime
) -> None:
    """Remember the hash of a token emailed for ``purpose`` ("confirm" or "invite")."""
    session.add(
        ParticipantToken(
            participant_id=participant_id, purpose=purpose, sha256=sha256, expires_at=expires_at
        )
    )
    session.flush()


def use_token(
    session: Session, *, purpose: str, sha256: str, now: datetime | None = None
) -> StoredParticipant:
    """Spend a token once: the participant it was sent to; TokenProblem otherwise.

    Using a ``confirm`` token moves a pending enrolment to confirmed.
    """
    now = now or utcnow()
    token, row = _valid_token(session, purpose, sha256, now)
    token.used_at = now
    session.add(token)
    if purpose == "confirm" and row.status == ParticipantStatus.PENDING.value:
        row.status = ParticipantStatus.CONFIRMED.value
        row.confirmed_at = now
        session.add(row)
    session.flush()
    return _stored(session, row)


def check_token(
    session: Session, *, purpose: str, sha256: str, now: datetime | None = None
) -> StoredParticipant:
    """Like ``use_token`` without spending it (to show the form behind an invitation link)."""
    _, row = _valid_token(session, purpose, sha256, now or utcnow())
    return _stored(session, row)


def _valid_token(
    session: Session, purpose: str, sha256: str, now: datetime
) -> tuple[ParticipantToken, Participant]:
    """The unused, unexpired token for ``purpose`` and its participant; TokenProblem otherwise."""
    token = session.exec(
        select(ParticipantToken)
        .where(col(ParticipantToken.sha256) == sha256)
        .where(col(ParticipantToken.purpose) == purpose)
    ).first()
    if token is None:
        raise TokenProblem("unknown token", reason="unknown")
    if token.used_at is not None:
        raise TokenProblem("token already used", reason="used")
    if token.expires_at <= now:
        raise TokenProblem("token expired", reason="expired")
    row = session.get(Participant, token.participant_id)
    if row is None:
        raise TokenProblem("unknown token", reason="unknown")
    return token, row


def get_participant(session: Session, participant_id: int) -> StoredParticipant:
    """The enrolment ``participant_id``; NotFoundError if there is none."""
    row = session.get(Participant, participant_id)
    if row is None:
        raise NotFoundError(f"no participant {participant_id}: `prober participants list`")
    return _stored(session, row)


def find_participant(session: Session, official_id: str) -> StoredParticipant | None:
    """The live (not refused) enrolment naming ``official_id`` among its sites, if any."""
    row = _live_enrolment_of(session, official_id)
    return None if row is None else _stored(session, row)


def list_participants(
    session: Session, status: ParticipantStatus | None = None
) -> list[StoredParticipant]:
    """Every enrolment (of one status), oldest first."""
    query = select(Participant).order_by(col(Participant.id))
    if status is not None:
        query = query.where(col(Participant.status) == status.value)
    return [_stored(session, row) for row in session.exec(query)]


# PostgreSQL transaction-level advisory lock key for decisions on the free places ("free").
_FREE_PLACES_LOCK = 0x66726565


def hold_free_places(session: Session) -> None:
    """Serialise acceptances until this transaction ends: take it before reading the ranking.

    Two operators accepting at once would otherwise both rank against the same accepted set and
    both take the last free place. PostgreSQL: a transaction-level advisory lock, so the second
    waits for the first's commit and then sees its acceptance. SQLite: the database's write lock
    (``BEGIN IMMEDIATE``), which must come before the transaction's first read.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FREE_PLACES_LOCK})
        return
    driver = connection.connection.driver_connection
    if not driver.in_transaction:  # type: ignore[union-attr]
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def free_ranking(session: Session, free_places: int | None) -> list[RankedParticipant]:
    """The free-offer enrolments in their order for the free places.

    Accepted ones hold their place; then confirmed ones, first-time participants first, then by
    the date their address was confirmed. Pending (unconfirmed) and refused ones are not ranked.
    """
    rows = [
        p
        for p in list_participants(session)
        if p.offer is Offer.FREE
        and p.status in (ParticipantStatus.ACCEPTED, ParticipantStatus.CONFIRMED)
    ]
    far = datetime.max.replace(tzinfo=utcnow().tzinfo)
    rows.sort(
        key=lambda p: (
            p.status is not ParticipantStatus.ACCEPTED,
            not p.first_time,
            p.confirmed_at or far,
            p.id,
        )
    )
    ranked: list[RankedParticipant] = []
    for rank, participant in enumerate(rows, start=1):
        within = free_places is None or rank <= free_places
        places = (
            "des places gratuites illimitées"
            if free_places is None
            else f"{free_places} place{'s' if free_places > 1 else ''} "
            f"gratuite{'s' if free_places > 1 else ''}"
        )
        basis = (
            "première participation, prioritaire"
            if participant.first_time
            else "a déjà participé au baromètre, après les premières participations"
        )
        if participant.status is ParticipantStatus.ACCEPTED:
            verdict = "place gratuite attribuée"
        elif within:
            verdict = "dans les places gratuites"
        else:
            verdict = "au-delà des places gratuites : liste d'attente"
        ranked.append(
            RankedParticipant(
                participant,
                rank,
                within,
                f"Rang {rank} pour {places} ({basis}, adresse confirmée "
                f"le {participant.confirmed_at:%d/%m/%Y %H:%M} UTC) : {verdict}."
                if participant.confirmed_at
                else f"Rang {rank} pour {places} ({basis}) : {verdict}.",
            )
        )
    return ranked


def decide(
    session: Session,
    participant_id: int,
    *,
    accept: bool,
    by: str,
    reason: str = "",
    account_id: int | None = None,
) -> StoredParticipant:
    """Accept or refuse a confirmed enrolment (refusing a pending one is allowed too).

    The caller checks the free places first (``free_ranking``).
    """
    row = session.get(Participant, participant_id)
    if row is None:
        raise NotFoundError(f"no participant {participant_id}: `prober participants list`")
    if row.status in (ParticipantStatus.ACCEPTED.value, ParticipantStatus.REFUSED.value):
        raise ConflictError(f"participant {participant_id} is already {row.status}")
    if accept and row.status != ParticipantStatus.CONFIRMED.value:
        raise ConflictError(
            f"participant {participant_id} has not confirmed its address yet: it cannot be "
            "accepted before"
        )
    if accept:
        for site in session.exec(
            select(ParticipantSite).where(col(ParticipantSite.participant_id) == participant_id)
        ):
            if site.structure_id is None:
                structure = _structure(session, site.official_id)
                if structure is None:
                    raise ConflictError(
                        f"{site.official_id} is not in the directory: import it "
                        "(`prober structures import`) before accepting"
                    )
                site.structure_id = structure.id
                session.add(site)
                if site.official_id == row.official_id:
                    row.structure_id = structure.id
    row.status = (ParticipantStatus.ACCEPTED if accept else ParticipantStatus.REFUSED).value
    row.decided_at = utcnow()
    row.decided_by = by
    row.decision_reason = reason
    if account_id is not None:
        row.account_id = account_id
    session.add(row)
    session.flush()
    return _stored(session, row)


def link_account(session: Session, participant_id: int, account_id: int) -> None:
    """Record the structure account created for an accepted participant."""
    row = session.get(Participant, participant_id)
    if row is None:
        raise NotFoundError(f"no participant {participant_id}")
    row.account_id = account_id
    session.add(row)
    session.flush()


def participant_offer(session: Session, structure_id: int) -> Offer | None:
    """The offer of the accepted enrolment covering ``structure_id``; None if not a participant."""
    row = session.exec(
        select(Participant)
        .join(ParticipantSite, col(ParticipantSite.participant_id) == col(Participant.id))
        .where(col(ParticipantSite.structure_id) == structure_id)
        .where(col(Participant.status) == ParticipantStatus.ACCEPTED.value)
    ).first()
    return None if row is None else Offer(row.offer)


def participant_for_account(session: Session, account_id: int) -> StoredParticipant | None:
    """The accepted enrolment an account was created for, if any."""
    row = session.exec(
        select(Participant)
        .where(col(Participant.account_id) == account_id)
        .where(col(Participant.status) == ParticipantStatus.ACCEPTED.value)
    ).first()
    return None if row is None else _stored(session, row)


def participant_sites(session: Session, account_id: int) -> list[int]:
    """The structure ids an account may see: its enrolment's sites (an organisation's account
    sees all its sites), else the account's own structure; [] for no structure at all."""
    participant = participant_for_account(session, account_id)
    if participant is not None:
        return list(participant.site_structure_ids)
    account = session.get(Account, account_id)
    if account is None or account.structure_id is None:
        return []
    return [account.structure_id]


def accepted_structure_ids(session: Session) -> list[int]:
    """Every structure covered by an accepted enrolment (the ``participants`` panel)."""
    rows = session.exec(
        select(ParticipantSite.structure_id)
        .join(Participant, col(ParticipantSite.participant_id) == col(Participant.id))
        .where(col(Participant.status) == ParticipantStatus.ACCEPTED.value)
        .where(col(ParticipantSite.structure_id).is_not(None))
    ).all()
    return sorted({int(r) for r in rows if r is not None})
