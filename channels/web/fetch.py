"""Bounded, polite HTTP GETs: manual redirects, a wall-clock limit, a decompressed-size cap.

Every request of a host goes through that host's gate (one at a time); robots.txt is read once
per origin and obeyed. Bodies are decompressed here, chunk by chunk with a length cap, so that a
gzip bomb costs ``max_bytes`` and no more.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpcore
import httpx
from cryptography import x509

from channels.web.policy import PRODUCT, CheckPolicy
from channels.web.render import Renderer
from channels.web.report import Outcome

if TYPE_CHECKING:
    from httpcore._backends.base import SOCKET_OPTION

MAX_ROBOTS_BYTES = 512_000
WALL_GRACE_S = 1.0
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class FetchFailed(Exception):
    """A request ended without a usable answer; ``outcome`` says how."""

    def __init__(self, outcome: Outcome, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.outcome: Outcome = outcome
        self.status = status
        self.certificate_days_left: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP response: status, headers that matter, the (capped) body and timings."""

    url: str
    status: int
    location: str | None
    content_type: str | None
    body: bytes
    truncated: bool
    ttfb_s: float
    done_s: float
    certificate_not_after: datetime | None


@dataclass(frozen=True, slots=True)
class Page:
    """The page a URL leads to, after its redirects."""

    url: str
    answer: Answer
    redirects: tuple[str, ...]
    ttfb_s: float
    load_s: float


