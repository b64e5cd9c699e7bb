"""Benchmark: how prober stands hostile inputs (issue 12); one printed line per measure.

    python bench/hostile.py

Each measure is a function returning a :class:`Line` (what was measured, the figure, the goal,
whether it was met), listed in ``MEASURES``; ``main()`` runs them in turn and prints one line
each. To add a measure, write such a function and append it to ``MEASURES``.

- ``forged_webhook``: ``prober run`` in a subprocess (uvicorn, a fresh SQLite project); forged
  webhooks of 100,000 parameters (about 900 KB, ``X-Twilio-Signature`` present but wrong), sent
  whole as a client would, once with ``Content-Length`` and once chunked; the time from the
  first byte sent to the status line received, while another thread polls ``/healthz``.
  Goal: refused in under 50 ms, ``/healthz`` answering meanwhile.
- ``mail_classify``: ``prober mail classify`` on 117 KiB of repeated ``<a `` (the real command in
  a subprocess). Goal: under 2 s, no traceback (``html.parser``, quadratic on it, took 152 s).
- ``ingest_stall``: the event-loop stall while the reply watcher ingests that message from a
  throw-away Dovecot on loopback (SQLite): a heartbeat task wakes every 5 ms and records the
  longest gap between two wake-ups, from the APPEND until the reply is stored. Goal: < 100 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr
from sqlmodel import Session, select

from channels.email.imap import Mailbox
from config.settings import EmailSettings, ImapSettings, Settings, SmtpSettings
from prober.probes.email import EmailProbes
from prober.project.database import Database
from sandbox.mail import Dovecot
from sandbox.mail.dovecot import free_port
from storage.db import make_engine, upgrade
from storage.models import Reply
from tests.support.hostile_mail import REPEATED_A_BYTES, repeated_a_message


@dataclass(frozen=True)
class Line:
    """One measure: what, its figure, its goal, and whether the goal was met."""

    what: str
    figure: str
    goal: str
    met: bool

    def __str__(self) -> str:
        return f"{self.what}: {self.figure}  [goal {self.goal}] {'✓' if self.met else '✗'}"


# -- A forged webhook of 100,000 parameters ------------------------------------------------------

FORGED_PARAMETERS = 100_000
FORGED_TRIES = 50
WEBHOOK_PATH = "/twilio/calls/7b0f3c1e-8f4e-4f55-9a43-0d6c1b2a3c4d/1/status"
NEVER_S = 120.0
HEALTH_POLL_S = 0.005


@contextmanager
def running_daemon() -> Iterator[str]:
    """``prober run`` on a fresh project in a temporary folder; its webhook listener's URL."""
    with tempfile.TemporaryDirectory(prefix="prober-hostile-") as folder:
        project = Path(folder)
        subprocess.run(  # noqa: S603 - our own command line
            [sys.executable, "-m", "prober", "init", str(project)],
            check=True,
            capture_output=True,
        )
        web_port = free_port()
        environment = {
            **os.environ,
            "PROBER_WEB__PORT": str(web_port),
            "PROBER_WORKSPACE__PORT": str(free_port()),
            "PROBER_TWILIO__AUTH_TOKEN": "bench-token",
        }
        log = (project / "daemon.log").open("wb")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "prober", "run"], cwd=project, env=environment, stderr=log
        )
        base = f"http://127.0.0.1:{web_port}"
        try:
            deadline = time.monotonic() + NEVER_S
            while True:
                if daemon.poll() is not None:
                    raise RuntimeError(f"prober run stopped: see {project / 'daemon.log'}")
                try:
                    if httpx.get(base + "/healthz", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("prober run never answered /healthz")
                time.sleep(0.1)
            yield base
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=NEVER_S)
            log.close()


