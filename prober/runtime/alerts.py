"""The daemon's watch: prices of ended calls, waves' budgets, alert rules, operators' emails.

Every ``interval_s`` it asks Twilio the prices it lacks, pauses a running wave whose spending
reached its budget, runs every alert rule (config/defaults/alerts.toml or
``alerts.rules_file``), raising each alert once and clearing it when its condition ends
(storage.alerts writes the bus's message in the same transaction), then emails the operators
each change not emailed yet.
"""

from __future__ import annotations

import asyncio
import logging
import string
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
from sqlmodel import Session

from channels.email.imap import Mailbox, MailboxError
from channels.phone.twilio_client import TwilioPhone
from config.alerts import AlertRule, load_alert_rules
from config.settings import Settings
from prober.probes.costs import budget_findings, sweep_prices
from prober.project.database import Database
from storage import alert_checks
from storage.alerts import (
    Finding,
    RuleSync,
    alerts_to_email,
    claim_email,
    release_email,
    sync_rule,
)
from storage.models import Alert
from storage.types import utcnow

logger = logging.getLogger("prober.runtime.alerts")

IMAP_CHECK_TIMEOUT_S = 20.0
SMTP_TIMEOUT_S = 30.0


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def alert_text(rule: AlertRule, subject: str, finding: Finding) -> str:
    """The rule's message with the finding's fields; a field it lacks is left as written."""
    fields = _Fields(finding.details, subject=subject)
    try:
        return string.Formatter().vformat(rule.message, (), fields)
    except (ValueError, TypeError, IndexError):
        return f"{rule.message} ({subject})"


class AlertWatch:
    """One look at everything (``check``) and the loop that repeats it (``run``)."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        phone: TwilioPhone | None,
        clock: Callable[[], datetime] = utcnow,
        rules: list[AlertRule] | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.phone = phone
        self.clock = clock
        self.rules = rules if rules is not None else load_alert_rules(_rules_path(settings))
        self.interval_s = min(settings.costs.price_poll_s, settings.alerts.check_interval_s)
        self.checked = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Check now, then every ``interval_s`` until ``stop``; a failed check is logged."""
        while not stop.is_set():
            try:
                await self.check()
            except Exception:
                logger.exception("the alert and price watch failed; trying again later")
            self.checked.set()
            try:
                await asyncio.wait_for(stop.wait(), self.interval_s)
            except TimeoutError:
                pass

    async def check(self) -> RuleSync:
        now = self.clock()
        if self.phone is not None:
            await sweep_prices(self.settings, self.database, self.phone, now=now)
        imap_error = await self._imap_error()
        found = await self.database.run(lambda session: self._read(session, now, imap_error))
        changes = await self.database.run(lambda session: self._sync(session, now, found))
        await self.email_operators()
        return changes

    def _read(
        self, session: Session, now: datetime, imap_error: str | None
    ) -> list[tuple[AlertRule, Mapping[str, Finding]]]:
        """What holds now for each rule but the budget's: reads only, so that a long round
        holds no write lock (SQLite has one for the whole file)."""
        found = []
        for rule in self.rules:
            if rule.check == "budget_reached":
                continue
            findings = self._findings(session, rule, now, imap_error)
            if findings is not None:
                found.append((rule, findings))
        return found

    def _sync(
        self,
        session: Session,
        now: datetime,
        found: list[tuple[AlertRule, Mapping[str, Finding]]],
    ) -> RuleSync:
        """Pause the waves over budget (whatever the rules), then raise and clear every rule's
        alerts."""
        over_budget = budget_findings(session, self.settings.costs)
        found = found + [
            (rule, over_budget) for rule in self.rules if rule.check == "budget_reached"
        ]
        raised: list[Alert] = []
        cleared: list[Alert] = []
        for rule, findings in found:
            texts = {
                subject: Finding(alert_text(rule, subject, f), f.details, f.wave_id)
                for subject, f in findings.items()
            }
            changed = sync_rule(
                session,
                prefix=self.settings.mqtt.topic_prefix,
                rule=rule.id,
                severity=rule.severity,
                findings=texts,
                now=now,
            )
            for alert in changed.raised:
                logger.warning("alert %s raised: %s", rule.id, alert.message)
            for alert in changed.cleared:
                logger.info("alert %s cleared: %s", rule.id, alert.subject)
            raised += changed.raised
            cleared += changed.cleared
        return RuleSync(raised, cleared)

    def _findings(
        self, session: Session, rule: AlertRule, now: datetime, imap_error: str | None
    ) -> Mapping[str, Finding] | None:
        """What holds now for the rule; None when it cannot be told (leave its alerts be)."""
        match rule.check:
            case "number_not_in_service":
                return alert_checks.numbers_not_in_service(session, min_attempts=rule.min_attempts)
            case "address_bouncing":
                return alert_checks.addresses_bouncing(session, min_attempts=rule.min_attempts)
            case "structure_unreachable":
                return alert_checks.unreachable_structures(session, min_attempts=rule.min_attempts)
            case "twilio_error_rate":
                return alert_checks.twilio_error_rate(
                    session,
                    now=now,
                    window=timedelta(minutes=rule.window_minutes),
                    min_calls=rule.min_calls,
                    threshold=rule.threshold,
                )
            case "wave_behind_schedule":
                return alert_checks.waves_behind_schedule(
                    session,
                    now=now,
                    lag=timedelta(minutes=rule.lag_minutes),
                    min_probes=rule.min_probes,
                )
            case "imap_unreachable":
                if not self.settings.imap.username or not self.settings.imap.watch:
                    return None  # not this daemon's mailbox to check (imap.watch)
                if imap_error is None:
                    return {}
                mailbox = f"{self.settings.imap.host}:{self.settings.imap.port}"
                return {mailbox: Finding("", {"error": imap_error})}
        return None

    async def _imap_error(self) -> str | None:
        """Why the reply mailbox cannot be used now, None when it can (or is not configured, or
        another daemon watches it)."""
        if (
            not self.settings.imap.username
            or not self.settings.imap.watch
            or not any(rule.check == "imap_unreachable" for rule in self.rules)
        ):
            return None
        try:
            async with asyncio.timeout(IMAP_CHECK_TIMEOUT_S):
                async with Mailbox(self.settings.imap) as mailbox:
                    await mailbox.select(self.settings.imap.mailbox)
        except MailboxError as error:
            return str(error)
        except (TimeoutError, OSError) as error:
            return f"{type(error).__name__}: {error}"
        return None

    async def email_operators(self) -> int:
        """Email each alert change the operators were not told of; a failure waits a turn."""
        operators = self.settings.alerts.operators_email
        if not operators:
            return 0
        pending = await self.database.run(alerts_to_email)
        sent = 0
        for alert, state in pending:
            alert_id = alert.id or 0
            if not await self.database.run(_email_claim(alert_id, state, claim=True)):
                continue  # another daemon sends it
            message = alert_email(alert, state, operators, self.settings.alerts.from_address)
            try:
                await _send(self.settings, message)
            except (aiosmtplib.SMTPException, OSError) as error:
                logger.warning("alert %s not emailed to %s: %s", alert.id, operators, error)
                await self.database.run(_email_claim(alert_id, state, claim=False))
                return sent
            sent += 1
        return sent