class _Backend(httpcore.AsyncNetworkBackend):
    """Connects to the policy's address for a host (TLS still names the host: SNI, checks);
    its connections close themselves when their TLS handshake does not complete."""

    def __init__(self, policy: CheckPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            self._policy.address_for(host), port, timeout, local_address, socket_options
        )
        return _ClosingStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _ClosingStream(httpcore.AsyncNetworkStream):
    """A TCP connection closed when its TLS handshake ends otherwise than completed.

    httpcore 1.0 closes it on an error but not on a cancellation (a check cut by its
    ``site_timeout_s``, or abandoned): nothing would hold it any more, and its socket would
    stay open until the garbage collector found it, with a ResourceWarning.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(
        self,
        max_bytes: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
    ) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(
        self,
        buffer: bytes,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
    ) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
    ) -> httpcore.AsyncNetworkStream:
        try:
            return await self._inner.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            # anyio's aclose aborts the transport before its first await: a cancellation
            # arriving again cannot leave the socket open.
            await self._inner.aclose()
            raise

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


def ssl_context(policy: CheckPolicy) -> ssl.SSLContext:
    """The system's trusted authorities, plus the policy's own (the sandbox's test CA)."""
    context = ssl.create_default_context()
    if policy.ca_file is not None:
        context.load_verify_locations(cafile=str(policy.ca_file))
    return context


def build_client(
    policy: CheckPolicy, *, context: ssl.SSLContext | None = None, connections: int | None = None
) -> httpx.AsyncClient:
    """An HTTP client for checks under ``policy`` (its CA, its address overrides, no redirects).

    ``context`` saves loading the system's authorities again (tens of milliseconds);
    ``connections`` caps its pool (default: two per site checked at once).
    """
    context = context or ssl_context(policy)
    pool = connections or policy.concurrency * 2
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    transport = httpx.AsyncHTTPTransport(verify=context, limits=limits)
    transport._pool = httpcore.AsyncConnectionPool(  # no public hook for the backend
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_Backend(policy),
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(policy.timeout_s),
        follow_redirects=False,
        headers={"User-Agent": policy.user_agent, "Accept-Encoding": "gzip, deflate"},
    )


@dataclass
class HostGates:
    """One lock per host, so that a host never sees two of our requests at once."""

    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _users: dict[str, int] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(host, asyncio.Lock())
        self._users[host] = self._users.get(host, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[host] -= 1
            if not self._users[host]:
                del self._users[host], self._locks[host]


@dataclass
class Fetcher:
    """Polite GETs under one policy, sharing a client, host gates and robots.txt rules."""

    policy: CheckPolicy
    client: httpx.AsyncClient
    gates: HostGates = field(default_factory=HostGates)
    # Parsing holds about twenty times a page's size: two at a time (2 cores) caps the memory.
    parse_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    # Set when the policy asks for JavaScript: pages are read as chromium renders them.
    renderer: Renderer | None = None
    _robots: dict[str, RobotFileParser] = field(default_factory=dict)

    async def page(self, url: str) -> Page:
        """GET ``url`` following redirects; raises ``FetchFailed`` with the outcome."""
        start = time.monotonic()
        seen = [url]
        while True:
            await self._check_robots(url)
            answer = await self.get(url, start=start)
            if answer.status not in REDIRECT_STATUSES or not answer.location:
                return Page(url, answer, tuple(seen[1:]), answer.ttfb_s, answer.done_s)
            target = urljoin(url, answer.location).split("#", 1)[0]
            if urlsplit(target).scheme not in {"http", "https"}:
                raise FetchFailed("not_http", f"redirigé vers {target[:200]} (ni http ni https)")
            if target in seen:
                raise FetchFailed("redirect_loop", f"boucle de redirections : {target[:200]}")
            if len(seen) > self.policy.max_redirects:
                raise FetchFailed(
                    "too_many_redirects",
                    f"plus de {self.policy.max_redirects} redirections (dernière : {target[:200]})",
                )
            seen.append(target)
            url = target

    async def get(self, url: str, *, start: float, max_bytes: int | None = None) -> Answer:
        """One GET of ``url`` under its host's gate, bounded in time and size."""
        host = urlsplit(url).hostname or ""
        cap = self.policy.max_bytes if max_bytes is None else max_bytes
        async with self.gates.hold(host):
            try:
                # httpx's own timeouts end a silent server at timeout_s; this wall-clock limit
                # (a grace later, so that theirs speak first) only stops a server that drips
                # its bytes.
                async with asyncio.timeout(self.policy.timeout_s + WALL_GRACE_S):
                    return await self._get(url, start, cap)
            except TimeoutError:
                raise FetchFailed(
                    "timeout", f"pas de réponse complète en {self.policy.timeout_s:g} s"
                ) from None
            except httpx.TimeoutException:
                raise FetchFailed(
                    "timeout", f"pas de réponse en {self.policy.timeout_s:g} s"
                ) from None
            except httpx.ConnectError as exc:
                raise await self._connect_failure(url, exc) from None
            except (httpx.TransportError, zlib.error) as exc:
                raise FetchFailed("unreachable", f"échange interrompu : {exc}"[:300]) from None

    async def _get(self, url: str, start: float, cap: int) -> Answer:
        async with self.client.stream("GET", url) as response:
            ttfb = time.monotonic() - start
            not_after = _certificate_not_after(response)
            body, truncated = b"", False
            if response.status_code not in REDIRECT_STATUSES:
                body, truncated = await _capped_body(response, cap)
            return Answer(
                url=url,
                status=response.status_code,
                location=response.headers.get("location"),
                content_type=response.headers.get("content-type"),
                body=body,
                truncated=truncated,
                ttfb_s=ttfb,
                done_s=time.monotonic() - start,
                certificate_not_after=not_after,
            )

    async def _connect_failure(self, url: str, exc: httpx.ConnectError) -> FetchFailed:
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" not in text and "certificate" not in text.lower():
            return FetchFailed(
                "unreachable", f"connexion impossible : {text or type(exc).__name__}"[:300]
            )
        reason = text.split("certificate verify failed:", 1)[-1].split("(_ssl", 1)[0].strip(" )")
        failure = FetchFailed("bad_certificate", f"certificat refusé : {reason}"[:300])
        with contextlib.suppress(OSError, TimeoutError, ValueError):
            async with asyncio.timeout(self.policy.timeout_s):
                not_after = await _unverified_not_after(self.policy, url)
            failure.certificate_days_left = days_left(not_after)
            if not_after < datetime.now(UTC):
                since = -failure.certificate_days_left
                failure = FetchFailed("bad_certificate", f"certificat expiré depuis {since} jours")
                failure.certificate_days_left = -since
        return failure

    async def _check_robots(self, url: str) -> None:
        if not self.policy.respect_robots:
            return
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        rules = self._robots.get(origin)
        if rules is None:
            rules = RobotFileParser()
            answer = await self.get(
                origin + "/robots.txt", start=time.monotonic(), max_bytes=MAX_ROBOTS_BYTES
            )
            if answer.status == 200:
                rules.parse(answer.body.decode("utf-8", errors="replace").splitlines())
            else:
                rules.parse([])  # no robots.txt (or an error page): everything is allowed
            self._robots[origin] = rules
        if not rules.can_fetch(PRODUCT, url):
            raise FetchFailed("robots_disallowed", f"robots.txt interdit {url[:200]} à {PRODUCT}")


def days_left(not_after: datetime, now: datetime | None = None) -> int:
    """Whole days from now to the certificate's expiry (negative once expired)."""
    return (not_after - (now or datetime.now(UTC))).days


async def _capped_body(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in {"gzip", "x-gzip", "deflate"}:
        decompressor = zlib.decompressobj(wbits=47 if "gzip" in encoding else zlib.MAX_WBITS)
    elif encoding in {"identity", ""}:
        decompressor = None
    else:
        raise FetchFailed("unreadable", f"encodage de contenu inconnu : {encoding[:40]}")
    chunks: list[bytes] = []
    size = 0
    async for raw in response.aiter_raw():
        pending = raw
        while pending:
            if decompressor is None:
                chunk, pending = pending, b""
            else:
                chunk = decompressor.decompress(pending, cap - size + 1)
                pending = decompressor.unconsumed_tail
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                return b"".join(chunks)[:cap], True
    return b"".join(chunks), False


def _certificate_not_after(response: httpx.Response) -> datetime | None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    ssl_object = stream.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    certificate = ssl_object.getpeercert()
    if not certificate or "notAfter" not in certificate:
        return None
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(str(certificate["notAfter"])), UTC)


async def _unverified_not_after(policy: CheckPolicy, url: str) -> datetime:
    """The expiry date of a certificate the verification refused, read without trusting it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection(
        policy.address_for(host), parts.port or 443, ssl=context, server_hostname=host
    )
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return x509.load_der_x509_certificate(der).not_valid_after_utc
