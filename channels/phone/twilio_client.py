"""Placing, inspecting and ending calls through Twilio's REST API with the official client.

The one rule that matters: **a structure is never called twice for the same attempt.** The
official async client would happily re-POST a call after a timeout or a 5xx (its retry wrapper
retries POSTs), so prober disables that retry and does its own: a request that surely was not
processed (HTTP 429, connection refused) is retried after a backoff; a request whose fate is
unknown (timeout, 5xx, connection lost mid-way) is first *reconciled*: prober looks for the call
among the account's recent calls to the same number (and asks the caller whether a callback for
this attempt already named it) and adopts it if found. Only when the call is surely absent is
the create retried.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

import aiohttp
import httpx
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from channels.errors import ChannelError, PermanentContactError, TransientContactError
from channels.phone.pricing import CountryRates, country_rates
from channels.phone.webhooks import is_call_sid, is_recording_sid
from config.settings import TwilioSettings

logger = logging.getLogger(__name__)

STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
# The creation instant Twilio reports is its own clock, ours may differ by this much.
CLOCK_SKEW = timedelta(seconds=120)


class TwilioSetupError(ChannelError):
    """Twilio refused our credentials or account: no call can be placed until fixed."""


@dataclass(frozen=True, slots=True)
class CallUrls:
    """The webhooks of one attempt; each carries the attempt's token, so they are unique."""

    voice: str
    status: str
    amd: str
    recording: str


@dataclass(frozen=True, slots=True)
class CallRequest:
    """One call to place: who to call, as whom, where Twilio reports, and the call's limits."""

    to: str
    from_: str
    urls: CallUrls
    ring_timeout_s: int = 60
    time_limit_s: int = 300
    record: bool = True
    machine_detection: bool = True


