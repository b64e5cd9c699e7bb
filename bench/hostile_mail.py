"""Benchmark: the hostile HTML reply of issue 12 (``<a `` repeated over 117 KiB).

1. ``prober mail classify`` on it, the real command in a subprocess: goal under 2 s, no
   traceback (``html.parser``, quadratic on this input, took 152 s before).
2. The daemon's event-loop stall while the reply watcher ingests it from a throw-away Dovecot on
   loopback (SQLite): a heartbeat task wakes every 5 ms and records the longest gap between two
   wake-ups, from the APPEND until the reply is stored. Goal under 100 ms.

    python bench/hostile_mail.py

Prints one line per figure; asserts nothing.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr
from sqlmodel import Session, select

from channels.email.imap import Mailbox
from config.settings import EmailSettings, ImapSettings, Settings, SmtpSettings
from prober.probes.email import EmailProbes
from prober.project.database import Database
from sandbox.mail import Dovecot
from storage.db import make_engine, upgrade
from storage.models import Reply
from tests.hostile_mail import REPEATED_A_BYTES, repeated_a_message

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


def main() -> None:
    print(classify_line())
    print(stall_line())


if __name__ == "__main__":
    main()
