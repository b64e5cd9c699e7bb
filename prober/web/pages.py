"""The workspace's pages: Jinja2 templates in the base layout, and the guards of routes.

A page handler is ``async def handler(request, user) -> Response`` wrapped by
:meth:`Pages.page` (people: without a session a GET goes to the sign-in page) or
:meth:`Pages.resource` (media and scripts: 401 without a session); both answer 403 to a role
not listed and to a POST without its CSRF token, before the handler runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from prober.web.auth import (
    CSRF_FIELD,
    Auth,
    CsrfRefused,
    Forbidden,
    NotSignedIn,
    User,
    anonymous_csrf,
    set_csrf_cookie,
)
from storage.models import Role

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
SIGN_IN_PATH = "/connexion"
SIGN_OUT_PATH = "/deconnexion"

Handler = Callable[[Request, User], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]

ROLE_NAMES = {
    Role.ADMIN: "administration",
    Role.OPERATOR: "exploitation",
    Role.AUDITOR: "auditeur ou auditrice",
    Role.LEAD: "responsable d'audit",
    Role.STRUCTURE: "structure",
}


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["ROLE_NAMES"] = ROLE_NAMES
    environment.globals["CSRF_FIELD"] = CSRF_FIELD
    environment.globals["SIGN_OUT_PATH"] = SIGN_OUT_PATH
    environment.filters["fr_number"] = _fr_number
    return environment


def _fr_number(value: float | None, digits: int = 1) -> str:
    """12.5 → « 12,5 »; None → « — »."""
    if value is None:
        return "—"
    return f"{value:.{digits}f}".replace(".", ",")


class Pages:
    """Renders templates in the base layout and guards page routes with ``auth``."""

    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        self.environment = _environment()

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        user: User | None,
        status: int = 200,
    ) -> HTMLResponse:
        """``template`` rendered with ``context``, ``user`` and the CSRF token forms carry.
        Without a user (sign-in page, errors) the token is the anonymous one, set as a cookie."""
        csrf = user.csrf_token if user is not None else anonymous_csrf(request)
        body = self.environment.get_template(template).render(
            {"request": request, "user": user, "csrf_token": csrf, **(context or {})}
        )
        response = HTMLResponse(body, status_code=status)
        if user is None:
            set_csrf_cookie(response, request, csrf)
        return response

    def error(
        self, request: Request, status: int, message: str, *, user: User | None
    ) -> HTMLResponse:
        """A page in the layout saying why the request was refused."""
        titles = {
            401: "Connexion requise",
            403: "Accès refusé",
            404: "Page introuvable",
            409: "Action impossible",
        }
        return self.render(
            request,
            "error.html",
            {"title": titles.get(status, "Erreur"), "message": message, "status": status},
            user=user,
            status=status,
        )

    def page(self, *roles: Role) -> Callable[[Handler], Endpoint]:
        """Guard for a page: signed in with one of ``roles`` (any when none), CSRF on POST."""

        def wrap(handler: Handler) -> Endpoint:
            async def endpoint(request: Request) -> Response:
                try:
                    user = await self.auth.require(request, *roles)
                except NotSignedIn:
                    if request.method == "GET":
                        target = request.url.path
                        if request.url.query:
                            target += "?" + request.url.query
                        return RedirectResponse(
                            f"{SIGN_IN_PATH}?suite={quote(target, safe='')}", status_code=303
                        )
                    return self.error(request, 401, "Connectez-vous d'abord.", user=None)
                except (Forbidden, CsrfRefused) as refused:
                    user_or_none = await self.auth.user_of(request)
                    return self.error(request, 403, str(refused), user=user_or_none)
                return await handler(request, user)

            return endpoint

        return wrap

    def resource(self, *roles: Role) -> Callable[[Handler], Endpoint]:
        """Guard for a non-page resource (a recording, a fetch() call): 401 without a session,
        403 for another role or a missing CSRF token; never a redirect."""

        def wrap(handler: Handler) -> Endpoint:
            async def endpoint(request: Request) -> Response:
                try:
                    user = await self.auth.require(request, *roles)
                except NotSignedIn as error:
                    return PlainTextResponse(str(error), status_code=401)
                except (Forbidden, CsrfRefused) as refused:
                    return PlainTextResponse(str(refused), status_code=403)
                return await handler(request, user)

            return endpoint

        return wrap
