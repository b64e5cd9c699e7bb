"""``prober participants``: the enrolments (list, accept, refuse, invite, export) and
``prober wave publish``: a wave's results opened to its participants (each one emailed)."""

from __future__ import annotations

import asyncio
import csv
import getpass
import sys
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from sqlmodel import Session

from prober.cli.output import console, errors, print_json_lines, safe, table
from prober.cli.project import project
from prober.errors import UsageError
from prober.web.enrolment.pages import send_acceptance, send_publication, send_refusal
from prober.web.enrolment.service import (
    INVITE,
    PARTICIPANT_ACCEPTED,
    PARTICIPANT_REFUSED,
    WAVE_PUBLISHED,
    Accepted,
    EnrolmentRefused,
    accept,
    digest,
    new_token,
    publish,
    ranking_of,
    refuse,
    status_fr,
)
from storage.accounts import get_account
from storage.audit import append_audit
from storage.models import ParticipantStatus
from storage.participants import StoredParticipant, add_token, get_participant, list_participants
from storage.types import utcnow

participants_app = typer.Typer(
    no_args_is_help=True,
    help="Participants: enrolments through the workspace's /inscription form, decisions.",
)
FORMULA = ("=", "+", "-", "@")
STATUSES = ", ".join(s.value for s in ParticipantStatus)
EXPORT_COLUMNS = (
    "id",
    "official_id",
    "name",
    "organisation",
    "sites",
    "offer",
    "status",
    "first_time",
    "contact_name",
    "contact_email",
    "contact_phone",
    "postal_address",
    "confirmed_at",
    "decided_at",
    "decided_by",
    "decision_reason",
    "free_rank",
)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _status(text: str | None) -> ParticipantStatus | None:
    if text is None:
        return None
    try:
        return ParticipantStatus(text)
    except ValueError:
        raise UsageError(f"--status {text!r}: expected one of {STATUSES}") from None


def _record(p: StoredParticipant, rank: int | None) -> dict[str, Any]:
    return {
        "id": p.id,
        "official_id": p.official_id,
        "name": p.name,
        "organisation": p.organisation,
        "sites": " ".join(p.sites),
        "offer": p.offer.value,
        "status": p.status.value,
        "first_time": p.first_time,
        "contact_name": p.contact_name,
        "contact_email": p.contact_email,
        "contact_phone": p.contact_phone,
        "postal_address": p.postal_address,
        "confirmed_at": p.confirmed_at.isoformat() if p.confirmed_at else "",
        "decided_at": p.decided_at.isoformat() if p.decided_at else "",
        "decided_by": p.decided_by,
        "decision_reason": p.decision_reason,
        "free_rank": rank or "",
    }


def _records(status: ParticipantStatus | None) -> tuple[list[dict[str, Any]], dict[int, str]]:
    opened = project()
    with opened.session() as session:
        _, ranks = ranking_of(session, opened.settings)
        rows = list_participants(session, status)
        records = [_record(p, ranks[p.id].rank if p.id in ranks else None) for p in rows]
        explanations = {p.id: ranks[p.id].explanation for p in rows if p.id in ranks}
    return records, explanations