def _email_claim(alert_id: int, state: str, *, claim: bool) -> Callable[[Session], bool]:
    def work(session: Session) -> bool:
        if claim:
            return claim_email(session, alert_id, state)
        release_email(session, alert_id, state)
        return False

    return work


def alert_email(alert: Alert, state: str, to: str, sender: str) -> EmailMessage:
    """The operators' email of an alert raised or cleared."""
    message = EmailMessage()
    verb = "levée" if state == "raised" else "résolue"
    message["Subject"] = f"[prober] alerte {verb} : {alert.rule} — {alert.subject}"[:200]
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    lines = [
        alert.message,
        "",
        f"règle : {alert.rule} ({alert.severity})",
        f"sujet : {alert.subject}",
        f"levée le : {alert.raised_at.isoformat()}",
    ]
    if alert.cleared_at is not None:
        lines.append(f"résolue le : {alert.cleared_at.isoformat()}")
    lines += ["", f"prober alerts list ; prober alerts ack {alert.id}"]
    message.set_content("\n".join(lines))
    return message


async def _send(settings: Settings, message: EmailMessage) -> None:
    smtp = settings.smtp
    password = None if smtp.password is None else smtp.password.get_secret_value()
    await aiosmtplib.send(
        message,
        hostname=smtp.host,
        port=smtp.port,
        use_tls=smtp.security == "tls",
        start_tls=smtp.security == "starttls",
        username=smtp.username or None,
        password=password if smtp.username else None,
        timeout=SMTP_TIMEOUT_S,
    )


def _rules_path(settings: Settings) -> Path | None:
    path = settings.alerts.rules_file
    return None if path is None else settings.resolve(path)
