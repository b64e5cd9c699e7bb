"""What enrolment does, whoever asks (the public form, the operators' page, the command line):
check and store an enrolment, confirm its address, accept or refuse it under the free-places
rule, invite the accepted structure to set its password, publish a wave's results.

Each function works in the caller's transaction and returns what must be emailed; messages
meant for the public are in French (``EnrolmentRefused``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from config.settings import Settings
from prober.errors import ProberError
from prober.web.passwords import WeakPasswordError, check_strength, generate_password, hash_password
from storage.accounts import add_account, find_account, get_account, set_password_hash
from storage.errors import ConflictError, NotFoundError
from storage.models import Offer, ParticipantStatus, Probe, Role, Wave
from storage.participants import (
    Enrolment,
    RankedParticipant,
    StoredParticipant,
    TokenProblem,
    add_token,
    check_token,
    decide,
    enrol,
    free_ranking,
    get_participant,
    hold_free_places,
    link_account,
    list_participants,
    use_token,
)
from storage.publication import publish_wave
from storage.types import utcnow

PARIS = ZoneInfo("Europe/Paris")
TOKEN_BYTES = 32
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,100}")
SIRET_SHAPE = re.compile(r"[0-9]{14}")
MAX_SITES = 200
CONFIRM = "confirm"
INVITE = "invite"
LIMITS = {
    "declared_name": 300,
    "organisation": 200,
    "contact_name": 200,
    "contact_email": 320,
    "contact_phone": 32,
    "postal_address": 500,
}
EMAIL_SHAPE = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+")

# Audit actions.
PARTICIPANT_ACCEPTED = "participant_accepted"
PARTICIPANT_REFUSED = "participant_refused"
WAVE_PUBLISHED = "wave_published"


class EnrolmentRefused(ProberError):
    """A request the enrolment cannot honour; the message (French) says why and what to do."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Registered:
    """A stored (pending) enrolment and the confirmation token to email (shown once)."""

    participant: StoredParticipant
    token: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """An accepted enrolment, its new account's login and the invitation token to email."""

    participant: StoredParticipant
    login: str
    token: str
    ranking: str  # the free-places explanation ("" for the detailed offer)


@dataclass(frozen=True, slots=True)
class Refused:
    """A refused enrolment and the explanation sent to the structure."""

    participant: StoredParticipant
    explanation: str


@dataclass(frozen=True, slots=True)
class Notice:
    """A participant to tell that a wave's results are published."""

    participant: StoredParticipant
    login: str


def new_token() -> str:
    """A fresh random token for a link (256 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest(token: str) -> str:
    """The SHA-256 kept of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def link(settings: Settings, path: str, token: str) -> str:
    """The absolute URL of ``path?jeton=token`` on the workspace."""
    base = settings.enrolment.public_url.rstrip("/") or (
        f"http://{settings.workspace.host}:{settings.workspace.port}"
    )
    return f"{base}{path}?jeton={token}"


