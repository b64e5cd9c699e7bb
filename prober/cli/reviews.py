"""``prober review``: auditors judge the criteria no measurement can (courtesy, greeting...)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from prober.cli.output import console, safe
from prober.cli.output import table as plain_table
from prober.cli.project import criteria_grid, project
from prober.errors import UsageError
from storage.review_assignments import mark_reviewed, update_dispute
from storage.reviews import REVIEW_VERDICTS, add_review, find_probe, probes_to_review

review_app = typer.Typer(
    no_args_is_help=True, help="Auditors' reviews of the criteria only a person can judge."
)


@review_app.command("add")
def review_add(
    probe: Annotated[str, typer.Argument(help="Probe id (or its first 8+ characters).")],
    criterion: Annotated[str, typer.Argument(help="A reviewed criterion of the probe's channel.")],
    verdict: Annotated[str, typer.Argument(help="passed, failed or not_applicable.")],
    reviewer: Annotated[str, typer.Option("--by", help="Who reviewed (name or initials).")],
    comment: Annotated[str, typer.Option("--comment", help="What the verdict rests on.")] = "",
    criteria: Annotated[
        Path | None, typer.Option("--criteria", help="Criteria grid (default: criteria_file).")
    ] = None,
) -> None:
    """Record an auditor's verdict; the latest review of a criterion counts at the next score."""

    if verdict not in REVIEW_VERDICTS:
        raise UsageError(f"verdict {verdict!r}: expected one of {', '.join(REVIEW_VERDICTS)}")
    if not reviewer.strip():
        raise UsageError("--by: say who reviewed")
    opened = project()
    grid = criteria_grid(opened.settings, criteria)
    with opened.session() as session:
        found = find_probe(session, probe)
        reviewed = [c.id for c in grid.for_channel(found.channel) if c.kind == "reviewed"]
        if criterion not in reviewed:
            raise UsageError(
                f"criterion {criterion!r} is not reviewed on {found.channel} probes under"
                f" {grid.name!r}; reviewed criteria: {', '.join(reviewed) or 'none'}"
            )
        add_review(
            session, found, criterion, reviewer=reviewer.strip(), verdict=verdict, comment=comment
        )
        mark_reviewed(session, found.id, reviewer.strip(), reviewed)
        update_dispute(session, found.id)
        probe_id = found.id
    console.print(
        f"probe {probe_id}: {criterion} {verdict} (by {reviewer.strip()});"
        " run `prober score WAVE` to count it"
    )


@review_app.command("todo")
def review_todo(
    wave: Annotated[str, typer.Argument(help="The wave.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    criteria: Annotated[
        Path | None, typer.Option("--criteria", help="Criteria grid (default: criteria_file).")
    ] = None,
) -> None:
    """Probes with an exchange to judge (a call answered in opening hours, a person's reply)
    whose reviewed criteria still lack a verdict."""

    opened = project()
    grid = criteria_grid(opened.settings, criteria)
    with opened.session() as session:
        probes = probes_to_review(session, wave, ("answered", "replied"))
    table = plain_table("probe", "structure", "channel", "criteria to review")
    left = 0
    for item in probes:
        missing = [
            c.id
            for c in grid.for_channel(item.channel)
            if c.kind == "reviewed" and c.id not in item.reviewed
        ]
        if not missing or item.slot_kind == "off_hours":
            continue
        left += 1
        if as_json:
            record = {
                "probe": str(item.probe_id),
                "structure": item.official_id,
                "name": item.name,
                "channel": item.channel,
                "criteria": missing,
            }
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            table.add_row(str(item.probe_id), item.official_id, item.channel, ", ".join(missing))
    if not as_json:
        console.print(table)
        console.print(f"{left} probe(s) to review in {safe(repr(wave))}")


@review_app.command("assign")
def review_assign(
    wave: Annotated[str, typer.Argument(help="The wave.")],
    auditors: Annotated[
        list[str] | None,
        typer.Option("--auditor", help="An auditor's login (repeat; default: every active one)."),
    ] = None,
    double_share: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="Share reviewed blind by two (default: review.double_share)."
        ),
    ] = None,
    criteria: Annotated[
        Path | None, typer.Option("--criteria", help="Criteria grid (default: criteria_file).")
    ] = None,
) -> None:
    """Give the wave's contacts to review (an exchange within opening hours) to auditors; a
    share drawn reproducibly goes to two of them, blind. Contacts already assigned stay."""
    from storage.accounts import list_accounts
    from storage.models import Role
    from storage.review_assignments import assign_reviews
    from storage.waves import get_wave

    opened = project()
    grid = criteria_grid(opened.settings, criteria)
    channels = {c.channel for c in grid.criteria if c.kind == "reviewed"}
    share = opened.settings.review.double_share if double_share is None else double_share
    with opened.session() as session:
        accounts = {a.login: a for a in list_accounts(session)}
        if auditors:
            for login in auditors:
                account = accounts.get(login)
                if account is None or not account.active or account.role != Role.AUDITOR:
                    raise UsageError(
                        f"--auditor {login!r}: no active auditor account of that login;"
                        " `prober users list` shows them"
                    )
            chosen = list(auditors)
        else:
            chosen = [a.login for a in accounts.values() if a.active and a.role == Role.AUDITOR]
        if not chosen:
            raise UsageError(
                "no active auditor: add one with `prober users add LOGIN --role auditor`"
            )
        summary = assign_reviews(
            session, get_wave(session, wave), chosen, double_share=share, reviewed_channels=channels
        )
    console.print(
        f"{safe(wave)}: {summary.assigned} contact(s) assigned, {summary.double} of them to two"
        f" auditors blind ({summary.already} assigned before)"
    )
    for login, count in sorted(summary.per_auditor.items()):
        console.print(f"  {safe(login)}: {count}")