@participants_app.command("list")
def participants_list(
    status: Annotated[str | None, typer.Option("--status", help=f"One of {STATUSES}.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """The enrolments, oldest first, with their rank for the free places."""
    records, explanations = _records(_status(status))
    if as_json:
        print_json_lines({**r, "ranking": explanations.get(r["id"], "")} for r in records)
        return
    console.print(
        table(
            "id",
            "siret",
            "name",
            "sites",
            "offer",
            "status",
            "first time",
            "free rank",
            "contact",
            rows=(
                (
                    r["id"],
                    r["official_id"],
                    r["name"],
                    len(r["sites"].split()),
                    r["offer"],
                    r["status"],
                    "yes" if r["first_time"] else "no",
                    r["free_rank"],
                    r["contact_email"],
                )
                for r in records
            ),
        )
    )
    for participant_id, explanation in explanations.items():
        console.print(f"{participant_id}: {safe(explanation)}", highlight=False)


def _mail(sending: Any) -> str:
    """Run an email send; "" when it left, the reason when it did not."""
    from channels.errors import ChannelError

    try:
        asyncio.run(sending)
    except ChannelError as error:
        return str(error)
    return ""


@participants_app.command("accept")
def participants_accept(
    participant_id: Annotated[int, typer.Argument(help="The enrolment's id (`list`).")],
) -> None:
    """Accept a confirmed enrolment (free places permitting): its structure account is made and
    the contact is emailed a link to set its password."""
    opened = project()
    with opened.session() as session:
        accepted = accept(session, opened.settings, participant_id, by=_actor())
        append_audit(
            session,
            actor=_actor(),
            action=PARTICIPANT_ACCEPTED,
            target=str(participant_id),
            details={"login": accepted.login, "ranking": accepted.ranking},
        )
    console.print(
        f"participant {participant_id} accepted: account {safe(accepted.login)!r}", highlight=False
    )
    failure = _mail(send_acceptance(opened.settings, accepted))
    if failure:
        errors.print(
            f"the invitation email did not leave ({safe(failure)}): "
            f"`prober participants invite {participant_id}` sends a new one"
        )
        raise typer.Exit(1)
    console.print(f"invitation emailed to {safe(accepted.participant.contact_email)}")


@participants_app.command("refuse")
def participants_refuse(
    participant_id: Annotated[int, typer.Argument(help="The enrolment's id (`list`).")],
    reason: Annotated[str, typer.Option("--reason", help="Told to the structure.")] = "",
) -> None:
    """Refuse an enrolment; the contact is emailed the reason (and the free-places ranking)."""
    opened = project()
    with opened.session() as session:
        refused = refuse(session, opened.settings, participant_id, by=_actor(), reason=reason)
        append_audit(
            session,
            actor=_actor(),
            action=PARTICIPANT_REFUSED,
            target=str(participant_id),
            details={"reason": refused.explanation},
        )
    console.print(f"participant {participant_id} refused", highlight=False)
    failure = _mail(send_refusal(opened.settings, refused))
    if failure:
        errors.print(f"the email to the structure did not leave: {safe(failure)}")
        raise typer.Exit(1)
    console.print(f"explanation emailed to {safe(refused.participant.contact_email)}")


@participants_app.command("invite")
def participants_invite(
    participant_id: Annotated[int, typer.Argument(help="An accepted enrolment's id.")],
) -> None:
    """Email a new link to set the structure account's password (earlier links stay valid
    until used or expired)."""
    opened = project()
    with opened.session() as session:
        accepted = _new_invitation(session, opened.settings.enrolment.invite_hours, participant_id)
    failure = _mail(send_acceptance(opened.settings, accepted))
    if failure:
        errors.print(f"the invitation email did not leave: {safe(failure)}")
        raise typer.Exit(1)
    console.print(f"invitation emailed to {safe(accepted.participant.contact_email)}")


def _new_invitation(session: Session, hours: int, participant_id: int) -> Accepted:
    from datetime import timedelta

    participant = get_participant(session, participant_id)
    account = (
        None if participant.account_id is None else get_account(session, participant.account_id)
    )
    if participant.status is not ParticipantStatus.ACCEPTED or account is None:
        raise EnrolmentRefused(
            f"participant {participant_id} is {status_fr(participant.status)}: only accepted "
            "participants have an account to invite to"
        )
    token = new_token()
    expires = utcnow() + timedelta(hours=hours)
    add_token(session, participant_id, purpose=INVITE, sha256=digest(token), expires_at=expires)
    return Accepted(participant, account.login, token, participant.decision_reason)


def _write_csv(records: list[dict[str, Any]], handle: TextIO) -> None:
    writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    for record in records:
        # A cell starting like a formula is quoted for spreadsheets.
        writer.writerow(
            {
                key: f"'{value}" if isinstance(value, str) and value.startswith(FORMULA) else value
                for key, value in record.items()
            }
        )


@participants_app.command("export")
def participants_export(
    status: Annotated[str | None, typer.Option("--status", help=f"One of {STATUSES}.")] = None,
    file_format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Every enrolment (of one status) with its contact, sites and decision."""
    if file_format not in ("csv", "json"):
        raise UsageError(f"--format {file_format}: expected csv or json")
    records, _ = _records(_status(status))
    if out is None:
        if file_format == "csv":
            _write_csv(records, sys.stdout)
        else:
            print_json_lines(records)
        return
    with out.open("w", encoding="utf-8", newline="") as handle:
        if file_format == "csv":
            _write_csv(records, handle)
        else:
            import json

            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    errors.print(f"{len(records)} participant(s) written to {safe(out)}")


def wave_publish(
    name: Annotated[str, typer.Argument(help="The wave whose results to publish.")],
) -> None:
    """Open a wave's results to its participants and email each one (template per offer)."""
    opened = project()
    with opened.session() as session:
        notices = publish(session, name, by=_actor())
        append_audit(
            session,
            actor=_actor(),
            action=WAVE_PUBLISHED,
            target=name,
            details={"notified": len(notices)},
        )
    failed = asyncio.run(send_publication(opened.settings, name, notices))
    console.print(
        f"wave {safe(name)} published; {len(notices) - len(failed)} participant(s) emailed",
        highlight=False,
    )
    if failed:
        errors.print(f"could not email: {safe(', '.join(failed))}")
        raise typer.Exit(1)
