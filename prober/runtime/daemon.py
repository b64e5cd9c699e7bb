"""``prober run``: one asyncio process carrying running waves from plan to results.

It holds, for its whole life: the webhook listener (Twilio's webhooks), the workspace listener
(the results API, token required), the dispatcher (claims due probes
from the database and carries them out), the reply-mailbox watcher, the site checker (web
probes) and the event bus. On start
it checks what it needs and reconciles what a previous run left unfinished (calls in flight,
emails between composing and sending, recordings not downloaded); while it runs, it reconciles
the calls still open past their time limit (a lost final callback); on SIGTERM/SIGINT it stops
claiming, lets the probes under way finish (their callbacks keep arriving at the web app),
flushes the bus and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import uvicorn
from sqlmodel import Session, col, select
from starlette.types import ASGIApp

from channels.email.imap import Mailbox, MailboxError
from channels.phone.twilio_client import TwilioPhone
from channels.web import CheckPolicy, SiteChecker
from config.settings import DispatchSettings, WebSettings, WorkspaceSettings
from prober.errors import ProberError
from prober.probes.email import EmailProbes
from prober.probes.phone import PhoneProbes
from prober.probes.web import WebProbes
from prober.project import Project
from prober.project.database import Database
from prober.runtime.alerts import AlertWatch
from prober.runtime.bus import EventBus
from prober.web.app import create_app
from prober.web.metrics import CountingCallbacks, Metrics
from prober.web.workspace import create_workspace_app
from scheduler.dispatch import Dispatcher
from scheduler.retry import RetryPolicy, retry_at
from storage import attempts, claims
from storage.claims import ClaimedProbe
from storage.errors import StorageError
from storage.models import Probe, ProbeState, SlotKind, Structure, Wave, WaveStatus
from storage.types import utcnow

logger = logging.getLogger("prober.runtime.daemon")

# How often recordings whose download failed are asked for again.
RECORDING_SWEEP_S = 600.0


@dataclass
class DaemonOptions:
    """How a daemon runs; the defaults are production's."""

    daemon_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    clock: Callable[[], datetime] = utcnow
    tick_s: float = 1.0
    lease: timedelta = timedelta(minutes=10)
    max_in_flight: int = 50
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    serve_web: bool = True
    watch_mail: bool = True
    # Prices of ended calls, budgets and alert rules (prober.runtime.alerts).
    watch_alerts: bool = True
    # How long to let calls under way finish on shutdown before leaving them to reconciliation.
    drain_s: float = 60.0
    # How often calls open past their time limit are reconciled (PhoneProbes.sweep).
    sweep_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: DispatchSettings) -> DaemonOptions:
        """The options ``[dispatch]`` sets."""
        return cls(
            tick_s=settings.tick_seconds,
            lease=timedelta(minutes=settings.lease_minutes),
            max_in_flight=settings.max_in_flight,
            sweep_s=settings.sweep_seconds,
            retry=RetryPolicy(
                max_attempts=settings.max_attempts,
                min_delay=timedelta(minutes=settings.retry_delay_minutes),
            ),
        )


