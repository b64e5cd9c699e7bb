"""``prober phone call``: place a wave's planned phone probes now and wait for their measurements.

It serves the webhook app on ``[web]`` host and port (Twilio must reach it at
``twilio.webhook_base_url``), places the calls at ``twilio.calls_per_second``, and returns once
every call has ended and its recording is filed. The daemon (``prober run``) will do the same on
schedule; this command is for trying a scenario, a number, or the sandbox by hand.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

import uvicorn
from sqlmodel import Session

from channels.phone.twilio_client import TwilioPhone
from prober.errors import ProberError
from prober.probes.phone import PhoneProbes
from prober.project import Project
from prober.project.database import Database
from prober.web.app import create_app
from storage import attempts

logger = logging.getLogger(__name__)

# Beyond the scenario's own limits (ringing, call length), how long to wait for callbacks.
CALLBACK_GRACE_S = 60.0


@dataclass(frozen=True, slots=True)
class CallRun:
    """What was placed and what it measured."""

    placed: int
    not_placed: int
    results: list[attempts.MeasuredCall]


async def call_now(
    project: Project, wave: str, structures: list[str], limit: int | None
) -> CallRun:
    """Place the chosen planned phone probes of ``wave`` and wait for them to end."""
    settings = project.settings
    if not settings.twilio.webhook_base_url:
        raise ProberError(
            "twilio.webhook_base_url is empty: set it to the address Twilio reaches this"
            f" machine at (with the sandbox: http://{settings.web.host}:{settings.web.port})"
        )
    with Session(project.engine) as session:
        probe_ids = attempts.planned_probes(session, wave, "phone", structures, limit)
    if not probe_ids:
        raise ProberError(
            f"wave {wave!r} has no planned phone probe"
            + (f" for {', '.join(structures)}" if structures else "")
            + ": plan it with `prober wave plan`, or look at `prober phone results`"
        )
    database = Database(project.engine)
    try:
        async with TwilioPhone(settings.twilio) as phone:
            probes = PhoneProbes(settings, database, phone)
            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(probes),
                    host=settings.web.host,
                    port=settings.web.port,
                    log_level="warning",
                    lifespan="off",
                )
            )
            serving = asyncio.create_task(server.serve())
            while not server.started:
                if serving.done():
                    serving.result()
                    raise ProberError(
                        f"the web app could not listen on {settings.web.host}:{settings.web.port}"
                    )
                await asyncio.sleep(0.02)
            try:
                placed = await asyncio.gather(*(probes.place(probe) for probe in probe_ids))
                await _wait_for_the_end(
                    project, [p for p, c in zip(probe_ids, placed, strict=True) if c]
                )
                await probes.drain()
            finally:
                server.should_exit = True
                await serving
    finally:
        database.close()
    with Session(project.engine) as session:
        results = attempts.measured_calls(session, probe_ids=probe_ids)
    placed_count = sum(1 for call in placed if call is not None)
    return CallRun(placed_count, len(probe_ids) - placed_count, results)


async def _wait_for_the_end(project: Project, probe_ids: list[uuid.UUID]) -> None:
    scale = project.settings.twilio.time_scale
    with Session(project.engine) as session:
        longest_s = max((_call_limit_s(session, probe) for probe in probe_ids), default=0)
    deadline = asyncio.get_running_loop().time() + longest_s * scale + CALLBACK_GRACE_S
    while True:
        with Session(project.engine) as session:
            open_attempts = [
                call
                for call in attempts.measured_calls(session, probe_ids=probe_ids)
                if call.outcome is None
            ]
        if not open_attempts:
            return
        if asyncio.get_running_loop().time() > deadline:
            logger.warning(
                "%d call(s) still without a final status; their callbacks will be taken by the"
                " daemon (prober run) when they come",
                len(open_attempts),
            )
            return
        await asyncio.sleep(0.5)


def _call_limit_s(session: Session, probe_id: uuid.UUID) -> float:
    attempt = max(
        (a.attempt for a in attempts.measured_calls(session, probe_ids=[probe_id])), default=1
    )
    context = attempts.attempt_context(session, probe_id, attempt)
    phone = context.scenario.phone
    return float(phone.max_ring_seconds + phone.max_call_seconds)
