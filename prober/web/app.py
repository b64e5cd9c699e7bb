"""prober's webhook listener: Twilio's webhooks (signed, idempotent) and a health check.

Nothing else is served here: this app faces the Internet (behind the operator's proxy), and the
results API and auditors' pages live on the workspace listener (prober/web/workspace.py).
Every Twilio route refuses at once, before reading the body, a request without
``X-Twilio-Signature`` (403) or declaring a body over ``MAX_BODY_BYTES`` (413); it reads the
body up to that size and at most ``MAX_FORM_PARAMS`` parameters (413 beyond), then checks the
signature against the URL Twilio requested (the configured public base URL, the path and the
query exactly as sent) and the form; anything else gets 403 before the database is touched.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from channels.errors import InvalidCallbackError
from channels.phone import webhooks
from channels.phone.webhooks import FormParams
from prober.probes.phone import AttemptKey, PhoneProbes
from storage.types import utcnow

logger = logging.getLogger(__name__)

TWIML = "application/xml"
# Twilio's callbacks are a few dozen short parameters, well under 4 KiB.
MAX_BODY_BYTES = 64 * 1024
MAX_FORM_PARAMS = 200


class _Refused(Exception):
    """A request answered with ``status``; ``unread`` when its body was not read to the end
    (the connection is then closed instead of reading the rest)."""

    def __init__(self, status: int, reason: str, *, unread: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.unread = unread


async def read_form(request: Request) -> FormParams:
    """The request's urlencoded form, read within ``MAX_BODY_BYTES`` and ``MAX_FORM_PARAMS``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise _Refused(400, f"unreadable Content-Length {declared[:20]!r}", unread=True)
        if int(declared) > MAX_BODY_BYTES:
            raise _Refused(413, f"body over {MAX_BODY_BYTES} bytes", unread=True)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _Refused(413, f"body over {MAX_BODY_BYTES} bytes", unread=True)
        chunks.append(chunk)
    body = b"".join(chunks).decode("utf-8", errors="replace")
    try:
        # Repeated names are kept in order, as the signature needs them.
        pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FORM_PARAMS)
    except ValueError:
        raise _Refused(413, f"more than {MAX_FORM_PARAMS} form parameters") from None
    return FormParams(pairs)


def create_app(phone: PhoneProbes) -> Starlette:
    """The ASGI app serving Twilio's webhooks for ``phone`` and ``/healthz``, nothing else."""
    auth_token_secret = phone.settings.twilio.auth_token
    auth_token = "" if auth_token_secret is None else auth_token_secret.get_secret_value()
    public_base = phone.settings.twilio.webhook_base_url

    async def signed(request: Request) -> tuple[AttemptKey, FormParams, datetime]:
        received_at = utcnow()
        signature = request.headers.get(webhooks.SIGNATURE_HEADER)
        if not signature:
            logger.warning("refused an unsigned request to %s", request.url.path)
            raise _Refused(403, "missing X-Twilio-Signature", unread=True)
        try:
            params = await read_form(request)
        except _Refused as refused:
            logger.warning("refused a request to %s: %s", request.url.path, refused.reason)
            raise
        url = str(request.url)
        if public_base:
            url = (
                public_base
                + request.url.path
                + (f"?{request.url.query}" if request.url.query else "")
            )
        if not webhooks.is_signed_by_twilio(auth_token, url, params, signature):
            logger.warning("refused a forged request to %s", request.url.path)
            raise _Refused(403, "invalid X-Twilio-Signature")
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
                headers = {"Connection": "close"} if refused.unread else None
                return PlainTextResponse(refused.reason, refused.status, headers=headers)
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
        if request.query_params.get("leg") == "own":  # record_from_ringing's own leg
            await phone.on_event(key, webhooks.own_leg_event(params, received_at))
        else:
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
        ]
    )
