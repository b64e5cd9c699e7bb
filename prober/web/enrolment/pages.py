"""The enrolment pages: the public form (``/inscription``), the address confirmation and the
password invitation links, and the operators' page (``/participants``: ranking, decisions,
publication of a wave's results)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from channels.errors import ChannelError
from config.settings import Settings
from prober.web.auth import CSRF_COOKIE, CsrfRefused, User
from prober.web.enrolment import mails
from prober.web.enrolment.service import (
    PARIS,
    PARTICIPANT_ACCEPTED,
    PARTICIPANT_REFUSED,
    WAVE_PUBLISHED,
    Accepted,
    EnrolmentRefused,
    Notice,
    Refused,
    Registered,
    accept,
    check_open,
    confirm,
    invitation_holder,
    link,
    parse_enrolment,
    publish,
    ranking_of,
    refuse,
    register,
    set_password,
    status_fr,
)
from prober.web.pages import Pages
from storage.accounts import get_account
from storage.models import Role
from storage.participants import forget_pending, list_participants
from storage.publication import published_waves
from storage.types import utcnow
from storage.waves import list_waves

log = logging.getLogger(__name__)

FORM_FIELDS = (
    "siret",
    "nouvelle",
    "declared_name",
    "postal_address",
    "organisation",
    "sites",
    "contact_name",
    "contact_email",
    "contact_phone",
    "offre",
    "conditions",
)
MAX_FIELD = 20_000
ENROL_PATH = "/inscription"
CONFIRM_PATH = "/inscription/confirmer"
PASSWORD_PATH = "/inscription/mot-de-passe"  # noqa: S105 - a path
OPERATORS = (Role.OPERATOR, Role.ADMIN)


async def send_acceptance(settings: Settings, accepted: Accepted) -> None:
    expires = utcnow() + timedelta(hours=settings.enrolment.invite_hours)
    message = mails.acceptance(
        settings,
        accepted.participant,
        login=accepted.login,
        url=link(settings, PASSWORD_PATH, accepted.token),
        expires=expires,
        ranking=accepted.ranking,
    )
    await mails.send(settings, message)


async def send_refusal(settings: Settings, refused: Refused) -> None:
    await mails.send(settings, mails.refusal(settings, refused.participant, refused.explanation))


async def send_publication(settings: Settings, wave: str, notices: list[Notice]) -> list[str]:
    """Email each notice; the addresses that could not be reached."""
    failed = []
    base = settings.enrolment.public_url.rstrip("/") or (
        f"http://{settings.workspace.host}:{settings.workspace.port}"
    )
    for notice in notices:
        message = mails.publication(
            settings, notice.participant, wave=wave, login=notice.login, url=f"{base}/"
        )
        try:
            await mails.send(settings, message)
        except ChannelError as error:
            log.warning("publication of %s: %s", wave, error)
            failed.append(notice.participant.contact_email)
    return failed


def _form(
    pages: Pages,
    settings: Settings,
    request: Request,
    values: dict[str, str] | None = None,
    *,
    message: str = "",
    field: str = "",
    status: int = 200,
) -> Response:
    closed = ""
    try:
        check_open(settings)
    except EnrolmentRefused as refused:
        closed = str(refused)
    return pages.render(
        request,
        "enrol_form.html",
        {
            "title": "Inscription au baromètre",
            "v": {name: (values or {}).get(name, "") for name in FORM_FIELDS},
            "message": message,
            "field": field,
            "closed": closed,
            "closes_on": settings.enrolment.closes_on,
            "free_places": settings.enrolment.free_places,
            "terms_url": settings.enrolment.terms_url,
        },
        user=None,
        status=status,
    )


def _said(
    pages: Pages, request: Request, title: str, message: str, *, status: int = 200, **more: Any
) -> Response:
    return pages.render(
        request,
        "enrol_message.html",
        {
            "title": title,
            "message": message,
            "problem": status >= 400,
            "details": more.get("details", []),
            "link": more.get("link"),
        },
        user=None,
        status=status,
    )


def enrolment_routes(pages: Pages, settings: Settings) -> list[Route]:
    """The public enrolment pages and the operators' ``/participants`` page."""
    return [*public_routes(pages, settings), *operator_routes(pages, settings)]