def _refusal_s(port: int, head: bytes, body: bytes) -> tuple[float, int]:
    """Send ``head`` then ``body`` (from another thread, as fast as the server reads), and
    return the seconds until the status line came back, and the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=NEVER_S) as connection:

        def send_body() -> None:
            # The server may refuse and close before the body is all sent: that is the point.
            try:
                connection.sendall(body)
            except OSError:
                pass

        started = time.perf_counter()
        connection.sendall(head)
        sender = threading.Thread(target=send_body)
        sender.start()
        received = b""
        try:
            while b"\r\n" not in received:
                data = connection.recv(4096)
                if not data:
                    break
                received += data
        except ConnectionResetError:
            pass
        elapsed = time.perf_counter() - started
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
        sender.join()
    if not received.startswith(b"HTTP/1.1 "):
        raise RuntimeError(f"no response to the forged webhook: {received[:80]!r}")
    return elapsed, int(received.split()[1])


def forged_webhook() -> Line:
    """Time to refuse a forged webhook of 100,000 parameters, /healthz polled meanwhile."""
    form = urlencode([(f"p{index}", "x") for index in range(FORGED_PARAMETERS)]).encode()
    common = (
        f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "X-Twilio-Signature: bm90IGEgc2lnbmF0dXJl\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
    )
    declared = (common + f"Content-Length: {len(form)}\r\n\r\n").encode()
    chunked_head = (common + "Transfer-Encoding: chunked\r\n\r\n").encode()
    chunked_body = (
        b"".join(
            b"%x\r\n%s\r\n" % (len(form[i : i + 8192]), form[i : i + 8192])
            for i in range(0, len(form), 8192)
        )
        + b"0\r\n\r\n"
    )
    with running_daemon() as base:
        port = int(base.rsplit(":", 1)[1])
        health: list[float] = []
        failures: list[str] = []
        done = threading.Event()

        def poll_health() -> None:
            with httpx.Client(timeout=NEVER_S) as client:
                while not done.is_set():
                    started = time.perf_counter()
                    try:
                        client.get(base + "/healthz").raise_for_status()
                    except httpx.HTTPError as error:
                        failures.append(str(error))
                    health.append(time.perf_counter() - started)
                    done.wait(HEALTH_POLL_S)

        poller = threading.Thread(target=poll_health)
        poller.start()
        try:
            by_length = [_refusal_s(port, declared, form) for _ in range(FORGED_TRIES)]
            by_chunks = [_refusal_s(port, chunked_head, chunked_body) for _ in range(FORGED_TRIES)]
        finally:
            done.set()
            poller.join()
    statuses = {status for _, status in by_length + by_chunks}
    worst = max(seconds for seconds, _ in by_length + by_chunks)

    def ms(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms"

    figure = (
        f"answered {'/'.join(map(str, sorted(statuses)))}; with Content-Length"
        f" {ms([s for s, _ in by_length])}, chunked {ms([s for s, _ in by_chunks])}"
        f" ({FORGED_TRIES} each); /healthz answered {len(health) - len(failures)}/{len(health)}"
        f" times meanwhile, {ms(health)}"
    )
    return Line(
        f"forged webhook, {FORGED_PARAMETERS:,} parameters ({len(form) / 1e6:.1f} MB)",
        figure,
        "< 50 ms, /healthz answering",
        worst < 0.050 and statuses == {413} and not failures and bool(health),
    )


# -- The hostile HTML reply (<a repeated over 117 KiB) --------------------------------------------

HEARTBEAT_S = 0.005
ROOT = Path(__file__).resolve().parent.parent


def classify_line() -> str:
    """Time ``prober mail classify`` on the message, as an operator would run it."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "repeated-a.eml"
        path.write_bytes(repeated_a_message())
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 (our own command)
            [sys.executable, "-m", "prober", "mail", "classify", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        elapsed_s = time.perf_counter() - started
    clean = done.returncode == 0 and "Traceback" not in done.stdout + done.stderr
    verdict = done.stdout.strip().rpartition(": ")[2] or done.stderr.strip()[-200:]
    ok = "✓" if clean and elapsed_s < 2 else "✗"
    return (
        f"prober mail classify, {REPEATED_A_BYTES // 1024} KiB of '<a ': {elapsed_s:.2f} s"
        f" [goal < 2 s], exit {done.returncode}, {'no traceback' if clean else 'FAILED'}"
        f" ({verdict}) {ok}"
    )


def stall_line() -> str:
    """The longest event-loop gap while the watcher ingests the message from Dovecot."""
    with tempfile.TemporaryDirectory() as folder, Dovecot() as dovecot:
        persona = dovecot.add_user("marie.dupont@probes-exemple.fr")
        engine = make_engine(f"sqlite:///{folder}/bench.db")
        upgrade(engine)
        settings = Settings(
            smtp=SmtpSettings(host="127.0.0.1", port=25),
            imap=ImapSettings(
                host=dovecot.host,
                port=dovecot.port,
                username=persona.address,
                password=SecretStr(persona.password),
                poll_interval_s=1.0,
            ),
            email=EmailSettings(),
            replies_dir=Path(folder) / "replies",
            base_dir=Path(folder),
        )
        gap_s, stored_s, kind = asyncio.run(_ingest_with_heartbeat(engine, settings))
        engine.dispose()
    ok = "✓" if gap_s < 0.1 else "✗"
    return (
        f"event-loop stall while ingesting it: {gap_s * 1000:.0f} ms [goal < 100 ms]"
        f" (stored as {kind} {stored_s:.2f} s after the APPEND) {ok}"
    )


async def _ingest_with_heartbeat(engine: object, settings: Settings) -> tuple[float, float, str]:
    database = Database(engine)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    longest = [0.0]

    async def heartbeat() -> None:
        last = loop.time()
        while not stop.is_set():
            await asyncio.sleep(HEARTBEAT_S)
            now = loop.time()
            longest[0] = max(longest[0], now - last - HEARTBEAT_S)
            last = now

    def stored() -> list[Reply]:
        with Session(database.engine) as session:
            return list(session.exec(select(Reply)))

    probes = EmailProbes(settings, database)
    # The watcher connected and its worker started before the message comes: what is timed is
    # the ingestion, not the start.
    await probes.reader.read(b"Subject: warm-up\r\n\r\nx\r\n")
    watcher = asyncio.create_task(probes.watch(stop))
    await asyncio.sleep(1.0)
    beating = asyncio.create_task(heartbeat())
    async with Mailbox(settings.imap) as mailbox:
        await mailbox.append(repeated_a_message(), settings.imap.mailbox, "")
    appended = loop.time()
    replies = await asyncio.to_thread(stored)
    while not replies:
        await asyncio.sleep(0.01)
        replies = await asyncio.to_thread(stored)
    stored_s = loop.time() - appended
    stop.set()
    await asyncio.gather(watcher, beating)
    database.close()
    return longest[0], stored_s, replies[0].classification or ""


MEASURES: list[Callable[[], object]] = [forged_webhook, classify_line, stall_line]


def main() -> None:
    """Run every measure and print its line."""
    for measure in MEASURES:
        print(measure(), flush=True)


if __name__ == "__main__":
    main()
