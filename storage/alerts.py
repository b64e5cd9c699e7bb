"""Alerts: raised once per rule and subject while their condition holds, cleared when it ends.

Raising and clearing write, in the same transaction, a message to the outbox on
``<prefix>/alerts/<rule>/<subject>``, so the bus publishes each change once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.errors import NotFoundError
from storage.models import Alert
from storage.outbox import enqueue, topic_level
from storage.types import utcnow


@dataclass(frozen=True, slots=True)
class Finding:
    """A condition a rule found to hold now for one subject."""

    message: str
    details: dict[str, Any] = field(default_factory=dict)
    wave_id: int | None = None


@dataclass(frozen=True, slots=True)
class RuleSync:
    """What syncing a rule with its findings changed."""

    raised: list[Alert]
    cleared: list[Alert]


def alert_topic(prefix: str, rule: str, subject: str) -> str:
    return f"{prefix}/alerts/{topic_level(rule)}/{topic_level(subject)}"


def alert_message(alert: Alert, state: str) -> dict[str, Any]:
    """The bus's message for an alert's change (``state``: raised or cleared)."""
    return {
        "id": alert.id,
        "rule": alert.rule,
        "subject": alert.subject,
        "state": state,
        "severity": alert.severity,
        "message": alert.message,
        "details": alert.details,
        "raised_at": alert.raised_at.isoformat(),
        "cleared_at": None if alert.cleared_at is None else alert.cleared_at.isoformat(),
    }


def open_alerts(session: Session, rule: str | None = None) -> list[Alert]:
    query = select(Alert).where(col(Alert.cleared_at).is_(None))
    if rule is not None:
        query = query.where(col(Alert.rule) == rule)
    return list(session.exec(query.order_by(col(Alert.id))))


def raise_alert(
    session: Session,
    *,
    prefix: str,
    rule: str,
    subject: str,
    severity: str,
    finding: Finding,
    now: datetime | None = None,
) -> Alert | None:
    """Raise the alert unless it is open already (then None: it is raised once)."""
    existing = session.exec(
        select(Alert).where(
            col(Alert.rule) == rule,
            col(Alert.subject) == subject,
            col(Alert.cleared_at).is_(None),
        )
    ).first()
    if existing is not None:
        return None
    alert = Alert(
        rule=rule,
        subject=subject[:500],
        severity=severity,
        message=finding.message[:2000],
        details=finding.details,
        wave_id=finding.wave_id,
        raised_at=now or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:
        # Another daemon raised it at the same moment: raised once all the same.
        return None
    enqueue(
        session, topic=alert_topic(prefix, rule, subject), payload=alert_message(alert, "raised")
    )
    return alert


def clear_alert(
    session: Session, alert: Alert, *, prefix: str, now: datetime | None = None
) -> None:
    alert.cleared_at = now or utcnow()
    session.add(alert)
    session.flush()
    enqueue(
        session,
        topic=alert_topic(prefix, alert.rule, alert.subject),
        payload=alert_message(alert, "cleared"),
    )


def sync_rule(
    session: Session,
    *,
    prefix: str,
    rule: str,
    severity: str,
    findings: Mapping[str, Finding],
    now: datetime | None = None,
) -> RuleSync:
    """Make the rule's open alerts match what holds now: raise the new, clear the resolved."""
    opened = {alert.subject: alert for alert in open_alerts(session, rule)}
    raised = []
    for subject, finding in findings.items():
        if subject not in opened:
            alert = raise_alert(
                session,
                prefix=prefix,
                rule=rule,
                subject=subject,
                severity=severity,
                finding=finding,
                now=now,
            )
            if alert is not None:
                raised.append(alert)
    cleared = []
    for subject, alert in opened.items():
        if subject not in findings:
            clear_alert(session, alert, prefix=prefix, now=now)
            cleared.append(alert)
    return RuleSync(raised, cleared)


def list_alerts(session: Session, *, include_cleared: bool = False) -> list[Alert]:
    query = select(Alert)
    if not include_cleared:
        query = query.where(col(Alert.cleared_at).is_(None))
    return list(session.exec(query.order_by(col(Alert.raised_at), col(Alert.id))))


def ack_alert(session: Session, alert_id: int, *, by: str, now: datetime | None = None) -> Alert:
    """Mark an alert as seen (it stays open until its condition ends)."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFoundError(f"no alert {alert_id}: see `prober alerts list`")
    if alert.acked_at is None:
        alert.acked_at = now or utcnow()
        alert.acked_by = by[:200]
        session.add(alert)
        session.flush()
    return alert


def alerts_to_email(session: Session, *, limit: int = 100) -> list[tuple[Alert, str]]:
    """Changes the operators were not emailed yet: (alert, "raised" | "cleared")."""
    raised = session.exec(
        select(Alert)
        .where(col(Alert.raise_emailed_at).is_(None))
        .order_by(col(Alert.id))
        .limit(limit)
    )
    cleared = session.exec(
        select(Alert)
        .where(col(Alert.cleared_at).is_not(None), col(Alert.clear_emailed_at).is_(None))
        .order_by(col(Alert.id))
        .limit(limit)
    )
    return [(alert, "raised") for alert in raised] + [(alert, "cleared") for alert in cleared]


# When the operators were emailed of each change.
_EMAILED = {"raised": "raise_emailed_at", "cleared": "clear_emailed_at"}


def claim_email(
    session: Session, alert_id: int, state: str, *, now: datetime | None = None
) -> bool:
    """Take the sending of an alert change's email: False if another daemon took it."""
    name = _EMAILED[state]
    result = session.execute(
        update(Alert)
        .where(col(Alert.id) == alert_id, getattr(Alert, name).is_(None))
        .values({name: now or utcnow()})
    )
    return bool(getattr(result, "rowcount", 0))


def release_email(session: Session, alert_id: int, state: str) -> None:
    """The email could not be sent: let the next round try again."""
    session.execute(update(Alert).where(col(Alert.id) == alert_id).values({_EMAILED[state]: None}))
