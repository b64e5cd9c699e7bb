"""The figures /metrics reads from the database at each scrape."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from storage.alert_checks import TWILIO_ERRORS
from storage.models import Alert, Attempt, Event, OutboxMessage, Probe, Wave

# Replies whose detection lag is shown: the most recent ones.
REPLY_LAG_SAMPLE = 5_000


@dataclass
class StoredFigures:
    probes: dict[tuple[str, str], int] = field(default_factory=dict)
    """Probes by (state, channel)."""
    outbox_depth: int = 0
    twilio_errors: dict[str, int] = field(default_factory=dict)
    """Phone attempts Twilio failed or never took, by outcome."""
    wave_spending: dict[str, Decimal] = field(default_factory=dict)
    """Twilio's prices of each wave's calls (positive)."""
    wave_budget: dict[str, Decimal] = field(default_factory=dict)
    reply_lags_s: list[float] = field(default_factory=list)
    """Seconds between a reply's arrival in the mailbox and its detection by prober."""
    open_alerts: dict[str, int] = field(default_factory=dict)


def stored_figures(session: Session, *, since: datetime) -> StoredFigures:
    """Everything /metrics shows from the database; reply lags of replies detected after
    ``since``."""
    figures = StoredFigures()
    for state, channel, count in session.execute(
        sa_select(col(Probe.state), col(Probe.channel), func.count()).group_by(
            col(Probe.state), col(Probe.channel)
        )
    ):
        figures.probes[state, channel] = count
    figures.outbox_depth = session.execute(
        sa_select(func.count())
        .select_from(OutboxMessage)
        .where(col(OutboxMessage.published_at).is_(None))
    ).scalar_one()
    for outcome, count in session.execute(
        sa_select(col(Attempt.outcome), func.count())
        .join(Probe, col(Probe.id) == col(Attempt.probe_id))
        .where(col(Probe.channel) == "phone", col(Attempt.outcome).in_(TWILIO_ERRORS))
        .group_by(col(Attempt.outcome))
    ):
        if outcome is not None:
            figures.twilio_errors[outcome] = count
    spending: dict[str, Decimal] = defaultdict(Decimal)
    for name, total in session.execute(
        sa_select(col(Wave.name), func.sum(Attempt.price))
        .join(Probe, col(Probe.wave_id) == col(Wave.id))
        .join(Attempt, col(Attempt.probe_id) == col(Probe.id))
        .where(col(Attempt.price).is_not(None))
        .group_by(col(Wave.name))
    ):
        spending[name] = -Decimal(total or 0)
    figures.wave_spending = dict(spending)
    for name, budget in session.execute(
        sa_select(col(Wave.name), col(Wave.budget)).where(col(Wave.budget).is_not(None))
    ):
        figures.wave_budget[name] = Decimal(budget)
    for received_at, source_at in session.execute(
        sa_select(col(Event.received_at), col(Event.source_at))
        .where(
            col(Event.source) == "imap",
            col(Event.clock) == "source",
            col(Event.received_at) >= since,
        )
        .order_by(col(Event.received_at).desc())
        .limit(REPLY_LAG_SAMPLE)
    ):
        figures.reply_lags_s.append(max((received_at - source_at).total_seconds(), 0.0))
    for rule, count in session.execute(
        sa_select(col(Alert.rule), func.count())
        .where(col(Alert.cleared_at).is_(None))
        .group_by(col(Alert.rule))
    ):
        figures.open_alerts[rule] = count
    return figures
