"""The sandbox's web servers on loopback: every simulated site behind virtual hosts.

One plain HTTP listener and three HTTPS ones (a valid certificate, an expired one, one that
expires in twelve days), all signed by a test CA made at start; a listener that accepts and
never answers; a port where nothing listens. Host names are ``<slug>.sites.test``: a client
resolves ``*.sites.test`` to 127.0.0.1 (``resolve``) and trusts ``ca_file``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

import trustme
import uvicorn
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from sandbox.web import pages
from sandbox.web.world import (
    DOMAIN,
    GZIP_BOMB_BYTES,
    HUGE_BYTES,
    SLOW_S,
    SiteSpec,
)

# Certificate lifetimes, half a day past a whole number of days so that "days left" is stable.
VALID_DAYS = 90
EXPIRING_DAYS = 12
EXPIRED_DAYS = -10


@dataclass(frozen=True, slots=True)
class Ports:
    """Where each listener is, on 127.0.0.1."""

    http: int
    https: int
    expired: int
    expiring: int
    silent: int
    closed: int


def _listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    return sock


def _html(body: str | bytes, *, status: int = 200, charset: bool = True) -> Response:
    media = "text/html; charset=utf-8" if charset else "text/html"
    return Response(body, status_code=status, headers={"content-type": media})


@dataclass(frozen=True, slots=True)
class Served:
    """One request a site served: which host and path, from when to when (monotonic)."""

    host: str
    path: str
    user_agent: str
    started: float
    ended: float


class SiteApp:
    """The ASGI app of every site: the Host header says which. ``served`` logs each request."""

    def __init__(self, sites: Sequence[SiteSpec], ports: Ports) -> None:
        self.sites = {site.host: site for site in sites}
        self.sites.update({site.new_host: site for site in sites if site.behaviour == "moved"})
        self.ports = ports
        self._bomb: bytes | None = None
        self.served: list[Served] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.monotonic()
        request = Request(scope, receive)
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].lower()
        site = self.sites.get(host)
        try:
            if site is None:
                response: Response = _html("<h1>Site inconnu</h1>", status=404)
            else:
                response = await self.respond(site, host, request)
            await response(scope, receive, send)
        finally:
            agent = request.headers.get("user-agent", "")
            # list.append is atomic: the tests read this log from their own thread.
            self.served.append(Served(host, request.url.path, agent, started, time.monotonic()))

    async def respond(self, site: SiteSpec, host: str, request: Request) -> Response:
        path = request.url.path
        https = request.url.scheme == "https" or scope_is_tls(request)
        if path == "/robots.txt":
            rules = "User-agent: *\nDisallow: /admin/\n"
            if site.behaviour == "robots_contact":
                rules += "\nUser-agent: prober\nDisallow: /contact\n"
            return Response(rules, media_type="text/plain")
        if site.behaviour == "moved" and host == site.host:
            return RedirectResponse(f"https://{site.new_host}:{self.ports.https}/", 301)
        if site.https and not https:
            return RedirectResponse(f"https://{host}:{self.ports.https}{path}", 301)
        special = await self._special(site, path)
        if special is not None:
            return special
        page = self._page(site, path)
        if page is None:
            return _html(pages.simple(site, "Page introuvable"), status=404)
        if site.behaviour == "latin1":
            return _html(page.encode("latin-1"), charset=False)
        return _html(page)

    async def _special(self, site: SiteSpec, path: str) -> Response | None:
        behaviour = site.behaviour
        if behaviour == "redirect_loop" and path in {"/", "/accueil"}:
            return RedirectResponse("/accueil" if path == "/" else "/", 302)
        if behaviour == "redirect_chain" and (path == "/" or path.startswith("/r/")):
            step = int(path.rsplit("/", 1)[-1]) if path.startswith("/r/") else 0
            if step < 9:
                return RedirectResponse(f"/r/{step + 1}", 302)
        if behaviour == "javascript_only" and path == "/static/js/app.3f2a1c.js":
            return Response(pages.javascript_app(site), media_type="text/javascript")
        if path != "/":
            return None
        if behaviour == "slow":
            await asyncio.sleep(SLOW_S)
        if behaviour == "server_error":
            return _html("<h1>Site en maintenance</h1><p>Revenez plus tard.</p>", status=503)
        if behaviour == "javascript_only":
            return _html(pages.javascript_shell(site))
        if behaviour == "huge":
            return StreamingResponse(_huge(site), media_type="text/html; charset=utf-8")
        if behaviour == "gzip_bomb":
            headers = {"content-encoding": "gzip", "content-type": "text/html; charset=utf-8"}
            return Response(self._gzip_bomb(site), headers=headers)
        return None

    def _gzip_bomb(self, site: SiteSpec) -> bytes:
        """A real page's beginning then 100 MB of blanks, gzipped to about 100 KB (made once).

        After a full flush deflate forgets its history, so one compressed megabyte of blanks
        can be repeated as is: the bomb costs one megabyte's compression, not a hundred.
        """
        if self._bomb is None:
            head = pages.huge_prefix(site).encode()
            blank = b" " * 1_000_000
            repeats = GZIP_BOMB_BYTES // len(blank)
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            first = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
            block = compressor.compress(blank) + compressor.flush(zlib.Z_FULL_FLUSH)
            crc = zlib.crc32(head)
            for _ in range(repeats):
                crc = zlib.crc32(blank, crc)
            size = len(head) + repeats * len(blank)
            gzip_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
            trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
            body = first + block * repeats + compressor.flush(zlib.Z_FINISH)
            self._bomb = gzip_header + body + trailer
        return self._bomb

    def _page(self, site: SiteSpec, path: str) -> str | None:
        path = path.rstrip("/") or "/"
        hidden = site.behaviour == "contact_hidden"
        routes = {
            "/": lambda: pages.home(site),
            pages.contact_path(site): lambda: pages.contact(site),
            "/mentions-legales": lambda: pages.legal(site),
            "/vie-municipale": lambda: pages.simple(
                site,
                "Vie municipale",
                (("/vie-municipale/conseil", "Le conseil municipal"),)
                + ((("/vie-municipale/services", "Les services municipaux"),) if hidden else ()),
            ),
            "/vie-municipale/services": lambda: pages.simple(
                site, "Les services municipaux", ((pages.HIDDEN_CONTACT_PATH, "Nous contacter"),)
            ),
        }
        if site.accessibility:
            routes["/accessibilite"] = lambda: pages.accessibility(site)
        if site.layout == "hours_page":
            routes["/horaires"] = lambda: pages.hours_page(site)
        render = routes.get(path)
        if render is not None:
            return render()
        if path in {"/demarches", "/actualites", "/enfance-jeunesse", "/plan-du-site"}:
            return pages.simple(site, path.strip("/").replace("-", " ").capitalize())
        return None


def scope_is_tls(request: Request) -> bool:
    return request.scope.get("scheme") == "https"


async def _huge(site: SiteSpec) -> AsyncIterator[bytes]:
    prefix = pages.huge_prefix(site).encode()
    yield prefix
    row = (
        '<figure><img src="/images/fete.jpg" alt="">'
        "<figcaption>Fête du village</figcaption></figure>\n"
    )
    chunk = (row * (65_536 // len(row))).encode()
    sent = len(prefix)
    while sent < HUGE_BYTES:
        yield chunk
        sent += len(chunk)


class WebSandbox:
    """The simulated sites served on loopback until the block ends (``with WebSandbox(...)``)."""

    def __init__(self, sites: Sequence[SiteSpec]) -> None:
        self.sites = list(sites)
        self._folder = tempfile.TemporaryDirectory(prefix="prober-web-sandbox-")
        folder = Path(self._folder.name)
        now = datetime.now(UTC)
        authority = trustme.CA(organization_name="prober sandbox test CA")
        self.ca_file = folder / "ca.pem"
        authority.cert_pem.write_to_path(str(self.ca_file))
        self._certificates: dict[str, Path] = {}
        for name, days in (
            ("https", VALID_DAYS),
            ("expired", EXPIRED_DAYS),
            ("expiring", EXPIRING_DAYS),
        ):
            not_after = now + timedelta(days=days, hours=12)
            leaf = authority.issue_cert(
                f"*.{DOMAIN}",
                not_before=min(now, not_after) - timedelta(days=30),
                not_after=not_after,
            )
            path = folder / f"{name}.pem"
            leaf.private_key_and_cert_chain_pem.write_to_path(str(path))
            self._certificates[name] = path
        self._sockets = {
            name: _listener()
            for name in ("http", "https", "expired", "expiring", "silent", "closed")
        }
        self.ports = Ports(**{name: sock.getsockname()[1] for name, sock in self._sockets.items()})
        self.app = SiteApp(self.sites, self.ports)
        self._servers: list[uvicorn.Server] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._silent: asyncio.Server | None = None

    @property
    def resolve(self) -> dict[str, str]:
        """The address overrides a client needs: every ``*.sites.test`` is on loopback."""
        return {f"*.{DOMAIN}": "127.0.0.1"}

    def url_of(self, site: SiteSpec) -> str:
        """The address the directory gives for ``site``."""
        ports, host = self.ports, site.host
        by_behaviour = {
            "down": f"https://{host}:{ports.closed}/",
            "silent": f"https://{host}:{ports.silent}/",
            "expired_certificate": f"https://{host}:{ports.expired}/",
            "expiring_certificate": f"https://{host}:{ports.expiring}/",
            "not_http": f"ftp://{host}/",
        }
        if site.behaviour in by_behaviour:
            return by_behaviour[site.behaviour]
        if not site.https or site.behaviour in {"upgrade", "moved"}:
            return f"http://{host}:{ports.http}/"
        return f"https://{host}:{ports.https}/"

    def __enter__(self) -> WebSandbox:
        for name in ("http", "https", "expired", "expiring"):
            tls = (
                {}
                if name == "http"
                else {
                    "ssl_certfile": str(self._certificates[name]),
                    "ssl_keyfile": str(self._certificates[name]),
                }
            )
            config = uvicorn.Config(
                self.app,
                log_level="warning",
                lifespan="off",
                access_log=False,
                **tls,  # type: ignore[arg-type]
            )
            self._servers.append(uvicorn.Server(config))
        self._thread = threading.Thread(target=self._run, name="web-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not all(server.started for server in self._servers):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web sandbox's servers did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for server in self._servers:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        for sock in self._sockets.values():
            sock.close()
        self._folder.cleanup()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while await reader.read(65_536):
                    pass  # never answer
            except (OSError, asyncio.CancelledError):
                pass  # the client gave up, or the sandbox stops
            finally:
                writer.close()

        silent_sock = self._sockets["silent"]
        silent_sock.listen(100)
        self._silent = await asyncio.start_server(hold, sock=silent_sock)
        names = ("http", "https", "expired", "expiring")
        try:
            await asyncio.gather(
                *(
                    server.serve(sockets=[self._sockets[name]])
                    for server, name in zip(self._servers, names, strict=True)
                )
            )
        finally:
            self._silent.close()


@contextlib.contextmanager
def web_sandbox(sites: Sequence[SiteSpec]) -> Iterator[WebSandbox]:
    """``WebSandbox`` as a plain context manager function."""
    with WebSandbox(sites) as sandbox:
        yield sandbox
