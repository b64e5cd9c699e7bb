"""The workspace listener's app: the auditors' pages (sign-in required), the results API (a
session or a bearer token), the recordings, the vendored static files, a health check and
``/metrics`` (Prometheus, a bearer token with the ``metrics:read`` scope).

It serves people and systems of the organisation, never Twilio: keep it on loopback or a
private network (``[workspace] host/port``). Every answer carries the security headers below:
nothing is loaded from elsewhere, no page can be framed; and no request body may exceed
``MAX_BODY_BYTES`` (413, read no further): the sign-in form is open to anyone who reaches the
listener.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.settings import Settings
from prober.project.database import Database
from prober.web.access import TokenCheck
from prober.web.api import project_api
from prober.web.auth import Auth
from prober.web.enrolment.pages import enrolment_routes
from prober.web.home import home_routes
from prober.web.metrics import Metrics, metrics_route
from prober.web.pages import STATIC_DIR, Pages
from prober.web.recordings import recording_routes
from prober.web.results_pages import results_routes
from prober.web.review.pages import may_hear, project_review_routes
from prober.web.signin import signin_routes

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self';"
    " object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

# The workspace's forms are a few fields (a review's comment the longest): 1 MiB is ample.
MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(Exception):
    """A request body past ``MAX_BODY_BYTES``."""


class BodyLimit:
    """Answers 413 to a request declaring, or sending, more than ``MAX_BODY_BYTES``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            await _too_large(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise BodyTooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await _too_large(scope, receive, send)


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    response = PlainTextResponse(
        f"corps de requête trop grand (plus de {MAX_BODY_BYTES} octets)",
        status_code=413,
        headers={"Connection": "close"},
    )
    await response(scope, receive, send)


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def workspace_routes(
    settings: Settings, database: Database, metrics: Metrics | None = None
) -> list[BaseRoute]:
    """Every route of the workspace; ``metrics`` holds the daemon's own figures."""
    auth = Auth(database, settings.workspace)
    access = TokenCheck(database)
    pages = Pages(auth)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return [
        *project_api(settings, database, access, auth),
        *signin_routes(pages),
        *home_routes(pages),
        *recording_routes(pages, Path(settings.recordings_dir), may_hear=may_hear),
        *project_review_routes(pages, settings),
        *enrolment_routes(pages, settings),
        *results_routes(pages, settings),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        Route("/healthz", health, methods=["GET"]),
        metrics_route(metrics or Metrics(), database, access),
    ]


def create_workspace_app(
    settings: Settings, database: Database, metrics: Metrics | None = None
) -> Starlette:
    """The workspace app over ``database``: pages, results API, recordings, ``/healthz``,
    ``/metrics``."""
    app = Starlette(routes=workspace_routes(settings, database, metrics))
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)
    return app
