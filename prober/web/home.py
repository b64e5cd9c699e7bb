"""The workspace's home page for each role, and the administrators' pages (accounts, audit log).

The home of a structure account shows its own structure's scores and nothing else; the other
roles see the waves (the review pages link from there).
"""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from prober.web.auth import User
from prober.web.pages import Pages
from storage.accounts import disable_account, find_account, list_accounts
from storage.audit import recent_audit
from storage.models import Role, Structure
from storage.participants import participant_sites
from storage.publication import published_waves
from storage.scores import scores_of_structure
from storage.structures import get_structure
from storage.waves import list_waves
from storage.websessions import close_sessions_of

AUDIT_LINES = 200
# Roles whose home links each wave to its review queue (/revue/<wave>, the review pages).
REVIEWERS = (Role.ADMIN, Role.AUDITOR, Role.LEAD)

ACCOUNT_DISABLED = "account_disabled"


def home_routes(pages: Pages) -> list[Route]:
    """``/`` for every role, ``/comptes`` and ``/journal`` for administrators."""
    database = pages.auth.database

    @pages.page()
    async def home(request: Request, user: User) -> Response:
        if user.role is Role.STRUCTURE:
            return await structure_home(request, user)

        def read(session: Session) -> list[dict[str, object]]:
            return [
                {
                    "name": wave.name,
                    "starts_on": wave.starts_on,
                    "ends_on": wave.ends_on,
                    "status": wave.status,
                    "channels": list(wave.channels),
                }
                for wave in list_waves(session)
            ]

        waves = await database.run(read)
        context = {"title": "Accueil", "waves": waves, "reviews": user.role in REVIEWERS}
        return pages.render(request, "home.html", context, user=user)

    async def structure_home(request: Request, user: User) -> Response:
        # Only the waves whose results an operator published, for the account's own sites.
        def read(session: Session) -> tuple[str, list[dict[str, object]]]:
            if user.structure_official_id is None or user.structure_id is None:
                return "", []
            structure = get_structure(session, user.structure_official_id)
            published = published_waves(session)
            sites: list[dict[str, object]] = []
            for structure_id in participant_sites(session, user.account_id):
                site = session.get(Structure, structure_id)
                rows = [
                    row
                    for row in scores_of_structure(session, structure_id)
                    if row.wave in published
                ]
                if site is not None:
                    sites.append(
                        {"name": site.name, "official_id": site.official_id, "scores": rows}
                    )
            return structure.name, sites

        name, sites = await database.run(read)
        return pages.render(
            request,
            "structure_home.html",
            {"title": "Vos résultats", "structure_name": name, "sites": sites},
            user=user,
        )

    @pages.page(Role.ADMIN)
    async def accounts(request: Request, user: User) -> Response:
        rows = await database.run(list_accounts)
        return pages.render(
            request, "accounts.html", {"title": "Comptes", "accounts": rows}, user=user
        )

    @pages.page(Role.ADMIN)
    async def disable(request: Request, user: User) -> Response:
        login = request.path_params["login"]
        if login == user.login:
            message = "Vous ne pouvez pas désactiver votre propre compte : demandez-le à un autre."
            return pages.error(request, 409, message, user=user)

        def change(session: Session) -> bool:
            account = find_account(session, login)
            if account is None:
                return False
            if account.active:
                disable_account(session, login)
                closed = close_sessions_of(session, account.id)
                user.audit(session, ACCOUNT_DISABLED, login, {"sessions_closed": closed})
            return True

        if not await database.run(change):
            return pages.error(request, 404, f"Aucun compte « {login} ».", user=user)
        return RedirectResponse("/comptes", status_code=303)

    @pages.page(Role.ADMIN)
    async def journal(request: Request, user: User) -> Response:
        def read(session: Session) -> list[object]:
            return list(recent_audit(session, limit=AUDIT_LINES))

        lines = await database.run(read)
        return pages.render(
            request,
            "journal.html",
            {"title": "Journal d'audit", "lines": lines, "limit": AUDIT_LINES},
            user=user,
        )

    return [
        Route("/", home, methods=["GET"]),
        Route("/comptes", accounts, methods=["GET"]),
        Route("/comptes/{login}/desactiver", disable, methods=["POST"]),
        Route("/journal", journal, methods=["GET"]),
    ]
