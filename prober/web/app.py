"""prober's web app: Twilio's webhooks (signed, idempotent), a health check, and any extra
routes the caller adds (the daemon adds the results API, prober/web/api.py).

Every Twilio route first checks ``X-Twilio-Signature`` against the URL Twilio requested (the
configured public base URL, the path and the query exactly as sent) and the form; anything else
gets 403 before the database is touched.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from channels.errors import InvalidCallbackError
from channels.phone import webhooks
from channels.phone.webhooks import FormParams
from prober.probes.phone import AttemptKey, PhoneProbes
from storage.types import utcnow

logger = logging.getLogger(__name__)

TWIML = "application/xml"


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def create_app(phone: PhoneProbes, *, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The ASGI app serving Twilio's webhooks for ``phone``, and ``extra_routes``."""
    auth_token_secret = phone.settings.twilio.auth_token
    auth_token = "" if auth_token_secret is None else auth_token_secret.get_secret_value()
    public_base = phone.settings.twilio.webhook_base_url

    async def signed(request: Request) -> tuple[AttemptKey, FormParams, datetime]:
        received_at = utcnow()
        # Twilio posts application/x-www-form-urlencoded; repeated names are kept in order.
        body = (await request.body()).decode("utf-8", errors="replace")
        params = FormParams(parse_qsl(body, keep_blank_values=True))
        url = str(request.url)
        if public_base:
            url = (
                public_base
                + request.url.path
                + (f"?{request.url.query}" if request.url.query else "")
            )
        signature = request.headers.get(webhooks.SIGNATURE_HEADER)
        if not webhooks.is_signed_by_twilio(auth_token, url, params, signature):
            logger.warning("refused an unsigned or forged request to %s", request.url.path)
            raise _Refused(403, "invalid or missing X-Twilio-Signature")
        try:
            probe_id = uuid.UUID(request.path_params["probe_id"])
            number = int(request.path_params["number"])
        except ValueError:
            raise _Refused(404, "no such attempt") from None
        return AttemptKey(probe_id, number), params, received_at

    def handler(
        work: Callable[[Request, AttemptKey, FormParams, datetime], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                key, params, received_at = await signed(request)
                return await work(request, key, params, received_at)
            except _Refused as refused:
                return PlainTextResponse(refused.reason, status_code=refused.status)
            except InvalidCallbackError as error:
                logger.warning("unusable Twilio request to %s: %s", request.url.path, error)
                return PlainTextResponse(str(error), status_code=400)

        return endpoint

    async def voice(
        request: Request, key: AttemptKey, params: FormParams, received_at: datetime
    ) -> Response:
        query = dict(request.query_params)
        twiml = await phone.on_voice(key, query.get("step", ""), query, params, received_at)
        return Response(twiml, media_type=TWIML)

    async def status(
        request: Request, key: AttemptKey, params: FormParams, received_at: datetime
    ) -> Response:
        await phone.on_event(key, webhooks.status_event(params, received_at))
        return Response(status_code=204)

    async def amd(
        request: Request, key: AttemptKey, params: FormParams, received_at: datetime
    ) -> Response:
        await phone.on_event(key, webhooks.amd_event(params, received_at))
        return Response(status_code=204)

    async def partial(
        request: Request, key: AttemptKey, params: FormParams, received_at: datetime
    ) -> Response:
        phase = request.query_params.get("phase", "unknown")
        await phone.on_event(key, webhooks.speech_started_event(params, phase, received_at))
        return Response(status_code=204)

    async def recording(
        request: Request, key: AttemptKey, params: FormParams, received_at: datetime
    ) -> Response:
        event = webhooks.recording_event(params, received_at)
        new = await phone.on_event(key, event)
        if new and event.payload["status"] == "completed":
            phone.fetch_recording_later(key, event.payload["recording_sid"])
        return Response(status_code=204)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    prefix = "/twilio/calls/{probe_id}/{number}"
    return Starlette(
        routes=[
            Route(f"{prefix}/voice", handler(voice), methods=["POST"]),
            Route(f"{prefix}/status", handler(status), methods=["POST"]),
            Route(f"{prefix}/amd", handler(amd), methods=["POST"]),
            Route(f"{prefix}/partial", handler(partial), methods=["POST"]),
            Route(f"{prefix}/recording", handler(recording), methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
            *extra_routes,
        ]
    )
