"""``prober alerts``: what the daemon's alert rules found, and acknowledging it."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from prober.cli.output import console, print_json_lines, safe, table
from prober.cli.project import project
from storage.alerts import ack_alert, list_alerts
from storage.models import Alert

alerts_app = typer.Typer(no_args_is_help=True, help="Alerts raised by the daemon: list, ack.")


def _record(alert: Alert) -> dict[str, object]:
    return {
        "id": alert.id,
        "rule": alert.rule,
        "subject": alert.subject,
        "severity": alert.severity,
        "message": alert.message,
        "raised_at": alert.raised_at.isoformat(),
        "cleared_at": None if alert.cleared_at is None else alert.cleared_at.isoformat(),
        "acked_by": alert.acked_by,
        "details": alert.details,
    }


@alerts_app.command("list")
def alerts_list(
    include_cleared: Annotated[
        bool, typer.Option("--all", help="Cleared alerts too (their history).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per alert.")] = False,
) -> None:
    """The open alerts (with --all, the cleared ones too), oldest first."""
    with project().session() as session:
        alerts = list_alerts(session, include_cleared=include_cleared)
        records = [_record(alert) for alert in alerts]
    if as_json:
        print_json_lines(records)
        return
    console.print(
        table(
            "id",
            "severity",
            "rule",
            "subject",
            "message",
            "raised",
            "state",
            rows=(
                (
                    r["id"],
                    r["severity"],
                    r["rule"],
                    r["subject"],
                    r["message"],
                    str(r["raised_at"])[:16],
                    "cleared"
                    if r["cleared_at"]
                    else ("acked by " + str(r["acked_by"]) if r["acked_by"] else "open"),
                )
                for r in records
            ),
        )
    )


@alerts_app.command("ack")
def alerts_ack(
    alert_id: Annotated[int, typer.Argument(help="The alert's id (prober alerts list).")],
    by: Annotated[str | None, typer.Option(help="Who acknowledges it (default: you).")] = None,
) -> None:
    """Acknowledge an alert: seen, someone is on it (it clears itself when resolved)."""
    who = by or getpass.getuser()
    with project().session() as session:
        alert = ack_alert(session, alert_id, by=who)
        rule, subject = alert.rule, alert.subject
    console.print(f"alert {alert_id} ({safe(rule)}, {safe(subject)}) acknowledged by {safe(who)}")
