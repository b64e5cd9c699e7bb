"""The daemon's lifetime: every task it starts ends with it, whether it stops or a step fails."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select

from channels.email.imap import MailboxError
from config.settings import (
    DispatchSettings,
    ImapSettings,
    Settings,
    TwilioSettings,
    WebSettings,
    WorkspaceSettings,
)
from prober.cli.daemon import daemon_options
from prober.errors import ProberError
from prober.project import Project
from prober.runtime.daemon import Daemon, DaemonOptions
from storage import attempts, mail
from storage.models import Wave, WaveStatus
from storage.types import utcnow
from tests.support.email_scene import MailTarget, seed_email_probes
from tests.support.phone_scene import ACCOUNT, free_listener


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    listener = free_listener()
    port: int = listener.getsockname()[1]
    listener.close()
    return port


def _settings(tmp_path: Path, *, web_port: int, imap_port: int) -> Settings:
    """Phone and email configured; Twilio and the IMAP server are never reached at start-up,
    except for the email reconciliation, whose IMAP server does not answer."""
    return Settings(
        twilio=TwilioSettings(
            account_sid=ACCOUNT.sid,
            auth_token=SecretStr(ACCOUNT.auth_token),
            api_base_url=f"http://127.0.0.1:{_closed_port()}",
            webhook_base_url=f"http://127.0.0.1:{web_port}",
        ),
        imap=ImapSettings(
            host="127.0.0.1",
            port=imap_port,
            username="marie@prober.test",
            password=SecretStr("secret"),
        ),
        web=WebSettings(port=web_port),
        workspace=WorkspaceSettings(port=_closed_port()),
        base_dir=tmp_path,
    )


def _email_left_composed(engine: Engine) -> uuid.UUID:
    """An email probe a previous run composed but never confirmed sent: the start reconciles it."""
    (probe_id,) = seed_email_probes(engine, "marie@prober.test", [MailTarget("mairie@x.test")])
    with Session(engine) as session:
        attempt = attempts.start_attempt(session, probe_id)
        assert attempt.id is not None
        reference = {"token": "abcd1234", "message_id": "<abcd1234@x.test>"}
        mail.set_reference(session, attempt.id, **reference)
        now = utcnow()
        attempts.record_event(
            session,
            publish_prefix="prober",
            kind="email.composed",
            source="prober",
            source_at=now,
            received_at=now,
            clock="receipt",
            dedup_key=f"attempt:{attempt.id}:composed",
            payload={},
            probe_id=probe_id,
            attempt_id=attempt.id,
        )
        session.commit()
    return probe_id


def _other_tasks() -> set[asyncio.Task[object]]:
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}


async def _task_names_while_running(daemon: Daemon) -> set[str]:
    """The names of the tasks running beside this one once ``daemon`` has started, then
    stopped."""
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    while not any(task.get_name() == "recording-sweep" for task in asyncio.all_tasks()):
        assert not running.done(), running.exception()
        await asyncio.sleep(0.01)
    names = {task.get_name() for task in _other_tasks()}
    stop.set()
    await running
    return names


async def test_a_failing_start_up_step_stops_every_task_before_its_error_is_raised(
    engine: Engine, tmp_path: Path
) -> None:
    _email_left_composed(engine)
    web_port = _closed_port()
    settings = _settings(tmp_path, web_port=web_port, imap_port=_closed_port())
    daemon = Daemon(Project(settings=settings, engine=engine), DaemonOptions())

    async def scene() -> tuple[BaseException | None, set[asyncio.Task[object]]]:
        # The phone reconciliation passes and starts the recording sweep; the email
        # reconciliation that follows cannot reach the Sent folder and raises.
        error: BaseException | None = None
        try:
            await daemon.run(asyncio.Event())
        except Exception as raised:
            error = raised
        await asyncio.sleep(0)  # a task left running would still be pending after this
        return error, _other_tasks()

    error, left = await scene()
    assert {task.get_name() for task in left} == set()
    assert isinstance(error, MailboxError), repr(error)
    # The web app stopped too: its port is free again.
    with socket.create_server(("127.0.0.1", web_port)):
        pass


async def test_a_stopped_daemon_leaves_no_task_running(engine: Engine, tmp_path: Path) -> None:
    settings = _settings(tmp_path, web_port=_closed_port(), imap_port=_closed_port())
    options = DaemonOptions(watch_mail=False, tick_s=0.05)
    daemon = Daemon(Project(settings=settings, engine=engine), options)

    names = await _task_names_while_running(daemon)
    await asyncio.sleep(0)
    left = _other_tasks()
    assert "recording-sweep" in names
    assert any(name.startswith("web ") for name in names)
    assert any(name.startswith("workspace ") for name in names)
    assert left == set()


async def test_a_web_port_in_use_is_one_clear_error(engine: Engine, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        settings = _settings(tmp_path, web_port=port, imap_port=_closed_port())
        daemon = Daemon(Project(settings=settings, engine=engine), DaemonOptions())

        async def scene() -> set[asyncio.Task[object]]:
            with pytest.raises(ProberError, match=rf"could not listen on 127\.0\.0\.1:{port}"):
                await daemon.run(asyncio.Event())
            await asyncio.sleep(0)
            return _other_tasks()

        assert await scene() == set()


async def test_a_daemon_not_watching_mail_never_connects_to_the_mailbox(
    engine: Engine, tmp_path: Path
) -> None:
    """``imap.watch = false`` (as ``prober run`` reads it): with a paused email wave, neither the
    start-up check nor the run opens an IMAP connection; with watching on, the check does."""
    seed_email_probes(engine, "marie@prober.test", [MailTarget("mairie@x.test")])
    with Session(engine) as session:
        for wave in session.exec(select(Wave)):
            wave.status = WaveStatus.PAUSED
            session.add(wave)
        session.commit()
    connections: list[int] = []

    async def count(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        writer.close()

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        base = _settings(tmp_path, web_port=_closed_port(), imap_port=port).model_copy(
            update={"dispatch": DispatchSettings(max_in_flight=7)}
        )

        def settings(*, watch: bool) -> Settings:
            imap = base.imap.model_copy(update={"watch": watch, "sent_folder": ""})
            return base.model_copy(update={"imap": imap})

        options = daemon_options(settings(watch=False))
        assert options.watch_mail is False
        assert options.max_in_flight == 7  # [dispatch] applies as before
        options.tick_s = 0.05
        daemon = Daemon(Project(settings=settings(watch=False), engine=engine), options)
        assert "email" in await daemon.check()
        names = await _task_names_while_running(daemon)
        assert "mail-watcher" not in names
        assert connections == []

        watching = Daemon(
            Project(settings=settings(watch=True), engine=engine),
            daemon_options(settings(watch=True)),
        )
        checking = asyncio.create_task(watching.check())
        while not connections:  # the check reaches the mailbox's server
            assert not checking.done(), checking
            await asyncio.sleep(0.01)
        checking.cancel()
        with contextlib.suppress(asyncio.CancelledError, ProberError):
            await checking
    finally:
        server.close()
        await server.wait_closed()
