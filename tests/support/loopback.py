"""ASGI apps served by uvicorn on a free loopback port, and a receiver of Twilio's webhooks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from sandbox.serve import serve_in_thread


def serve(app: ASGIApp, *, lifespan: Literal["on", "off"] = "on") -> AbstractContextManager[str]:
    """Serve `app` on 127.0.0.1 until the block ends; yields its base URL."""
    return serve_in_thread(app, lifespan=lifespan)


@dataclass(frozen=True)
class Webhook:
    """One request the sandbox made: where, how, signed how, with which form (or query) values."""

    method: str
    url: str
    signature: str | None
    params: dict[str, str]


@dataclass
class Receiver:
    """The application side: serves TwiML documents by name and records every webhook."""

    documents: dict[str, str] = field(default_factory=dict)
    received: list[Webhook] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def record(request: Request) -> Webhook:
            body = (await request.body()).decode()
            if request.method == "GET":
                body = request.url.query
            params = dict(parse_qsl(body, keep_blank_values=True))
            webhook = Webhook(
                request.method,
                str(request.url),
                request.headers.get("x-twilio-signature"),
                params,
            )
            with self._lock:
                self.received.append(webhook)
            return webhook

        async def status(request: Request) -> Response:
            await record(request)
            return Response(status_code=204)

        async def twiml(request: Request) -> Response:
            await record(request)
            document = self.documents[request.path_params["name"]]
            return Response(document, media_type="application/xml")

        return Starlette(
            routes=[
                Route("/status", status, methods=["POST", "GET"]),
                Route("/recording", status, methods=["POST"]),
                Route("/amd", status, methods=["POST"]),
                Route("/partial", status, methods=["POST", "GET"]),
                Route("/twiml/{name}", twiml, methods=["POST", "GET"]),
            ]
        )

    def for_call(self, sid: str, path: str | None = None) -> list[Webhook]:
        with self._lock:
            return [
                hook
                for hook in self.received
                if hook.params.get("CallSid") == sid and (path is None or path in hook.url)
            ]

    def wait_for(self, condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; received: {self.received}")
            time.sleep(0.02)
