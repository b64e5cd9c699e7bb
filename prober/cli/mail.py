"""``prober mail``: the email channel's commands that need no project."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from channels.email.classify import Classification, classify
from channels.email.message import ParsedMessage, parse_message
from prober.cli.output import console, plain
from prober.cli.output import table as plain_table
from prober.cli.project import project
from prober.errors import ProberError, UsageError
from storage.mail import assign_reply, replies_with_sender_check, review_sender, unmatched_replies

mail_app = typer.Typer(no_args_is_help=True, help="Email probes: read and classify replies.")


@mail_app.command("classify")
def mail_classify(
    files: Annotated[list[Path], typer.Argument(help="Raw messages (.eml), one per file.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file.")] = False,
) -> None:
    """Say what each message is: human reply, acknowledgement, out of office, bounce, other.

    Files are read in order; the command stops at the first one that cannot be read.
    """
    for path in files:
        message = parse_message(_read(path))
        classification = classify(message)
        if as_json:
            line = json.dumps(_as_json(path, message, classification), ensure_ascii=False)
        else:
            line = _as_text(path, classification)
        sys.stdout.write(plain(line) + "\n")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ProberError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def _as_text(path: Path, classification: Classification) -> str:
    line = f"{path}: {classification.kind.value} ({classification.reason})"
    bounce = classification.bounce
    if bounce is not None:
        details = [
            f"recipient(s) {', '.join(bounce.recipients)}" if bounce.recipients else "",
            f"status {bounce.status}" if bounce.status else "",
            "delayed, not final" if bounce.action == "delayed" else "",
        ]
        line += "".join(f"; {detail}" for detail in details if detail)
    return line


def _as_json(path: Path, message: ParsedMessage, classification: Classification) -> dict[str, Any]:
    data: dict[str, Any] = {
        "file": str(path),
        "kind": classification.kind.value,
        "reason": classification.reason,
        "subject": message.subject,
        "from": message.from_address,
        "message_id": message.message_id,
        "in_reply_to": message.in_reply_to,
        "defects": list(message.defects),
    }
    bounce = classification.bounce
    if bounce is not None:
        data["bounce"] = {
            "recipients": list(bounce.recipients),
            "status": bounce.status,
            "action": bounce.action,
            "permanent": bounce.permanent,
            "diagnostic": bounce.diagnostic,
        }
    return data


# ---------------------------------------------------------------- probes and replies

replies_app = typer.Typer(
    no_args_is_help=True,
    help="Replies no probe was found for, or from a sender that is not the structure's.",
)


@mail_app.command("send")
def mail_send(
    wave: Annotated[str, typer.Argument(help="The wave whose planned email probes to send.")],
    structure: Annotated[
        list[str] | None,
        typer.Option(help="Only this structure (official id); repeat for several."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many emails.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per email.")] = False,
) -> None:
    """Send planned email probes now (after settling any send a crash interrupted)."""
    from prober.probes.email_now import send_now

    results = asyncio.run(send_now(project(), wave, structure or [], limit))
    _print_mailed(results, as_json=as_json)


@mail_app.command("watch")
def mail_watch(
    seconds: Annotated[
        float | None,
        typer.Option("--for", min=0, help="Stop after this many seconds (default: until Ctrl-C)."),
    ] = None,
) -> None:
    """Read the reply mailbox: store, match and classify every new message, time the replies."""
    from prober.probes.email_now import watch

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(watch(project(), for_s=seconds))


@mail_app.command("results")
def mail_results(
    wave: Annotated[str, typer.Argument(help="The wave.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per email.")] = False,
) -> None:
    """What every email attempt of a wave measured so far."""
    from prober.probes.email_now import mailed_probes

    opened = project()
    with opened.session() as session:
        _print_mailed(mailed_probes(session, wave_name=wave), as_json=as_json)


def _latency(figure: dict[str, Any] | None) -> str:
    if not figure or figure.get("elapsed_s") is None:
        return ""
    seconds = float(figure["elapsed_s"])
    if seconds < 90:
        elapsed = f"{seconds:.0f} s"
    elif seconds < 90 * 60:
        elapsed = f"{seconds / 60:.0f} min"
    else:
        elapsed = f"{seconds / 3600:.1f} h"
    return f"{elapsed}, {figure.get('working_days', '?')} wd"


def _print_mailed(results: list[Any], *, as_json: bool) -> None:

    if as_json:
        for item in results:
            record = {
                "probe": str(item.probe_id),
                "attempt": item.attempt,
                "structure": item.official_id,
                "address": item.address,
                "message_id": item.message_id,
                "outcome": item.outcome,
                **item.measurement,
            }
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    table = plain_table("structure", "address", "outcome", "acknowledged", "human reply", "replies")
    for item in results:
        measured = item.measurement
        table.add_row(
            item.official_id,
            item.address,
            item.outcome or "",
            _latency(measured.get("first_automatic_acknowledgement")),
            _latency(measured.get("first_human_reply")),
            str(measured.get("replies", "")),
        )
    console.print(table)


@replies_app.command("unmatched")
def replies_unmatched(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per reply.")] = False,
) -> None:
    """Replies the watcher could not match to a probe, oldest first."""

    opened = project()
    with opened.session() as session:
        replies = unmatched_replies(session)
    if as_json:
        for reply in replies:
            record = {
                "id": reply.id,
                "received_at": reply.received_at.isoformat(),
                "sender": reply.sender,
                "subject": reply.subject,
                "kind": reply.classification,
                "reason": reply.reason,
                "raw_path": reply.raw_path,
            }
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    table = plain_table("id", "received", "from", "subject", "kind")
    for reply in replies:
        kind = reply.classification or ""
        table.add_row(
            str(reply.id),
            reply.received_at.strftime("%Y-%m-%d %H:%M"),
            reply.sender,
            reply.subject,
            f"{kind}: {reply.reason}" if kind == "unparsed" else kind,
        )
    console.print(table)
    console.print(f"{len(replies)} unmatched; `prober replies assign ID PROBE` attaches one.")
    unparsed = sum(1 for reply in replies if reply.classification == "unparsed")
    if unparsed:
        console.print(
            f"{unparsed} could not be read within the limits (email.parse_timeout_s,"
            " email.parse_memory_mb): the raw message is kept at its raw_path (--json)."
        )


@replies_app.command("flagged")
def replies_flagged(
    every: Annotated[
        bool, typer.Option("--all", help="Also those already confirmed or rejected.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per reply.")] = False,
) -> None:
    """Replies matched to a probe but sent from an address outside the structure's domain:
    they do not count until an auditor confirms them."""
    with project().session() as session:
        replies = replies_with_sender_check(session, pending_only=not every)
    if as_json:
        for reply in replies:
            record = {
                "id": reply.id,
                "probe": str(reply.probe_id),
                "received_at": reply.received_at.isoformat(),
                "sender": reply.sender,
                "subject": reply.subject,
                "kind": reply.classification,
                "check": reply.sender_check,
                "checked_by": reply.sender_checked_by,
                "raw_path": reply.raw_path,
            }
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    table = plain_table("id", "received", "from", "subject", "kind", "probe", "check")
    for reply in replies:
        check = reply.sender_check or ""
        if reply.sender_checked_by:
            check += f" by {reply.sender_checked_by}"
        table.add_row(
            str(reply.id),
            reply.received_at.strftime("%Y-%m-%d %H:%M"),
            reply.sender,
            reply.subject,
            reply.classification or "",
            str(reply.probe_id)[:8],
            check,
        )
    console.print(table)
    console.print(
        f"{len(replies)} flagged; `prober replies confirm ID --by NAME` counts one,"
        " `prober replies reject ID --by NAME` leaves it out."
    )


def _review_sender(reply_id: int, verdict: str, reviewer: str) -> None:
    from prober.probes.email import remeasure_email_attempt
    from prober.probes.events import EventLog

    if not reviewer.strip():
        raise UsageError("--by: say who reviewed")
    opened = project()
    with opened.session() as session:
        reply = review_sender(session, reply_id, verdict, by=reviewer.strip())
        session.flush()
        if reply.attempt_id is not None:
            remeasure_email_attempt(session, reply.attempt_id, EventLog.of(opened.settings))
    typer.echo(
        f"reply {reply_id} from {plain(reply.sender)} {verdict} by {reviewer.strip()}"
        f" ({'it counts' if verdict == 'confirmed' else 'it does not count'});"
        " `prober score WAVE` recomputes the scores"
    )


@replies_app.command("confirm")
def replies_confirm(
    reply_id: Annotated[int, typer.Argument(help="The reply (see `prober replies flagged`).")],
    reviewer: Annotated[str, typer.Option("--by", help="Who reviewed (name or initials).")],
) -> None:
    """Accept a flagged reply as the structure's: it counts in the measurement and scores."""
    _review_sender(reply_id, "confirmed", reviewer)