def today_in_paris(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(PARIS).date()


def check_open(settings: Settings, now: datetime | None = None) -> None:
    """EnrolmentRefused once ``enrolment.closes_on`` has passed."""
    closes_on = settings.enrolment.closes_on
    if closes_on is not None and today_in_paris(now) > closes_on:
        raise EnrolmentRefused(
            f"Les inscriptions sont closes depuis le {closes_on:%d/%m/%Y} : elles ne sont plus "
            "acceptées pour ce baromètre. Écrivez à l'équipe du baromètre pour la prochaine "
            "édition."
        )


def normalise_siret(value: str, field: str = "siret") -> str:
    siret = re.sub(r"[\s.]", "", value)
    if not SIRET_SHAPE.fullmatch(siret):
        raise EnrolmentRefused(
            f"« {value.strip()[:40]} » n'est pas un SIRET : il faut 14 chiffres "
            "(espaces permis), par exemple 217 700 018 00011.",
            field=field,
        )
    return siret


def _text(fields: Mapping[str, str], name: str, label: str, *, required: bool) -> str:
    value = " ".join(fields.get(name, "").split())
    if required and not value:
        raise EnrolmentRefused(f"Indiquez {label}.", field=name)
    if len(value) > LIMITS[name]:
        raise EnrolmentRefused(
            f"{label[0].upper()}{label[1:]} : {LIMITS[name]} caractères au plus.", field=name
        )
    return value


def parse_enrolment(fields: Mapping[str, str]) -> Enrolment:
    """The form's fields as an enrolment; EnrolmentRefused names the first field at fault."""
    siret = normalise_siret(fields.get("siret", ""))
    new_structure = fields.get("nouvelle") == "oui"
    offer_text = fields.get("offre", "")
    if offer_text not in ("free", "detailed"):
        raise EnrolmentRefused("Choisissez l'offre : gratuite ou détaillée.", field="offre")
    sites: list[str] = []
    for line in fields.get("sites", "").splitlines():
        if line.strip():
            site = normalise_siret(line, field="sites")
            if site != siret and site not in sites:
                sites.append(site)
    if len(sites) > MAX_SITES:
        raise EnrolmentRefused(f"{MAX_SITES} sites au plus par inscription.", field="sites")
    email = _text(fields, "contact_email", "l'adresse électronique du contact", required=True)
    if not EMAIL_SHAPE.fullmatch(email):
        raise EnrolmentRefused(
            f"« {email[:80]} » n'est pas une adresse électronique.", field="contact_email"
        )
    organisation = _text(fields, "organisation", "le nom de l'organisation", required=False)
    if sites and not organisation:
        raise EnrolmentRefused(
            "Plusieurs sites : indiquez le nom de l'organisation qui les regroupe.",
            field="organisation",
        )
    if fields.get("conditions") != "oui":
        raise EnrolmentRefused(
            "Acceptez les conditions de participation pour vous inscrire.", field="conditions"
        )
    return Enrolment(
        official_id=siret,
        offer=Offer(offer_text),
        contact_name=_text(fields, "contact_name", "le nom du contact", required=True),
        contact_email=email,
        terms_accepted=True,
        declared_name=_text(
            fields, "declared_name", "le nom de la structure", required=new_structure
        ),
        organisation=organisation,
        contact_phone=_text(fields, "contact_phone", "le téléphone du contact", required=False),
        postal_address=_text(fields, "postal_address", "l'adresse postale", required=True),
        sites=tuple(sites),
        new_structure=new_structure,
    )


def register(
    session: Session, settings: Settings, enrolment: Enrolment, now: datetime | None = None
) -> Registered:
    """Store a pending enrolment with its confirmation token (closing date checked at ``now``)."""
    check_open(settings, now)
    try:
        participant = enrol(session, enrolment)
    except NotFoundError as error:
        unknown = str(error).split("'")[1] if "'" in str(error) else enrolment.official_id
        if unknown == enrolment.official_id:
            raise EnrolmentRefused(
                f"Le SIRET {unknown} est inconnu de l'annuaire du baromètre. Vérifiez-le ; "
                "si votre structure n'y figure pas, cochez « Ma structure n'est pas dans "
                "l'annuaire » et indiquez son nom : l'équipe la complétera.",
                field="siret",
            ) from None
        raise EnrolmentRefused(
            f"Le site {unknown} est inconnu de l'annuaire du baromètre : vérifiez son SIRET.",
            field="sites",
        ) from None
    except ConflictError as error:
        if "already enrolled" in str(error):
            official_id = str(error).split(" ", 1)[0]
            raise EnrolmentRefused(
                f"La structure {official_id} est déjà inscrite au baromètre : une seule "
                "inscription par structure. Le contact qui l'a inscrite a reçu un courriel ; "
                "écrivez à l'équipe du baromètre pour la modifier.",
                field="siret",
            ) from None
        raise
    token = new_token()
    expires = utcnow() + timedelta(hours=settings.enrolment.confirm_hours)
    add_token(session, participant.id, purpose=CONFIRM, sha256=digest(token), expires_at=expires)
    return Registered(participant, token)


TOKEN_MESSAGES = {
    CONFIRM: {
        "unknown": "Ce lien de confirmation n'est pas valide : il a pu être tronqué ou modifié. "
        "Copiez l'adresse complète reçue par courriel.",
        "used": "Ce lien de confirmation a déjà servi : votre adresse est confirmée, votre "
        "inscription attend la décision de l'équipe du baromètre.",
        "expired": "Ce lien de confirmation a expiré : votre inscription n'est pas confirmée. "
        "Remplissez à nouveau le formulaire d'inscription pour recevoir un nouveau lien.",
    },
    INVITE: {
        "unknown": "Ce lien d'invitation n'est pas valide : il a pu être tronqué ou modifié. "
        "Copiez l'adresse complète reçue par courriel.",
        "used": "Ce lien d'invitation a déjà servi : connectez-vous avec le mot de passe choisi.",
        "expired": "Ce lien d'invitation a expiré : demandez-en un nouveau à l'équipe du "
        "baromètre.",
    },
}


def _spend(session: Session, purpose: str, token: str) -> StoredParticipant:
    if not TOKEN_SHAPE.fullmatch(token):
        raise EnrolmentRefused(TOKEN_MESSAGES[purpose]["unknown"])
    try:
        return use_token(session, purpose=purpose, sha256=digest(token))
    except TokenProblem as problem:
        raise EnrolmentRefused(TOKEN_MESSAGES[purpose][problem.reason]) from None


def confirm(session: Session, token: str) -> StoredParticipant:
    """Confirm the address an enrolment's link was sent to."""
    return _spend(session, CONFIRM, token)


def ranking_of(
    session: Session, settings: Settings
) -> tuple[list[RankedParticipant], dict[int, RankedParticipant]]:
    ranked = free_ranking(session, settings.enrolment.free_places)
    return ranked, {r.participant.id: r for r in ranked}


def _login_for(session: Session, participant: StoredParticipant) -> str:
    login = participant.contact_email.lower()
    if len(login) > 100 or "/" in login or find_account(session, login) is not None:
        login = f"participant-{participant.id}"
    return login


def accept(session: Session, settings: Settings, participant_id: int, *, by: str) -> Accepted:
    """Accept a confirmed enrolment: its structure account (no usable password yet) and the
    invitation token; EnrolmentRefused past the free places or before confirmation.

    Acceptances are serialised (``hold_free_places``): a second operator's waits for the
    first's commit, so the free places are never exceeded."""
    hold_free_places(session)
    participant = get_participant(session, participant_id)
    if participant.status is ParticipantStatus.PENDING:
        raise EnrolmentRefused(
            f"L'inscription {participant_id} n'est pas confirmée : la structure n'a pas encore "
            "ouvert le lien reçu par courriel."
        )
    if participant.status is not ParticipantStatus.CONFIRMED:
        raise EnrolmentRefused(
            f"L'inscription {participant_id} est déjà {_STATUS_FR[participant.status]}."
        )
    explanation = ""
    if participant.offer is Offer.FREE:
        _, ranks = ranking_of(session, settings)
        rank = ranks[participant_id]
        explanation = rank.explanation
        if not rank.within_places:
            raise EnrolmentRefused(
                f"Places gratuites épuisées : {rank.explanation} Acceptez d'abord les "
                "inscriptions mieux classées, refusez celle-ci ou augmentez "
                "enrolment.free_places."
            )
    if participant.structure_id is None:
        raise EnrolmentRefused(
            f"La structure {participant.official_id} (« {participant.name} ») n'est pas dans "
            "l'annuaire : importez-la (prober structures import) avant d'accepter."
        )
    try:
        decided = decide(session, participant_id, accept=True, by=by, reason=explanation)
    except ConflictError as error:
        raise EnrolmentRefused(str(error)) from None
    login = _login_for(session, decided)
    account = add_account(
        session,
        login=login,
        role=Role.STRUCTURE,
        password_hash=hash_password(generate_password()),  # unknown to all: set via the link
        structure=decided.official_id,
        organisation=decided.organisation,
    )
    link_account(session, decided.id, account.id)
    token = new_token()
    expires = utcnow() + timedelta(hours=settings.enrolment.invite_hours)
    add_token(session, decided.id, purpose=INVITE, sha256=digest(token), expires_at=expires)
    return Accepted(get_participant(session, decided.id), login, token, explanation)


_STATUS_FR = {
    ParticipantStatus.PENDING: "en attente de confirmation",
    ParticipantStatus.CONFIRMED: "confirmée",
    ParticipantStatus.ACCEPTED: "acceptée",
    ParticipantStatus.REFUSED: "refusée",
}


def status_fr(status: ParticipantStatus) -> str:
    return _STATUS_FR[status]


def refuse(
    session: Session, settings: Settings, participant_id: int, *, by: str, reason: str = ""
) -> Refused:
    """Refuse an enrolment; the explanation sent says the reason and, for the free offer, the
    ranking for the free places."""
    reason = " ".join(reason.split())[:1000]
    participant = get_participant(session, participant_id)
    if participant.status in (ParticipantStatus.ACCEPTED, ParticipantStatus.REFUSED):
        raise EnrolmentRefused(
            f"L'inscription {participant_id} est déjà {_STATUS_FR[participant.status]}."
        )
    explanation = reason
    if participant.offer is Offer.FREE:
        _, ranks = ranking_of(session, settings)
        rank = ranks.get(participant_id)
        if rank is not None:
            explanation = f"{reason} {rank.explanation}".strip()
    decided = decide(session, participant_id, accept=False, by=by, reason=explanation)
    return Refused(decided, explanation)


def invitation_holder(session: Session, token: str) -> StoredParticipant:
    """The participant an unspent invitation link belongs to (the link is not spent)."""
    if not TOKEN_SHAPE.fullmatch(token):
        raise EnrolmentRefused(TOKEN_MESSAGES[INVITE]["unknown"])
    try:
        return check_token(session, purpose=INVITE, sha256=digest(token))
    except TokenProblem as problem:
        raise EnrolmentRefused(TOKEN_MESSAGES[INVITE][problem.reason]) from None


def set_password(session: Session, token: str, password: str) -> str:
    """Spend an invitation link to set the account's password; the login."""
    try:
        check_strength(password)
    except WeakPasswordError:
        raise EnrolmentRefused(
            "Mot de passe trop court ou trop long : choisissez-en un de 12 caractères au moins."
        ) from None
    participant = _spend(session, INVITE, token)
    account = (
        None if participant.account_id is None else get_account(session, participant.account_id)
    )
    if account is None:
        raise EnrolmentRefused(TOKEN_MESSAGES[INVITE]["unknown"])
    set_password_hash(session, account.login, hash_password(password))
    return account.login


def publish(session: Session, wave_name: str, *, by: str) -> list[Notice]:
    """Publish a wave's results; the accepted participants probed in it, to notify."""
    try:
        publish_wave(session, wave_name, by)
    except ConflictError:
        raise EnrolmentRefused(
            f"Les résultats de la vague {wave_name} sont déjà publiés."
        ) from None
    except NotFoundError:
        raise EnrolmentRefused(f"Aucune vague « {wave_name} ».") from None
    probed = set(
        session.exec(
            select(Probe.structure_id)
            .join(Wave, col(Wave.id) == col(Probe.wave_id))
            .where(col(Wave.name) == wave_name)
        ).all()
    )
    notices = []
    for participant in list_participants(session, ParticipantStatus.ACCEPTED):
        if participant.account_id is None or not probed & set(participant.site_structure_ids):
            continue
        account = get_account(session, participant.account_id)
        if account is not None and account.active:
            notices.append(Notice(participant, account.login))
    return notices
