"""Sign-in and sign-out pages of the workspace (``/connexion``, ``/deconnexion``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from prober.web.auth import (
    CSRF_COOKIE,
    CsrfRefused,
    SignInRefused,
    User,
    clear_session_cookie,
    client_address,
    set_session_cookie,
)
from prober.web.pages import SIGN_IN_PATH, SIGN_OUT_PATH, Pages

MAX_FIELD = 1024


def _next_page(value: str | None) -> str:
    """Where to go after signing in: a path of this site only (no other host)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value[:2000]


def signin_routes(pages: Pages) -> list[Route]:
    """``GET/POST /connexion`` and ``POST /deconnexion``."""
    auth = pages.auth

    def form(
        request: Request, *, login: str = "", message: str = "", status: int = 200
    ) -> Response:
        return pages.render(
            request,
            "signin.html",
            {
                "title": "Connexion",
                "login": login,
                "message": message,
                "next_page": _next_page(request.query_params.get("suite")),
            },
            user=None,
            status=status,
        )

    async def sign_in_page(request: Request) -> Response:
        if await auth.user_of(request) is not None:
            return RedirectResponse(_next_page(request.query_params.get("suite")), 303)
        return form(request)

    async def sign_in(request: Request) -> Response:
        try:
            await auth.check_csrf(request, request.cookies.get(CSRF_COOKIE, ""))
        except CsrfRefused as refused:
            return pages.error(request, 403, str(refused), user=None)
        data = await request.form()
        login = str(data.get("login", ""))[:MAX_FIELD]
        password = str(data.get("password", ""))[:MAX_FIELD]
        next_page = _next_page(str(data.get("suite", "")))
        previous = await auth.user_of(request)
        if previous is not None:
            await auth.sign_out(previous)  # a new sign-in never keeps an older session's cookie
        try:
            signed_in = await auth.sign_in(login, password, client_address(request))
        except SignInRefused as refused:
            return form(
                request,
                login=login,
                message=str(refused),
                status=429 if refused.throttled else 401,
            )
        response = RedirectResponse(next_page, status_code=303)
        set_session_cookie(response, request, signed_in.cookie)
        return response

    @pages.page()
    async def sign_out(request: Request, user: User) -> Response:
        await auth.sign_out(user)
        response = RedirectResponse(SIGN_IN_PATH, status_code=303)
        clear_session_cookie(response, request)
        return response

    return [
        Route(SIGN_IN_PATH, sign_in_page, methods=["GET"]),
        Route(SIGN_IN_PATH, sign_in, methods=["POST"]),
        Route(SIGN_OUT_PATH, sign_out, methods=["POST"]),
    ]