@replies_app.command("reject")
def replies_reject(
    reply_id: Annotated[int, typer.Argument(help="The reply (see `prober replies flagged`).")],
    reviewer: Annotated[str, typer.Option("--by", help="Who reviewed (name or initials).")],
) -> None:
    """Refuse a flagged reply (not from the structure): it never counts."""
    _review_sender(reply_id, "rejected", reviewer)


@replies_app.command("assign")
def replies_assign(
    reply_id: Annotated[int, typer.Argument(help="The reply (see `prober replies unmatched`).")],
    probe: Annotated[str, typer.Argument(help="The probe it answers (its id).")],
) -> None:
    """Attach an unmatched reply to a probe by hand; the probe's timings are recomputed."""
    from prober.probes.email import remeasure_email_attempt
    from prober.probes.events import EventLog

    try:
        probe_id = uuid.UUID(probe)
    except ValueError:
        raise ProberError(
            f"{probe!r} is not a probe id (a UUID, as `prober wave export` lists)"
        ) from None
    opened = project()
    with opened.session() as session:
        reply = assign_reply(session, reply_id, probe_id)
        session.flush()
        assert reply.attempt_id is not None  # noqa: S101 (just set)
        remeasure_email_attempt(session, reply.attempt_id, EventLog.of(opened.settings))
    typer.echo(f"reply {reply_id} assigned to probe {probe_id} (attempt {reply.attempt_id})")
