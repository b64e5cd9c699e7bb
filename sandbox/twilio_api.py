"""The Twilio-compatible REST API (2010-04-01): one account's Calls and Recordings, as ASGI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.audio import wav_to_mp3
from sandbox.auth import Account, check_basic_auth
from sandbox.call_params import Form, parse_create, parse_update
from sandbox.calls import Call, CallStatus, CallStore, UnknownCall, UnknownRecording
from sandbox.errors import (
    ApiError,
    AuthenticationFailed,
    InjectedServerError,
    InjectedUnavailable,
    InvalidParameter,
    MethodNotAllowed,
    ResourceNotFound,
    SandboxConfigError,
    TooManyRequests,
)
from sandbox.faults import Faults
from sandbox.pricing import pricing_routes
from sandbox.wire import (
    API_VERSION,
    account_path,
    call_resource,
    error_body,
    page_envelope,
    recording_resource,
)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MEDIA_TYPES = {"wav": "audio/x-wav", "mp3": "audio/mpeg"}
# Where media URLs redirect (Twilio's own storage; no credentials there, the name is the key).
MEDIA_STORAGE_PATH = "/media-storage/"
# What a broken download looks like: a 200 whose body is a proxy's error page, not audio.
WRONG_MEDIA_BODY = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
NEXT_PAGE_TOKEN_PREFIX = "PA"  # noqa: S105 (a paging marker, not a secret)
PREVIOUS_PAGE_TOKEN_PREFIX = "PB"  # noqa: S105
# Twilio's response header with the account's requests in flight (error 20429's advice).
CONCURRENT_REQUESTS_HEADER = "Twilio-Concurrent-Requests"
# How often a delayed create (`Faults.delay_call_create_response_s`) re-reads its delay.
DELAY_CHECK_INTERVAL_S = 0.02


def error_response(error: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if error.status == 401 else None
    return JSONResponse(error_body(error), status_code=error.status, headers=headers)


class BasicAuthMiddleware:
    """Twilio authenticates every API request before routing it: 401 / 20003 otherwise."""

    def __init__(self, app: ASGIApp, account: Account) -> None:
        self.app = app
        self.account = account

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Media storage (where recording downloads are redirected) takes no credentials.
        if scope["type"] == "http" and not scope["path"].startswith(MEDIA_STORAGE_PATH):
            authorization = Request(scope).headers.get("authorization")
            try:
                check_basic_auth(authorization, self.account)
            except AuthenticationFailed as error:
                await error_response(error)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ConcurrencyLimitMiddleware:
    """Twilio refuses a request beyond the account's concurrent requests: 429 / 20429.

    A refused request is not processed. Every response carries `Twilio-Concurrent-Requests`,
    the number of requests being handled, this one included if it was admitted. `limit` 0
    means no limit.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.limit and self.in_flight >= self.limit:
            response = error_response(TooManyRequests())
            response.headers[CONCURRENT_REQUESTS_HEADER] = str(self.in_flight)
            await response(scope, receive, send)
            return
        self.in_flight += 1
        concurrent = str(self.in_flight)

        async def send_with_count(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(CONCURRENT_REQUESTS_HEADER, concurrent)
            await send(message)

        try:
            await self.app(scope, receive, send_with_count)
        finally:
            self.in_flight -= 1


class TwilioApi:
    """Endpoint handlers over one account's `CallStore`."""

    def __init__(self, account: Account, store: CallStore) -> None:
        self.account = account
        self.store = store

    def _check_account(self, request: Request) -> None:
        # Another account's SID in the path reads as a resource that does not exist.
        if request.path_params["account_sid"] != self.account.sid:
            raise ResourceNotFound(request.url.path)

    def _call(self, request: Request) -> Call:
        self._check_account(request)
        sid = _strip_extension(request, "json")
        try:
            return self.store.get(sid)
        except UnknownCall:
            raise ResourceNotFound(request.url.path) from None

    def _render(self, call: Call) -> dict[str, object]:
        return call_resource(call, self.account.sid)

    async def create_call(self, request: Request) -> Response:
        self._check_account(request)
        params = parse_create(await _form(request))
        call = self.store.create(
            to=params.to,
            from_=params.from_,
            instructions=params.instructions,
            options=params.options,
        )
        call.api_base_url = str(request.base_url).rstrip("/")
        # Injected faults come after the commit: the call is queued whatever the client hears.
        created = self._render(call)
        fails = _faults(request).take_create_failure()
        await _delay_create_response(request)
        if fails:
            raise InjectedServerError()
        return JSONResponse(created, status_code=201)

    async def list_calls(self, request: Request) -> Response:
        self._check_account(request)
        query = request.query_params
        filters = [(name, query[name]) for name in ("To", "From", "Status") if name in query]
        listed_after_s = _faults(request).calls_listed_after_s
        now = time.monotonic()
        calls = [
            call
            for call in self.store.newest_first()
            if now - call.created_monotonic >= listed_after_s
            and ("To" not in query or call.to == query["To"])
            and ("From" not in query or call.from_ == query["From"])
            and ("Status" not in query or call.status == query["Status"])
        ]
        page_size = min(_query_integer(request, "PageSize", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
        page = _query_integer(request, "Page", 0, minimum=0)
        start = _page_start(calls, query.get("PageToken"), page, page_size)
        chunk = calls[start : start + page_size]
        has_next = start + page_size < len(calls)
        return JSONResponse(
            page_envelope(
                key="calls",
                items=[self._render(call) for call in chunk],
                list_path=f"{account_path(self.account.sid)}/Calls.json",
                filters=filters,
                page=page,
                page_size=page_size,
                next_page_token=NEXT_PAGE_TOKEN_PREFIX + chunk[-1].sid
                if chunk and has_next
                else None,
                previous_page_token=PREVIOUS_PAGE_TOKEN_PREFIX + chunk[0].sid
                if chunk and start > 0
                else None,
            )
        )

    async def fetch_call(self, request: Request) -> Response:
        return JSONResponse(self._render(self._call(request)))

    async def update_call(self, request: Request) -> Response:
        call = self._call(request)
        update = parse_update(await _form(request))
        if update.instructions is not None:
            if call.status.is_final:
                raise InvalidParameter(21220, "Call is not in-progress. Cannot redirect.")
            self.store.redirect(call.sid, update.instructions)
        if update.status == CallStatus.CANCELED:
            self.store.cancel(call.sid)
        elif update.status == CallStatus.COMPLETED:
            self.store.hang_up(call.sid)
        return JSONResponse(self._render(call))

    async def delete_call(self, request: Request) -> Response:
        call = self._call(request)
        self.store.delete(call.sid)
        return Response(status_code=204)

    async def fetch_recording(self, request: Request) -> Response:
        self._check_account(request)
        name: str = request.path_params["name"]
        sid, dot, extension = name.partition(".")
        # Without an extension Twilio serves the WAV file.
        extension = extension if dot else "wav"
        try:
            if extension == "json":
                recording = self.store.get_recording(sid)
                base_url = str(request.base_url)
                return JSONResponse(recording_resource(recording, self.account.sid, base_url))
            if extension in MEDIA_TYPES:
                self.store.get_recording(sid)
                if _faults(request).take_download_failure():
                    raise InjectedUnavailable()
                # Twilio answers with a redirect to the file in its media storage.
                base_url = str(request.base_url).rstrip("/")
                location = f"{base_url}{MEDIA_STORAGE_PATH}{sid}.{extension}"
                return RedirectResponse(location, status_code=302)
        except UnknownRecording:
            pass
        raise ResourceNotFound(request.url.path)

    async def fetch_media(self, request: Request) -> Response:
        """A recording's file in media storage, where the API's media URLs redirect."""
        name: str = request.path_params["name"]
        sid, _, extension = name.partition(".")
        try:
            if extension == "mp3":
                media = await self._mp3(sid)
            elif extension in MEDIA_TYPES:
                media = await self.store.media_of(sid, extension)
            else:
                raise UnknownRecording(sid)
        except UnknownRecording:
            return Response("<Error><Code>NoSuchKey</Code></Error>", 404, media_type="text/xml")
        if _faults(request).take_wrong_body():
            return Response(WRONG_MEDIA_BODY, media_type="text/html")
        return Response(media, media_type=MEDIA_TYPES[extension])

    async def _mp3(self, sid: str) -> bytes:
        """A recording as MP3, encoded from its WAV on the first request and kept."""
        try:
            return self.store.recording_media(sid, "mp3")
        except UnknownRecording:
            wav = await self.store.media_of(sid, "wav")
        mp3 = await asyncio.to_thread(wav_to_mp3, wav)
        self.store.add_recording_media(sid, "mp3", mp3)
        return mp3


def _faults(request: Request) -> Faults:
    faults: Faults = request.app.state.faults
    return faults


async def _delay_create_response(request: Request) -> None:
    """Hold a create's answer for `delay_call_create_response_s`, re-read as it may change."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        remaining = _faults(request).delay_call_create_response_s - (loop.time() - started)
        if remaining <= 0:
            return
        await asyncio.sleep(min(remaining, DELAY_CHECK_INTERVAL_S))


def _strip_extension(request: Request, extension: str) -> str:
    name: str = request.path_params["name"]
    suffix = "." + extension
    if not name.endswith(suffix):
        raise ResourceNotFound(request.url.path)
    return name.removesuffix(suffix)


async def _form(request: Request) -> Form:
    body = (await request.body()).decode("utf-8", errors="replace")
    return Form(parse_qsl(body, keep_blank_values=True))


def _query_integer(request: Request, name: str, default: int, *, minimum: int = 1) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise InvalidParameter(20001, f"{name} must be an integer of at least {minimum}")
    return value


def _page_start(calls: Sequence[Call], token: str | None, page: int, page_size: int) -> int:
    """Index of a page's first call: after/before the sid a page token names, else by number."""
    sids = [call.sid for call in calls]
    if token and token.startswith(NEXT_PAGE_TOKEN_PREFIX):
        sid = token.removeprefix(NEXT_PAGE_TOKEN_PREFIX)
        if sid in sids:
            return sids.index(sid) + 1
    if token and token.startswith(PREVIOUS_PAGE_TOKEN_PREFIX):
        sid = token.removeprefix(PREVIOUS_PAGE_TOKEN_PREFIX)
        if sid in sids:
            return max(sids.index(sid) - page_size, 0)
    if token:
        raise InvalidParameter(20001, f"PageToken {token!r} is not valid for this list")
    return page * page_size


async def _api_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ApiError):
        raise exc
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):
        raise exc
    if exc.status_code == 405:
        return error_response(MethodNotAllowed(request.method))
    if exc.status_code == 404:
        return error_response(ResourceNotFound(request.url.path))
    return error_response(ApiError(exc.status_code, 20500, exc.detail))


def create_app(
    account: Account,
    store: CallStore,
    *,
    runner: AbstractAsyncContextManager[object] | None = None,
    faults: Faults | None = None,
    max_concurrent_requests: int = 0,
) -> Starlette:
    """The API app for one account; `store` is shared with the call runner.

    The runner (a `CallRunner`), if given, runs for the app's lifespan. `faults` (kept as
    `app.state.faults`, changeable while serving) injects failures; beyond
    `max_concurrent_requests` requests at once (0: no limit) the API answers 429.
    """
    if max_concurrent_requests < 0:
        raise SandboxConfigError(
            f"the concurrent request limit must not be negative, got {max_concurrent_requests}"
        )
    api = TwilioApi(account, store)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if runner is None:
            yield
            return
        async with runner:
            yield

    prefix = f"/{API_VERSION}/Accounts/{{account_sid}}"
    routes = [
        Route(f"{prefix}/Calls.json", api.create_call, methods=["POST"]),
        Route(f"{prefix}/Calls.json", api.list_calls, methods=["GET"]),
        Route(f"{prefix}/Calls/{{name}}", api.fetch_call, methods=["GET"]),
        Route(f"{prefix}/Calls/{{name}}", api.update_call, methods=["POST"]),
        Route(f"{prefix}/Calls/{{name}}", api.delete_call, methods=["DELETE"]),
        Route(f"{prefix}/Recordings/{{name}}", api.fetch_recording, methods=["GET"]),
        Route(f"{MEDIA_STORAGE_PATH}{{name}}", api.fetch_media, methods=["GET"]),
        # Twilio serves the Pricing API on its own host (pricing.twilio.com); the sandbox, here.
        *pricing_routes(store.prices),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.add_middleware(BasicAuthMiddleware, account=account)
    app.add_middleware(ConcurrencyLimitMiddleware, limit=max_concurrent_requests)
    app.state.store = store
    app.state.faults = faults if faults is not None else Faults()
    return app