@dataclass(frozen=True, slots=True)
class PlacedCall:
    """A call Twilio accepted; ``reconciled`` when it was found after an uncertain create."""

    sid: str
    status: str
    created_at: datetime | None
    reconciled: bool = False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a create is retried when Twilio is busy or unreachable."""

    attempts: int = 5
    first_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    request_timeout_s: float = 15.0
    # A create whose fate is unknown is looked for this often, for `reconcile_window_s` in
    # all: Twilio may take about 26 s to answer a create and its Calls list is eventually
    # consistent, so a call not listed at once may still appear.
    reconcile_after_s: float = 2.0
    reconcile_window_s: float = 30.0

    def backoff_s(self, retry: int) -> float:
        """Exponential backoff with full jitter."""
        ceiling = min(self.max_backoff_s, self.first_backoff_s * 2**retry)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not security)


KnownSid = Callable[[], Awaitable[str | None]]
"""Asks the application whether a callback for this attempt already named its call SID."""

TakenSids = Callable[[list[str]], Awaitable[set[str]]]
"""Asks the application which of these call SIDs other attempts hold already (a structure's
earlier call to the same number is never adopted as this attempt's)."""


class TwilioPhone:
    """``async with TwilioPhone(settings) as phone``: places and inspects calls."""

    def __init__(self, settings: TwilioSettings, *, retry: RetryPolicy | None = None) -> None:
        if not settings.account_sid or settings.auth_token is None:
            raise TwilioSetupError(
                "Twilio credentials are missing: set twilio.account_sid in prober.toml (or"
                " PROBER_TWILIO__ACCOUNT_SID) and PROBER_TWILIO__AUTH_TOKEN in the environment"
            )
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self._auth_token = settings.auth_token.get_secret_value()
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None
        self._media: httpx.AsyncClient | None = None
        self._pace_lock = asyncio.Lock()
        self._next_create_at = 0.0

    async def __aenter__(self) -> Self:
        # max_retries=None: no aiohttp_retry wrapper, which would re-POST calls.
        self._http = AsyncTwilioHttpClient(max_retries=None)
        self._client = Client(self.settings.account_sid, self._auth_token, http_client=self._http)
        self._client.api.base_url = self.settings.api_base_url.rstrip("/")
        self._client.pricing.base_url = self.settings.pricing_base_url.rstrip("/")
        self._media = httpx.AsyncClient(
            auth=(self.settings.account_sid, self._auth_token),
            timeout=self.retry.request_timeout_s,
            # Twilio answers a media URL with a redirect to where the file is stored.
            follow_redirects=True,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.close()
        if self._media is not None:
            await self._media.aclose()

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("use `async with TwilioPhone(...)` before placing calls")
        return self._client

    async def place(
        self,
        request: CallRequest,
        *,
        known_sid: KnownSid | None = None,
        taken: TakenSids | None = None,
    ) -> PlacedCall:
        """Place the call once; retry only what surely did not reach Twilio, reconcile the rest.

        Raises PermanentContactError when Twilio refuses the call itself (invalid number...),
        TransientContactError when it could not be placed after every retry, and
        TwilioSetupError when the credentials are refused.
        """
        asked_at = datetime.now().astimezone()
        last_problem = "no attempt made"
        for retry in range(self.retry.attempts):
            if retry:
                await asyncio.sleep(self.retry.backoff_s(retry - 1))
            await self._pace()
            uncertain = False
            try:
                async with asyncio.timeout(self.retry.request_timeout_s):
                    call = await self.client.calls.create_async(**self._create_arguments(request))
                return PlacedCall(call.sid, str(call.status), call.date_created)
            except TwilioRestException as error:
                last_problem = (
                    f"Twilio answered HTTP {error.status} (error {error.code}): {error.msg}"
                )
                if error.status in (401, 403):
                    raise TwilioSetupError(
                        f"{last_problem}; check twilio.account_sid and PROBER_TWILIO__AUTH_TOKEN"
                    ) from None
                if error.status == 429:
                    # "Not processed and safe to retry after backing off."
                    logger.info("call to %s: Twilio is busy (429), retrying", request.to)
                    continue
                if 400 <= error.status < 500:
                    raise PermanentContactError(
                        f"Twilio refused to call {request.to}: {error.msg} (error {error.code})",
                        code=error.code,
                    ) from None
                uncertain = True
            except aiohttp.ClientConnectorError as error:
                last_problem = f"cannot reach Twilio at {self.settings.api_base_url}: {error}"
            except (TimeoutError, aiohttp.ClientError) as error:
                last_problem = f"the request to Twilio failed midway: {error!r}"
                uncertain = True
            if uncertain:
                logger.warning(
                    "call to %s: %s; looking for it before retrying", request.to, last_problem
                )
                found = await self._reconcile(request, asked_at, known_sid, taken)
                if found is not None:
                    logger.info("call to %s: found %s, not placing it again", request.to, found.sid)
                    return found
        raise TransientContactError(
            f"could not place the call to {request.to} after {self.retry.attempts} tries:"
            f" {last_problem}"
        )

    async def _reconcile(
        self,
        request: CallRequest,
        asked_at: datetime,
        known_sid: KnownSid | None,
        taken: TakenSids | None,
    ) -> PlacedCall | None:
        """Look for the call of an uncertain create until `reconcile_window_s` has passed.

        Only then is the call surely absent (Twilio has answered or given up on the create,
        and its list has caught up): the caller may place it again.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry.reconcile_window_s
        while True:
            await asyncio.sleep(self.retry.reconcile_after_s)
            found = await self.find_placed(request, asked_at, known_sid, taken)
            if found is not None or loop.time() >= deadline:
                return found

    async def find_placed(
        self,
        request: CallRequest,
        asked_at: datetime,
        known_sid: KnownSid | None,
        taken: TakenSids | None = None,
    ) -> PlacedCall | None:
        """The call an uncertain create may have made: named by a callback, or listed by Twilio
        (the newest one to the same number since ``asked_at`` that no other attempt holds)."""
        if known_sid is not None and (sid := await known_sid()) is not None:
            return PlacedCall(sid, "unknown", None, reconciled=True)
        try:
            async with asyncio.timeout(self.retry.request_timeout_s):
                calls = await self.client.calls.list_async(
                    to=request.to, from_=request.from_, page_size=50, limit=50
                )
        except (TwilioRestException, TimeoutError, aiohttp.ClientError) as error:
            # Cannot tell whether the call exists: retrying might call twice, so stop here.
            raise TransientContactError(
                f"the create of a call to {request.to} may have succeeded and Twilio cannot be"
                f" asked now ({error!r}); the attempt stays pending for reconciliation",
                maybe_made=True,
            ) from None
        earliest = asked_at - CLOCK_SKEW
        recent = [
            call
            for call in calls
            if call.date_created is not None and call.date_created >= earliest
        ]
        held = await taken([str(call.sid) for call in recent]) if taken and recent else set()
        for call in recent:
            if call.sid not in held:
                return PlacedCall(call.sid, str(call.status), call.date_created, reconciled=True)
        return None

    def _create_arguments(self, request: CallRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "to": request.to,
            "from_": request.from_,
            "url": request.urls.voice,
            "method": "POST",
            "status_callback": request.urls.status,
            "status_callback_method": "POST",
            "status_callback_event": list(STATUS_EVENTS),
            "timeout": request.ring_timeout_s,
            "time_limit": request.time_limit_s,
        }
        if request.machine_detection:
            arguments |= {
                # Enable: AnsweredBy as soon as the callee is identified (DetectMessageEnd
                # waits for a voicemail's beep, to leave a message).
                "machine_detection": "Enable",
                "async_amd": "true",
                "async_amd_status_callback": request.urls.amd,
                "async_amd_status_callback_method": "POST",
            }
        if request.record:
            arguments |= {
                "record": True,
                "recording_channels": "dual",
                "recording_status_callback": request.urls.recording,
                "recording_status_callback_method": "POST",
                # Twilio: "Separate multiple values with a space" (one value, unlike
                # StatusCallbackEvent); repeated keys get a 201 and then no callback at all.
                "recording_status_callback_event": ["completed absent"],
                # Twilio's default, trim-silence, would cut the ringback and silences an
                # auditor must hear.
                "trim": "do-not-trim",
            }
        return arguments

    async def _pace(self) -> None:
        """At most ``calls_per_second`` creates leave this process each second."""
        async with self._pace_lock:
            loop = asyncio.get_running_loop()
            now = loop.time()
            wait_s = self._next_create_at - now
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            self._next_create_at = (
                max(now, self._next_create_at) + 1 / self.settings.calls_per_second
            )

    async def fetch_call(self, sid: str) -> dict[str, Any]:
        """The call resource as Twilio has it now (status, start/end times, duration...)."""
        _check_call_sid(sid)
        call = await self.client.calls(sid).fetch_async()
        return {
            "sid": call.sid,
            "status": str(call.status),
            "start_time": call.start_time,
            "end_time": call.end_time,
            "duration": call.duration,
            "answered_by": call.answered_by,
            "price": call.price,
            "price_unit": call.price_unit,
        }

    async def voice_prices(self, iso_country: str) -> CountryRates:
        """A country's outbound voice prices, from Twilio's Pricing API."""
        try:
            async with asyncio.timeout(self.retry.request_timeout_s):
                country = await self.client.pricing.v2.voice.countries(iso_country).fetch_async()
        except TwilioRestException as error:
            raise TransientContactError(
                f"Twilio's Pricing API refused {iso_country}: HTTP {error.status}"
                f" (error {error.code}): {error.msg}"
            ) from None
        except (TimeoutError, aiohttp.ClientError) as error:
            raise TransientContactError(
                f"cannot reach Twilio's Pricing API at {self.settings.pricing_base_url}: {error!r}"
            ) from None
        lines: Any = country.outbound_prefix_prices
        return country_rates(iso_country, country.price_unit, lines)

    async def hang_up(self, sid: str) -> None:
        """End a call: cancel it if still queued or ringing, hang it up if answered."""
        _check_call_sid(sid)
        call = await self.client.calls(sid).fetch_async()
        status = "canceled" if str(call.status) in ("queued", "ringing") else "completed"
        await self.client.calls(sid).update_async(status=status)

    async def download_recording(self, recording_sid: str, *, extension: str = "wav") -> bytes:
        """The media of a recording, fetched with the account's credentials (Basic auth)."""
        if self._media is None:
            raise RuntimeError("use `async with TwilioPhone(...)` before downloading")
        if not is_recording_sid(recording_sid):
            raise PermanentContactError(
                f"{recording_sid[:40]!r} is not a Twilio recording SID (RE + 32 hex digits):"
                " not asked for"
            )
        base = self.settings.api_base_url.rstrip("/")
        url = (
            f"{base}/2010-04-01/Accounts/{self.settings.account_sid}"
            f"/Recordings/{recording_sid}.{extension}"
        )
        try:
            response = await self._media.get(url)
        except httpx.TransportError as error:
            # A kept-alive connection closed by the server, a timeout, a refused connection:
            # a GET changes nothing, so the caller may simply ask again.
            raise TransientContactError(
                f"downloading recording {recording_sid} failed: {type(error).__name__} {error}"
            ) from error
        if response.status_code == 404:
            raise PermanentContactError(f"recording {recording_sid} does not exist at Twilio")
        if response.is_error or response.is_redirect:
            raise TransientContactError(
                f"downloading recording {recording_sid} failed: HTTP {response.status_code}"
            )
        if not is_audio(response.content, extension):
            # An error page, a redirect's body, a truncated file: not what was asked for.
            raise TransientContactError(
                f"downloading recording {recording_sid} gave {len(response.content)} bytes that"
                f" are not {extension.upper()} audio ({response.content[:16]!r})"
            )
        return response.content


def _check_call_sid(sid: str) -> None:
    if not is_call_sid(sid):
        raise PermanentContactError(
            f"{sid[:40]!r} is not a Twilio call SID (CA + 32 hex digits): not asked for"
        )


def is_audio(media: bytes, extension: str) -> bool:
    """Whether ``media`` opens as a WAV (``RIFF…WAVE``) or an MP3 (ID3 tag or frame sync)."""
    if extension == "mp3":
        if media.startswith(b"ID3"):
            return True
        return len(media) >= 4 and media[0] == 0xFF and media[1] & 0xE0 == 0xE0
    return len(media) >= 12 and media[:4] == b"RIFF" and media[8:12] == b"WAVE"
