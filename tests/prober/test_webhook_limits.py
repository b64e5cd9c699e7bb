"""The webhook listener under forged and oversized requests, over real HTTP (uvicorn in a thread).

Refusals must come before the body is read when the headers already tell (no signature, a
declared body over the cap), stop reading a streamed body at the cap, and never hold up other
requests. Timeouts here only detect a request that is never answered; nothing is timed.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from config.settings import Settings, TwilioSettings
from prober.probes.phone import PhoneProbes
from prober.project.database import Database
from prober.web.app import MAX_BODY_BYTES, MAX_FORM_PARAMS, create_app
from sandbox.serve import serve_in_thread
from storage.db import make_engine, upgrade

TOKEN = "limits-token"  # noqa: S105
PATH = "/twilio/calls/7b0f3c1e-8f4e-4f55-9a43-0d6c1b2a3c4d/1/status"
# Generous: only tells "never answered" from "answered".
NEVER_S = 30.0
FORGED = "bm90IGEgc2lnbmF0dXJl"


@dataclass(frozen=True)
class Web:
    base_url: str
    port: int


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    """prober's webhook app served from its own thread, as `prober run` serves it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'prober.db'}")
    upgrade(engine)
    settings = Settings(
        twilio=TwilioSettings(account_sid="AC" + "0" * 32, auth_token=SecretStr(TOKEN)),
        recordings_dir=tmp_path / "recordings",
    )
    database = Database(engine)
    try:
        with serve_in_thread(create_app(PhoneProbes(settings, database)), lifespan="off") as url:
            yield Web(url, int(url.rsplit(":", 1)[1]))
    finally:
        database.close()
        engine.dispose()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class RawClient:
    """One HTTP/1.1 connection driven by hand: what is sent, and when, is the test's choice."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=NEVER_S)
        self.buffer = b""

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send_head(self, path: str, headers: dict[str, str]) -> None:
        lines = [
            f"POST {path} HTTP/1.1",
            "Host: 127.0.0.1",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answer(self) -> Answer:
        """The response; socket.timeout (a failure) if none comes within NEVER_S."""
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode().split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._read()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Answer(int(status_line.split()[1]), headers, body)

    def closed_by_server(self) -> bool:
        """Whether the server closed the connection (reads end) instead of waiting for more."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def _read(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise AssertionError(f"connection closed before a whole response: {self.buffer!r}")
        self.buffer += data


def form_of(count: int) -> bytes:
    """An urlencoded form of ``count`` distinct parameters."""
    return urlencode([(f"p{index}", "x") for index in range(count)]).encode()


def test_a_forged_webhook_of_100000_parameters_is_refused_with_413(web: Web) -> None:
    body = form_of(100_000)
    assert len(body) > 800_000  # about 1 MB, as in the issue
    with RawClient(web.port) as client:
        client.send_head(
            PATH,
            {
                "X-Twilio-Signature": FORGED,
                "Content-Type": "application/x-www-form-urlencoded",
                "Content-Length": str(len(body)),
            },
        )
        # Answered from the headers alone: the megabyte is never needed.
        answer = client.answer()
        assert answer.status == 413
        assert answer.headers["connection"] == "close"
        assert client.closed_by_server()
    assert httpx.get(f"{web.base_url}/healthz", timeout=NEVER_S).json() == {"status": "ok"}


def test_too_many_parameters_in_a_small_body_are_refused_with_413(web: Web) -> None:
    body = form_of(5_000)
    assert len(body) < MAX_BODY_BYTES
    response = httpx.post(
        web.base_url + PATH,
        content=body,
        headers={"X-Twilio-Signature": FORGED, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=NEVER_S,
    )
    assert response.status_code == 413
    assert str(MAX_FORM_PARAMS) in response.text


def test_a_request_without_signature_is_refused_before_its_body_is_sent(web: Web) -> None:
    with RawClient(web.port) as client:
        client.send_head(
            PATH,
            {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "200000000"},
        )
        answer = client.answer()
        assert answer.status == 403
        assert b"X-Twilio-Signature" in answer.body
        assert client.closed_by_server()


def test_a_streamed_body_over_the_cap_is_refused_and_not_read_further(web: Web) -> None:
    with RawClient(web.port) as client:
        client.send_head(
            PATH,
            {
                "X-Twilio-Signature": FORGED,
                "Content-Type": "application/x-www-form-urlencoded",
                "Transfer-Encoding": "chunked",
            },
        )
        chunk = b"a" * 16_384
        for _ in range(MAX_BODY_BYTES // len(chunk) + 1):
            client.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        # The body goes on (no last chunk): the server must answer without waiting for its end.
        answer = client.answer()
        assert answer.status == 413
        assert client.closed_by_server()


def test_healthz_answers_while_a_forged_upload_crawls(web: Web) -> None:
    body = urlencode([(f"p{index}", "x" * 500) for index in range(100)]).encode()
    with RawClient(web.port) as client:
        client.send_head(
            PATH,
            {
                "X-Twilio-Signature": FORGED,
                "Content-Type": "application/x-www-form-urlencoded",
                "Content-Length": str(len(body)),
            },
        )
        client.send(body[:1000])
        assert httpx.get(f"{web.base_url}/healthz", timeout=NEVER_S).json() == {"status": "ok"}
        client.send(body[1000:])
        assert client.answer().status == 403


def test_healthz_answers_while_forged_requests_at_the_limits_are_checked(web: Web) -> None:
    # The largest forgeries accepted for checking: as many parameters and bytes as allowed.
    names = MAX_FORM_PARAMS
    value = "v" * (MAX_BODY_BYTES // names - 20)
    body = urlencode([(f"n{index}", value) for index in range(names)]).encode()
    assert len(body) <= MAX_BODY_BYTES
    headers = {"X-Twilio-Signature": FORGED, "Content-Type": "application/x-www-form-urlencoded"}
    statuses: list[int] = []

    def forge() -> None:
        with httpx.Client(timeout=NEVER_S) as client:
            for _ in range(20):
                statuses.append(
                    client.post(web.base_url + PATH, content=body, headers=headers).status_code
                )

    forgers = [threading.Thread(target=forge) for _ in range(4)]
    for forger in forgers:
        forger.start()
    try:
        assert httpx.get(f"{web.base_url}/healthz", timeout=NEVER_S).status_code == 200
    finally:
        for forger in forgers:
            forger.join()
    assert statuses == [403] * 80


def test_a_signed_webhook_within_the_limits_is_still_read(web: Web) -> None:
    # Signed for this exact URL, but naming an attempt that does not exist: kept, unattached.
    url = web.base_url + PATH
    params = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": "CA" + "1" * 32,
        "CallStatus": "ringing",
        **{f"Extra{index}": "x" for index in range(MAX_FORM_PARAMS - 10)},
    }
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    response = httpx.post(
        url, data=params, headers={"X-Twilio-Signature": signature}, timeout=NEVER_S
    )
    assert response.status_code == 204, response.text