def public_routes(pages: Pages, settings: Settings) -> list[Route]:
    """``/inscription``: the form, the confirmation link, the invitation link."""
    database = pages.auth.database
    auth = pages.auth

    def form(request: Request, values: dict[str, str] | None = None, **more: Any) -> Response:
        return _form(pages, settings, request, values, **more)

    def said(request: Request, title: str, message: str, **more: Any) -> Response:
        return _said(pages, request, title, message, **more)

    async def enrol_page(request: Request) -> Response:
        return form(request)

    async def enrol_post(request: Request) -> Response:
        try:
            await auth.check_csrf(request, request.cookies.get(CSRF_COOKIE, ""))
        except CsrfRefused as refused:
            return pages.error(request, 403, str(refused), user=None)
        data = await request.form()
        values = {name: str(data.get(name, ""))[:MAX_FIELD] for name in FORM_FIELDS}
        try:
            enrolment = parse_enrolment(values)
            registered: Registered = await database.run(
                lambda session: register(session, settings, enrolment)
            )
        except EnrolmentRefused as refused:
            status = 409 if refused.field in ("", "siret") and "déjà" in str(refused) else 400
            return form(request, values, message=str(refused), field=refused.field, status=status)
        participant = registered.participant
        expires = utcnow() + timedelta(hours=settings.enrolment.confirm_hours)
        message = mails.confirmation(
            settings, participant, link(settings, CONFIRM_PATH, registered.token), expires
        )
        try:
            await mails.send(settings, message)
        except ChannelError as error:
            log.warning("confirmation email to enrolment %s: %s", participant.id, error)
            await database.run(lambda session: forget_pending(session, participant.id))
            return form(
                request,
                values,
                message="Le courriel de confirmation n'a pas pu être envoyé à "
                f"{participant.contact_email} : vérifiez l'adresse, ou réessayez plus tard.",
                field="contact_email",
                status=503,
            )
        return said(
            request,
            "Vérifiez votre messagerie",
            f"Un courriel de confirmation a été envoyé à {participant.contact_email}.",
            details=[
                f"Ouvrez le lien qu'il contient dans les {settings.enrolment.confirm_hours} "
                "heures pour confirmer votre adresse : l'inscription n'est examinée qu'ensuite."
            ],
        )

    async def confirm_page(request: Request) -> Response:
        token = request.query_params.get("jeton", "")[:200]
        try:
            participant = await database.run(lambda session: confirm(session, token))
        except EnrolmentRefused as refused:
            return said(
                request,
                "Confirmation impossible",
                str(refused),
                status=400,
                link={"href": ENROL_PATH, "text": "Formulaire d'inscription"},
            )
        details = [
            "L'équipe du baromètre examine votre inscription ; sa décision vous sera "
            "envoyée par courriel."
        ]
        if participant.offer.value == "free" and settings.enrolment.free_places is not None:
            details.append(
                f"L'offre gratuite compte {settings.enrolment.free_places} places : les "
                "structures qui participent pour la première fois sont prioritaires, puis "
                "l'ordre de confirmation des adresses départage."
            )
        return said(
            request,
            "Adresse confirmée",
            f"Merci : l'adresse {participant.contact_email} est confirmée pour "
            f"l'inscription de {participant.name or participant.official_id}.",
            details=details,
        )

    async def password_page(request: Request) -> Response:
        data = None
        if request.method == "GET":
            token = request.query_params.get("jeton", "")[:200]
        else:
            try:
                await auth.check_csrf(request, request.cookies.get(CSRF_COOKIE, ""))
            except CsrfRefused as refused:
                return pages.error(request, 403, str(refused), user=None)
            data = await request.form()
            token = str(data.get("jeton", ""))[:200]

        def holder(session: Session) -> tuple[str, str]:
            participant = invitation_holder(session, token)
            account = (
                None
                if participant.account_id is None
                else get_account(session, participant.account_id)
            )
            if account is None:
                raise EnrolmentRefused("Ce lien d'invitation n'est pas valide.")
            return account.login, participant.organisation or participant.name

        try:
            login, name = await database.run(holder)
        except EnrolmentRefused as refused:
            return said(request, "Lien d'invitation", str(refused), status=400)
        context = {
            "title": "Choisir votre mot de passe",
            "login": login,
            "name": name,
            "token": token,
            "message": "",
        }
        if data is None:
            return pages.render(request, "enrol_password.html", context, user=None)
        password = str(data.get("password", ""))[:2000]
        try:
            await database.run(lambda session: set_password(session, token, password))
        except EnrolmentRefused as refused:
            context["message"] = str(refused)
            return pages.render(request, "enrol_password.html", context, user=None, status=400)
        return said(
            request,
            "Mot de passe enregistré",
            f"Le mot de passe du compte {login} est enregistré.",
            link={"href": "/connexion", "text": "Se connecter"},
        )

    return [
        Route(ENROL_PATH, enrol_page, methods=["GET"]),
        Route(ENROL_PATH, enrol_post, methods=["POST"]),
        Route(CONFIRM_PATH, confirm_page, methods=["GET"]),
        Route(PASSWORD_PATH, password_page, methods=["GET", "POST"]),
    ]


