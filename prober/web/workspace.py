"""The workspace listener's app: the results API (token required) and a health check.

It serves people and systems of the organisation, never Twilio: keep it on loopback or a
private network (``[workspace] host/port``); the auditors' pages will join it here.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from config.settings import Settings
from prober.project.database import Database
from prober.web.access import TokenCheck
from prober.web.api import project_api


def create_workspace_app(settings: Settings, database: Database) -> Starlette:
    """The results API under ``/api`` (bearer tokens checked through ``database``), ``/healthz``."""

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            *project_api(settings, database, TokenCheck(database)),
            Route("/healthz", health, methods=["GET"]),
        ]
    )