class Daemon:
    """The long-lived service; :meth:`run` returns when ``stop`` is set (or on a fatal error)."""

    def __init__(self, project: Project, options: DaemonOptions | None = None) -> None:
        self.project = project
        self.settings = project.settings
        self.options = options or DaemonOptions.from_settings(project.settings.dispatch)
        self.metrics = Metrics()

    # -- start-up checks -------------------------------------------------------------------

    def _channels_needed(self) -> set[str]:
        with Session(self.project.engine) as session:
            rows = session.exec(
                select(Probe.channel)
                .join(Wave, col(Wave.id) == col(Probe.wave_id))
                .where(col(Wave.status).in_((WaveStatus.RUNNING, WaveStatus.PAUSED)))
                .distinct()
            )
            return set(rows)

    async def check(self) -> set[str]:
        """The channels running waves need, each checked; ProberError says what to fix."""
        channels = self._channels_needed()
        twilio = self.settings.twilio
        if "phone" in channels:
            if not twilio.account_sid or twilio.auth_token is None:
                raise ProberError(
                    "a running wave has phone probes but Twilio credentials are missing: set"
                    " twilio.account_sid and PROBER_TWILIO__AUTH_TOKEN"
                )
            if not twilio.webhook_base_url:
                raise ProberError(
                    "a running wave has phone probes but twilio.webhook_base_url is empty: set"
                    " it to the address Twilio reaches this daemon's web app at"
                )
        if "email" in channels and self.options.watch_mail:
            try:
                async with Mailbox(self.settings.imap) as mailbox:
                    await mailbox.select(self.settings.imap.mailbox)
            except MailboxError as error:
                raise ProberError(f"the reply mailbox cannot be used: {error}") from None
        return channels

    # -- running ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Serve, dispatch, watch and publish until ``stop`` is set.

        Everything runs in one exit stack: its resources (databases, Twilio, the event bus) and
        one task group holding every task (the web app, the recording sweep, the mail watcher).
        A failing step stops all of them before its error is raised.
        """
        channels = await self.check() | self._configured_channels()
        try:
            async with contextlib.AsyncExitStack() as stack:
                running = await self._start(stack, channels, stop)
                logger.info(
                    "daemon %s running: channels %s, webhooks %s, workspace %s",
                    self.options.daemon_id,
                    ", ".join(sorted(channels)) or "none",
                    *(
                        (
                            f"{self.settings.web.host}:{self.settings.web.port}",
                            f"{self.settings.workspace.host}:{self.settings.workspace.port}",
                        )
                        if self.options.serve_web
                        else ("off", "off")
                    ),
                )
                await self._dispatch_until(stop, running)
                await self._wind_down(running)
        except BaseExceptionGroup as group:
            # Task groups (ours, the bus's) wrap the error of a step: raise it as it was.
            error: BaseException = group
            while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
                error = error.exceptions[0]
            raise error from None
        logger.info("daemon %s stopped", self.options.daemon_id)

    def _configured_channels(self) -> set[str]:
        """Channels whose settings are complete: they serve too, so that a wave started later
        needs no restart."""
        channels = set()
        twilio = self.settings.twilio
        if twilio.account_sid and twilio.auth_token is not None and twilio.webhook_base_url:
            channels.add("phone")
        if self.settings.imap.username:
            channels.add("email")
        # Websites need nothing but the network: the checker always serves.
        channels.add("web")
        return channels

    async def _start(
        self, stack: contextlib.AsyncExitStack, channels: set[str], stop: asyncio.Event
    ) -> _Running:
        """Open the resources and start the tasks, in order; each is closed by ``stack``."""
        database = stack.enter_context(contextlib.closing(Database(self.project.engine)))
        # The results API reads through its own worker, so a wave's results loading never
        # delays the webhooks' writes (SQLite has a single worker per Database).
        api_database = stack.enter_context(contextlib.closing(Database(self.project.engine)))
        # The alert watch's own worker too: a long round of rules never delays the webhooks.
        watch_database = stack.enter_context(contextlib.closing(Database(self.project.engine)))
        phone: TwilioPhone | None = None
        if "phone" in channels:
            phone = await stack.enter_async_context(TwilioPhone(self.settings.twilio))
        phone_probes = PhoneProbes(
            self.settings, database, phone, after_attempt=self._after_attempt
        )
        email_probes = EmailProbes(self.settings, database, after_attempt=self._after_attempt)
        checker: SiteChecker | None = None
        if "web" in channels:
            checker = await stack.enter_async_context(
                SiteChecker(CheckPolicy.from_settings(self.settings.sites))
            )
        web_probes = WebProbes(self.settings, database, checker, after_attempt=self._after_attempt)
        bus = await stack.enter_async_context(
            EventBus(
                self.settings.mqtt,
                database,
                on_control=self._control_with(database),
                base_dir=self.settings.base_dir,
            )
        )
        # Entered after the resources its tasks use, so that it ends before they close.
        tasks = await stack.enter_async_context(asyncio.TaskGroup())
        if self.options.serve_web:
            webhooks = CountingCallbacks(create_app(phone_probes), self.metrics)
            await stack.enter_async_context(_serving(webhooks, self.settings.web, "web", tasks))
            workspace = create_workspace_app(self.settings, api_database, self.metrics)
            await stack.enter_async_context(
                _serving(workspace, self.settings.workspace, "workspace", tasks)
            )
        running = _Running(database, phone_probes, email_probes, web_probes, bus, channels)
        if checker is not None:
            await web_probes.reconcile()
        if phone is not None:
            await phone_probes.reconcile()
            running.tasks.append(
                tasks.create_task(_keep_recordings(phone_probes, stop), name="recording-sweep")
            )
            # Each sweep renews this daemon's hold on its calls: several times per lease.
            sweep_s = min(self.options.sweep_s, self.options.lease.total_seconds() / 3)
            sweep = phone_probes.sweep_every(
                sweep_s,
                stop,
                holder=self.options.daemon_id,
                clock=self.options.clock,
                lease=self.options.lease,
            )
            running.tasks.append(tasks.create_task(sweep, name="call-sweep"))
        if self.options.watch_alerts:
            watch = AlertWatch(self.settings, watch_database, phone=phone, clock=self.options.clock)
            running.tasks.append(tasks.create_task(watch.run(stop), name="alert-watch"))
        if "email" in channels:
            await email_probes.reconcile()
            if self.options.watch_mail:
                running.tasks.append(
                    tasks.create_task(email_probes.watch(stop), name="mail-watcher")
                )
        return running

    async def _dispatch_until(self, stop: asyncio.Event, running: _Running) -> None:
        """Claim and carry out due probes until ``stop`` is set."""
        phone_probes, email_probes, bus = running.phone, running.email, running.bus
        web_probes = running.web

        def observe_lag(claimed: ClaimedProbe) -> None:
            lag_s = (self.options.clock() - claimed.scheduled_at).total_seconds()
            self.metrics.dispatch_lag.labels(channel=claimed.channel).observe(max(lag_s, 0.0))

        async def place_call(claimed: ClaimedProbe) -> None:
            observe_lag(claimed)
            await phone_probes.place(claimed.probe_id, claimed_by=self.options.daemon_id)
            bus.wake()

        async def send_email(claimed: ClaimedProbe) -> None:
            observe_lag(claimed)
            await email_probes.send(claimed.probe_id, claimed_by=self.options.daemon_id)
            bus.wake()

        async def check_site(claimed: ClaimedProbe) -> None:
            observe_lag(claimed)
            await web_probes.check(claimed.probe_id, claimed_by=self.options.daemon_id)
            bus.wake()

        execute = {"phone": place_call, "email": send_email, "web": check_site}
        dispatcher = Dispatcher(
            running.database,
            daemon_id=self.options.daemon_id,
            execute={c: execute[c] for c in running.channels if c in execute},
            calls_per_second=self.settings.twilio.calls_per_second,
            max_in_flight=self.options.max_in_flight,
            lease=self.options.lease,
            tick_s=self.options.tick_s,
            clock=self.options.clock,
            # Claimed a tick early, each probe starts at its planned instant.
            lookahead=timedelta(seconds=self.options.tick_s),
        )
        async with dispatcher:
            await stop.wait()
            logger.info("stopping: no new probe is claimed; letting calls under way end")

    async def _wind_down(self, running: _Running) -> None:
        """Let the calls under way end (the web app still takes their callbacks), then the
        recording downloads and the mail watcher."""
        await running.phone.wait_for_calls(self.options.drain_s)
        for task in running.tasks:
            await task

    def _after_attempt(self, session: Session, probe_id: uuid.UUID, outcome: str) -> None:
        """An attempt ended: retry it in another slot if the policy says so; close done waves.

        Runs inside the transaction that stores the attempt's end, in a savepoint: a failure
        here is logged and must never cost the callback that ended the attempt.
        """
        try:
            with session.begin_nested():
                self._retry_or_close(session, probe_id, outcome)
        except Exception:
            logger.exception("probe %s: deciding on a retry failed; it is left as it is", probe_id)

    def _retry_or_close(self, session: Session, probe_id: uuid.UUID, outcome: str) -> None:
        probe = session.get(Probe, probe_id)
        if probe is None:
            return
        structure = session.get(Structure, probe.structure_id)
        # The wave's end only: its parameters hold a planned national wave's megabytes of
        # shortfalls, not to be parsed for every probe settled.
        wave_ends_on = session.exec(
            select(col(Wave.ends_on)).where(col(Wave.id) == probe.wave_id)
        ).first()
        if structure is None or wave_ends_on is None:
            return
        at = retry_at(
            self.options.retry,
            outcome=outcome,
            attempt_count=probe.attempt_count,
            now=self.options.clock(),
            scheduled_at=probe.scheduled_at,
            off_hours=probe.slot_kind == SlotKind.OFF_HOURS,
            opening_hours=structure.opening_hours,
            timezone=structure.timezone,
            subdivision=structure.holiday_subdivision,
            wave_ends_on=wave_ends_on,
        )
        if at is not None:
            attempts.plan_again(session, probe_id, at=at)
            logger.info("probe %s: %s, tried again at %s", probe_id, outcome, at.isoformat())
        elif probe.state == ProbeState.PLANNED:
            # Not to be retried (attempts exhausted, or no slot left): it failed.
            probe.state = ProbeState.FAILED
            session.add(probe)
        claims.finish_wave_if_done(session, probe.wave_id)

    def _control_with(self, database: Database) -> Callable[[str, str], Any]:
        async def control(wave: str, action: str) -> None:
            status = {"pause": WaveStatus.PAUSED, "resume": WaveStatus.RUNNING}.get(action)
            if status is None:
                logger.warning("unknown control %r for wave %s ignored", action, wave)
                return
            try:
                await database.run(lambda session: claims.set_wave_status(session, wave, status))
            except StorageError as error:
                logger.warning("control %s %s refused: %s", action, wave, error)
                return
            logger.info("wave %s %s (control topic)", wave, status.value)

        return control


@dataclass
class _Running:
    """What a running daemon holds once started."""

    database: Database
    phone: PhoneProbes
    email: EmailProbes
    web: WebProbes
    bus: EventBus
    channels: set[str]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def _keep_recordings(phone_probes: PhoneProbes, stop: asyncio.Event) -> None:
    """Fetch the recordings not downloaded yet, now and every ``RECORDING_SWEEP_S`` until
    ``stop``; then let the downloads under way finish (all cancelled if this task is)."""
    try:
        await phone_probes.fetch_missing_recordings_every(RECORDING_SWEEP_S, stop)
    except asyncio.CancelledError:
        await phone_probes.drain(timeout_s=0)
        raise
    await phone_probes.drain()


@contextlib.asynccontextmanager
async def _serving(
    app: ASGIApp,
    listener: WebSettings | WorkspaceSettings,
    section: str,
    tasks: asyncio.TaskGroup,
) -> AsyncIterator[None]:
    """Serve ``app`` on ``listener``'s host and port (the ``[section]`` settings) in a task of
    ``tasks`` while the block runs."""
    address = f"{listener.host}:{listener.port}"
    family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
    try:
        bound = socket.create_server((listener.host, listener.port), family=family)
    except OSError as error:
        raise ProberError(
            f"the {section} listener could not listen on {address}"
            f" ({os.strerror(error.errno) if error.errno else error}):"
            f" change [{section}] port or stop what uses it"
        ) from None
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    # The daemon handles SIGTERM/SIGINT itself (stop claiming, let calls end, then stop the web
    # app last, so late callbacks are still taken): uvicorn must not catch them.
    setattr(server, "capture_signals", contextlib.nullcontext)  # noqa: B010
    with bound:
        task = tasks.create_task(server.serve(sockets=[bound]), name=f"{section} {address}")
        while not server.started:
            if task.done():
                raise ProberError(f"the {section} listener on {address} stopped as it started")
            await asyncio.sleep(0.02)
        try:
            yield
        finally:
            server.should_exit = True
            await task


async def run_daemon(
    project: Project, options: DaemonOptions | None = None, *, for_s: float | None = None
) -> None:
    """Run until SIGTERM/SIGINT (or for ``for_s`` seconds)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if for_s is not None:
        loop.call_later(for_s, stop.set)
    await Daemon(project, options).run(stop)