def operator_routes(pages: Pages, settings: Settings) -> list[Route]:
    """``/participants`` (ranking, decisions, publication) for operators and admins."""
    database = pages.auth.database

    async def operators_page(
        request: Request, user: User, *, message: str = "", notice: str = "", status: int = 200
    ) -> Response:
        def read(session: Session) -> dict[str, Any]:
            _, ranks = ranking_of(session, settings)
            published = published_waves(session)
            rows = []
            for p in list_participants(session):
                rank = ranks.get(p.id)
                rows.append(
                    {
                        "p": p,
                        "offer": mails.OFFER_FR[p.offer],
                        "status": status_fr(p.status),
                        "ranking": "" if rank is None else rank.explanation,
                    }
                )
            waves = [
                {
                    "name": w.name,
                    "published_at": None
                    if w.name not in published
                    else published[w.name].astimezone(PARIS).strftime("%d/%m/%Y %H:%M"),
                }
                for w in list_waves(session)
            ]
            return {"rows": rows, "waves": waves}

        context = await database.run(read)
        context.update(
            title="Participants",
            message=message,
            notice=notice,
            free_places=settings.enrolment.free_places,
            closes_on=settings.enrolment.closes_on,
        )
        return pages.render(request, "participants.html", context, user=user, status=status)

    @pages.page(*OPERATORS)
    async def participants(request: Request, user: User) -> Response:
        return await operators_page(request, user)

    @pages.page(*OPERATORS)
    async def accept_post(request: Request, user: User) -> Response:
        participant_id = int(request.path_params["participant"])

        def work(session: Session) -> Accepted:
            accepted = accept(session, settings, participant_id, by=user.login)
            user.audit(
                session,
                PARTICIPANT_ACCEPTED,
                str(participant_id),
                {"login": accepted.login, "ranking": accepted.ranking},
            )
            return accepted

        try:
            accepted = await database.run(work)
        except EnrolmentRefused as refused:
            return await operators_page(request, user, message=str(refused), status=409)
        try:
            await send_acceptance(settings, accepted)
        except ChannelError as error:
            return await operators_page(
                request,
                user,
                message=f"Inscription {participant_id} acceptée, mais le courriel d'invitation "
                f"n'est pas parti ({error}) : renvoyez-le avec prober participants invite "
                f"{participant_id}.",
            )
        return RedirectResponse("/participants", status_code=303)

    @pages.page(*OPERATORS)
    async def refuse_post(request: Request, user: User) -> Response:
        participant_id = int(request.path_params["participant"])
        data = await request.form()
        reason = str(data.get("motif", ""))[:1000]

        def work(session: Session) -> Refused:
            refused = refuse(session, settings, participant_id, by=user.login, reason=reason)
            user.audit(
                session, PARTICIPANT_REFUSED, str(participant_id), {"reason": refused.explanation}
            )
            return refused

        try:
            refused = await database.run(work)
        except EnrolmentRefused as error:
            return await operators_page(request, user, message=str(error), status=409)
        try:
            await send_refusal(settings, refused)
        except ChannelError as error:
            return await operators_page(
                request,
                user,
                message=f"Inscription {participant_id} refusée, mais le courriel n'est pas "
                f"parti ({error}).",
            )
        return RedirectResponse("/participants", status_code=303)

    @pages.page(*OPERATORS)
    async def publish_post(request: Request, user: User) -> Response:
        wave = request.path_params["wave"]

        def work(session: Session) -> list[Notice]:
            notices = publish(session, wave, by=user.login)
            user.audit(session, WAVE_PUBLISHED, wave, {"notified": len(notices)})
            return notices

        try:
            notices = await database.run(work)
        except EnrolmentRefused as error:
            return await operators_page(request, user, message=str(error), status=409)
        failed = await send_publication(settings, wave, notices)
        notice = (
            f"Résultats de la vague {wave} publiés ; {len(notices) - len(failed)} "
            "participant(s) prévenu(s) par courriel."
        )
        if failed:
            notice += f" Échec de l'envoi à : {', '.join(failed)}."
        return await operators_page(request, user, notice=notice)

    return [
        Route("/participants", participants, methods=["GET"]),
        Route("/participants/{participant:int}/accepter", accept_post, methods=["POST"]),
        Route("/participants/{participant:int}/refuser", refuse_post, methods=["POST"]),
        Route("/vagues/{wave}/publier", publish_post, methods=["POST"]),
    ]
