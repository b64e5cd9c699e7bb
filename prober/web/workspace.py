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
from prober.web.metrics import Metrics, metrics_route


def create_workspace_app(
    settings: Settings, database: Database, metrics: Metrics | None = None
) -> Starlette:
    """The results API under ``/api`` (bearer tokens checked through ``database``), ``/healthz``,
    and ``/metrics`` (Prometheus; ``metrics`` holds the daemon's own figures)."""

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    access = TokenCheck(database)
    return Starlette(
        routes=[
            *project_api(settings, database, access),
            Route("/healthz", health, methods=["GET"]),
            metrics_route(metrics or Metrics(), database, access),
        ]
    )
