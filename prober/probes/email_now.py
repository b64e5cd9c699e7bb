"""``prober mail send`` / ``watch``: send a wave's planned email probes now; process replies.

The daemon (``prober run``) will do both on schedule; these commands are for trying a scenario,
an address or the sandbox by hand, and for catching up a mailbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from prober.errors import ProberError
from prober.probes.email import EmailProbes
from prober.project import Project
from prober.project.database import Database
from storage.attempts import attempts_with_contact, planned_probes


@dataclass(frozen=True, slots=True)
class MailedProbe:
    """One email attempt as shown to operators."""

    probe_id: uuid.UUID
    attempt: int
    official_id: str
    address: str
    message_id: str | None
    outcome: str | None
    measurement: dict[str, Any]


def mailed_probes(
    session: Session, *, wave_name: str | None = None, probe_ids: list[uuid.UUID] | None = None
) -> list[MailedProbe]:
    """Email attempts with their measurement, of a wave or of some probes."""
    rows = attempts_with_contact(session, "email", wave_name=wave_name, probe_ids=probe_ids)
    return [
        MailedProbe(
            probe_id=probe.id,
            attempt=attempt.number,
            official_id=structure.official_id,
            address="" if contact is None else contact.value,
            message_id=attempt.external_id,
            outcome=attempt.outcome,
            measurement=attempt.measurement,
        )
        for attempt, probe, structure, contact in rows
    ]


async def send_now(
    project: Project, wave: str, structures: list[str], limit: int | None
) -> list[MailedProbe]:
    """Reconcile unfinished sends, then send the chosen planned email probes of ``wave``."""
    with Session(project.engine) as session:
        probe_ids = planned_probes(session, wave, "email", structures, limit)
    if not probe_ids:
        raise ProberError(
            f"wave {wave!r} has no planned email probe"
            + (f" for {', '.join(structures)}" if structures else "")
            + ": plan it with `prober wave plan`, or look at `prober mail results`"
        )
    database = Database(project.engine)
    try:
        probes = EmailProbes(project.settings, database)
        await probes.reconcile()
        for probe_id in probe_ids:
            await probes.send(probe_id)
    finally:
        database.close()
    with Session(project.engine) as session:
        return mailed_probes(session, probe_ids=probe_ids)


async def watch(project: Project, *, for_s: float | None) -> None:
    """Run the reply watcher until interrupted, or for ``for_s`` seconds."""
    database = Database(project.engine)
    stop = asyncio.Event()
    try:
        probes = EmailProbes(project.settings, database)
        task = asyncio.create_task(probes.watch(stop))
        if for_s is None:
            await task
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), for_s)
            stop.set()
            await task
    finally:
        database.close()
