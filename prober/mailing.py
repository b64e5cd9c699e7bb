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

from sqlmodel import Session, col, select

from prober.database import Database
from prober.email import EmailProbes
from prober.errors import ProberError
from prober.project import Project
from storage.errors import NotFoundError
from storage.models import Attempt, ContactPoint, Probe, ProbeState, Structure, Wave


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


def email_probes_to_send(
    session: Session, wave_name: str, official_ids: list[str], limit: int | None
) -> list[uuid.UUID]:
    """Planned email probes of a wave, first scheduled first, optionally of some structures."""
    wave = session.exec(select(Wave).where(col(Wave.name) == wave_name)).first()
    if wave is None:
        raise NotFoundError(f"no wave named {wave_name!r}: `prober wave list` shows them")
    query = (
        select(Probe.id, Structure.official_id)
        .join(Structure, col(Structure.id) == col(Probe.structure_id))
        .where(
            col(Probe.wave_id) == wave.id,
            col(Probe.channel) == "email",
            col(Probe.state) == ProbeState.PLANNED,
        )
        .order_by(col(Probe.scheduled_at), col(Probe.id))
    )
    rows = list(session.exec(query))
    if official_ids:
        known = {official_id for _, official_id in rows}
        unknown = [official_id for official_id in official_ids if official_id not in known]
        if unknown:
            raise NotFoundError(
                f"wave {wave_name!r} has no planned email probe for {', '.join(unknown)}"
            )
        rows = [row for row in rows if row[1] in official_ids]
    return [probe_id for probe_id, _ in rows[:limit]]


def mailed_probes(
    session: Session, *, wave_name: str | None = None, probe_ids: list[uuid.UUID] | None = None
) -> list[MailedProbe]:
    """Email attempts with their measurement, of a wave or of some probes."""
    query = (
        select(Attempt, Probe, Structure, ContactPoint)
        .join(Probe, col(Probe.id) == col(Attempt.probe_id))
        .join(Structure, col(Structure.id) == col(Probe.structure_id))
        .join(ContactPoint, col(ContactPoint.id) == col(Probe.contact_point_id), isouter=True)
        .where(col(Probe.channel) == "email")
        .order_by(col(Structure.official_id), col(Attempt.number))
    )
    if wave_name is not None:
        query = query.join(Wave, col(Wave.id) == col(Probe.wave_id)).where(
            col(Wave.name) == wave_name
        )
    if probe_ids is not None:
        query = query.where(col(Probe.id).in_(probe_ids))
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
        for attempt, probe, structure, contact in session.exec(query)
    ]


async def send_now(
    project: Project, wave: str, structures: list[str], limit: int | None
) -> list[MailedProbe]:
    """Reconcile unfinished sends, then send the chosen planned email probes of ``wave``."""
    with Session(project.engine) as session:
        probe_ids = email_probes_to_send(session, wave, structures, limit)
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
